package sts_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// FuzzTokenRequest drives the token endpoint's request parsing (form body,
// content type, HTTP Basic header, client assertion, claims request) with arbitrary input:
// every answer must be a well-formed Entra response, never a panic (which the
// handler would turn into a 500) or a hang.
//
//	go test -run '^$' -fuzz FuzzTokenRequest -fuzztime 60s ./sts/
func FuzzTokenRequest(f *testing.F) {
	const host = "authority.test"
	a, err := sts.Open(sts.Options{StateDir: f.TempDir(), Hostnames: []string{host}})
	if err != nil {
		f.Fatal(err)
	}
	seed := a.Seed()
	good, _ := certs(f)
	app, err := a.AddApp(seed.TenantID, directory.App{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := a.AddCertificate(seed.TenantID, app.ClientID, good.certPEM); err != nil {
		f.Fatal(err)
	}
	h := a.Handler()
	aud := "https://" + host + "/" + seed.TenantID + "/oauth2/v2.0/token"
	secretForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {seed.ClientID},
		"client_secret": {seed.ClientSecret}, "scope": {seed.Scope}}.Encode()
	f.Add(secretForm, "application/x-www-form-urlencoded", "", false)
	// The seed requests reach the token logic: the Host is one of the authority's names.
	sanity := httptest.NewRequest(http.MethodPost, "https://"+host+"/"+seed.TenantID+"/oauth2/v2.0/token", strings.NewReader(secretForm))
	sanity.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	if h.ServeHTTP(rec, sanity); rec.Code != http.StatusOK {
		f.Fatalf("a good secret request: status %d: %s", rec.Code, rec.Body.String())
	}
	f.Add("grant_type=client_credentials&scope="+url.QueryEscape(seed.Scope), "application/x-www-form-urlencoded; charset=utf-8",
		"Basic "+basic(seed.ClientID, seed.ClientSecret), false)
	f.Add(assertionForm(app.ClientID, pythonAssertion(f, good, app.ClientID, aud, time.Now()), seed.Scope).Encode(),
		"application/x-www-form-urlencoded", "", false)
	f.Add(assertionForm(app.ClientID, goAssertion(f, good, app.ClientID, aud, time.Now()), seed.Scope+" openid").Encode(),
		"", "", false)
	f.Add("grant_type=client_credentials&client_id="+seed.ClientID+"&client_secret=x&resource=api://appcred-demo", "", "", true)
	for _, claims := range []string{
		`{"access_token": {"xms_cc": {"values": ["CP1"]}}}`,
		`{"access_token":{"acrs":{"essential":true,"values":["c1","c2"]},"nbf":{"essential":true,"value":"1604106651"}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":"99999999999"}}}`,
		`{"access_token":[]}`,
	} {
		f.Add(secretForm+"&claims="+url.QueryEscape(claims), "application/x-www-form-urlencoded", "", false)
	}
	f.Add("a=%zz;b&&=", "text/plain", "Basic Og==", false)
	f.Add(assertionForm(app.ClientID, "eyJhbGciOiJub25lIn0.eyJ9.", "x/.default").Encode(), "", "Bearer x", true)

	f.Fuzz(func(t *testing.T, body, contentType, authorization string, v1 bool) {
		path := "/" + seed.TenantID + "/oauth2/v2.0/token"
		if v1 {
			path = "/" + seed.TenantID + "/oauth2/token"
		}
		req := httptest.NewRequest(http.MethodPost, "https://"+host+path, strings.NewReader(body))
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if authorization != "" {
			req.Header["Authorization"] = []string{authorization}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body is not JSON: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
			if tok, _ := out["access_token"].(string); strings.Count(tok, ".") != 2 {
				t.Fatalf("200 without a JWS access token: %s", rec.Body.String())
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			desc, _ := out["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || out["error"] == "" || out["trace_id"] == "" {
				t.Fatalf("status %d, not an Entra error: %s", rec.Code, rec.Body.String())
			}
			if s := seed.ClientSecret; strings.Contains(rec.Body.String(), s) {
				t.Fatalf("the error echoes the client secret")
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
		}
	})
}

func basic(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "https://x/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
