package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixture is a captured run of
// go test -run '^$' -bench '^(BenchmarkCacheHit|BenchmarkHerd)$' -benchtime=100ms .
// (make bench-chart).
const fixture = "testdata/bench.txt"

func readFixture(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkFixture checks the series extracted from the fixture.
func checkFixture(t *testing.T, res *results) {
	t.Helper()
	if got := strings.Join(res.libs, ","); got != "appcred,msalgo,azidentity" {
		t.Errorf("libraries = %s, want appcred,msalgo,azidentity in order of appearance", got)
	}
	want := map[string][]point{
		"appcred":    {{1, 215.9}, {1_000, 370.2}, {10_000, 193.6}, {100_000, 509.0}},
		"msalgo":     {{1, 1309}, {1_000, 110543}, {10_000, 1747865}, {100_000, 106707039}},
		"azidentity": {{1, 5028}, {1_000, 139227}, {10_000, 3704041}},
	}
	for lib, pts := range want {
		got := res.hit[lib]
		if len(got) != len(pts) {
			t.Errorf("%s hit points = %v, want %v", lib, got, pts)
			continue
		}
		for i := range pts {
			if got[i].tokens != pts[i].tokens || !near(got[i].nsPerOp, pts[i].nsPerOp) {
				t.Errorf("%s hit point %d = %v, want %v", lib, i, got[i], pts[i])
			}
		}
	}
	for lib, want := range map[string]float64{"appcred": 1, "msalgo": 100, "azidentity": 1} {
		if got := res.herd[lib]; got != want {
			t.Errorf("%s herd requests = %v, want %v", lib, got, want)
		}
	}
	if res.callers != 100 {
		t.Errorf("herd callers = %v, want 100", res.callers)
	}
	if got := machine(res); got != "linux/amd64, Oxide Virtual Turin-like Processor, GOMAXPROCS=2" {
		t.Errorf("machine = %q", got)
	}
}

// near reports whether a and b agree to 1e-9 relative (ns/op goes through
// seconds and back).
func near(a, b float64) bool {
	d := a - b
	return d < 1e-9*b && -d < 1e-9*b
}

func TestParseText(t *testing.T) {
	res, err := parse(bytes.NewReader(readFixture(t)), fixture)
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, res)
}

func TestParseJSON(t *testing.T) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for line := range strings.Lines(string(readFixture(t))) {
		// go test -json may split a result line over several events.
		for _, part := range []string{line[:len(line)/2], line[len(line)/2:]} {
			ev := map[string]string{"Action": "output", "Package": "bench", "Output": part}
			if err := enc.Encode(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := enc.Encode(map[string]string{"Action": "pass", "Package": "bench"}); err != nil {
		t.Fatal(err)
	}
	res, err := parse(&in, "json")
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, res)
}

func TestParseMedianOfRepeats(t *testing.T) {
	in := `BenchmarkCacheHit/size=1k/appcred-4   100  300 ns/op
BenchmarkCacheHit/size=1k/appcred-4   100  100 ns/op
BenchmarkCacheHit/size=1k/appcred-4   100  200 ns/op
BenchmarkCacheHit/size=1/appcred-4    100   50 ns/op
BenchmarkHerd/appcred-4                 1  1000 ns/op  1 requests/op
BenchmarkHerd/appcred-4                 1  1000 ns/op  3 requests/op
`
	res, err := parse(strings.NewReader(in), "repeats")
	if err != nil {
		t.Fatal(err)
	}
	pts := res.hit["appcred"]
	if len(pts) != 2 || pts[0].tokens != 1 || !near(pts[0].nsPerOp, 50) || pts[1].tokens != 1000 || !near(pts[1].nsPerOp, 200) {
		t.Errorf("hit points = %v, want [{1 50} {1000 200}] (sorted, median of repeats)", pts)
	}
	if res.herd["appcred"] != 2 || res.procs != "4" {
		t.Errorf("herd = %v, procs = %q, want 2 (median) and 4", res.herd["appcred"], res.procs)
	}
}

func TestParseErrors(t *testing.T) {
	hit := "BenchmarkCacheHit/size=1/appcred-2  10  5 ns/op\n"
	herd := "BenchmarkHerd/appcred-2  10  5 ns/op  1 requests/op\n"
	for name, tc := range map[string]struct{ in, want string }{
		"failed run":     {hit + herd + "--- FAIL: BenchmarkHerd/msalgo\nFAIL\n", "failed"},
		"no hits":        {herd, "no BenchmarkCacheHit results"},
		"no herd":        {hit, "no BenchmarkHerd results"},
		"bad size":       {"BenchmarkCacheHit/size=lots/appcred-2  10  5 ns/op\n" + herd, `size "lots"`},
		"no size":        {"BenchmarkCacheHit/appcred-2  10  5 ns/op\n" + herd, "want BenchmarkCacheHit/size=N/library"},
		"herd no metric": {hit + "BenchmarkHerd/appcred-2  10  5 ns/op\n", "no requests/op"},
		"syntax":         {hit + herd + "BenchmarkHerd/msalgo-2  ten  5 ns/op\n", "in.txt:3"},
		"bad json":       {`{"Action": "output", "Output": 7}`, "not go test -json output"},
		"empty":          {"", "no BenchmarkCacheHit results"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(strings.NewReader(tc.in), "in.txt")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "in.txt") {
				t.Fatalf("error = %v, want one naming in.txt and saying %q", err, tc.want)
			}
		})
	}
}

func TestRunWritesChartsAndCaption(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	args := []string{"-in", fixture, "-out", out, "-date", "2026-01-02", "-command", "make bench-chart"}
	if err := run(args, strings.NewReader(""), &stdout, time.Now()); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	machineLine := "linux/amd64, Oxide Virtual Turin-like Processor, GOMAXPROCS=2, 2026-01-02"
	for file, wants := range map[string][]string{
		hitFile: {"<svg", "</svg>", "appcred", "MSAL Go", "azidentity (filled to 10k tokens only)",
			"tokens cached", "509 ns", "107 ms", "3.7 ms", "100k", machineLine, "Arial"},
		herdFile: {"<svg", "</svg>", "appcred", "MSAL Go", "azidentity", "100 concurrent cold callers", machineLine},
		captionFile: {"`make bench-chart`", "2026-01-02", "Oxide Virtual Turin-like Processor",
			"azidentity was filled to 10k tokens only"},
	} {
		got := read(file)
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s does not contain %q", file, w)
			}
		}
	}
	if stdout.String() != read(captionFile) {
		t.Errorf("stdout = %q, want the caption", stdout.String())
	}
}

func TestRunBadInput(t *testing.T) {
	out := t.TempDir()
	err := run([]string{"-out", out}, strings.NewReader("PASS\n"), &bytes.Buffer{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Fatalf("error = %v, want one naming standard input", err)
	}
	missing := filepath.Join(out, "missing.txt")
	if err := run([]string{"-in", missing, "-out", out}, nil, &bytes.Buffer{}, time.Now()); err == nil ||
		!strings.Contains(err.Error(), missing) {
		t.Fatalf("error = %v, want one naming %s", err, missing)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("files written for bad input: %v", entries)
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[float64]string{143.6: "144 ns", 1000: "1 µs", 7494224: "7.49 ms", 109474563: "109 ms",
		15e6: "15 ms", 2e9: "2 s", 9.5: "9.5 ns"} {
		if got := durationLabel(in); got != want {
			t.Errorf("durationLabel(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{1: "1", 100: "100", 1_000: "1k", 100_000: "100k", 2e6: "2M"} {
		if got := countLabel(in); got != want {
			t.Errorf("countLabel(%v) = %q, want %q", in, got, want)
		}
	}
}
