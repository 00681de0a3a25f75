package interop_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
)

// TestMSALPythonOnBehalfOf runs unmodified MSAL Python 1.21 through
// on-behalf-of against the local authority: with a user token for a middle
// tier (from the password grant, sent here), acquire_token_on_behalf_of with
// the middle tier's secret for a downstream API, then acquire_token_silent
// with the account built from the response (id_token, client_info), served
// from MSAL's cache. Every token is verified against the JWKS.
func TestMSALPythonOnBehalfOf(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	f := startAuthority(t)
	a, tid := f.a, f.seed.TenantID
	add := func(app directory.App) string {
		t.Helper()
		out, err := a.AddApp(tid, app)
		if err != nil {
			t.Fatal(err)
		}
		return out.ClientID
	}
	orders := add(directory.App{DisplayName: "orders", IdentifierURIs: []string{"api://orders"},
		Scopes: []string{"Orders.Read"}, AccessTokenVersion: 2})
	middle := add(directory.App{DisplayName: "middle", IdentifierURIs: []string{"api://middle"}, Scopes: []string{"access_as_user"},
		AccessTokenVersion: 2, DelegatedPermissions: map[string][]string{"api://orders": {"Orders.Read"}}})
	cli := add(directory.App{DisplayName: "cli", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://middle": {"access_as_user"}}})
	sec, err := a.AddSecret(tid, middle)
	if err != nil {
		t.Fatal(err)
	}
	const upn, password = "alice@contoso.test", "interop-user-password-77"
	alice, err := a.AddUser(tid, directory.User{UPN: upn, DisplayName: "Alice", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Versions            map[string]string `json:"versions"`
		Error               string            `json:"error"`
		OBOToken            string            `json:"obo_token"`
		OBOResultKeys       []string          `json:"obo_result_keys"`
		Account             string            `json:"account"`
		TokenRequests       int               `json:"token_requests"`
		SilentTokenRequests int               `json:"silent_token_requests"`
		SilentSameToken     bool              `json:"silent_same_token"`
	}
	userToken := f.passwordGrant(t, cli, upn, password, "api://middle/access_as_user")
	runPythonJSON(t, py, "msal_obo.py", a.CAFile(), map[string]any{
		"authority": a.URL(), "tenant": tid, "user_token": userToken, "username": upn,
		"middle_client_id": middle, "middle_secret": sec.Value, "downstream_scope": "api://orders/Orders.Read",
	}, &out, userToken, sec.Value)
	t.Logf("msal_obo.py: %v", out.Versions)
	if out.Error != "" {
		t.Fatalf("MSAL Python: %s", out.Error)
	}
	user := f.userClaims(t, userToken)
	if user["aud"] != middle || user["azp"] != cli || user["scp"] != "access_as_user" || user["oid"] != alice.ObjectID {
		t.Errorf("user token claims %v", user)
	}
	down := f.userClaims(t, out.OBOToken)
	if down["aud"] != orders || down["azp"] != middle || down["azpacr"] != "1" || down["scp"] != "Orders.Read" ||
		down["oid"] != alice.ObjectID || down["preferred_username"] != upn || down["name"] != "Alice" {
		t.Errorf("downstream token claims %v", down)
	}
	for _, k := range []string{"client_info", "expires_in", "ext_expires_in", "id_token_claims", "scope", "token_type"} {
		if !slices.Contains(out.OBOResultKeys, k) {
			t.Errorf("MSAL's OBO result has no %s (keys %v)", k, out.OBOResultKeys)
		}
	}
	if want := alice.ObjectID + "." + tid; out.Account != want {
		t.Errorf("home account id %q, want %q (from client_info)", out.Account, want)
	}
	if out.TokenRequests != 1 || out.SilentTokenRequests != 1 || !out.SilentSameToken {
		t.Errorf("OBO made %d token requests, then silent %d in all (same token %v); want 1, 1, true",
			out.TokenRequests, out.SilentTokenRequests, out.SilentSameToken)
	}
}

// userClaims verifies a delegated token against the authority's JWKS and
// returns its claims.
func (f *fixture) userClaims(t *testing.T, raw string) jwt.MapClaims {
	t.Helper()
	keyfunc, err := f.keyfunc()
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, keyfunc, jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(f.a.URL()+"/"+f.seed.TenantID+"/v2.0"), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("user token (%d bytes) does not verify: %v", len(raw), err)
	}
	return claims
}

// passwordGrant gets a user's access token from the authority (v2 password
// grant, public client).
func (f *fixture) passwordGrant(t *testing.T, clientID, user, password, scope string) string {
	t.Helper()
	hc := f.a.HTTPClient()
	defer hc.CloseIdleConnections()
	res, err := hc.PostForm(f.a.TokenEndpoint(f.seed.TenantID), url.Values{"grant_type": {"password"},
		"client_id": {clientID}, "username": {user}, "password": {password}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("password grant: status %d, %v %s", res.StatusCode, err, body.Error)
	}
	return body.AccessToken
}
