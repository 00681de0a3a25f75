package sts_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

const (
	alicePassword = "correct-horse-battery-staple-9f3k"
	aliceUPN      = "alice@contoso.test"
)

// oboFixture is a running authority with a user, a public client (cli)
// consented to a middle-tier API (middle, with a secret and a certificate),
// which is consented to Orders.Read on a v2 downstream API (orders) and on a
// v1 one (legacy).
type oboFixture struct {
	*fixture
	oboApps
	logs *syncBuffer
}

func startOBO(t testing.TB, opts sts.Options) *oboFixture {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := &oboFixture{fixture: start(t, opts), logs: logs}
	f.oboApps = provisionOBO(t, f.a, f.seed)
	return f
}

// oboApps are the apps and user provisionOBO makes.
type oboApps struct {
	cli, middle  string // client ids
	middleSecret string
	orders       string // client id of the v2 downstream API
	legacyURI    string // identifier URI of the v1 downstream API
	alice        directory.User
	daemonForMid string // a client-credentials app granted a role on middle
	daemonSecret string
	middleScope  string
	ordersScope  string
}

// provisionOBO adds the apps of oboFixture and the user alice to the seed tenant.
func provisionOBO(t testing.TB, a *sts.Authority, seed *sts.Seed) oboApps {
	t.Helper()
	tid := seed.TenantID
	f := oboApps{legacyURI: "https://legacy.example/", middleScope: "api://middle/access_as_user", ordersScope: "api://orders/Orders.Read"}
	must := func(app directory.App, err error) directory.App {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	f.orders = must(a.AddApp(tid, directory.App{DisplayName: "orders", IdentifierURIs: []string{"api://orders"},
		Scopes: []string{"Orders.Read", "Orders.Write"}, AccessTokenVersion: 2})).ClientID
	must(a.AddApp(tid, directory.App{DisplayName: "legacy", IdentifierURIs: []string{f.legacyURI}, Scopes: []string{"Legacy.Read"}}))
	f.middle = must(a.AddApp(tid, directory.App{DisplayName: "middle", IdentifierURIs: []string{"api://middle"},
		Scopes: []string{"access_as_user"}, AppRoles: []string{"Jobs.Run"}, AccessTokenVersion: 2,
		DelegatedPermissions: map[string][]string{"api://orders": {"Orders.Read"}, f.legacyURI: {"Legacy.Read"}}})).ClientID
	f.cli = must(a.AddApp(tid, directory.App{DisplayName: "cli", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://middle": {"access_as_user"}}})).ClientID
	sec, err := a.AddSecret(tid, f.middle)
	if err != nil {
		t.Fatal(err)
	}
	f.middleSecret = sec.Value
	good, _ := certs(t)
	if _, err := a.AddCertificate(tid, f.middle, good.certPEM); err != nil {
		t.Fatal(err)
	}
	f.daemonForMid, f.daemonSecret = seed.ClientID, seed.ClientSecret
	if err := a.Grant(tid, seed.ClientID, "api://middle", "Jobs.Run"); err != nil {
		t.Fatal(err)
	}
	if f.alice, err = a.AddUser(tid, directory.User{UPN: aliceUPN, DisplayName: "Alice", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *oboFixture) jwks() string { return f.a.TenantURL(f.seed.TenantID) + "/discovery/v2.0/keys" }

func (f *oboFixture) v1URL() string { return f.a.TenantURL(f.seed.TenantID) + "/oauth2/token" }

func (f *oboApps) passwordForm(clientID, scope string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {clientID}, "username": {aliceUPN},
		"password": {alicePassword}, "scope": {scope}, "client_info": {"1"}}
}

// userToken gets alice's token for the middle tier through the cli app.
func (f *oboFixture) userToken(t testing.TB) string {
	t.Helper()
	r := f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" openid profile offline_access"))
	if r.status != http.StatusOK {
		t.Fatalf("password grant: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

func (f *oboApps) oboForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {f.middle},
		"client_secret": {f.middleSecret}, "assertion": {assertion}, "requested_token_use": {"on_behalf_of"},
		"scope": {scope}, "client_info": {"1"}}
}

func wantClaims(t testing.TB, c jwt.MapClaims, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
}

func TestPasswordGrantUserToken(t *testing.T) {
	f := startOBO(t, sts.Options{})
	r := f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" openid profile offline_access"))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r.body["scope"] != f.middleScope+" openid profile offline_access" || r.body["expires_in"] == nil ||
		r.body["ext_expires_in"] == nil || r.body["refresh_token"] == "" || r.body["token_type"] != "Bearer" {
		t.Errorf("response %s", r.raw)
	}
	_, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks())
	wantClaims(t, c, map[string]any{"aud": f.middle, "scp": "access_as_user", "oid": f.alice.ObjectID,
		"preferred_username": aliceUPN, "name": "Alice", "azp": f.cli, "azpacr": "0", "tid": f.seed.TenantID, "ver": "2.0"})
	for _, k := range []string{"sub", "uti", "iat", "nbf", "exp"} {
		if c[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
	if c["roles"] != nil || c["idtyp"] != nil {
		t.Errorf("user token has app-only claims: %v", c)
	}
	_, id := f.verifyToken(t, r.body["id_token"].(string), f.jwks())
	wantClaims(t, id, map[string]any{"aud": f.cli, "preferred_username": aliceUPN, "oid": f.alice.ObjectID,
		"tid": f.seed.TenantID, "iss": f.a.TenantURL(f.seed.TenantID) + "/v2.0"})
	if id["nbf"] == nil || id["exp"] == nil || id["sub"] != c["sub"] {
		t.Errorf("id_token %v", id)
	}
	ci, err := base64.RawURLEncoding.DecodeString(r.body["client_info"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	if err := json.Unmarshal(ci, &info); err != nil || info["uid"] != f.alice.ObjectID || info["utid"] != f.seed.TenantID {
		t.Errorf("client_info %s (%v)", ci, err)
	}
	// Without openid/profile/offline_access: no id_token, client_info or refresh token.
	r = f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope))
	if r.status != http.StatusOK || r.body["id_token"] != nil || r.body["client_info"] != nil || r.body["refresh_token"] != nil {
		t.Errorf("plain password grant: %s", r.raw)
	}
	// The same user through another app has another sub.
	r = f.post(t, f.tokenURL(), f.passwordForm(f.middle, f.ordersScope))
	if r.status != http.StatusUnauthorized {
		t.Fatalf("confidential without credential: %d %s", r.status, r.raw)
	}
	form := f.passwordForm(f.middle, f.ordersScope)
	form.Set("client_secret", f.middleSecret)
	r = f.post(t, f.tokenURL(), form)
	if r.status != http.StatusOK {
		t.Fatalf("confidential password grant: %d %s", r.status, r.raw)
	}
	_, c2 := f.verifyToken(t, r.body["access_token"].(string), f.jwks())
	if c2["sub"] == c["sub"] || c2["oid"] != c["oid"] || c2["azpacr"] != "1" || c2["aud"] != f.orders {
		t.Errorf("confidential client's token %v", c2)
	}
}

func TestOnBehalfOf(t *testing.T) {
	f := startOBO(t, sts.Options{})
	user := f.userToken(t)
	good, _ := certs(t)
	cert := f.oboForm(user, f.ordersScope+" openid profile offline_access")
	cert.Del("client_secret")
	cert.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	cert.Set("client_assertion", proofAssertion(t, good, f.middle, f.tokenURL(), proof.PS256))
	for _, tc := range []struct {
		name string
		form url.Values
		acr  string
	}{
		{"secret", f.oboForm(user, f.ordersScope+" openid profile offline_access"), "1"},
		{"certificate", cert, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.post(t, f.tokenURL(), tc.form)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if r.body["scope"] != f.ordersScope+" openid profile offline_access" || r.body["refresh_token"] == nil ||
				r.body["id_token"] == nil || r.body["client_info"] == nil || r.body["ext_expires_in"] == nil {
				t.Errorf("response %s", r.raw)
			}
			_, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks())
			wantClaims(t, c, map[string]any{"aud": f.orders, "scp": "Orders.Read", "oid": f.alice.ObjectID,
				"preferred_username": aliceUPN, "azp": f.middle, "azpacr": tc.acr, "tid": f.seed.TenantID})
			_, id := f.verifyToken(t, r.body["id_token"].(string), f.jwks())
			if id["aud"] != f.middle {
				t.Errorf("id_token aud %v, want the middle tier", id["aud"])
			}
		})
	}
	t.Run("v1 endpoint and v1 resource", func(t *testing.T) {
		form := f.oboForm(user, "")
		form.Del("scope")
		form.Set("resource", f.legacyURI)
		r := f.post(t, f.v1URL(), form)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r.body["resource"] != f.legacyURI || r.body["expires_in"] == nil {
			t.Errorf("v1 response %s", r.raw)
		}
		_, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks())
		wantClaims(t, c, map[string]any{"aud": f.legacyURI, "scp": "Legacy.Read", "upn": aliceUPN,
			"unique_name": aliceUPN, "appid": f.middle, "appidacr": "1", "ver": "1.0", "oid": f.alice.ObjectID})
	})
	t.Run(".default gives every consented scope", func(t *testing.T) {
		r := f.post(t, f.tokenURL(), f.oboForm(user, "api://orders/.default"))
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		_, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks())
		if c["scp"] != "Orders.Read" || r.body["scope"] != "api://orders/Orders.Read api://orders/.default" {
			t.Errorf("scp %v, scope %v", c["scp"], r.body["scope"])
		}
	})
}

func TestRefreshTokenGrant(t *testing.T) {
	f := startOBO(t, sts.Options{})
	r := f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" offline_access"))
	rt := r.body["refresh_token"].(string)
	redeem := func(rt, clientID string) *response {
		return f.post(t, f.tokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID},
			"refresh_token": {rt}, "scope": {f.middleScope + " offline_access"}})
	}
	r2 := redeem(rt, f.cli)
	if r2.status != http.StatusOK {
		t.Fatalf("%d %s", r2.status, r2.raw)
	}
	rt2, _ := r2.body["refresh_token"].(string)
	if rt2 == "" || rt2 == rt {
		t.Fatalf("refresh token not rotated: %q", rt2)
	}
	_, c := f.verifyToken(t, r2.body["access_token"].(string), f.jwks())
	wantClaims(t, c, map[string]any{"oid": f.alice.ObjectID, "scp": "access_as_user", "azp": f.cli})
	wantError(t, redeem(rt, f.cli), 400, "invalid_grant", 70000) // used up
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {f.middle}, "client_secret": {f.middleSecret}, "refresh_token": {rt2}}
	wantError(t, f.post(t, f.tokenURL(), form), 400, "invalid_grant", 70000) // another client's
	// Without a scope, the refresh token's own resource and scopes.
	r3 := f.post(t, f.tokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {f.cli}, "refresh_token": {rt2}})
	if r3.status != http.StatusOK || r3.body["scope"] != f.middleScope {
		t.Fatalf("refresh without scope: %d %s", r3.status, r3.raw)
	}
	rt3 := r3.body["refresh_token"]
	if rt3 != nil {
		t.Errorf("no offline_access asked, yet a refresh token")
	}
	t.Run("on-behalf-of refresh token, redeemed by the middle tier", func(t *testing.T) {
		r := f.post(t, f.tokenURL(), f.oboForm(f.userToken(t), f.ordersScope+" offline_access"))
		rt, _ := r.body["refresh_token"].(string)
		if r.status != http.StatusOK || rt == "" {
			t.Fatalf("OBO with offline_access: %d %s", r.status, r.raw)
		}
		wantError(t, redeem(rt, f.cli), 400, "invalid_grant", 70000) // not the cli's
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {f.middle}, "client_secret": {f.middleSecret},
			"refresh_token": {rt}, "scope": {f.ordersScope + " offline_access"}}
		r2 := f.post(t, f.tokenURL(), form)
		if r2.status != http.StatusOK {
			t.Fatalf("refresh by the middle tier: %d %s", r2.status, r2.raw)
		}
		_, c := f.verifyToken(t, r2.body["access_token"].(string), f.jwks())
		wantClaims(t, c, map[string]any{"aud": f.orders, "scp": "Orders.Read", "oid": f.alice.ObjectID, "azp": f.middle, "azpacr": "1"})
		form.Del("client_secret")
		form.Set("refresh_token", r2.body["refresh_token"].(string))
		wantError(t, f.post(t, f.tokenURL(), form), 401, "invalid_client", 7000218) // confidential: credential needed
	})
	t.Run("consent revoked", func(t *testing.T) {
		rt := f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" offline_access")).body["refresh_token"].(string)
		if err := f.a.Consent(f.seed.TenantID, f.cli, "api://middle"); err != nil {
			t.Fatal(err)
		}
		wantError(t, redeem(rt, f.cli), 400, "invalid_grant", 65001)
		if err := f.a.Consent(f.seed.TenantID, f.cli, "api://middle", "access_as_user"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("user removed", func(t *testing.T) {
		rt := f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" offline_access")).body["refresh_token"].(string)
		user := f.userToken(t)
		if err := f.a.RemoveUser(f.seed.TenantID, aliceUPN); err != nil {
			t.Fatal(err)
		}
		wantError(t, redeem(rt, f.cli), 400, "invalid_grant", 70000)
		wantError(t, f.post(t, f.tokenURL(), f.oboForm(user, f.ordersScope)), 400, "invalid_grant", 50013)
		wantError(t, f.post(t, f.tokenURL(), f.passwordForm(f.cli, f.middleScope)), 400, "invalid_grant", 50126)
	})
}

// forge signs claims with the authority's current signing key (read from the
// state directory), for assertions the token endpoint would not issue.
func (f *oboFixture) forge(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	set, err := pki.ReadKeys(f.a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	k := set.Current()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.KID
	s, err := tok.SignedString(k.Key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUserGrantErrors(t *testing.T) {
	f := startOBO(t, sts.Options{})
	user := f.userToken(t)
	now := time.Now()
	userClaims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": f.middle, "tid": f.seed.TenantID, "scp": "access_as_user", "oid": f.alice.ObjectID,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		mod(c)
		return c
	}
	appOnly := f.post(t, f.tokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {f.daemonForMid},
		"client_secret": {f.daemonSecret}, "scope": {"api://middle/.default"}})
	if appOnly.status != http.StatusOK {
		t.Fatalf("app-only token: %s", appOnly.raw)
	}
	badPassword := f.passwordForm(f.cli, f.middleScope)
	badPassword.Set("password", "wrong-password-x1")
	unknown := f.passwordForm(f.cli, f.middleScope)
	unknown.Set("username", "mallory@contoso.test")
	noCred := f.passwordForm(f.middle, f.ordersScope)
	tampered := user[:len(user)-4] + "AAAA"
	rows := []struct {
		name   string
		form   url.Values
		status int
		oauth  string
		code   int
	}{
		{"wrong password", badPassword, 400, "invalid_grant", 50126},
		{"unknown user", unknown, 400, "invalid_grant", 50126},
		{"no consent", f.passwordForm(f.cli, f.ordersScope), 400, "invalid_grant", 65001},
		{"confidential without credential", noCred, 401, "invalid_client", 7000218},
		{"unknown scope", f.passwordForm(f.cli, "api://middle/Nope"), 400, "invalid_scope", 70011},
		{".default mixed", f.passwordForm(f.cli, "api://middle/.default "+f.middleScope), 400, "invalid_scope", 70011},
		{"two resources", f.passwordForm(f.cli, f.middleScope+" "+f.ordersScope), 400, "invalid_scope", 700022},
		{"obo not consented", f.oboForm(user, "api://orders/Orders.Write"), 400, "invalid_grant", 65001},
		{"obo empty assertion", f.oboForm("", f.ordersScope), 400, "invalid_request", 900144},
		{"obo not a JWT", f.oboForm("not-a-jwt", f.ordersScope), 400, "invalid_grant", 50013},
		{"obo tampered signature", f.oboForm(tampered, f.ordersScope), 400, "invalid_grant", 50013},
		{"obo app-only token", f.oboForm(appOnly.body["access_token"].(string), f.ordersScope), 400, "invalid_grant", 50013},
		{"obo other audience", f.oboForm(f.forge(t, userClaims(func(c jwt.MapClaims) { c["aud"] = f.orders })), f.ordersScope), 400, "invalid_grant", 50013},
		{"obo other tenant", f.oboForm(f.forge(t, userClaims(func(c jwt.MapClaims) { c["tid"] = uuid.NewString() })), f.ordersScope), 400, "invalid_grant", 50013},
		{"obo expired", f.oboForm(f.forge(t, userClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), f.ordersScope), 400, "invalid_grant", 500133},
		{"obo not yet valid", f.oboForm(f.forge(t, userClaims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), f.ordersScope), 400, "invalid_grant", 500133},
		{"obo without requested_token_use", func() url.Values { v := f.oboForm(user, f.ordersScope); v.Del("requested_token_use"); return v }(), 400, "invalid_request", 900144},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {f.cli}, "refresh_token": {"bm90LWEtdG9rZW4"}}, 400, "invalid_grant", 70000},
	}
	var bodies strings.Builder
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := f.post(t, f.tokenURL(), row.form)
			wantError(t, r, row.status, row.oauth, row.code)
			bodies.WriteString(r.raw)
		})
	}
	// A forged user token with the right claims is accepted (aud the client id
	// or an identifier URI): the rows above fail for the reason they name.
	for _, aud := range []string{f.middle, "api://middle", "API://middle/"} {
		form := f.oboForm(f.forge(t, userClaims(func(c jwt.MapClaims) { c["aud"] = aud })), f.ordersScope)
		if r := f.post(t, f.tokenURL(), form); r.status != http.StatusOK {
			t.Fatalf("well-formed assertion for %s: %d %s", aud, r.status, r.raw)
		}
	}
	out := bodies.String() + f.logs.String()
	for _, secret := range []string{alicePassword, "wrong-password-x1", user, tampered, f.middleSecret, user[strings.LastIndexByte(user, '.')+1:]} {
		if strings.Contains(out, secret) {
			t.Errorf("an error body or log line contains a password, assertion or token")
		}
	}
}
