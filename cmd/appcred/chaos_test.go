package main

import (
	"strings"
	"testing"
)

// serve --chaos injects the faults it prints; a bad spec is refused by name.
func TestServeChaos(t *testing.T) {
	out, _ := startServe(t, "--state", t.TempDir(), "--chaos", "503=1")
	if !strings.Contains(out, "chaos: token requests get 503=1") {
		t.Fatalf("serve --chaos does not say so:\n%s", out)
	}
	var secret string
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "  export "+secretVar+"="); ok {
			secret = strings.TrimSpace(v)
		}
	}
	secretsInPlay = append(secretsInPlay, secret)
	args := tokenLine(t, out)
	mustFail(t, []string{secretVar + "=" + secret}, args, "503")

	serve := newAuthorityCmd()
	serve.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--state", t.TempDir(), "--chaos", "429=2"})
	serve.SetOut(&strings.Builder{})
	serve.SetErr(&strings.Builder{})
	if err := serve.Execute(); err == nil || !strings.Contains(err.Error(), "--chaos") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("--chaos 429=2: %v", err)
	}
}
