package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/bearer"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// payrollAPI is a downstream API with require_mfa (a conditional-access
// policy requiring multi-factor authentication for delegated access).
const payrollAPI = "api://payroll-obo"

// newMFAFixture is newOBOFixture with payrollAPI, consented to the middle
// tier; it returns the fixture and the claims challenge Entra sends for it.
func newMFAFixture(t *testing.T) (*oboFixture, directory.App, string) {
	t.Helper()
	f := newOBOFixture(t, 1, sts.Options{})
	payroll, err := f.a.AddApp(f.tenant, directory.App{DisplayName: "payroll", IdentifierURIs: []string{payrollAPI},
		Scopes: []string{"Payroll.Read"}, AccessTokenVersion: 2, RequireMFA: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Consent(f.tenant, f.mid, payrollAPI, "Payroll.Read"); err != nil {
		t.Fatal(err)
	}
	return f, payroll, `{"access_token":{"polids":{"essential":true,"values":["` + payroll.MFAPolicyID() + `"]}}}`
}

// passwordCredential is the user's client: the public client signing the
// user in to the middle tier with the password grant, sending the claims of
// a challenge when asked (the local authority treats claims naming an MFA
// policy as a sign-in with MFA). It records the claims of each call.
type passwordCredential struct {
	f      *oboFixture
	upn    string
	mu     sync.Mutex
	claims []string
}

func (p *passwordCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	p.mu.Lock()
	p.claims = append(p.claims, o.Claims)
	p.mu.Unlock()
	form := url.Values{"grant_type": {"password"}, "client_id": {p.f.spa}, "username": {p.upn}, "password": {"pw-" + p.upn},
		"scope": {strings.Join(o.Scopes, " ")}}
	if o.Claims != "" {
		form.Set("claims", o.Claims)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.f.a.TokenEndpoint(p.f.tenant), strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.f.a.HTTPClient().Do(req)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return azcore.AccessToken{}, fmt.Errorf("password grant: status %d %v %s", resp.StatusCode, err, body.Error)
	}
	return azcore.AccessToken{Token: body.AccessToken, ExpiresOn: time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)}, nil
}

func (p *passwordCredential) token(t *testing.T, claims string) string {
	t.Helper()
	tok, err := p.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://mid-obo/access_as_user"}, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// wantChallenge checks that err is the authority's MFA challenge, relayed as
// a *ClaimsChallengeError with the exact claims it sent.
func wantChallenge(t *testing.T, err error, claims string) *ClaimsChallengeError {
	t.Helper()
	var cce *ClaimsChallengeError
	if !errors.As(err, &cce) {
		t.Fatalf("err %v (%T), want a *ClaimsChallengeError", err, err)
	}
	if cce.Claims != claims {
		t.Fatalf("claims %q, want the authority's %q", cce.Claims, claims)
	}
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.OAuthError != "interaction_required" ||
		!slices.Contains(re.Codes, aadsts.UserStrongAuthEnrollmentRequired) || re.Claims != claims ||
		!strings.Contains(re.Description, "AADSTS50079") {
		t.Fatalf("authority's answer %+v", re)
	}
	if strings.Contains(err.Error(), claims) {
		t.Errorf("the error text holds the claims: %v", err)
	}
	return cce
}

// TestOnBehalfOfClaimsChallenge: on-behalf-of to an API requiring MFA with a
// token from a sign-in without MFA is a *ClaimsChallengeError carrying the
// authority's claims, never cached; relayed through a WWW-Authenticate
// header and back, the claims get the user a token with MFA, and the
// on-behalf-of request succeeds (then from the cache). OnBehalfOfCredential
// surfaces the same error.
func TestOnBehalfOfClaimsChallenge(t *testing.T) {
	f, payroll, want := newMFAFixture(t)
	c := f.midClient(t)
	user := &passwordCredential{f: f, upn: f.users[0]}
	plain := user.token(t, "")
	scope := []string{payrollAPI + "/Payroll.Read"}
	ctx := context.Background()

	_, err := c.AcquireTokenOnBehalfOf(ctx, plain, scope)
	cce := wantChallenge(t, err, want)
	posts := f.counting.posts.Load()
	_, err = c.AcquireTokenOnBehalfOf(ctx, plain, scope)
	wantChallenge(t, err, want)
	if n := f.counting.posts.Load() - posts; n != 1 {
		t.Fatalf("the second call made %d requests; a challenge must not be cached", n)
	}
	// The same user token still works for an API without the policy.
	if _, err := c.AcquireTokenOnBehalfOf(ctx, plain, []string{f.downstreamAPI + "/Orders.Read"}); err != nil {
		t.Fatalf("on-behalf-of to an API without require_mfa: %v", err)
	}

	// The middle tier relays the challenge; the user's client reads it back.
	h := http.Header{}
	h.Set("WWW-Authenticate", bearer.InsufficientClaimsChallenge(f.a.TenantURL(f.tenant)+"/oauth2/v2.0/authorize", cce.Claims))
	relayed, ok := bearer.ClaimsChallenge(h)
	if !ok || relayed != want {
		t.Fatalf("relayed claims %q (%v), want %q", relayed, ok, want)
	}
	mfa := user.token(t, relayed)
	if amr := claimsOf(t, mfa)["amr"]; fmt.Sprint(amr) != "[pwd mfa]" {
		t.Fatalf("user token after the challenge: amr %v", amr)
	}
	tok, err := c.AcquireTokenOnBehalfOf(ctx, mfa, scope)
	if err != nil {
		t.Fatalf("on-behalf-of with the MFA token: %v", err)
	}
	claims, err := f.a.VerifyToken(tok.AccessToken)
	if err != nil || claims["scp"] != "Payroll.Read" || claims["aud"] != payroll.ClientID || claims["azp"] != f.mid {
		t.Fatalf("downstream token %v, %v", claims, err)
	}
	if again, err := c.AcquireTokenOnBehalfOf(ctx, mfa, scope); err != nil || !again.FromCache {
		t.Fatalf("second call with the MFA token: from cache %v, %v", again.FromCache, err)
	}

	o := &OnBehalfOfCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: f.a.URL(),
		CACertificates: f.a.CACertPEM(), DisableInstanceDiscovery: true}}
	for _, tc := range []struct {
		assertion string
		ok        bool
	}{{plain, false}, {mfa, true}} {
		cred, err := NewOnBehalfOfCredentialWithSecret(f.tenant, f.mid, tc.assertion, f.midSecret, o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
		_ = cred.Close()
		if tc.ok {
			if err != nil {
				t.Fatalf("OnBehalfOfCredential with the MFA token: %v", err)
			}
			continue
		}
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) {
			t.Fatalf("OnBehalfOfCredential: %v, want an AuthenticationFailedError", err)
		}
		wantChallenge(t, err, want)
	}
}

// TestOnBehalfOfClaimsRelayOverHTTP: the whole relay over HTTP on loopback.
// A middle-tier API answers a *ClaimsChallengeError with 401 and the
// insufficient_claims challenge; the caller's bearer.Transport asks its
// credential for a token with the claims (the user signs in with MFA) and
// retries once, and the middle tier's on-behalf-of then succeeds.
func TestOnBehalfOfClaimsRelayOverHTTP(t *testing.T) {
	f, _, want := newMFAFixture(t)
	c := f.midClient(t)
	mid := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assertion, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		tok, err := c.AcquireTokenOnBehalfOf(r.Context(), assertion, []string{payrollAPI + "/Payroll.Read"})
		var cce *ClaimsChallengeError
		switch {
		case errors.As(err, &cce):
			w.Header().Set("WWW-Authenticate", bearer.InsufficientClaimsChallenge(f.a.TenantURL(f.tenant)+"/oauth2/v2.0/authorize", cce.Claims))
			http.Error(w, "claims challenge", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "on-behalf-of failed", http.StatusBadGateway)
		default:
			claims, err := f.a.VerifyToken(tok.AccessToken)
			if err != nil {
				http.Error(w, "downstream token does not verify", http.StatusInternalServerError)
				return
			}
			_, _ = fmt.Fprint(w, claims["scp"], " ", claims["amr"])
		}
	}))
	defer mid.Close()
	user := &passwordCredential{f: f, upn: f.users[0]}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &bearer.Transport{Credential: user,
		Scopes: []string{"api://mid-obo/access_as_user"}, Base: mid.Client().Transport}}
	resp, err := hc.Get(mid.URL + "/payslips")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "Payroll.Read [pwd mfa]" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	user.mu.Lock()
	defer user.mu.Unlock()
	if len(user.claims) != 2 || user.claims[0] != "" || user.claims[1] != want {
		t.Fatalf("the user's client was asked for claims %q, want none then %q", user.claims, want)
	}
}
