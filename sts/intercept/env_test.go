package intercept

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func testCertPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func certCNs(t *testing.T, data []byte) []string {
	t.Helper()
	var cns []string
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("bundle has trailing bytes: %q", rest)
			}
			return cns
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cns = append(cns, c.Subject.CommonName)
	}
}

func TestWriteCABundle(t *testing.T) {
	dir := t.TempDir()
	local := testCertPEM(t, "local CA")
	system := filepath.Join(dir, "system.pem")
	sys := append(append(testCertPEM(t, "root 1"), "junk between\n"...), testCertPEM(t, "root 2")...)
	if err := os.WriteFile(system, append(sys, local...), 0o644); err != nil { // the local CA already trusted
		t.Fatal(err)
	}
	saved := systemBundles
	t.Cleanup(func() { systemBundles = saved })
	systemBundles = []string{filepath.Join(dir, "missing.pem"), system, filepath.Join(dir, "never-read.pem")}
	out := filepath.Join(dir, "bundle.pem")
	n, err := WriteCABundle(out, local)
	if err != nil || n != 3 {
		t.Fatalf("WriteCABundle = %d, %v; want 3 system roots", n, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(certCNs(t, data), ","); got != "root 1,root 2,local CA" {
		t.Errorf("bundle holds %s; want the system roots, then the local CA once", got)
	}
	if fi, _ := os.Stat(out); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Errorf("bundle mode %v, want 0644", fi.Mode().Perm())
	}
	// No system file: the local CA alone, and 0 says so.
	systemBundles = []string{filepath.Join(dir, "missing.pem")}
	if n, err := WriteCABundle(out, local); err != nil || n != 0 {
		t.Errorf("without system roots: %d, %v", n, err)
	}
	if data, _ := os.ReadFile(out); strings.Join(certCNs(t, data), ",") != "local CA" {
		t.Errorf("bundle without system roots: %q", data)
	}
	for _, bad := range [][]byte{nil, []byte("not pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		if _, err := WriteCABundle(out, bad); err == nil || !strings.Contains(err.Error(), "local CA PEM") {
			t.Errorf("WriteCABundle(%q): %v, want an error naming the local CA PEM", bad, err)
		}
	}
}

func TestEnvAndExportLines(t *testing.T) {
	vars := Env("127.0.0.1:8888", "/tmp/it's bundle.pem", "/state/ca.pem")
	want := map[string]string{
		"HTTPS_PROXY": "http://127.0.0.1:8888", "https_proxy": "http://127.0.0.1:8888",
		"HTTP_PROXY": "http://127.0.0.1:8888", "http_proxy": "http://127.0.0.1:8888",
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
		"SSL_CERT_FILE": "/tmp/it's bundle.pem", "REQUESTS_CA_BUNDLE": "/tmp/it's bundle.pem",
		"NODE_EXTRA_CA_CERTS": "/state/ca.pem",
	}
	if len(vars) != len(want) {
		t.Errorf("Env = %v", vars)
	}
	for _, v := range vars {
		if want[v.Name] != v.Value {
			t.Errorf("%s = %q, want %q", v.Name, v.Value, want[v.Name])
		}
	}
	if ps := PowerShellLines(vars[6:7]); ps != "$env:SSL_CERT_FILE = '/tmp/it''s bundle.pem'\n" {
		t.Errorf("PowerShellLines = %q", ps)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run the export lines")
	}
	script := ExportLines(vars) + `printf '%s|%s|%s' "$HTTPS_PROXY" "$SSL_CERT_FILE" "$NO_PROXY"`
	out, err := exec.Command(sh, "-c", script).Output()
	if err != nil || string(out) != "http://127.0.0.1:8888|/tmp/it's bundle.pem|localhost,127.0.0.1,::1" {
		t.Errorf("sh with the export lines printed %q, %v", out, err)
	}
}
