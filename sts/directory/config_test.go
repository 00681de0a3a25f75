package directory_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
)

// TestConfigShorthands: a config names secrets by value and certificates by
// file or PEM text; the directory stores hashes and PEM, and List shows
// neither the hashes nor the PEM.
func TestConfigShorthands(t *testing.T) {
	dir := t.TempDir()
	c1, err := proof.NewSelfSigned("CN=one", 24*time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := proof.NewSelfSigned("CN=two", 24*time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "one.pem"), c1.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "authority.json")
	inline := strings.ReplaceAll(string(c2.CertPEM()), "\n", `\n`)
	cfg := `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"daemon",
		"secrets":["secret-value-one"],"certificates":["one.pem","` + inline + `"]}]}]}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := directory.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	app := loaded.Tenants[0].Apps[0]
	if app.Secrets[0].Value != "secret-value-one" || app.Certificates[0].File != "one.pem" || app.Certificates[1].PEM == "" {
		t.Fatalf("loaded app %+v", app)
	}
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // applying twice adds nothing
		if err := st.ApplyConfig(loaded, dir); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	got := list[0].Apps[0]
	if len(got.Secrets) != 1 || len(got.Certificates) != 2 || got.AccessTokenVersion != 1 {
		t.Fatalf("listed app %+v", got)
	}
	if s := got.Secrets[0]; s.Salt != "" || s.Hash != "" || s.Value != "" || s.Hint != "sec" {
		t.Errorf("listed secret shows %+v", s)
	}
	if c := got.Certificates[0]; c.PEM != "" || !c.Added.IsZero() || c.Thumbprint == "" {
		t.Errorf("listed certificate %+v", c)
	}
	raw, err := os.ReadFile(filepath.Join(st.Dir(), directory.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"salt"`, `"hash"`, `"pem"`, proof.SHA1Hex(c1.Leaf)} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("directory.json lacks %s", want)
		}
	}
	if strings.Contains(string(raw), "secret-value-one") {
		t.Error("directory.json holds the secret value")
	}
}

func TestConfigRefusesBadEntries(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]string{
		"unknown secret field": `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"a","secrets":[{"valu":"x"}]}]}]}`,
		"unknown app field":    `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"a","rolez":[]}]}]}`,
	} {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := directory.LoadConfig(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	empty := &directory.Config{Tenants: []*directory.Tenant{{ID: "11111111-2222-3333-4444-555555555555",
		Apps: []*directory.App{{ClientID: "a", Secrets: []directory.Secret{{ID: "no-value"}}}}}}}
	if err := st.ApplyConfig(empty, dir); err == nil || !strings.Contains(err.Error(), "secret is empty") {
		t.Errorf("a secret without a value: %v", err)
	}
	missing := &directory.Config{Tenants: []*directory.Tenant{{ID: "11111111-2222-3333-4444-555555555555",
		Apps: []*directory.App{{ClientID: "a", Certificates: []directory.Certificate{{File: "nope.pem"}}}}}}}
	if err := st.ApplyConfig(missing, dir); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("a missing certificate file: %v", err)
	}
}
