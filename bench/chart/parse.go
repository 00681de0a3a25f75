package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// point is one measured cache size of one library.
type point struct {
	tokens  float64 // tokens cached
	nsPerOp float64 // nanoseconds per hit (median of the runs)
}

// results is what one go test -bench run of BenchmarkCacheHit and
// BenchmarkHerd says, per library.
type results struct {
	libs    []string             // libraries, in order of first appearance
	hit     map[string][]point   // library → hit latency by tokens cached, ascending
	herd    map[string]float64   // library → token requests for the herd
	callers float64              // concurrent cold callers of the herd (0 if not reported)
	config  map[string]string    // the run's goos, goarch, cpu, pkg … lines
	procs   string               // GOMAXPROCS, from the -N name suffix
	raw     map[string][]float64 // "hit/lib/tokens" or "herd/lib" → every value seen
}

// parse reads go test -bench output, as text or as go test -json events,
// naming the input in errors.
func parse(r io.Reader, name string) (*results, error) {
	text, err := benchText(r, name)
	if err != nil {
		return nil, err
	}
	if line, ok := failure(text); ok {
		return nil, fmt.Errorf("%s: the benchmark run failed (%q): no chart from a failed run", name, line)
	}
	res := &results{hit: map[string][]point{}, herd: map[string]float64{}, config: map[string]string{},
		raw: map[string][]float64{}}
	rd := benchfmt.NewReader(bytes.NewReader(text), name)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			if err := res.add(rec); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, res.finish(name)
}

// benchText returns the benchmark text of r: r itself, or the output lines
// of go test -json events when r starts with '{'.
func benchText(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return data, nil
	}
	var out bytes.Buffer
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var ev struct{ Action, Output string }
		if err := dec.Decode(&ev); errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: not go test -json output: %w", name, err)
		}
		if ev.Action == "output" {
			out.WriteString(ev.Output)
		}
	}
}

// failure returns the first line of text saying the run failed.
func failure(text []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "FAIL" || strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "--- FAIL") {
			return line, true
		}
	}
	return "", false
}

// add records one result line; other benchmarks are ignored.
func (res *results) add(r *benchfmt.Result) error {
	for _, c := range r.Config {
		res.config[c.Key] = string(c.Value)
	}
	base, parts := r.Name.Parts()
	if n := len(parts); n > 0 && strings.HasPrefix(string(parts[n-1]), "-") {
		res.procs = strings.TrimPrefix(string(parts[n-1]), "-")
		parts = parts[:n-1]
	}
	sub := make([]string, len(parts))
	for i, p := range parts {
		sub[i] = strings.TrimPrefix(string(p), "/")
	}
	switch string(base) {
	case "CacheHit":
		return res.addHit(r, sub)
	case "Herd":
		return res.addHerd(r, sub)
	}
	return nil
}

// addHit records a BenchmarkCacheHit/size=N/lib line.
func (res *results) addHit(r *benchfmt.Result, sub []string) error {
	if len(sub) != 2 || !strings.HasPrefix(sub[0], "size=") {
		return fmt.Errorf("%s: want BenchmarkCacheHit/size=N/library", r.Name)
	}
	tokens, err := parseSize(strings.TrimPrefix(sub[0], "size="))
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	sec, ok := r.Value("sec/op")
	if !ok {
		return fmt.Errorf("%s: no ns/op", r.Name)
	}
	res.seen(sub[1])
	key := "hit/" + sub[1] + "/" + strconv.Itoa(tokens)
	res.raw[key] = append(res.raw[key], sec*1e9)
	return nil
}

// addHerd records a BenchmarkHerd/lib line.
func (res *results) addHerd(r *benchfmt.Result, sub []string) error {
	if len(sub) != 1 {
		return fmt.Errorf("%s: want BenchmarkHerd/library", r.Name)
	}
	reqs, ok := r.Value("requests/op")
	if !ok {
		return fmt.Errorf("%s: no requests/op", r.Name)
	}
	if callers, ok := r.Value("callers"); ok {
		res.callers = callers
	}
	res.seen(sub[0])
	res.raw["herd/"+sub[0]] = append(res.raw["herd/"+sub[0]], reqs)
	return nil
}

// seen notes lib in the order of first appearance.
func (res *results) seen(lib string) {
	if !slices.Contains(res.libs, lib) {
		res.libs = append(res.libs, lib)
	}
}

// finish reduces repeated runs (-count) to their median and checks that
// both benchmarks are there.
func (res *results) finish(name string) error {
	for key, vs := range res.raw {
		f := strings.Split(key, "/")
		switch f[0] {
		case "hit":
			tokens, _ := strconv.Atoi(f[2])
			res.hit[f[1]] = append(res.hit[f[1]], point{tokens: float64(tokens), nsPerOp: median(vs)})
		case "herd":
			res.herd[f[1]] = median(vs)
		}
	}
	for _, pts := range res.hit {
		slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.tokens, b.tokens) })
	}
	switch {
	case len(res.hit) == 0:
		return fmt.Errorf("%s: no BenchmarkCacheHit results", name)
	case len(res.herd) == 0:
		return fmt.Errorf("%s: no BenchmarkHerd results", name)
	}
	return nil
}

// maxTokens returns the largest cache size any library was measured at.
func (res *results) maxTokens() float64 {
	n := 0.0
	for _, pts := range res.hit {
		n = max(n, pts[len(pts)-1].tokens)
	}
	return n
}

// median returns the median of vs (not empty).
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// parseSize parses a size label: 1, 1k, 10k, 100k, 1M.
func parseSize(s string) (int, error) {
	mult, digits := 1, s
	switch {
	case strings.HasSuffix(s, "k"):
		mult, digits = 1_000, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, digits = 1_000_000, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q is not a positive count such as 1, 10k or 1M", s)
	}
	return n * mult, nil
}
