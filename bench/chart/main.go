// Command chart draws the README's benchmark pictures from the go test -bench
// output of the bench module (text, or go test -json): bench-hit.svg, the
// time of a cache hit against tokens cached (log-log, one line per library,
// from BenchmarkCacheHit), and bench-herd.svg, the token requests each
// library sent for concurrent cold callers of one scope (bars, from
// BenchmarkHerd). It also writes bench-caption.md, saying the command, the
// machine (from the run's goos, goarch and cpu lines) and the date, and
// which libraries were measured at fewer sizes. make bench-chart runs it:
//
//	cd bench && go test -run '^$' -bench '^(BenchmarkCacheHit|BenchmarkHerd)$' . > out.txt
//	go run ./chart -in out.txt -out ../docs
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

// Output file names, in the -out directory.
const (
	hitFile     = "bench-hit.svg"
	herdFile    = "bench-herd.svg"
	captionFile = "bench-caption.md"
)

// run parses the flags in args, reads the benchmark output, and writes the
// two charts and the caption, printing the caption to stdout.
func run(args []string, stdin io.Reader, stdout io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "-", "go test -bench output (text or -json); - for standard input")
	out := fs.String("out", "docs", "directory to write "+hitFile+", "+herdFile+" and "+captionFile+" to")
	command := fs.String("command", "make bench-chart", "the command that ran the benchmarks, for the caption")
	date := fs.String("date", now.UTC().Format(time.DateOnly), "date of the run, for the caption")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (the input is -in)", fs.Args())
	}
	src, name := stdin, "standard input"
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("benchmark output: %w", err)
		}
		defer f.Close()
		src, name = f, *in
	}
	res, err := parse(src, name)
	if err != nil {
		return err
	}
	hit, err := hitChart(res, subtitle(res, *date))
	if err != nil {
		return fmt.Errorf("hit chart: %w", err)
	}
	herd, err := herdChart(res, subtitle(res, *date))
	if err != nil {
		return fmt.Errorf("herd chart: %w", err)
	}
	caption := captionText(res, *command, *date)
	for file, data := range map[string][]byte{hitFile: hit, herdFile: herd, captionFile: []byte(caption)} {
		if err := os.WriteFile(filepath.Join(*out, file), data, 0o644); err != nil {
			return err
		}
	}
	_, err = fmt.Fprint(stdout, caption)
	return err
}

// machine describes where the benchmarks ran, from the run's own lines:
// "linux/amd64, <cpu>, GOMAXPROCS=2".
func machine(res *results) string {
	parts := []string{res.config["goos"] + "/" + res.config["goarch"]}
	if cpu := strings.TrimSpace(res.config["cpu"]); cpu != "" {
		parts = append(parts, cpu)
	}
	if res.procs != "" {
		parts = append(parts, "GOMAXPROCS="+res.procs)
	}
	return strings.Join(parts, ", ")
}

// subtitle is the charts' second title line: machine and date.
func subtitle(res *results, date string) string {
	return machine(res) + ", " + date
}

// captionText is the Markdown line to put under the charts.
func captionText(res *results, command, date string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured with `%s` on %s: %s, %s.", command, date, machine(res), runtime.Version())
	maxTokens := res.maxTokens()
	for _, lib := range res.libs {
		if pts := res.hit[lib]; pts != nil && pts[len(pts)-1].tokens < maxTokens {
			fmt.Fprintf(&b, " %s was filled to %s tokens only (its %s point is not measured; see `go doc ./bench`).",
				display(lib), countLabel(pts[len(pts)-1].tokens), countLabel(maxTokens))
		}
	}
	b.WriteString("\n")
	return b.String()
}
