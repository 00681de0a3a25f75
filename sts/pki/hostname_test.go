package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/appcred/appcred/sts/pki"
)

// A wildcard hostname puts its parent domain in the CA's name constraints
// (which covers the one-label names the wildcard matches), and the server
// certificate verifies for a name below it; bad names never reach the CA.
func TestWildcardHostnames(t *testing.T) {
	dir := t.TempDir()
	m, err := pki.LoadTLS(dir, "", "", []string{"*.login.example.com", "login.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	ca := parseCert(t, filepath.Join(dir, pki.CACertFile))
	for _, d := range []string{"localhost", "login.example.com", "login.example.org"} {
		if !slices.Contains(ca.PermittedDNSDomains, d) {
			t.Errorf("CA permitted domains %q lack %q", ca.PermittedDNSDomains, d)
		}
	}
	for _, d := range ca.PermittedDNSDomains {
		if d == "" || d[0] == '*' || d[0] == '.' {
			t.Errorf("CA permitted domain %q", d)
		}
	}
	opts := x509.VerifyOptions{Roots: m.CAPool}
	for _, name := range []string{"westus.login.example.com", "login.example.org"} {
		opts.DNSName = name
		if _, err := m.Cert.Leaf.Verify(opts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"a.b.login.example.com", "login.example.com", "example.com"} {
		opts.DNSName = name
		if _, err := m.Cert.Leaf.Verify(opts); err == nil {
			t.Errorf("%s verified", name)
		}
	}
	for _, bad := range []string{"*.", "*", "*.com", "a..b", ".example.com", "example.com.", "*.*.example.com",
		"ex ample.com", "-a.example.com", "a*.example.com", "[::1]"} {
		bdir := t.TempDir()
		if _, err := pki.LoadTLS(bdir, "", "", []string{bad}); err == nil {
			t.Errorf("hostname %q accepted", bad)
		}
		if _, err := os.Stat(filepath.Join(bdir, pki.CACertFile)); err == nil {
			t.Errorf("hostname %q: a CA was made", bad)
		}
	}
	// Empty and blank hostnames are ignored: the constraints are the defaults.
	edir := t.TempDir()
	if _, err := pki.LoadTLS(edir, "", "", []string{"", "  "}); err != nil {
		t.Fatal(err)
	}
	if got := parseCert(t, filepath.Join(edir, pki.CACertFile)).PermittedDNSDomains; !slices.Equal(got, []string{"localhost"}) {
		t.Errorf("empty hostnames: permitted domains %q", got)
	}
}

func parseCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
