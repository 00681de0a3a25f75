package sts_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// within polls cond every 10 ms until it holds, failing the test when limit
// passes first; it returns how long that took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not seen within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestRemovedCredentialsStopWorkingAtOnce: a secret, certificate, grant or
// app removed from another handle on the state directory (as the CLI's
// remove verbs do while the server runs) stops working within the server's
// 100 ms reload; through the Authority's own handle, at the next request.
func TestRemovedCredentialsStopWorkingAtOnce(t *testing.T) {
	dir := t.TempDir()
	f := start(t, sts.Options{StateDir: dir})
	st, err := directory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const limit = time.Second // the reload is at most 100 ms behind; slack for a loaded machine
	tid := f.seed.TenantID
	status := func(form url.Values) int { return f.post(t, f.tokenURL(), form).status }

	// A secret: works, is removed by id, gets AADSTS7000215.
	sec, err := st.AddSecret(tid, f.seed.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	form := f.secretForm()
	form.Set("client_secret", sec.Value)
	within(t, limit, "the new secret works", func() bool { return status(form) == http.StatusOK })
	if _, err := st.RemoveSecret(tid, f.seed.ClientID, sec.ID, ""); err != nil {
		t.Fatal(err)
	}
	within(t, limit, "the removed secret is refused", func() bool { return status(form) != http.StatusOK })
	wantError(t, f.post(t, f.tokenURL(), form), http.StatusUnauthorized, "invalid_client", 7000215)
	checkV2Response(t, f.post(t, f.tokenURL(), f.secretForm()), 3599) // the other secret still works

	// A certificate, removed by its x5t: AADSTS700027.
	good, _ := certs(t)
	assertion := func() url.Values {
		return assertionForm(f.certApp, pythonAssertion(t, good, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope)
	}
	checkV2Response(t, f.post(t, f.tokenURL(), assertion()), 3599)
	if _, err := st.RemoveCertificate(tid, f.certApp, proof.X5T(good.cert)); err != nil {
		t.Fatal(err)
	}
	within(t, limit, "the removed certificate is refused", func() bool { return status(assertion()) != http.StatusOK })
	wantError(t, f.post(t, f.tokenURL(), assertion()), http.StatusUnauthorized, "invalid_client", 700027)

	// A grant: the role leaves the token.
	v1 := f.secretForm()
	v1.Set("scope", f.v1URI+".default")
	rolesOf := func() any {
		_, c := f.verifyToken(t, checkV2Response(t, f.post(t, f.tokenURL(), v1), 3599), f.a.TenantURL(tid)+"/discovery/v2.0/keys")
		return c["roles"]
	}
	if r, _ := rolesOf().([]any); len(r) != 1 || r[0] != "Orders.Read" {
		t.Fatalf("roles before removing the grant: %v", r)
	}
	if _, err := st.RemoveGrant(tid, f.seed.ClientID, f.v1URI); err != nil {
		t.Fatal(err)
	}
	within(t, limit, "the removed grant leaves the token", func() bool { return rolesOf() == nil })

	// An app, through the Authority itself: refused at the next request (AADSTS700016).
	if _, err := f.a.RemoveApp(tid, f.seed.ClientID); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.post(t, f.tokenURL(), f.secretForm()), http.StatusBadRequest, "unauthorized_client", 700016)
}

// TestExpiredSecret: a secret past its expiry gets AADSTS7000222 with
// Entra's description; the app's other secrets keep working.
func TestExpiredSecret(t *testing.T) {
	f := start(t, sts.Options{})
	sec, err := f.a.AddSecretExpiring(f.seed.TenantID, f.seed.ClientID, time.Now().Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	form := f.secretForm()
	form.Set("client_secret", sec.Value)
	checkV2Response(t, f.post(t, f.tokenURL(), form), 3599)
	time.Sleep(time.Until(sec.Expires))
	r := f.post(t, f.tokenURL(), form)
	wantError(t, r, http.StatusUnauthorized, "invalid_client", 7000222)
	want := "AADSTS7000222: The provided client secret keys for app '" + f.seed.ClientID + "' are expired."
	if d, _ := r.body["error_description"].(string); !strings.HasPrefix(d, want) {
		t.Errorf("error_description %q, want it to start with %q", d, want)
	}
	// HTTP Basic gets the same answer.
	req, _ := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "scope": {f.seed.Scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.seed.ClientID, sec.Value)
	wantError(t, f.do(t, req), http.StatusUnauthorized, "invalid_client", 7000222)
	checkV2Response(t, f.post(t, f.tokenURL(), f.secretForm()), 3599)
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestConfigReconcileOnOpen: opening with a changed config file removes what
// the file no longer declares, logs each removal (never a secret value), and
// the removed secret is refused.
func TestConfigReconcileOnOpen(t *testing.T) {
	state, cfgPath := t.TempDir(), filepath.Join(t.TempDir(), "authority.yaml")
	const tenant = "11111111-2222-3333-4444-555555555555"
	write := func(secrets string) {
		t.Helper()
		yaml := "tenants:\n  - id: " + tenant + "\n    apps:\n      - client_id: daemon\n        secrets: [" + secrets + "]\n" +
			"        api_permissions: {\"api://orders\": [R]}\n      - {client_id: orders, identifier_uris: [\"api://orders\"], app_roles: [R]}\n"
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kept-secret-value-1, dropped-secret-value-2")
	var logs syncBuffer
	opts := sts.Options{StateDir: state, ConfigFile: cfgPath, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	a, err := sts.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if strings.Contains(logs.String(), "removed") {
		t.Errorf("the first apply logged a removal: %s", logs.String())
	}
	write("kept-secret-value-1")
	f := start(t, opts)
	f.seed = &sts.Seed{TenantID: tenant}
	out := logs.String()
	for _, want := range []string{"config: removed from the directory", "removed.kind=secret", "removed.client_id=daemon", "removed.hint=dro"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dropped-secret-value-2") || strings.Contains(out, "kept-secret-value-1") {
		t.Errorf("log holds a secret value:\n%s", out)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"daemon"}, "scope": {"api://orders/.default"}}
	form.Set("client_secret", "dropped-secret-value-2")
	wantError(t, f.post(t, f.tokenURL(), form), http.StatusUnauthorized, "invalid_client", 7000215)
	form.Set("client_secret", "kept-secret-value-1")
	checkV2Response(t, f.post(t, f.tokenURL(), form), 3599)
}
