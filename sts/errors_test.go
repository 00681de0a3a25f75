package sts_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// signWith makes an assertion with a custom header and claims; key may be an
// RSA key or an HMAC secret.
func signWith(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestErrorRows(t *testing.T) {
	f := start(t, sts.Options{})
	good, bad := certs(t)
	aud := f.tokenURL()
	now := time.Now()
	s256 := sha256.Sum256(good.cert.Raw)
	x5tS256 := base64.RawURLEncoding.EncodeToString(s256[:])
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": aud, "iss": f.certApp, "sub": f.certApp, "jti": uuid.NewString(),
			"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hdr := map[string]any{"x5t#S256": x5tS256}
	certForm := func(assertion string) url.Values { return assertionForm(f.certApp, assertion, f.seed.Scope) }
	secret := func(mod func(url.Values)) url.Values {
		v := f.secretForm()
		mod(v)
		return v
	}
	otherTenant := uuid.NewString()
	noneToken := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","x5t#S256":"`+x5tS256+`"}`)) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"`+aud+`","iss":"`+f.certApp+`","sub":"`+f.certApp+`","exp":`+
		strconv.FormatInt(now.Add(time.Minute).Unix(), 10)+`}`)) + "."
	hmacKey := make([]byte, 32)
	_, _ = rand.Read(hmacKey)

	expired, err := newTestCertValid("expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expiredApp, err := f.a.AddApp(f.seed.TenantID, directory.App{DisplayName: "expired-cert"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddCertificate(f.seed.TenantID, expiredApp.ClientID, expired.certPEM); err != nil {
		t.Fatal(err)
	}

	rows := []struct {
		name     string
		endpoint string
		form     url.Values
		status   int
		oauth    string
		code     int
	}{
		{"unknown tenant", f.a.TokenEndpoint(otherTenant), f.secretForm(), 400, "invalid_request", 90002},
		{"unknown tenant name", f.a.TokenEndpoint("nosuch.example"), f.secretForm(), 400, "invalid_request", 90002},
		{"common tenant", f.a.TokenEndpoint("common"), f.secretForm(), 400, "invalid_request", 9001023},
		{"unknown app", aud, secret(func(v url.Values) { v.Set("client_id", uuid.NewString()) }), 400, "unauthorized_client", 700016},
		{"bad secret", aud, secret(func(v url.Values) { v.Set("client_secret", "not-the-secret") }), 401, "invalid_client", 7000215},
		{"secret of another app", aud, secret(func(v url.Values) { v.Set("client_id", f.certApp) }), 401, "invalid_client", 7000215},
		{"no credential", aud, secret(func(v url.Values) { v.Del("client_secret") }), 401, "invalid_client", 7000218},
		{"missing grant_type", aud, secret(func(v url.Values) { v.Del("grant_type") }), 400, "invalid_request", 900144},
		{"missing client_id", aud, secret(func(v url.Values) { v.Del("client_id") }), 400, "invalid_request", 900144},
		{"missing scope", aud, secret(func(v url.Values) { v.Del("scope") }), 400, "invalid_request", 900144},
		{"unsupported grant", aud, secret(func(v url.Values) { v.Set("grant_type", "authorization_code") }), 400, "unsupported_grant_type", 70003},
		{"scope without .default", aud, secret(func(v url.Values) { v.Set("scope", "api://appcred-demo/Demo.Read") }), 400, "invalid_scope", 1002012},
		{"only openid scopes", aud, secret(func(v url.Values) { v.Set("scope", "openid offline_access profile") }), 400, "invalid_scope", 1002012},
		{"empty resource", aud, secret(func(v url.Values) { v.Set("scope", "/.default") }), 400, "invalid_scope", 70011},
		{"default plus a scope", aud, secret(func(v url.Values) { v.Set("scope", f.seed.Scope+" api://appcred-demo/Demo.Read") }), 400, "invalid_scope", 70011},
		{"several resources", aud, secret(func(v url.Values) { v.Set("scope", f.seed.Scope+" "+f.v1URI+".default") }), 400, "invalid_scope", 700022},
		{"unknown resource", aud, secret(func(v url.Values) { v.Set("scope", "api://nosuch/.default") }), 400, "invalid_resource", 500011},
		{"both secret and assertion", aud, secret(func(v url.Values) {
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			v.Set("client_assertion", goAssertion(t, good, f.seed.ClientID, aud, now))
		}), 401, "invalid_client", 70002},
		{"missing assertion type", aud, func() url.Values {
			v := certForm(goAssertion(t, good, f.certApp, aud, now))
			v.Del("client_assertion_type")
			return v
		}(), 400, "invalid_request", 900144},
		{"garbage assertion", aud, certForm("not.a.jwt"), 401, "invalid_client", 50027},
		{"assertion of one segment", aud, certForm("garbage"), 401, "invalid_client", 50027},
		{"unregistered certificate", aud, certForm(goAssertion(t, bad, f.certApp, aud, now)), 401, "invalid_client", 700027},
		{"signature by another key", aud, certForm(signWith(t, jwt.SigningMethodPS256, bad.key, hdr, claims(nil))), 401, "invalid_client", 700027},
		{"registered certificate expired", aud, assertionForm(expiredApp.ClientID,
			goAssertion(t, expired, expiredApp.ClientID, aud, now), f.seed.Scope), 401, "invalid_client", 700027},
		{"alg none", aud, certForm(noneToken), 401, "invalid_client", 700027},
		{"alg HS256", aud, certForm(signWith(t, jwt.SigningMethodHS256, hmacKey, hdr, claims(nil))), 401, "invalid_client", 700027},
		{"no thumbprint", aud, certForm(signWith(t, jwt.SigningMethodRS256, good.key, nil, claims(nil))), 401, "invalid_client", 50027},
		{"expired assertion", aud, certForm(signWith(t, jwt.SigningMethodPS256, good.key, hdr, claims(func(c jwt.MapClaims) {
			c["nbf"], c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}))), 401, "invalid_client", 700024},
		{"assertion from the future", aud, certForm(signWith(t, jwt.SigningMethodPS256, good.key, hdr, claims(func(c jwt.MapClaims) {
			c["nbf"], c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(time.Hour).Unix(), now.Add(70*time.Minute).Unix()
		}))), 401, "invalid_client", 700024},
		{"assertion without exp", aud, certForm(signWith(t, jwt.SigningMethodPS256, good.key, hdr, claims(func(c jwt.MapClaims) {
			delete(c, "exp")
		}))), 401, "invalid_client", 50027},
		{"wrong audience", aud, certForm(goAssertion(t, good, f.certApp, "https://login.microsoftonline.com/"+f.seed.TenantID+"/oauth2/v2.0/token", now)), 401, "invalid_client", 50012},
		{"v1 audience on v2 endpoint", aud, certForm(goAssertion(t, good, f.certApp, f.a.TenantURL(f.seed.TenantID)+"/oauth2/token", now)), 401, "invalid_client", 50012},
		{"iss differs from sub", aud, certForm(signWith(t, jwt.SigningMethodPS256, good.key, hdr, claims(func(c jwt.MapClaims) {
			c["sub"] = uuid.NewString()
		}))), 401, "invalid_client", 50048},
		{"iss and sub not the client", aud, certForm(signWith(t, jwt.SigningMethodPS256, good.key, hdr, claims(func(c jwt.MapClaims) {
			c["iss"], c["sub"] = f.seed.ClientID, f.seed.ClientID
		}))), 401, "invalid_client", 700021},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := f.post(t, row.endpoint, row.form)
			wantError(t, r, row.status, row.oauth, row.code)
			if s := row.form.Get("client_secret"); s != "" && strings.Contains(r.raw, s) {
				t.Errorf("the error echoes the client secret")
			}
			if a := row.form.Get("client_assertion"); len(a) > 20 && strings.Contains(r.raw, a) {
				t.Errorf("the error echoes the assertion")
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	f := start(t, sts.Options{})
	post := func(body, contentType string) *response {
		req, _ := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return f.do(t, req)
	}
	t.Run("oversized body", func(t *testing.T) {
		r := post("grant_type=client_credentials&pad="+strings.Repeat("A", sts.MaxFormBytes), "application/x-www-form-urlencoded")
		wantError(t, r, http.StatusRequestEntityTooLarge, "invalid_request", 90015)
	})
	t.Run("malformed form", func(t *testing.T) {
		wantError(t, post("grant_type=%zz&client_id=x", "application/x-www-form-urlencoded"), 400, "invalid_request", 900144)
	})
	t.Run("JSON body", func(t *testing.T) {
		wantError(t, post(`{"grant_type":"client_credentials"}`, "application/json"), 400, "invalid_request", 900144)
	})
	t.Run("bad Basic header", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic !!!")
		wantError(t, f.do(t, req), 401, "invalid_client", 70002)
	})
	t.Run("GET on the token endpoint", func(t *testing.T) {
		wantError(t, f.get(t, f.tokenURL()), http.StatusMethodNotAllowed, "invalid_request", 900561)
	})
	t.Run("unknown path", func(t *testing.T) {
		wantError(t, f.get(t, f.a.URL()+"/"+f.seed.TenantID+"/nope"), http.StatusNotFound, "invalid_request", 90056)
	})
	t.Run("root", func(t *testing.T) {
		wantError(t, f.get(t, f.a.URL()+"/"), http.StatusNotFound, "invalid_request", 90056)
	})
	t.Run("OIDC document of an unknown tenant", func(t *testing.T) {
		wantError(t, f.get(t, f.a.TenantURL(uuid.NewString())+"/v2.0/.well-known/openid-configuration"), 400, "invalid_request", 90002)
	})
}

func TestErrorWithoutCodes(t *testing.T) {
	e := &sts.Error{StatusCode: http.StatusBadRequest, OAuthError: "invalid_request", Message: "bad input"}
	if got := e.Error(); got != "bad input" {
		t.Errorf("Error() = %q, want the message", got)
	}
	if got := e.Code(); got != 0 {
		t.Errorf("Code() = %d, want 0", got)
	}
	if got := (&sts.Error{OAuthError: "invalid_client"}).Error(); got != "invalid_client" {
		t.Errorf("Error() without a message = %q, want the OAuth error", got)
	}
	e.Codes = []aadsts.Code{90002, 1}
	if got := e.Error(); got != "AADSTS90002: bad input" || e.Code() != 90002 {
		t.Errorf("Error() = %q, Code() = %d", got, e.Code())
	}
}
