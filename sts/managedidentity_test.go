package sts_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// miGet sends a managed-identity request (header "" = none) and decodes the JSON answer.
func (f *fixture) miGet(t *testing.T, endpoint, header string, q url.Values, method string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("X-IDENTITY-HEADER", header)
	}
	r := f.do(t, req)
	return r.status, r.body
}

// TestManagedIdentityEndpoint: the App Service protocol on loopback plain
// HTTP. A request without the identity header gets 400, with a wrong one 401;
// with it, the system-assigned identity (first app) or a user-assigned one
// (by client_id, principal_id or mi_res_id) gets its app-only token, which
// verifies against the JWKS; bad parameters get 400 in App Service's shape.
func TestManagedIdentityEndpoint(t *testing.T) {
	dir := t.TempDir()
	f := start(t, sts.Options{StateDir: dir})
	if err := f.a.StartManagedIdentity("127.0.0.1:0", []string{f.seed.ClientID, f.seed.TenantID + "/" + f.certApp}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.StartManagedIdentity("127.0.0.1:0", []string{f.seed.ClientID}); err == nil {
		t.Error("a second StartManagedIdentity: no error")
	}
	env := map[string]string{}
	for _, v := range f.a.ManagedIdentityEnv() {
		env[v.Name] = v.Value
	}
	endpoint, header := env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"]
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || len(header) < 32 {
		t.Fatalf("env %v: want a loopback http endpoint and a long random header", env)
	}
	resource := strings.TrimSuffix(f.seed.Scope, "/.default")
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}

	if st, body := f.miGet(t, endpoint, "", q, http.MethodGet); st != http.StatusBadRequest || body["access_token"] != nil {
		t.Errorf("no header: status %d %v, want 400 and no token", st, body)
	}
	if st, body := f.miGet(t, endpoint, header+"x", q, http.MethodGet); st != http.StatusUnauthorized || body["statusCode"] != float64(401) {
		t.Errorf("wrong header: status %d %v, want 401", st, body)
	}

	with := func(k, v string) url.Values {
		c := url.Values{}
		for key, vals := range q {
			c[key] = vals
		}
		c.Set(k, v)
		return c
	}
	certObj := ""
	tenants, err := f.a.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range tenants[0].Apps {
		if app.ClientID == f.certApp {
			certObj = app.ObjectID
		}
	}
	for _, tc := range []struct {
		name   string
		q      url.Values
		client string
	}{
		{"system-assigned", q, f.seed.ClientID},
		{"client_id", with("client_id", f.certApp), f.certApp},
		{"principal_id", with("principal_id", certObj), f.certApp},
		{"mi_res_id", with("mi_res_id", "/subscriptions/x/resourcegroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cert-daemon"), f.certApp},
	} {
		st, body := f.miGet(t, endpoint, header, tc.q, http.MethodGet)
		if st != http.StatusOK {
			t.Fatalf("%s: status %d: %v", tc.name, st, body)
		}
		if body["client_id"] != tc.client || body["token_type"] != "Bearer" || body["resource"] != resource {
			t.Errorf("%s: response %v", tc.name, body)
		}
		exp, err := strconv.ParseInt(body["expires_on"].(string), 10, 64)
		if d := time.Until(time.Unix(exp, 0)); err != nil || d < 3500*time.Second || d > 3600*time.Second {
			t.Errorf("%s: expires_on %v: want an epoch string about 3599 s ahead", tc.name, body["expires_on"])
		}
		_, claims := f.verifyToken(t, body["access_token"].(string), f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
		if claims["azp"] != tc.client || claims["azpacr"] != "2" || claims["tid"] != f.seed.TenantID || claims["idtyp"] != "app" {
			t.Errorf("%s: claims azp %v azpacr %v tid %v idtyp %v", tc.name, claims["azp"], claims["azpacr"], claims["tid"], claims["idtyp"])
		}
	}

	for _, tc := range []struct {
		name   string
		q      url.Values
		method string
		status int
	}{
		{"unknown client_id", with("client_id", "00000000-0000-0000-0000-000000000001"), http.MethodGet, 400},
		{"two identities", url.Values{"api-version": {"2019-08-01"}, "resource": {resource}, "client_id": {f.certApp},
			"object_id": {certObj}}, http.MethodGet, 400},
		{"no resource", with("resource", ""), http.MethodGet, 400},
		{"unknown resource", with("resource", "api://nobody"), http.MethodGet, 400},
		{"old api-version", with("api-version", "2017-09-01"), http.MethodGet, 400},
		{"POST", q, http.MethodPost, 405},
	} {
		if st, body := f.miGet(t, endpoint, header, tc.q, tc.method); st != tc.status || body["access_token"] != nil {
			t.Errorf("%s: status %d %v, want %d and no token", tc.name, st, body, tc.status)
		}
	}
}

// TestManagedIdentityOptions: Start serves the endpoint for Options.ManagedIdentity
// and refuses an unknown app or a non-loopback address.
func TestManagedIdentityOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := sts.Start(ctx, sts.Options{StateDir: t.TempDir(), ManagedIdentity: []string{"no-such-app"}}); err == nil ||
		!strings.Contains(err.Error(), "no-such-app") {
		t.Errorf("unknown app: %v", err)
	}
	dir := t.TempDir()
	a, err := sts.Open(sts.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id := a.Seed().ClientID
	if _, err := sts.Start(ctx, sts.Options{StateDir: dir, ManagedIdentity: []string{id}, ManagedIdentityAddr: "0.0.0.0:0"}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback address: %v, want a loopback error", err)
	}
	b, err := sts.Start(ctx, sts.Options{StateDir: dir, ManagedIdentity: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.ManagedIdentities(); len(got) != 1 || !strings.HasSuffix(got[0], "/"+id) || len(b.ManagedIdentityEnv()) != 2 {
		t.Errorf("ManagedIdentities %v, env %v", got, b.ManagedIdentityEnv())
	}
}
