package sts_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// eventually polls cond until it holds or 5 s pass (the server rereads the
// directory at most every 100 ms).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminFromAnotherHandleWhileServing(t *testing.T) {
	dir := t.TempDir()
	f := start(t, sts.Options{StateDir: dir})
	// A separate handle, as the CLI's admin verbs use while the server runs.
	st, err := directory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	app, err := st.AddApp("", directory.App{DisplayName: "late"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := st.AddSecret(f.seed.TenantID, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Value == "" || len(sec.Value) < 32 || strings.Contains(sec.String(), sec.Value) {
		t.Fatalf("secret %q (String %q)", sec.Value, sec.String())
	}
	if err := st.Grant(f.seed.TenantID, app.ClientID, f.seed.APIClientID, "Demo.Write"); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID},
		"client_secret": {sec.Value}, "scope": {"api://" + f.seed.APIClientID + "/.default"}}
	var r *response
	eventually(t, "new app", func() bool {
		r = f.post(t, f.tokenURL(), form)
		return r.status == http.StatusOK
	})
	_, c := f.verifyToken(t, r.body["access_token"].(string), f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
	if c["azp"] != app.ClientID || c["aud"] != f.seed.APIClientID {
		t.Errorf("azp %v aud %v", c["azp"], c["aud"])
	}

	// The secret is stored hashed: its value is nowhere in the state directory.
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(sec.Value)) || bytes.Contains(b, []byte(f.seed.ClientSecret)) {
				t.Errorf("%s holds a secret value", p)
			}
		}
		return nil
	})

	// Key rotation from the other handle reaches the server too.
	k, err := st.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotated key", func() bool {
		r := f.post(t, f.tokenURL(), f.secretForm())
		h, _ := f.verifyToken(t, r.body["access_token"].(string), f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
		return h["kid"] == k.KID
	})

	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || len(list[0].Apps) != 5 {
		t.Fatalf("list: %+v", list)
	}
	for _, a := range list[0].Apps {
		for _, s := range a.Secrets {
			if s.Value != "" {
				t.Errorf("List shows a secret value")
			}
		}
	}
}

func TestRestartReusesState(t *testing.T) {
	dir := t.TempDir()
	a1, err := sts.Open(sts.Options{StateDir: dir, Hostnames: []string{"authority.test"}})
	if err != nil {
		t.Fatal(err)
	}
	seed := a1.Seed()
	if seed == nil || seed.ClientSecret == "" {
		t.Fatal("a new state was not seeded")
	}
	ca1 := a1.CACertPEM()
	keys1, _ := a1.Keys()
	// A new hostname below one the CA is constrained to needs a new server certificate, not a new CA.
	a2, err := sts.Start(context.Background(), sts.Options{StateDir: dir, Hostnames: []string{"api.authority.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if a2.Seed() != nil {
		t.Error("an existing state was seeded again")
	}
	if !bytes.Equal(ca1, a2.CACertPEM()) {
		t.Error("the CA changed across restarts")
	}
	keys2, _ := a2.Keys()
	if len(keys1) != 1 || len(keys2) != 1 || keys1[0].KID != keys2[0].KID {
		t.Errorf("signing keys changed: %v vs %v", keys1, keys2)
	}
	f := &fixture{a: a2, seed: seed, hc: a2.HTTPClient()}
	defer f.hc.CloseIdleConnections()
	checkV2Response(t, f.post(t, f.tokenURL(), f.secretForm()), 3599)
	// The server certificate was reissued for the new hostname by the same CA.
	leaf := a2.TLSConfig().Certificates[0].Leaf
	if leaf == nil || leaf.VerifyHostname("api.authority.test") != nil || leaf.VerifyHostname("127.0.0.1") != nil {
		t.Errorf("server certificate does not cover api.authority.test and 127.0.0.1")
	}
	for _, name := range []string{"", "keys"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s/%s: mode %v, want 0700", dir, name, fi.Mode().Perm())
		}
	}
	for _, name := range []string{"ca-key.pem", "tls-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: want mode 0600", name)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "keys"))
	for _, e := range entries {
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("keys/%s: mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
}

func TestConfigFile(t *testing.T) {
	cfgDir := t.TempDir()
	good, _ := certs(t)
	if err := os.WriteFile(filepath.Join(cfgDir, "daemon-cert.pem"), good.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `tenants:
  - id: 11111111-2222-3333-4444-555555555555
    apps:
      - client_id: aaaaaaaa-0000-0000-0000-000000000001
        display_name: daemon
        secrets: ["a-long-random-secret"]
        certificates: ["daemon-cert.pem"]
        api_permissions: {"api://orders": ["Orders.Read"]}
      - client_id: bbbbbbbb-0000-0000-0000-000000000002
        display_name: orders-api
        identifier_uris: ["api://orders"]
        app_roles: ["Orders.Read", "Orders.Write"]
        access_token_version: 2
`
	cfgPath := filepath.Join(cfgDir, "authority.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	for round := range 2 { // applying the same config twice adds nothing
		a, err := sts.Start(context.Background(), sts.Options{StateDir: state, ConfigFile: cfgPath})
		if err != nil {
			t.Fatal(err)
		}
		f := &fixture{a: a, hc: a.HTTPClient(), seed: &sts.Seed{TenantID: "11111111-2222-3333-4444-555555555555"}}
		r := f.post(t, f.tokenURL(), url.Values{"grant_type": {"client_credentials"},
			"client_id": {"aaaaaaaa-0000-0000-0000-000000000001"}, "client_secret": {"a-long-random-secret"},
			"scope": {"api://orders/.default"}})
		checkV2Response(t, r, 3599)
		r = f.post(t, f.tokenURL(), assertionForm("aaaaaaaa-0000-0000-0000-000000000001",
			pythonAssertion(t, good, "aaaaaaaa-0000-0000-0000-000000000001", f.tokenURL(), time.Now()), "api://orders/.default"))
		checkV2Response(t, r, 3599)
		list, err := a.List()
		if err != nil {
			t.Fatal(err)
		}
		if d := list[0].Apps[0]; len(d.Secrets) != 1 || len(d.Certificates) != 1 {
			t.Errorf("round %d: daemon has %d secrets and %d certificates, want 1 and 1", round, len(d.Secrets), len(d.Certificates))
		}
		f.hc.CloseIdleConnections()
		_ = a.Close()
	}
	if b, _ := os.ReadFile(filepath.Join(state, "directory.json")); bytes.Contains(b, []byte("a-long-random-secret")) {
		t.Error("a config secret is stored in clear")
	}

	bad := filepath.Join(cfgDir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("tenants:\n  - id: 11111111-2222-3333-4444-555555555555\n    aps: []\n"), 0o644)
	if _, err := sts.Open(sts.Options{StateDir: t.TempDir(), ConfigFile: bad}); err == nil || !strings.Contains(err.Error(), "aps") {
		t.Errorf("a config with an unknown field: %v", err)
	}
}

func TestStartStopsWithContextAndVerifyToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, err := sts.Start(ctx, sts.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{a: a, seed: a.Seed(), hc: a.HTTPClient()}
	r := f.post(t, f.tokenURL(), f.secretForm())
	tok := checkV2Response(t, r, 3599)
	claims, err := a.VerifyToken(tok)
	if err != nil || claims["azp"] != f.seed.ClientID {
		t.Fatalf("VerifyToken: %v, claims %v", err, claims)
	}
	if _, err := a.VerifyToken(tok[:len(tok)-4] + "AAAA"); err == nil {
		t.Error("VerifyToken accepted a tampered signature")
	}
	f.hc.CloseIdleConnections()
	cancel()
	eventually(t, "server stops after the context ends", func() bool {
		_, err := a.HTTPClient().Get(a.URL() + "/common/discovery/keys")
		return err != nil
	})
}
