package sts_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// mfaFixture adds to oboFixture two APIs that require MFA: payroll (v2) and
// ledger (v1), the middle tier consented to both and the cli to payroll.
type mfaFixture struct {
	*oboFixture
	payroll, ledger directory.App
}

const (
	payrollScope = "api://payroll/Payroll.Read"
	ledgerURI    = "https://ledger.example/"
)

func startMFA(t *testing.T) *mfaFixture {
	t.Helper()
	f := &mfaFixture{oboFixture: startOBO(t, sts.Options{})}
	tid := f.seed.TenantID
	var err error
	if f.payroll, err = f.a.AddApp(tid, directory.App{DisplayName: "payroll", IdentifierURIs: []string{"api://payroll"},
		Scopes: []string{"Payroll.Read"}, AccessTokenVersion: 2, RequireMFA: true}); err != nil {
		t.Fatal(err)
	}
	if f.ledger, err = f.a.AddApp(tid, directory.App{DisplayName: "ledger", IdentifierURIs: []string{ledgerURI},
		Scopes: []string{"Ledger.Read"}, RequireMFA: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ app, api, scope string }{
		{f.middle, "api://payroll", "Payroll.Read"}, {f.middle, ledgerURI, "Ledger.Read"}, {f.cli, "api://payroll", "Payroll.Read"},
	} {
		if err := f.a.Consent(tid, c.app, c.api, c.scope); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// wantMFAChallenge checks 400 interaction_required AADSTS50079 naming the
// API, with the claims challenge of its policy, and its sign-in record; it
// returns the claims.
func (f *mfaFixture) wantMFAChallenge(t *testing.T, r *response, api directory.App) string {
	t.Helper()
	wantError(t, r, http.StatusBadRequest, "interaction_required", 50079)
	desc, _ := r.body["error_description"].(string)
	if !strings.Contains(desc, "multi-factor authentication to access '"+api.ClientID+"'") {
		t.Errorf("description %q does not name MFA and the API", desc)
	}
	claims, _ := r.body["claims"].(string)
	want := `{"access_token":{"polids":{"essential":true,"values":["` + api.MFAPolicyID() + `"]}}}`
	if claims != want {
		t.Fatalf("claims %q, want %q", claims, want)
	}
	var shape struct {
		AccessToken struct {
			Polids struct {
				Essential bool     `json:"essential"`
				Values    []string `json:"values"`
			} `json:"polids"`
		} `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(claims), &shape); err != nil || !shape.AccessToken.Polids.Essential ||
		len(shape.AccessToken.Polids.Values) != 1 {
		t.Fatalf("claims %s: not a polids claims request (%v)", claims, err)
	}
	rec := lastSignIn(t, f.fixture, r.body["correlation_id"].(string))
	if rec.Status != 400 || rec.Code != "AADSTS50079" || rec.OAuthError != "interaction_required" || !strings.Contains(rec.Hint, "MFA") {
		t.Errorf("sign-in record %+v", rec)
	}
	return claims
}

func amrClaim(c map[string]any) []string {
	var out []string
	list, _ := c["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// TestMFAChallengeOnBehalfOf: an on-behalf-of request for an API that
// requires MFA, with a user token from a sign-in without MFA, gets Entra's
// conditional-access answer with a claims challenge; a password grant with
// those claims signs in with (simulated) MFA, and on-behalf-of with that
// token succeeds, for v2 and v1 APIs, carrying amr "mfa" on.
func TestMFAChallengeOnBehalfOf(t *testing.T) {
	f := startMFA(t)
	user := f.userToken(t)
	_, c := f.verifyToken(t, user, f.jwks())
	if c["amr"] != nil {
		t.Fatalf("a v2 token without MFA has amr %v", c["amr"])
	}
	claims := f.wantMFAChallenge(t, f.post(t, f.tokenURL(), f.oboForm(user, payrollScope+" offline_access")), f.payroll)
	form := f.oboForm(user, "")
	form.Del("scope")
	form.Set("resource", ledgerURI)
	f.wantMFAChallenge(t, f.post(t, f.v1URL(), form), f.ledger)
	// APIs without the policy still take the same token.
	if r := f.post(t, f.tokenURL(), f.oboForm(user, f.ordersScope)); r.status != http.StatusOK {
		t.Fatalf("OBO to an API without require_mfa: %d %s", r.status, r.raw)
	}

	pw := f.passwordForm(f.cli, f.middleScope+" openid offline_access")
	pw.Set("claims", claims)
	r := f.post(t, f.tokenURL(), pw)
	if r.status != http.StatusOK {
		t.Fatalf("password grant with the challenge's claims: %d %s", r.status, r.raw)
	}
	mfaUser := r.body["access_token"].(string)
	if _, c := f.verifyToken(t, mfaUser, f.jwks()); !slices.Equal(amrClaim(c), []string{"pwd", "mfa"}) {
		t.Fatalf("amr %v after MFA, want [pwd mfa]", c["amr"])
	}
	r = f.post(t, f.tokenURL(), f.oboForm(mfaUser, payrollScope+" offline_access"))
	if r.status != http.StatusOK {
		t.Fatalf("OBO with an MFA user token: %d %s", r.status, r.raw)
	}
	_, c = f.verifyToken(t, r.body["access_token"].(string), f.jwks())
	wantClaims(t, c, map[string]any{"aud": f.payroll.ClientID, "scp": "Payroll.Read", "oid": f.alice.ObjectID, "azp": f.middle})
	if !slices.Contains(amrClaim(c), "mfa") {
		t.Errorf("the on-behalf-of token lost amr mfa: %v", c["amr"])
	}
	rt := r.body["refresh_token"].(string)
	form = f.oboForm(mfaUser, "")
	form.Del("scope")
	form.Set("resource", ledgerURI)
	if r := f.post(t, f.v1URL(), form); r.status != http.StatusOK {
		t.Fatalf("v1 OBO with an MFA user token: %d %s", r.status, r.raw)
	} else if _, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks()); !slices.Equal(amrClaim(c), []string{"pwd", "mfa"}) || c["ver"] != "1.0" {
		t.Errorf("v1 token amr %v ver %v", c["amr"], c["ver"])
	}
	// The refresh token of an MFA sign-in keeps it.
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {f.middle}, "client_secret": {f.middleSecret},
		"refresh_token": {rt}, "scope": {payrollScope}}
	if r := f.post(t, f.tokenURL(), refresh); r.status != http.StatusOK {
		t.Fatalf("refresh of an MFA on-behalf-of token: %d %s", r.status, r.raw)
	}
}

// TestMFAChallengeRefreshAndPassword: a refresh token from a sign-in without
// MFA gets the challenge for an MFA API and stays usable for others; a
// password grant for an MFA API needs the claims; claims naming an unknown
// policy do not count as MFA; malformed polids are refused.
func TestMFAChallengeRefreshAndPassword(t *testing.T) {
	f := startMFA(t)
	r := f.post(t, f.tokenURL(), f.oboForm(f.userToken(t), f.ordersScope+" offline_access"))
	rt, _ := r.body["refresh_token"].(string)
	if r.status != http.StatusOK || rt == "" {
		t.Fatalf("OBO to orders: %d %s", r.status, r.raw)
	}
	refresh := func(scope string) *response {
		return f.post(t, f.tokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {f.middle},
			"client_secret": {f.middleSecret}, "refresh_token": {rt}, "scope": {scope}})
	}
	f.wantMFAChallenge(t, refresh(payrollScope), f.payroll)
	if r := refresh(f.ordersScope); r.status != http.StatusOK {
		t.Fatalf("the refresh token after a challenge, for orders: %d %s", r.status, r.raw)
	}

	claims := f.wantMFAChallenge(t, f.post(t, f.tokenURL(), f.passwordForm(f.cli, payrollScope)), f.payroll)
	pw := f.passwordForm(f.cli, payrollScope)
	pw.Set("claims", claims)
	if r := f.post(t, f.tokenURL(), pw); r.status != http.StatusOK {
		t.Fatalf("password grant for payroll with the claims: %d %s", r.status, r.raw)
	}
	pw.Set("claims", `{"access_token":{"polids":{"essential":true,"values":["00000000-0000-0000-0000-000000000000"]}}}`)
	f.wantMFAChallenge(t, f.post(t, f.tokenURL(), pw), f.payroll)
	pw.Set("claims", `{"access_token":{"polids":{"essential":true,"values":"`+f.payroll.MFAPolicyID()+`"}}}`)
	wantError(t, f.post(t, f.tokenURL(), pw), http.StatusBadRequest, "invalid_request", 90100)
	// A value that is no MFA policy id of the tenant is not an MFA sign-in.
	pw = f.passwordForm(f.cli, f.middleScope)
	pw.Set("claims", `{"access_token":{"polids":{"essential":true,"values":["`+f.orders+`"]}}}`)
	r = f.post(t, f.tokenURL(), pw)
	if r.status != http.StatusOK {
		t.Fatalf("password grant with unknown polids: %d %s", r.status, r.raw)
	}
	if _, c := f.verifyToken(t, r.body["access_token"].(string), f.jwks()); c["amr"] != nil {
		t.Errorf("claims with an unknown policy id gave amr %v", c["amr"])
	}
	if strings.Contains(f.logs.String(), f.middleSecret) || strings.Contains(f.logs.String(), alicePassword) {
		t.Error("a log line holds a secret or password")
	}
}
