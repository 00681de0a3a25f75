package main

import (
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	r := mustRun(t, nil, "", "demo")
	out := r.stdout
	// Both tokens: first from the authority, then from the cache.
	if n := strings.Count(out, "(FromCache=false)"); n != 2 {
		t.Errorf("want 2 calls that reached the authority, got %d:\n%s", n, out)
	}
	if n := strings.Count(out, "served from the cache, no request"); n != 2 || strings.Count(out, "(FromCache=true)") != 2 {
		t.Errorf("want 2 cache hits, got %d:\n%s", n, out)
	}
	// Decoded claims of each, with signatures checked.
	if n := strings.Count(out, "Signature:  valid (RS256"); n != 2 {
		t.Errorf("want 2 verified tokens, got %d:\n%s", n, out)
	}
	for _, want := range []string{`"Demo.Read"`, `"azpacr": "1"`, `"azpacr": "2"`, "thumbprint ", "Done in"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if r.stderr != "" {
		t.Errorf("demo wrote to stderr:\n%s", r.stderr)
	}
}
