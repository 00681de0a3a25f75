package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

// authorityErr runs "appcred authority ARGS..." and returns its error.
func authorityErr(args ...string) error {
	cmd := newAuthorityCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	return cmd.Execute()
}

// removed is what every remove verb prints.
type removed struct {
	Removed []map[string]any `json:"removed"`
}

// wantRemoved checks a remove verb's output record by record, field by field.
func wantRemoved(t *testing.T, verb string, got removed, want ...map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got.Removed, want) {
		t.Errorf("%s printed %v\nwant %v", verb, got.Removed, want)
	}
}

// TestAuthorityRemoveVerbs runs each remove verb, and secret add --expires,
// against the state of a running authority: each prints the JSON the README
// shows, and what it removed is refused by the server at once.
func TestAuthorityRemoveVerbs(t *testing.T) {
	state := t.TempDir()
	a, err := sts.Start(context.Background(), sts.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hc := a.HTTPClient()
	defer hc.CloseIdleConnections()
	s := a.Seed()
	post := func(secret string) int {
		res, err := hc.PostForm(a.TokenEndpoint(s.TenantID), url.Values{"grant_type": {"client_credentials"},
			"client_id": {s.ClientID}, "client_secret": {secret}, "scope": {s.Scope}})
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	untilStatus := func(what, secret string, want int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); post(secret) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %d not seen within 2 s", what, want)
			}
		}
	}

	// secret add --expires 30d, then secret remove --id.
	var sec struct {
		ID, Hint, Secret string
		Expires          time.Time
	}
	runAuthority(t, &sec, "secret", "add", "--state", state, "--app", s.ClientID, "--expires", "30d")
	if d := time.Until(sec.Expires); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Errorf("secret add --expires 30d: expires %s", sec.Expires)
	}
	untilStatus("the new secret", sec.Secret, http.StatusOK)
	remove := func(args ...string) removed {
		t.Helper()
		var out removed // fresh: decoding into a used value would merge the records
		runAuthority(t, &out, append(args, "--state", state)...)
		return out
	}
	out := remove("secret", "remove", "--app", s.ClientID, "--id", sec.ID)
	wantRemoved(t, "secret remove", out, map[string]any{"kind": "secret", "tenant_id": s.TenantID, "client_id": s.ClientID,
		"secret_id": sec.ID, "hint": sec.Hint})
	untilStatus("the removed secret", sec.Secret, http.StatusUnauthorized)

	// cert add, then cert remove by x5t#S256.
	c, err := proof.NewSelfSigned("CN=cli", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "c.pem")
	if err := os.WriteFile(pemFile, c.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var cert struct {
		Thumbprint string `json:"thumbprint"`
		X5TS256    string `json:"x5t_s256"`
	}
	runAuthority(t, &cert, "cert", "add", "--state", state, "--app", s.ClientID, "--cert", pemFile)
	out = remove("cert", "remove", "--app", s.ClientID, "--thumbprint", cert.X5TS256)
	wantRemoved(t, "cert remove", out, map[string]any{"kind": "certificate", "tenant_id": s.TenantID,
		"client_id": s.ClientID, "thumbprint": cert.Thumbprint})

	// grant remove.
	out = remove("grant", "remove", "--app", s.ClientID, "--api", s.IdentifierURI, "--role", s.Role)
	wantRemoved(t, "grant remove", out, map[string]any{"kind": "grant", "tenant_id": s.TenantID,
		"client_id": s.ClientID, "api": s.IdentifierURI, "roles": []any{s.Role}})

	// app remove: the seeded daemon, whose secret then stops working.
	untilStatus("the seeded secret", s.ClientSecret, http.StatusOK)
	out = remove("app", "remove", "--app", s.ClientID)
	wantRemoved(t, "app remove", out, map[string]any{"kind": "app", "tenant_id": s.TenantID,
		"client_id": s.ClientID, "display_name": "appcred-demo-daemon"})
	untilStatus("the removed app", s.ClientSecret, http.StatusBadRequest)

	// tenant remove: refused while it has apps, done with --force.
	if err := authorityErr("tenant", "remove", "--state", state, "--tenant", s.TenantID); err == nil ||
		!strings.Contains(err.Error(), "force") {
		t.Errorf("tenant remove of a tenant with apps: %v", err)
	}
	out = remove("tenant", "remove", "--tenant", s.TenantID, "--force")
	if n := len(out.Removed); n != 2 || out.Removed[0]["kind"] != "app" || !reflect.DeepEqual(out.Removed[1],
		map[string]any{"kind": "tenant", "tenant_id": s.TenantID}) {
		t.Errorf("tenant remove --force printed %v", out.Removed)
	}
}

func TestAuthorityRemoveVerbErrors(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"secret", "remove", "--app", "x"}, "id hint"},
		{[]string{"secret", "remove", "--app", "x", "--id", "a", "--hint", "b"}, "id hint"},
		{[]string{"secret", "add", "--app", "x", "--expires", "3x"}, `--expires "3x"`},
		{[]string{"secret", "add", "--app", "x", "--expires", "-2d"}, "--expires"},
		{[]string{"cert", "remove", "--app", "x"}, "thumbprint"},
		{[]string{"cert", "remove", "--app", "x", "--thumbprint", "zz"}, `"zz"`},
		{[]string{"grant", "remove", "--app", "x"}, "api"},
		{[]string{"app", "remove"}, "app"},
		{[]string{"app", "remove", "--app", "nosuch"}, "tenants"},
		{[]string{"tenant", "remove"}, "tenant"},
		{[]string{"tenant", "remove", "--tenant", "nosuch"}, `"nosuch" not found`},
	} {
		err := authorityErr(append(tc.args, "--state", state)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("authority %s: error %v, want one mentioning %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"30d": now.Add(30 * 24 * time.Hour), "12h": now.Add(12 * time.Hour), "90m": now.Add(90 * time.Minute),
		"2027-01-01T00:00:00Z": time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseExpiry(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "0d", "-1h", "30x", "1.5d"} {
		if _, err := parseExpiry(in, now); err == nil {
			t.Errorf("parseExpiry(%q): no error", in)
		}
	}
}

// TestServeConfigSaysWhatItRemoved: serve --config with a secret dropped from
// the file removes it and says so on stderr, without the secret's value.
func TestServeConfigSaysWhatItRemoved(t *testing.T) {
	state, cfg := t.TempDir(), filepath.Join(t.TempDir(), "authority.yaml")
	write := func(secrets string) {
		t.Helper()
		yaml := "tenants:\n  - id: 11111111-2222-3333-4444-555555555555\n    apps:\n      - client_id: daemon\n" +
			"        secrets: [" + secrets + "]\n"
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kept-secret-value-1, dropped-secret-value-2")
	if _, stderr := serveUntilReady(t, "--state", state, "--config", cfg); strings.Contains(stderr, "removed") {
		t.Errorf("the first start says it removed something: %s", stderr)
	}
	write("kept-secret-value-1")
	_, stderr := serveUntilReady(t, "--state", state, "--config", cfg)
	for _, want := range []string{"config: removed from the directory", "removed.kind=secret", "removed.client_id=daemon", "removed.hint=dro"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("serve --config stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "secret-value") {
		t.Errorf("serve --config stderr holds a secret value:\n%s", stderr)
	}
	var list struct {
		Tenants []struct {
			Apps []struct {
				Secrets []struct{ Hint string } `json:"secrets"`
			} `json:"apps"`
		} `json:"tenants"`
	}
	runAuthority(t, &list, "list", "--state", state)
	if s := list.Tenants[0].Apps[0].Secrets; len(s) != 1 || s[0].Hint != "kep" {
		t.Errorf("secrets after the second start: %+v", s)
	}
}
