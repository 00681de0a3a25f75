package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
)

// certOut is the JSON output of "cert new" and "cert thumbprint".
type certOut struct {
	Subject     string            `json:"subject"`
	NotAfter    string            `json:"not_after"`
	Thumbprint  string            `json:"thumbprint"`
	X5T         string            `json:"x5t"`
	X5TS256     string            `json:"x5t_s256"`
	Files       map[string]string `json:"files"`
	PFXPassword string            `json:"pfx_password"`
}

func decodeCert(t *testing.T, r result) certOut {
	t.Helper()
	var c certOut
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("cert JSON: %v\n%s", err, r.stdout)
	}
	return c
}

// TestCertNewRegisterAndToken is the whole certificate path: make one, register
// it with "appcred authority cert add", get tokens with it in PEM and PFX form.
func TestCertNewRegisterAndToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	r := mustRun(t, nil, "", "cert", "new", "--subject", "CN=cli-daemon,O=appcred tests", "--days", "30", "--out", dir, "-o", "json")
	c := decodeCert(t, r)
	secretsInPlay = append(secretsInPlay, c.PFXPassword)

	// The files, their modes, and thumbprints computed from what was written.
	modes := map[string]os.FileMode{"key.pem": 0o600, "cert.pem": 0o644, "combined.pem": 0o600, "cert.pfx": 0o600}
	for name, mode := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if c.Files["combined"] != filepath.Join(dir, "combined.pem") {
		t.Errorf("files: %v", c.Files)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := proof.ParsePEMCertificates(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("cert.pem: %v certificates, %v", len(certs), err)
	}
	leaf := certs[0]
	if c.Thumbprint != proof.SHA1Hex(leaf) || c.X5T != proof.X5T(leaf) || c.X5TS256 != proof.X5TS256(leaf) {
		t.Errorf("printed thumbprints %s %s %s do not match cert.pem", c.Thumbprint, c.X5T, c.X5TS256)
	}
	if leaf.Subject.CommonName != "cli-daemon" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "appcred tests" {
		t.Errorf("subject %v", leaf.Subject)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("validity %v, want about 30 days", d)
	}
	if len(c.PFXPassword) < 16 {
		t.Fatalf("generated PFX password %q is too short", c.PFXPassword)
	}
	combined, err := os.ReadFile(filepath.Join(dir, "combined.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if loaded, err := proof.LoadCertificate(combined, nil); err != nil || !loaded.Leaf.Equal(leaf) {
		t.Fatalf("combined.pem does not load as key + certificate: %v", err)
	}
	pfx, err := os.ReadFile(filepath.Join(dir, "cert.pfx"))
	if err != nil {
		t.Fatal(err)
	}
	if loaded, err := proof.LoadCertificate(pfx, []byte(c.PFXPassword)); err != nil || !loaded.Leaf.Equal(leaf) {
		t.Fatalf("cert.pfx does not open with the printed password: %v", err)
	}

	// cert thumbprint agrees, for the PEM certificate alone and for the PFX.
	pwEnv := []string{"PFX_PW=" + c.PFXPassword}
	for _, args := range [][]string{
		{"cert", "thumbprint", filepath.Join(dir, "cert.pem"), "-o", "json"},
		{"cert", "thumbprint", filepath.Join(dir, "combined.pem"), "-o", "json"},
		{"cert", "thumbprint", filepath.Join(dir, "cert.pfx"), "--password-env", "PFX_PW", "-o", "json"},
	} {
		got := decodeCert(t, mustRun(t, pwEnv, "", args...))
		if got.Thumbprint != c.Thumbprint || got.X5T != c.X5T || got.X5TS256 != c.X5TS256 {
			t.Errorf("%v: thumbprints %+v, want those of cert new", args, got)
		}
	}
	text := mustRun(t, nil, "", "cert", "thumbprint", filepath.Join(dir, "cert.pem"))
	if !strings.Contains(text.stdout, c.Thumbprint) || !strings.Contains(text.stdout, "x5t#S256:    "+c.X5TS256) {
		t.Errorf("text output lacks the thumbprints:\n%s", text.stdout)
	}
	mustFail(t, nil, []string{"cert", "thumbprint", filepath.Join(dir, "cert.pfx")}, "cert.pfx", "--password-env")

	// Register it on the running authority through the CLI, then get tokens with it.
	mustRun(t, nil, "", "authority", "cert", "add", "--state", auth.Dir(), "--tenant", seed.TenantID,
		"--app", seed.ClientID, "--cert", filepath.Join(dir, "cert.pem"))
	// The running server rereads its state at most every 100 ms: retry until it knows the certificate.
	pemArgs := append([]string{"token", "--scope", seed.Scope, "--certificate", filepath.Join(dir, "combined.pem"),
		"-o", "raw"}, authorityFlags()...)
	pem := run(t, nil, "", pemArgs...)
	for deadline := time.Now().Add(10 * time.Second); pem.code != 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		pem = run(t, nil, "", pemArgs...)
	}
	if pem.code != 0 {
		t.Fatalf("no token with the added certificate within 10 s: %s", pem)
	}
	wantAppToken(t, pem.stdout, "2")
	pfxTok := mustRun(t, pwEnv, "", append([]string{"token", "--scope", seed.Scope, "--certificate", filepath.Join(dir, "cert.pfx"),
		"--certificate-password-env", "PFX_PW", "--send-x5c", "-o", "raw"}, authorityFlags()...)...)
	wantAppToken(t, pfxTok.stdout, "2")
	// The same through the AZURE_* variables.
	envTok := mustRun(t, []string{
		"AZURE_TENANT_ID=" + seed.TenantID, "AZURE_CLIENT_ID=" + seed.ClientID, "AZURE_AUTHORITY_HOST=" + auth.URL(),
		"AZURE_CLIENT_CERTIFICATE_PATH=" + filepath.Join(dir, "cert.pfx"), "AZURE_CLIENT_CERTIFICATE_PASSWORD=" + c.PFXPassword,
	}, "", "token", "--scope", seed.Scope, "--ca-file", auth.CAFile(), "-o", "raw")
	wantAppToken(t, envTok.stdout, "2")

	// A PFX without its password: the error says which input is missing, and shows no secret.
	mustFail(t, nil, append([]string{"token", "--scope", seed.Scope, "--certificate", filepath.Join(dir, "cert.pfx")}, authorityFlags()...),
		"cert.pfx", "password", "--certificate-password-env")

	// No overwriting without --force; with it, a new certificate replaces the old one.
	mustFail(t, nil, []string{"cert", "new", "--subject", "CN=again", "--out", dir}, "refusing to overwrite", "key.pem", "--force")
	again := decodeCert(t, mustRun(t, []string{"PW=fixed-password-1"}, "", "cert", "new", "--subject", "CN=again", "--out", dir,
		"--force", "--password-env", "PW", "-o", "json"))
	if again.Thumbprint == c.Thumbprint || again.PFXPassword != "" {
		t.Errorf("--force: thumbprint %s (old %s), printed password %q (it came from the environment)", again.Thumbprint, c.Thumbprint, again.PFXPassword)
	}
	pfx, _ = os.ReadFile(filepath.Join(dir, "cert.pfx"))
	if _, err := proof.LoadCertificate(pfx, []byte("fixed-password-1")); err != nil {
		t.Errorf("the PFX is not protected by the password from --password-env: %v", err)
	}
}

func TestCertNewTextOutput(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, nil, "", "cert", "new", "--subject", "CN=text", "--out", dir)
	for _, want := range []string{"thumbprint:", "x5t:", "x5t#S256:", "combined.pem", "PFX password:", "shown once"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCertErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.bin")
	if err := os.WriteFile(junk, []byte{0x30, 0x03, 0x01, 0x02, 0x03}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"no subject", nil, []string{"cert", "new", "--out", dir}, []string{"no subject", "--subject"}},
		{"no out", nil, []string{"cert", "new", "--subject", "CN=x"}, []string{"--out"}},
		{"small key", nil, []string{"cert", "new", "--subject", "CN=x", "--out", dir, "--key-size", "1024"}, []string{"--key-size", "2048"}},
		{"bad days", nil, []string{"cert", "new", "--subject", "CN=x", "--out", dir, "--days", "0"}, []string{"--days"}},
		{"missing password variable", nil, []string{"cert", "new", "--subject", "CN=x", "--out", dir, "--password-env", "NO_SUCH_PW"},
			[]string{"--password-env", "NO_SUCH_PW"}},
		{"missing file", nil, []string{"cert", "thumbprint", filepath.Join(dir, "none.pem")}, []string{"none.pem"}},
		{"PEM without certificate", nil, []string{"cert", "thumbprint", garbage}, []string{"garbage.pem", "CERTIFICATE"}},
		{"not a certificate", nil, []string{"cert", "thumbprint", junk}, []string{"junk.bin", "not a PEM, DER or PFX"}},
		{"no file", nil, []string{"cert", "thumbprint"}, []string{"1 arg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { mustFail(t, c.env, c.args, c.wants...) })
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("failed cert new calls left files behind: %v", entries)
	}
}
