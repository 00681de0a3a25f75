package sts_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

const fuzzHost = "authority.test"

// fuzzAuthority is an authority (not serving) with the on-behalf-of apps and
// alice, and a handler posting forms to its token endpoints.
type fuzzAuthority struct {
	oboApps
	a    *sts.Authority
	seed *sts.Seed
	h    http.Handler
}

func newFuzzAuthority(f *testing.F) *fuzzAuthority {
	a, err := sts.Open(sts.Options{StateDir: f.TempDir(), Hostnames: []string{fuzzHost}})
	if err != nil {
		f.Fatal(err)
	}
	fa := &fuzzAuthority{a: a, seed: a.Seed(), h: a.Handler()}
	fa.oboApps = provisionOBO(f, a, fa.seed)
	return fa
}

// post sends form to the v2 (or v1) token endpoint and returns the status
// and decoded body, failing unless the answer is a token or an Entra error.
func (fa *fuzzAuthority) post(t testing.TB, form string, v1 bool) (int, map[string]any, string) {
	t.Helper()
	path := "/" + fa.seed.TenantID + "/oauth2/v2.0/token"
	if v1 {
		path = "/" + fa.seed.TenantID + "/oauth2/token"
	}
	req := httptest.NewRequest(http.MethodPost, "https://"+fuzzHost+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	fa.h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("status %d, body is not JSON: %q", rec.Code, rec.Body.String())
	}
	switch rec.Code {
	case http.StatusOK:
		if tok, _ := out["access_token"].(string); strings.Count(tok, ".") != 2 {
			t.Fatalf("200 without a JWS access token: %s", rec.Body.String())
		}
	case http.StatusBadRequest, http.StatusUnauthorized:
		if desc, _ := out["error_description"].(string); !strings.HasPrefix(desc, "AADSTS") || out["error"] == "" {
			t.Fatalf("status %d, not an Entra error: %s", rec.Code, rec.Body.String())
		}
	default:
		t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Code, out, rec.Body.String()
}

// FuzzUserGrantRequest drives the password and on-behalf-of request parsing
// with arbitrary fields: every answer is a token or an Entra error, none
// echoes alice's password or the user token, and an interaction_required
// answer (an API with require_mfa) carries a JSON claims challenge.
//
//	go test -run '^$' -fuzz FuzzUserGrantRequest -fuzztime 60s ./sts/
func FuzzUserGrantRequest(f *testing.F) {
	fa := newFuzzAuthority(f)
	pw := fa.passwordForm(fa.cli, fa.middleScope+" openid offline_access")
	code, body, _ := fa.post(f, pw.Encode(), false)
	if code != http.StatusOK {
		f.Fatalf("password grant: %d %v", code, body)
	}
	user := body["access_token"].(string)
	obo := fa.oboForm(user, fa.ordersScope+" openid profile offline_access")
	payroll, err := fa.a.AddApp(fa.seed.TenantID, directory.App{IdentifierURIs: []string{"api://payroll"},
		Scopes: []string{"Payroll.Read"}, RequireMFA: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, app := range []string{fa.cli, fa.middle} {
		if err := fa.a.Consent(fa.seed.TenantID, app, "api://payroll", "Payroll.Read"); err != nil {
			f.Fatal(err)
		}
	}
	mfaPW := fa.passwordForm(fa.cli, "api://payroll/Payroll.Read")
	mfaPW.Set("claims", `{"access_token":{"polids":{"essential":true,"values":["`+payroll.MFAPolicyID()+`"]}}}`)
	f.Add(mfaPW.Encode(), false)
	f.Add(fa.oboForm(user, "api://payroll/Payroll.Read offline_access").Encode(), false)
	f.Add(pw.Encode(), false)
	f.Add(obo.Encode(), false)
	f.Add(obo.Encode()+"&resource="+url.QueryEscape(fa.legacyURI), true)
	f.Add("grant_type=password&client_id="+fa.cli+"&username=&password=x&scope=api://middle/.default%20api://middle/x", false)
	f.Add("grant_type=refresh_token&client_id="+fa.cli+"&refresh_token=%00&scope=/", true)
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&requested_token_use=on_behalf_of&assertion=a.b.c&client_id="+fa.middle, false)
	f.Fuzz(func(t *testing.T, form string, v1 bool) {
		_, body, raw := fa.post(t, form, v1)
		if strings.Contains(raw, alicePassword) || strings.Contains(raw, user) {
			t.Fatalf("the answer echoes the password or the user assertion")
		}
		if claims, _ := body["claims"].(string); body["error"] == "interaction_required" && !json.Valid([]byte(claims)) {
			t.Fatalf("interaction_required without a JSON claims challenge: %s", raw)
		}
	})
}

// FuzzUserAssertion signs arbitrary claims with the authority's own key (or
// sends arbitrary text) as an on-behalf-of assertion: a token comes back only
// for a user token of this tenant, for the middle tier, in its time range,
// whose user exists.
//
//	go test -run '^$' -fuzz FuzzUserAssertion -fuzztime 60s ./sts/
func FuzzUserAssertion(f *testing.F) {
	fa := newFuzzAuthority(f)
	set, err := pki.ReadKeys(fa.a.Dir())
	if err != nil {
		f.Fatal(err)
	}
	key := set.Current()
	now := time.Now().Unix()
	good, _ := json.Marshal(map[string]any{"aud": fa.middle, "tid": fa.seed.TenantID, "scp": "access_as_user",
		"oid": fa.alice.ObjectID, "nbf": now, "exp": now + 3600})
	f.Add(string(good), true)
	f.Add(strings.Replace(string(good), fa.middle, "api://middle", 1), true)
	f.Add(`{"aud":"x","exp":1}`, true)
	f.Add(`{"aud":["`+fa.middle+`"],"tid":"`+fa.seed.TenantID+`","scp":" ","oid":"`+fa.alice.ObjectID+`","exp":9999999999}`, true)
	f.Add("eyJhbGciOiJub25lIn0.eyJ9.", false)
	f.Fuzz(func(t *testing.T, payload string, sign bool) {
		assertion := payload
		if sign {
			signing := key.HeaderV2 + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
			sig, err := jwt.SigningMethodRS256.Sign(signing, key.Key)
			if err != nil {
				t.Fatal(err)
			}
			assertion = signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		}
		code, body, _ := fa.post(t, fa.oboForm(assertion, fa.ordersScope).Encode(), false)
		if code != http.StatusOK {
			return
		}
		var c jwt.MapClaims
		if !sign || json.Unmarshal([]byte(payload), &c) != nil {
			t.Fatalf("an unsigned or non-JSON assertion was accepted: %v", body)
		}
		exp, err := c.GetExpirationTime()
		aud, _ := c.GetAudience()
		if err != nil || exp == nil || time.Until(exp.Time) < -sts.ClockSkew || len(aud) != 1 ||
			(aud[0] != fa.middle && !strings.EqualFold(strings.TrimRight(aud[0], "/"), "api://middle") &&
				!strings.EqualFold(aud[0], "api://"+fa.middle)) ||
			!strings.EqualFold(c["tid"].(string), fa.seed.TenantID) || c["scp"] == nil {
			t.Fatalf("assertion %s was accepted", payload)
		}
	})
}
