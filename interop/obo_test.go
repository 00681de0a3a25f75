package interop_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"

	"github.com/appcred/appcred/sts/directory"
)

// oboSetup is the authority with a user (alice), a public client (cli)
// consented to a middle-tier API (middle, with a secret and the shared
// certificate) that is consented to Orders.Read on a downstream API (orders),
// and alice's token for the middle tier from the password grant.
type oboSetup struct {
	*fixture
	cli, middle, orders string // client ids
	middleSecret        string
	upn                 string
	alice               directory.User
	userToken           string
	downstreamScope     string
}

func startOBO(t *testing.T) *oboSetup {
	t.Helper()
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
	o := &oboSetup{fixture: f, upn: "alice@contoso.test", downstreamScope: "api://orders/Orders.Read"}
	o.orders = add(directory.App{DisplayName: "orders", IdentifierURIs: []string{"api://orders"},
		Scopes: []string{"Orders.Read"}, AccessTokenVersion: 2})
	o.middle = add(directory.App{DisplayName: "middle", IdentifierURIs: []string{"api://middle"}, Scopes: []string{"access_as_user"},
		AccessTokenVersion: 2, DelegatedPermissions: map[string][]string{"api://orders": {"Orders.Read"}}})
	o.cli = add(directory.App{DisplayName: "cli", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://middle": {"access_as_user"}}})
	sec, err := a.AddSecret(tid, o.middle)
	if err != nil {
		t.Fatal(err)
	}
	o.middleSecret = sec.Value
	if _, err := a.AddCertificate(tid, o.middle, f.cert.CertPEM()); err != nil {
		t.Fatal(err)
	}
	const password = "interop-user-password-77"
	if o.alice, err = a.AddUser(tid, directory.User{UPN: o.upn, DisplayName: "Alice", Password: password}); err != nil {
		t.Fatal(err)
	}
	o.userToken = f.passwordGrant(t, o.cli, o.upn, password, "api://middle/access_as_user")
	return o
}

// checkDownstream verifies a downstream token against the JWKS and checks
// its delegated claims: alice, Orders.Read, called by the middle tier with
// credential acr ("1" secret, "2" certificate).
func (o *oboSetup) checkDownstream(t *testing.T, raw, acr string) {
	t.Helper()
	c := o.userClaims(t, raw)
	if c["aud"] != o.orders || c["azp"] != o.middle || c["azpacr"] != acr || c["scp"] != "Orders.Read" ||
		c["oid"] != o.alice.ObjectID || c["preferred_username"] != o.upn || c["name"] != "Alice" || c["tid"] != o.seed.TenantID {
		t.Errorf("downstream token claims %v", c)
	}
}

// TestMSALPythonOnBehalfOf runs unmodified MSAL Python 1.21 through
// on-behalf-of against the local authority: with a user token for a middle
// tier (from the password grant, sent here), acquire_token_on_behalf_of with
// the middle tier's secret for a downstream API, then acquire_token_silent
// with the account built from the response (id_token, client_info), served
// from MSAL's cache. Every token is verified against the JWKS.
func TestMSALPythonOnBehalfOf(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	o := startOBO(t)
	user := o.userClaims(t, o.userToken)
	if user["aud"] != o.middle || user["azp"] != o.cli || user["azpacr"] != "0" || user["scp"] != "access_as_user" ||
		user["oid"] != o.alice.ObjectID {
		t.Errorf("user token claims %v", user)
	}
	cf := o.writeCertFiles(t)
	for _, tc := range []struct {
		name string
		cred map[string]any
		acr  string
	}{
		{"secret", map[string]any{"middle_secret": o.middleSecret}, "1"},
		{"certificate", map[string]any{"middle_key_path": cf.key, "middle_thumbprint": proof.SHA1Hex(o.cert.Leaf)}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{
				"authority": o.a.URL(), "tenant": o.seed.TenantID, "user_token": o.userToken, "username": o.upn,
				"middle_client_id": o.middle, "downstream_scope": o.downstreamScope,
			}
			maps.Copy(cfg, tc.cred)
			o.runMSALPythonOBO(t, py, cfg, tc.acr)
		})
	}
}

// runMSALPythonOBO runs testdata/msal_obo.py with cfg and checks its result.
func (o *oboSetup) runMSALPythonOBO(t *testing.T, py string, cfg map[string]any, acr string) {
	t.Helper()
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
	runPythonJSON(t, py, "msal_obo.py", o.a.CAFile(), cfg, &out, o.userToken, o.middleSecret)
	t.Logf("msal_obo.py: %v", out.Versions)
	if out.Error != "" {
		t.Fatalf("MSAL Python: %s", out.Error)
	}
	o.checkDownstream(t, out.OBOToken, acr)
	for _, k := range []string{"client_info", "expires_in", "ext_expires_in", "id_token_claims", "scope", "token_type"} {
		if !slices.Contains(out.OBOResultKeys, k) {
			t.Errorf("MSAL's OBO result has no %s (keys %v)", k, out.OBOResultKeys)
		}
	}
	if want := o.alice.ObjectID + "." + o.seed.TenantID; out.Account != want {
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

// TestMSALGoOnBehalfOf drives MSAL Go v1.10.1's AcquireTokenOnBehalfOf (secret
// and certificate) against the authority: the downstream token verifies with
// alice's claims, and the second call is served from MSAL's cache.
func TestMSALGoOnBehalfOf(t *testing.T) {
	o := startOBO(t)
	for _, tc := range []struct {
		name string
		cred func() (confidential.Credential, error)
		acr  string
	}{
		{"secret", func() (confidential.Credential, error) { return confidential.NewCredFromSecret(o.middleSecret) }, "1"},
		{"certificate", func() (confidential.Credential, error) {
			return confidential.NewCredFromCert([]*x509.Certificate{o.cert.Leaf}, o.cert.Key)
		}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := tc.cred()
			if err != nil {
				t.Fatal(err)
			}
			hc, counter := o.countingClient(t)
			client, err := confidential.New(o.a.TenantURL(o.seed.TenantID), o.middle, cred,
				confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			scopes := []string{o.downstreamScope}
			first, err := client.AcquireTokenOnBehalfOf(ctx, o.userToken, scopes)
			if err != nil {
				t.Fatalf("AcquireTokenOnBehalfOf: %v", err)
			}
			o.checkDownstream(t, first.AccessToken, tc.acr)
			if first.Account.HomeAccountID != o.alice.ObjectID+"."+o.seed.TenantID || first.Account.PreferredUsername != o.upn {
				t.Errorf("account %+v", first.Account)
			}
			second, err := client.AcquireTokenOnBehalfOf(ctx, o.userToken, scopes)
			if err != nil {
				t.Fatalf("second AcquireTokenOnBehalfOf: %v", err)
			}
			if n := counter.tokens.Load(); n != 1 || second.AccessToken != first.AccessToken {
				t.Errorf("%d token requests, same token %v; want 1 and a cache hit", n, second.AccessToken == first.AccessToken)
			}
		})
	}
}

// TestAzidentityOnBehalfOf drives azidentity v1.15.0's OnBehalfOfCredential
// (secret and certificate) against the authority, CAE included (azidentity
// then sends the CP1 claims request).
func TestAzidentityOnBehalfOf(t *testing.T) {
	o := startOBO(t)
	for _, tc := range []struct {
		name string
		cred func(azcore.ClientOptions) (azcore.TokenCredential, error)
		acr  string
	}{
		{"secret", func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
			return azidentity.NewOnBehalfOfCredentialWithSecret(o.seed.TenantID, o.middle, o.userToken, o.middleSecret,
				&azidentity.OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		}, "1"},
		{"certificate", func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
			return azidentity.NewOnBehalfOfCredentialWithCertificate(o.seed.TenantID, o.middle, o.userToken,
				[]*x509.Certificate{o.cert.Leaf}, o.cert.Key,
				&azidentity.OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc, counter := o.countingClient(t)
			cred, err := tc.cred(azcore.ClientOptions{
				Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: o.a.URL() + "/"}, Transport: hc,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, cae := range []bool{false, true} {
				tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{o.downstreamScope}, EnableCAE: cae})
				if err != nil {
					t.Fatalf("GetToken (CAE %v): %v", cae, err)
				}
				o.checkDownstream(t, tok.Token, tc.acr)
			}
			before := counter.tokens.Load()
			if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{o.downstreamScope}}); err != nil {
				t.Fatal(err)
			}
			if n := counter.tokens.Load(); n != before {
				t.Errorf("a repeated GetToken made %d more token requests, want a cache hit", n-before)
			}
		})
	}
}

// TestAzureIdentityPythonOnBehalfOf runs azure-identity 1.13.0b2's
// OnBehalfOfCredential (secret and PEM certificate) against the authority:
// its account is built from the id_token and client_info, and the second
// get_token is answered without a token request.
func TestAzureIdentityPythonOnBehalfOf(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	o := startOBO(t)
	cf := o.writeCertFiles(t)
	cases := []pyCase{
		{Name: "obo-secret", ClientID: o.middle, Scope: o.downstreamScope, Secret: o.middleSecret, UserAssertion: o.userToken, acr: "1"},
		{Name: "obo-cert", ClientID: o.middle, Scope: o.downstreamScope, CertificatePath: cf.combined, UserAssertion: o.userToken, acr: "2"},
	}
	results := runPython(t, py, "azure_identity_client.py", o.a.CAFile(), map[string]any{
		"authority": o.a.URL(), "tenant": o.seed.TenantID, "ca_file": o.a.CAFile(), "cases": cases,
	}, o.middleSecret, o.userToken)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, r := range results {
		t.Run(cases[i].Name, func(t *testing.T) {
			if r.Error != "" {
				t.Fatalf("azure-identity: %s", r.Error)
			}
			o.checkDownstream(t, r.AccessToken, cases[i].acr)
			if r.TokenRequests != 1 || r.SilentTokenRequests != 1 || !r.SilentSameToken {
				t.Errorf("token requests %d then %d in all, same token %v; want 1, 1 and a cache hit",
					r.TokenRequests, r.SilentTokenRequests, r.SilentSameToken)
			}
		})
	}
}

// TestMSALPythonOnBehalfOfClaimsChallenge: for a downstream API with
// require_mfa, MSAL Python 1.21's acquire_token_on_behalf_of returns the
// authority's interaction_required answer with its claims challenge in the
// result, as a middle tier needs to relay it.
func TestMSALPythonOnBehalfOfClaimsChallenge(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	o := startOBO(t)
	payroll, err := o.a.AddApp(o.seed.TenantID, directory.App{DisplayName: "payroll", IdentifierURIs: []string{"api://payroll"},
		Scopes: []string{"Payroll.Read"}, AccessTokenVersion: 2, RequireMFA: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.a.Consent(o.seed.TenantID, o.middle, "api://payroll", "Payroll.Read"); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"authority": o.a.URL(), "tenant": o.seed.TenantID, "user_token": o.userToken, "username": o.upn,
		"middle_client_id": o.middle, "middle_secret": o.middleSecret, "downstream_scope": "api://payroll/Payroll.Read"}
	var out struct {
		Versions   map[string]string `json:"versions"`
		Error      string            `json:"error"`
		OAuthError string            `json:"oauth_error"`
		ErrorCodes []int             `json:"error_codes"`
		Claims     string            `json:"claims"`
		OBOToken   string            `json:"obo_token"`
	}
	runPythonJSON(t, py, "msal_obo.py", o.a.CAFile(), cfg, &out, o.userToken, o.middleSecret)
	t.Logf("msal_obo.py: %v", out.Versions)
	want := `{"access_token":{"polids":{"essential":true,"values":["` + payroll.MFAPolicyID() + `"]}}}`
	if out.OBOToken != "" || out.OAuthError != "interaction_required" || !slices.Equal(out.ErrorCodes, []int{50079}) || out.Claims != want {
		t.Fatalf("MSAL Python's result: error %q (%s), codes %v, claims %q; want interaction_required, [50079], %q",
			out.OAuthError, out.Error, out.ErrorCodes, out.Claims, want)
	}
}
