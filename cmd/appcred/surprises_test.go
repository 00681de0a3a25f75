package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appcred version and --version print the same line: name, version, Go, platform.
func TestVersion(t *testing.T) {
	a := mustRun(t, nil, "", "version")
	b := mustRun(t, nil, "", "--version")
	if !strings.HasPrefix(a.stdout, "appcred ") || !strings.Contains(a.stdout, "go1.") || a.stdout != b.stdout {
		t.Fatalf("version %q, --version %q", a.stdout, b.stdout)
	}
}

// Shell completion scripts exist for bash, zsh and fish.
func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "complete", "zsh": "compdef", "fish": "complete -c appcred"} {
		r := mustRun(t, nil, "", "completion", shell)
		if !strings.Contains(r.stdout, marker) || !strings.Contains(r.stdout, "appcred") {
			t.Errorf("completion %s lacks %q:\n%.200s", shell, marker, r.stdout)
		}
	}
}

// --subject takes RFC 4514 escapes: an escaped comma stays in the value.
func TestCertNewSubjectEscapes(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, nil, "", "cert", "new", "--subject", `CN=Doe\, John,O=Ac\2Cme "Labs"`, "--out", dir, "-o", "json")
	c := decodeCert(t, r)
	if c.Subject != `CN=Doe\, John,O=Ac\,me \"Labs\"` {
		t.Fatalf("subject %q", c.Subject)
	}
	mustFail(t, nil, []string{"cert", "new", "--subject", `CN=x\`, "--out", t.TempDir()}, "--subject", "backslash")
}

// A file that is not a certificate gets one plain sentence, not a dump of
// ASN.1 decoder structures.
func TestNotACertificateFile(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(txt, []byte("hello, not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustFail(t, nil, []string{"cert", "thumbprint", txt}, "notes.txt", "not a certificate file")
	for _, bad := range []string{"asn1", "structure error", "tags don't match", "{class"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("error shows decoder internals %q:\n%s", bad, r.stderr)
		}
	}
}

// A PFX that needs a password, given none, says a password is required (not
// that it is wrong).
func TestPFXWithoutPassword(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, []string{"PW=pfx-pass-123"}, "", "cert", "new", "--subject", "CN=pfx", "--out", dir, "--password-env", "PW")
	r := mustFail(t, nil, []string{"cert", "thumbprint", filepath.Join(dir, "cert.pfx")}, "password is required")
	if strings.Contains(r.stderr, "wrong password") {
		t.Fatalf("says wrong password for a missing one:\n%s", r.stderr)
	}
}
