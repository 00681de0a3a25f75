package directory_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
)

const tid = "11111111-2222-3333-4444-555555555555"

// newState opens a state in a temporary directory with one tenant.
func newState(t *testing.T) *directory.State {
	t.Helper()
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddTenant(tid, "contoso.example"); err != nil {
		t.Fatal(err)
	}
	return st
}

// appOf returns the listed app clientID of the only tenant, or nil.
func appOf(t *testing.T, st *directory.State, clientID string) *directory.App {
	t.Helper()
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range list {
		for _, a := range tn.Apps {
			if a.ClientID == clientID {
				return a
			}
		}
	}
	return nil
}

func newCert(t *testing.T, cn string) *proof.Certificate {
	t.Helper()
	c, err := proof.NewSelfSigned("CN="+cn, 24*time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantErr(t *testing.T, what string, err error, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", what, err, m)
		}
	}
}

func TestRemoveSecret(t *testing.T) {
	st := newState(t)
	app, err := st.AddApp("", directory.App{ClientID: "daemon"})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := st.AddSecret("", "daemon")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := st.AddSecret("contoso.example", "daemon")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.RemoveSecret("", "daemon", "", "")
	wantErr(t, "neither id nor hint", err, "id or a hint")
	_, err = st.RemoveSecret("", "daemon", s1.ID, s1.Hint)
	wantErr(t, "both id and hint", err, "id or a hint")
	_, err = st.RemoveSecret("", "daemon", "no-such-id", "")
	wantErr(t, "unknown id", err, "no-such-id", s1.ID, s2.ID)
	_, err = st.RemoveSecret("", "nosuch", s1.ID, "")
	wantErr(t, "unknown app", err, "nosuch")

	r, err := st.RemoveSecret("", app.ClientID, strings.ToUpper(s1.ID), "")
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Removal{Kind: "secret", TenantID: tid, ClientID: "daemon", SecretID: s1.ID, Hint: s1.Hint}
	if !equalRemoval(r, want) {
		t.Errorf("removal %+v, want %+v", r, want)
	}
	if got := appOf(t, st, "daemon").Secrets; len(got) != 1 || got[0].ID != s2.ID {
		t.Errorf("secrets after removing %s: %+v", s1.ID, got)
	}
	if r, err := st.RemoveSecret("", "daemon", "", s2.Hint); err != nil || r.SecretID != s2.ID {
		t.Errorf("remove by hint: %+v, %v", r, err)
	}
	if got := appOf(t, st, "daemon").Secrets; len(got) != 0 {
		t.Errorf("secrets left: %+v", got)
	}

	// Two secrets with one hint: the hint alone is refused, naming both.
	cfg := &directory.Config{Tenants: []*directory.Tenant{{ID: tid, Apps: []*directory.App{{ClientID: "daemon",
		Secrets: []directory.Secret{{Value: "abc-first-secret"}, {Value: "abc-second-secret"}}}}}}}
	if err := st.ApplyConfig(cfg, ""); err != nil {
		t.Fatal(err)
	}
	got := appOf(t, st, "daemon").Secrets
	_, err = st.RemoveSecret("", "daemon", "", "abc")
	wantErr(t, "ambiguous hint", err, "2 secrets", got[0].ID, got[1].ID)
}

func equalRemoval(a, b directory.Removal) bool { return reflect.DeepEqual(a, b) }

// TestRemoveCertificateByEveryThumbprintForm: SHA-1 hex (either case), x5t,
// x5t#S256 and SHA-256 hex each name the certificate.
func TestRemoveCertificateByEveryThumbprintForm(t *testing.T) {
	st := newState(t)
	if _, err := st.AddApp("", directory.App{ClientID: "daemon"}); err != nil {
		t.Fatal(err)
	}
	c, other := newCert(t, "daemon"), newCert(t, "other")
	if _, err := st.AddCertificate("", "daemon", other.CertPEM()); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Leaf.Raw)
	for _, form := range []string{proof.SHA1Hex(c.Leaf), strings.ToLower(proof.SHA1Hex(c.Leaf)), proof.X5T(c.Leaf),
		proof.X5TS256(c.Leaf), hex.EncodeToString(sum[:])} {
		info, err := st.AddCertificate("", "daemon", c.CertPEM())
		if err != nil {
			t.Fatal(err)
		}
		r, err := st.RemoveCertificate("", "daemon", form)
		if err != nil {
			t.Errorf("thumbprint %s: %v", form, err)
			continue
		}
		if r.Kind != "certificate" || r.Thumbprint != info.Thumbprint || r.ClientID != "daemon" || r.TenantID != tid {
			t.Errorf("thumbprint %s: removal %+v", form, r)
		}
		if certs := appOf(t, st, "daemon").Certificates; len(certs) != 1 || certs[0].Thumbprint != proof.SHA1Hex(other.Leaf) {
			t.Errorf("thumbprint %s: certificates left %+v", form, certs)
		}
	}
	_, err := st.RemoveCertificate("", "daemon", proof.X5T(c.Leaf))
	wantErr(t, "a certificate not registered", err, proof.X5T(c.Leaf), proof.SHA1Hex(other.Leaf))
	_, err = st.RemoveCertificate("", "daemon", "not a thumbprint")
	wantErr(t, "garbage", err, "not a thumbprint")
}

func TestRemoveGrantAppAndTenant(t *testing.T) {
	st := newState(t)
	api, err := st.AddApp("", directory.App{ClientID: "orders", IdentifierURIs: []string{"api://orders"}, AppRoles: []string{"R", "W"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddApp("", directory.App{ClientID: "daemon", DisplayName: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Grant("", "daemon", "api://orders", "R", "W"); err != nil {
		t.Fatal(err)
	}
	_, err = st.RemoveGrant("", "daemon", "api://orders", "X")
	wantErr(t, "a role not granted", err, `"X"`, "R, W")
	r, err := st.RemoveGrant("", "daemon", "API://Orders/", "W")
	if err != nil || !equalRemoval(r, directory.Removal{Kind: "grant", TenantID: tid, ClientID: "daemon", API: "api://orders", Roles: []string{"W"}}) {
		t.Errorf("remove role W: %+v, %v", r, err)
	}
	if p := appOf(t, st, "daemon").APIPermissions; !slices.Equal(p["api://orders"], []string{"R"}) {
		t.Errorf("permissions after removing W: %v", p)
	}
	// The api by its client id names the grant made by identifier URI; no role: all roles.
	if r, err := st.RemoveGrant("", "daemon", api.ClientID); err != nil || r.API != "api://orders" || !slices.Equal(r.Roles, []string{"R"}) {
		t.Errorf("remove the rest: %+v, %v", r, err)
	}
	if p := appOf(t, st, "daemon").APIPermissions; len(p) != 0 {
		t.Errorf("permissions left: %v", p)
	}
	_, err = st.RemoveGrant("", "daemon", "api://orders")
	wantErr(t, "no grant", err, "api://orders", "none")

	// Removing an app removes the grants on it.
	if err := st.Grant("", "daemon", "api://orders", "R"); err != nil {
		t.Fatal(err)
	}
	rs, err := st.RemoveApp(tid, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	want := []directory.Removal{{Kind: "app", TenantID: tid, ClientID: "orders"},
		{Kind: "grant", TenantID: tid, ClientID: "daemon", API: "api://orders", Roles: []string{"R"}}}
	if !slices.EqualFunc(rs, want, equalRemoval) {
		t.Errorf("remove app: %+v, want %+v", rs, want)
	}
	if appOf(t, st, "orders") != nil || len(appOf(t, st, "daemon").APIPermissions) != 0 {
		t.Error("the app or the grant on it is still listed")
	}
	_, err = st.RemoveApp("", "orders")
	wantErr(t, "a removed app", err, "orders")

	_, err = st.RemoveTenant("contoso.example", false)
	wantErr(t, "a tenant with apps", err, "1 apps", "daemon", "force")
	rs, err = st.RemoveTenant("contoso.example", true)
	want = []directory.Removal{{Kind: "app", TenantID: tid, ClientID: "daemon", DisplayName: "d"}, {Kind: "tenant", TenantID: tid}}
	if err != nil || !slices.EqualFunc(rs, want, equalRemoval) {
		t.Errorf("remove tenant --force: %+v, %v", rs, err)
	}
	if list, err := st.List(); err != nil || len(list) != 0 {
		t.Errorf("list after removing the tenant: %+v, %v", list, err)
	}
	_, err = st.RemoveTenant(tid, true)
	wantErr(t, "a removed tenant", err, tid)
}

func TestSecretExpiry(t *testing.T) {
	st := newState(t)
	if _, err := st.AddApp("", directory.App{ClientID: "daemon"}); err != nil {
		t.Fatal(err)
	}
	_, err := st.AddSecretExpiring("", "daemon", time.Now().Add(-time.Minute))
	wantErr(t, "an expiry in the past", err, "not in the future")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	sec, err := st.AddSecretExpiring("", "daemon", exp)
	if err != nil {
		t.Fatal(err)
	}
	if !sec.Expires.Equal(exp) || sec.Value == "" {
		t.Errorf("secret %+v, want expiry %s", sec, exp)
	}
	if got := appOf(t, st, "daemon").Secrets; len(got) != 1 || !got[0].Expires.Equal(exp) || got[0].Value != "" {
		t.Errorf("listed secrets %+v", got)
	}
	ix, err := st.Index()
	if err != nil {
		t.Fatal(err)
	}
	ten := ix.Tenant(tid)
	app := ten.App("daemon")
	for _, tc := range []struct {
		value string
		at    time.Time
		want  directory.SecretMatch
	}{
		{sec.Value, time.Now(), directory.SecretValid},
		{sec.Value, exp.Add(-time.Second), directory.SecretValid},
		{sec.Value, exp, directory.SecretExpired},
		{sec.Value, exp.Add(time.Hour), directory.SecretExpired},
		{"wrong", time.Now(), directory.SecretNoMatch},
		{"wrong", exp.Add(time.Hour), directory.SecretNoMatch},
	} {
		if got := ten.MatchSecret(app, tc.value, tc.at); got != tc.want {
			t.Errorf("MatchSecret(value ok=%v, at %s) = %d, want %d", tc.value == sec.Value, tc.at, got, tc.want)
		}
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", sec)
	if !strings.Contains(logs.String(), "secret.expires=") || strings.Contains(logs.String(), sec.Value) {
		t.Errorf("log line %s", logs.String())
	}
}

// TestConfigSecretExpiry: a config secret may carry an expiry (object form).
func TestConfigSecretExpiry(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	yaml := "tenants:\n  - id: " + tid + "\n    apps:\n      - client_id: daemon\n        secrets:\n" +
		"          - {secret: old-secret-value, expires: 2020-01-01T00:00:00Z}\n          - new-secret-value\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := directory.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reconcile(cfg); err != nil {
		t.Fatal(err)
	}
	ix, err := st.Index()
	if err != nil {
		t.Fatal(err)
	}
	ten := ix.Tenant(tid)
	if got := ten.MatchSecret(ten.App("daemon"), "old-secret-value", time.Now()); got != directory.SecretExpired {
		t.Errorf("old secret: %d, want SecretExpired", got)
	}
	if got := ten.MatchSecret(ten.App("daemon"), "new-secret-value", time.Now()); got != directory.SecretValid {
		t.Errorf("new secret: %d, want SecretValid", got)
	}
}

// TestReconcile: a config makes the directory match it for what it declares
// and returns what it removed; admin additions outside it stay.
func TestReconcile(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := newCert(t, "one"), newCert(t, "two")
	for name, c := range map[string]*proof.Certificate{"one.pem": c1, "two.pem": c2} {
		if err := os.WriteFile(filepath.Join(dir, name), c.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	apply := func(yaml string) []directory.Removal {
		t.Helper()
		p := filepath.Join(dir, "authority.yaml")
		if err := os.WriteFile(p, []byte("tenants:\n  - id: "+tid+"\n    apps:\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := directory.LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := st.Reconcile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	const api = "      - {client_id: orders, identifier_uris: [\"api://orders\"], app_roles: [R, W]}\n"
	if rs := apply(api + "      - {client_id: old}\n" +
		"      - {client_id: daemon, secrets: [first-secret-value, second-secret-value], certificates: [one.pem, two.pem],\n" +
		"         api_permissions: {\"api://orders\": [R, W]}}\n"); len(rs) != 0 {
		t.Errorf("first apply removed %+v", rs)
	}
	if _, err := st.AddApp(tid, directory.App{ClientID: "manual"}); err != nil {
		t.Fatal(err)
	}
	admin, err := st.AddSecret(tid, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	first := appOf(t, st, "daemon").Secrets[0]
	v2 := api + "      - {client_id: daemon, secrets: [second-secret-value], certificates: [two.pem],\n" +
		"         api_permissions: {\"api://orders/\": [R]}}\n"
	rs := apply(v2)
	want := []directory.Removal{
		{Kind: "app", TenantID: tid, ClientID: "old"},
		{Kind: "secret", TenantID: tid, ClientID: "daemon", SecretID: first.ID, Hint: "fir"},
		{Kind: "secret", TenantID: tid, ClientID: "daemon", SecretID: admin.ID, Hint: admin.Hint},
		{Kind: "certificate", TenantID: tid, ClientID: "daemon", Thumbprint: proof.SHA1Hex(c1.Leaf)},
		{Kind: "grant", TenantID: tid, ClientID: "daemon", API: "api://orders", Roles: []string{"W"}},
	}
	if !slices.EqualFunc(rs, want, equalRemoval) {
		t.Errorf("second apply removed\n%+v\nwant\n%+v", rs, want)
	}
	d := appOf(t, st, "daemon")
	if len(d.Secrets) != 1 || d.Secrets[0].Hint != "sec" || len(d.Certificates) != 1 || d.Source != "config" {
		t.Errorf("daemon after the second apply: %+v", d)
	}
	if appOf(t, st, "manual") == nil || appOf(t, st, "old") != nil || appOf(t, st, "manual").Source != "" {
		t.Error("an app added by admin was removed, or a config app no longer declared stayed")
	}
	if rs := apply(v2); len(rs) != 0 {
		t.Errorf("the same config again removed %+v", rs)
	}
	// Lists the config does not give stay as they are.
	if rs := apply(api + "      - {client_id: daemon}\n"); len(rs) != 0 {
		t.Errorf("a config without lists removed %+v", rs)
	}
	if d := appOf(t, st, "daemon"); len(d.Secrets) != 1 || len(d.Certificates) != 1 || len(d.APIPermissions) != 1 {
		t.Errorf("daemon lost undeclared lists: %+v", d)
	}
	// Dropping the API removes the grant on it; a config still granting on it is refused.
	if _, err := st.Reconcile(&directory.Config{Tenants: []*directory.Tenant{{ID: tid,
		Apps: []*directory.App{{ClientID: "daemon", APIPermissions: map[string][]string{"api://orders": {"R"}}}}}}}); err == nil {
		t.Error("a config granting on an API it removed was applied")
	}
	rs = apply("      - {client_id: daemon}\n")
	want = []directory.Removal{{Kind: "app", TenantID: tid, ClientID: "orders"},
		{Kind: "grant", TenantID: tid, ClientID: "daemon", API: "api://orders/", Roles: []string{"R"}}}
	if !slices.EqualFunc(rs, want, equalRemoval) {
		t.Errorf("dropping the API removed %+v, want %+v", rs, want)
	}
}

// Removing an API app also drops the consents (delegated permissions) other
// apps hold on it, so the directory stays valid.
func TestRemoveAppDropsConsents(t *testing.T) {
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tn, err := st.AddTenant("")
	if err != nil {
		t.Fatal(err)
	}
	api, err := st.AddApp(tn.ID, directory.App{DisplayName: "api", IdentifierURIs: []string{"api://consented"}, Scopes: []string{"Read"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := st.AddApp(tn.ID, directory.App{DisplayName: "client"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Consent(tn.ID, client.ClientID, "api://consented", "Read"); err != nil {
		t.Fatal(err)
	}
	rm, err := st.RemoveApp(tn.ID, api.ClientID)
	if err != nil {
		t.Fatalf("removing a consented API: %v", err)
	}
	if len(rm) != 2 || rm[1].Kind != directory.KindGrant || rm[1].ClientID != client.ClientID {
		t.Fatalf("removals %+v, want the app and the consent on it", rm)
	}
	// The directory still validates: another change goes through.
	if _, err := st.AddApp(tn.ID, directory.App{DisplayName: "later"}); err != nil {
		t.Fatalf("directory after the removal: %v", err)
	}
}
