package sts_test

import (
	"crypto/sha1" //nolint:gosec // x5t is SHA-1
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// checkV2Response checks a v2 client-credentials response and returns the token.
func checkV2Response(t *testing.T, r *response, lifetime int) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.body["token_type"] != "Bearer" {
		t.Errorf("token_type %v", r.body["token_type"])
	}
	if r.body["expires_in"] != float64(lifetime) || r.body["ext_expires_in"] != float64(lifetime) {
		t.Errorf("expires_in %v / ext_expires_in %v, want integer %d", r.body["expires_in"], r.body["ext_expires_in"], lifetime)
	}
	if strings.Contains(r.raw, `"expires_in":"`) {
		t.Errorf("expires_in is a string in a v2 response: %s", r.raw)
	}
	if _, has := r.body["scope"]; has {
		t.Errorf("v2 client-credentials response has a scope field: %s", r.raw)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q", cc)
	}
	tok, _ := r.body["access_token"].(string)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("access_token %q is not a JWS", tok)
	}
	return tok
}

func TestSecretTokenV2(t *testing.T) {
	f := start(t, sts.Options{RefreshIn: 1800 * time.Second})
	form := f.secretForm()
	// MSAL Go appends these; MSAL Python sends client_info and claims.
	form.Set("scope", f.seed.Scope+" openid offline_access profile")
	form.Set("client_info", "1")
	form.Set("claims", `{"access_token":{"xms_cc":{"values":["CP1"]}}}`)
	form.Set("x-client-SKU", "msal.js.node")
	r := f.post(t, f.tokenURL(), form)
	tok := checkV2Response(t, r, 3599)
	if r.body["refresh_in"] != float64(1800) {
		t.Errorf("refresh_in %v, want integer 1800", r.body["refresh_in"])
	}
	header, c := f.verifyToken(t, tok, f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
	if _, has := header["x5t"]; has {
		t.Errorf("v2 token header has x5t: %v", header)
	}
	tid := f.seed.TenantID
	want := map[string]any{
		"aud": f.seed.APIClientID, "iss": f.a.URL() + "/" + tid + "/v2.0", "tid": tid,
		"azp": f.seed.ClientID, "azpacr": "1", "ver": "2.0", "idtyp": "app",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if c["oid"] == "" || c["oid"] != c["sub"] {
		t.Errorf("oid %v / sub %v: want the service principal id in both", c["oid"], c["sub"])
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "Demo.Read" {
		t.Errorf("roles %v, want [Demo.Read]", c["roles"])
	}
	iat, nbf, exp := c["iat"].(float64), c["nbf"].(float64), c["exp"].(float64)
	if exp-iat != 3599 || nbf != iat || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("iat %v nbf %v exp %v", iat, nbf, exp)
	}
	if u, _ := c["uti"].(string); len(u) < 16 {
		t.Errorf("uti %q", u)
	}
	for _, k := range []string{"appid", "appidacr", "scp"} {
		if _, has := c[k]; has {
			t.Errorf("v2 app token has %s", k)
		}
	}

	// The same app again: a different token (fresh uti), same stable oid.
	r2 := f.post(t, f.tokenURL(), f.secretForm())
	_, c2 := f.verifyToken(t, checkV2Response(t, r2, 3599), f.a.TenantURL(tid)+"/discovery/v2.0/keys")
	if c2["uti"] == c["uti"] || c2["oid"] != c["oid"] {
		t.Errorf("second token: uti %v (first %v), oid %v (first %v)", c2["uti"], c["uti"], c2["oid"], c["oid"])
	}
}

func TestSecretBasicAuthAndClientRequestID(t *testing.T) {
	f := start(t, sts.Options{})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {f.seed.Scope}}
	req, _ := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.SetBasicAuth(url.QueryEscape(f.seed.ClientID), url.QueryEscape(f.seed.ClientSecret))
	req.Header.Set("client-request-id", "3c9a3c4e-7c53-4d1b-9a42-2f7e0d5f7a11")
	req.Header.Set("return-client-request-id", "true")
	r := f.do(t, req)
	checkV2Response(t, r, 3599)
	if got := r.header.Get("client-request-id"); got != "3c9a3c4e-7c53-4d1b-9a42-2f7e0d5f7a11" {
		t.Errorf("client-request-id echo %q", got)
	}

	// A secret with '+' and '/' sent in Basic without form-encoding (curl -u) works too.
	app, err := f.a.AddApp(f.seed.TenantID, directory.App{ClientID: "plus-app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.ApplyConfig(&directory.Config{Tenants: []*directory.Tenant{{ID: f.seed.TenantID, Apps: []*directory.App{
		{ClientID: app.ClientID, Secrets: []directory.Secret{{Value: "a+b/c=d%e"}}}}}}}, "."); err != nil {
		t.Fatal(err)
	}
	for _, enc := range []bool{true, false} {
		req, _ = http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "scope": {f.seed.Scope}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if enc {
			req.SetBasicAuth(app.ClientID, url.QueryEscape("a+b/c=d%e"))
		} else {
			req.SetBasicAuth(app.ClientID, "a+b/c=d%e")
		}
		checkV2Response(t, f.do(t, req), 3599)
	}

	// Without return-client-request-id the header is not echoed, but errors carry it as correlation id.
	form.Set("client_id", f.seed.ClientID)
	form.Set("client_secret", "wrong")
	req, _ = http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
	r = f.do(t, req)
	wantError(t, r, http.StatusUnauthorized, "invalid_client", 7000215)
	if r.header.Get("client-request-id") != "" {
		t.Errorf("client-request-id echoed without return-client-request-id")
	}
	if r.body["correlation_id"] != "0f8fad5b-d9cb-469f-a165-70867728950e" {
		t.Errorf("correlation_id %v", r.body["correlation_id"])
	}
	if strings.Contains(r.raw, "wrong") {
		t.Errorf("the error response echoes the secret: %s", r.raw)
	}
}

func TestCertificateAssertions(t *testing.T) {
	f := start(t, sts.Options{})
	good, _ := certs(t)
	aud := f.tokenURL()
	cases := map[string]func() string{
		"msal-python": func() string { return pythonAssertion(t, good, f.certApp, aud, time.Now()) },
		"msal-go":     func() string { return goAssertion(t, good, f.certApp, aud, time.Now()) },
		"proof-ps256": func() string { return proofAssertion(t, good, f.certApp, aud, proof.PS256) },
		"proof-rs256": func() string { return proofAssertion(t, good, f.certApp, aud, proof.RS256) },
		"x5c-only": func() string {
			return signWith(t, jwt.SigningMethodRS256, good.key, map[string]any{"x5c": []string{good.pemBody}},
				jwt.MapClaims{"aud": aud, "iss": f.certApp, "sub": f.certApp, "exp": time.Now().Add(time.Minute).Unix()})
		},
		"x5t-std-unpadded": func() string {
			sum := sha1.Sum(good.cert.Raw) //nolint:gosec // thumbprint
			return signWith(t, jwt.SigningMethodRS256, good.key, map[string]any{"x5t": base64.RawStdEncoding.EncodeToString(sum[:])},
				jwt.MapClaims{"aud": aud, "iss": f.certApp, "sub": f.certApp, "exp": time.Now().Add(time.Minute).Unix()})
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			assertion := mk()
			// MSAL Python reuses one assertion (same jti) for minutes: send it twice.
			for i := range 2 {
				r := f.post(t, f.tokenURL(), assertionForm(f.certApp, assertion, f.seed.Scope+" openid profile offline_access"))
				tok := checkV2Response(t, r, 3599)
				_, c := f.verifyToken(t, tok, f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
				if c["azp"] != f.certApp || c["azpacr"] != "2" {
					t.Errorf("try %d: azp %v azpacr %v, want %s and \"2\"", i, c["azp"], c["azpacr"], f.certApp)
				}
				if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "Demo.Write" {
					t.Errorf("roles %v, want [Demo.Write]", c["roles"])
				}
			}
		})
	}
}

func TestLocalhostAudience(t *testing.T) {
	// Advertised URLs follow the Host the client used: localhost works as well as 127.0.0.1.
	f := start(t, sts.Options{})
	good, _ := certs(t)
	base := strings.Replace(f.a.URL(), "127.0.0.1", "localhost", 1)
	doc := f.get(t, base+"/"+f.seed.TenantID+"/v2.0/.well-known/openid-configuration?")
	te, _ := doc.body["token_endpoint"].(string)
	if !strings.HasPrefix(te, base+"/") {
		t.Fatalf("token_endpoint %q does not use the request host %s", te, base)
	}
	r := f.post(t, te, assertionForm(f.certApp, goAssertion(t, good, f.certApp, te, time.Now()), f.seed.Scope))
	checkV2Response(t, r, 3599)
	// An assertion for the 127.0.0.1 endpoint sent to localhost has the wrong audience.
	r = f.post(t, te, assertionForm(f.certApp, goAssertion(t, good, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope))
	wantError(t, r, http.StatusUnauthorized, "invalid_client", 50012)
}

func TestV1EndpointAndV1Tokens(t *testing.T) {
	f := start(t, sts.Options{})
	v1URL := f.a.TenantURL(f.seed.TenantID) + "/oauth2/token"
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {f.seed.ClientID},
		"client_secret": {f.seed.ClientSecret}, "resource": {f.v1URI},
	}
	r := f.post(t, v1URL+"?api-version=1.0", form)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	for _, k := range []string{"expires_in", "ext_expires_in", "expires_on", "not_before"} {
		if _, ok := r.body[k].(string); !ok {
			t.Errorf("v1 %s = %#v, want a string number", k, r.body[k])
		}
	}
	if r.body["resource"] != f.v1URI || r.body["expires_in"] != "3599" {
		t.Errorf("resource %v expires_in %v", r.body["resource"], r.body["expires_in"])
	}
	header, c := f.verifyToken(t, r.body["access_token"].(string), f.a.URL()+"/common/discovery/keys")
	if header["x5t"] == nil || header["x5t"] != header["kid"] {
		t.Errorf("v1 token header %v: want x5t equal to kid", header)
	}
	tid := f.seed.TenantID
	want := map[string]any{
		"aud": f.v1URI, "iss": "https://sts.windows.net/" + tid + "/", "idp": "https://sts.windows.net/" + tid + "/",
		"appid": f.seed.ClientID, "appidacr": "1", "ver": "1.0", "tid": tid, "idtyp": "app",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "Orders.Read" {
		t.Errorf("roles %v", c["roles"])
	}

	// The v2 endpoint gives the same resource a v1 token too (the resource decides), in a v2 response.
	form.Del("resource")
	form.Set("scope", f.v1URI+".default")
	r = f.post(t, f.tokenURL(), form)
	_, c = f.verifyToken(t, checkV2Response(t, r, 3599), f.a.URL()+"/common/discovery/keys")
	if c["ver"] != "1.0" || c["aud"] != "https://orders.example" {
		t.Errorf("ver %v aud %v, want a v1 token for https://orders.example", c["ver"], c["aud"])
	}

	// A certificate app on the v1 endpoint may address its assertion to the v1 endpoint.
	good, _ := certs(t)
	if err := f.a.Grant(tid, f.certApp, f.v1URI, "Orders.Read"); err != nil {
		t.Fatal(err)
	}
	af := assertionForm(f.certApp, pythonAssertion(t, good, f.certApp, v1URL, time.Now()), "")
	af.Del("scope")
	af.Set("resource", f.v1URI)
	r = f.post(t, v1URL, af)
	if r.status != http.StatusOK {
		t.Fatalf("v1 certificate: %d %s", r.status, r.raw)
	}
	_, c = f.verifyToken(t, r.body["access_token"].(string), f.a.URL()+"/common/discovery/keys")
	if c["appidacr"] != "2" || c["appid"] != f.certApp {
		t.Errorf("appid %v appidacr %v", c["appid"], c["appidacr"])
	}
}

func TestTokenLifetimeOption(t *testing.T) {
	f := start(t, sts.Options{TokenLifetime: 2 * time.Hour})
	r := f.post(t, f.tokenURL(), f.secretForm())
	tok := checkV2Response(t, r, 7200)
	if _, has := r.body["refresh_in"]; has {
		t.Errorf("refresh_in sent without RefreshIn: %s", r.raw)
	}
	_, c := f.verifyToken(t, tok, f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
	if c["exp"].(float64)-c["iat"].(float64) != 7200 {
		t.Errorf("exp-iat = %v", c["exp"].(float64)-c["iat"].(float64))
	}
}

func TestRotateKeyKeepsOldKeyInJWKS(t *testing.T) {
	f := start(t, sts.Options{})
	jwks := f.a.TenantURL(f.seed.TenantID) + "/discovery/v2.0/keys"
	before := checkV2Response(t, f.post(t, f.tokenURL(), f.secretForm()), 3599)
	h1, _ := f.verifyToken(t, before, jwks)
	k, err := f.a.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	after := checkV2Response(t, f.post(t, f.tokenURL(), f.secretForm()), 3599)
	h2, _ := f.verifyToken(t, after, jwks)
	if h2["kid"] != k.KID || h1["kid"] == h2["kid"] {
		t.Errorf("kid before %v, after %v, rotated key %s", h1["kid"], h2["kid"], k.KID)
	}
	f.verifyToken(t, before, jwks) // the old key is still published
	keys, err := f.a.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[1].Current || keys[1].KID != k.KID || keys[0].Current {
		t.Errorf("keys %+v", keys)
	}
	r := f.get(t, jwks)
	if n := len(r.body["keys"].([]any)); n != 2 {
		t.Errorf("JWKS has %d keys, want 2", n)
	}
	// The new key signs at once, so resource servers may cache the JWKS only briefly.
	if cc := r.header.Get("Cache-Control"); cc != "max-age=300, private" {
		t.Errorf("JWKS Cache-Control %q, want max-age=300", cc)
	}
}

func TestTenantByDomainName(t *testing.T) {
	dir := t.TempDir()
	cfg := &directory.Config{Tenants: []*directory.Tenant{{
		ID: "11111111-2222-3333-4444-555555555555", Domains: []string{"contoso.example"},
		Apps: []*directory.App{
			{ClientID: "aaaaaaaa-0000-0000-0000-000000000001", Secrets: []directory.Secret{{Value: "s3cret-value-long-enough"}},
				APIPermissions: map[string][]string{"api://orders": {"Orders.Read"}}},
			{ClientID: "bbbbbbbb-0000-0000-0000-000000000002", IdentifierURIs: []string{"api://orders"},
				AppRoles: []string{"Orders.Read", "Orders.Write"}, AccessTokenVersion: 2},
		},
	}}}
	f := start(t, sts.Options{StateDir: dir, Config: cfg})
	if f.seed != nil {
		t.Fatal("a config was given, yet a dev tenant was seeded")
	}
	r := f.post(t, f.a.TokenEndpoint("contoso.example"), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"aaaaaaaa-0000-0000-0000-000000000001"},
		"client_secret": {"s3cret-value-long-enough"}, "scope": {"api://orders/.default"},
	})
	tok := checkV2Response(t, r, 3599)
	_, c := f.verifyToken(t, tok, f.a.TenantURL("contoso.example")+"/discovery/v2.0/keys")
	if c["tid"] != "11111111-2222-3333-4444-555555555555" || c["aud"] != "bbbbbbbb-0000-0000-0000-000000000002" {
		t.Errorf("tid %v aud %v", c["tid"], c["aud"])
	}
	if roles, _ := c["roles"].([]any); !slices.Equal(roles, []any{"Orders.Read"}) {
		t.Errorf("roles %v", roles)
	}
}
