package appcred

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// TestAuthorityErrorRows checks, through the root Client against the real
// local authority, the AADSTS errors of scopes and client assertions that
// TestAuthorityErrors does not cover: each surfaces as a *ResponseError with
// the authority's status and code, and no secret or assertion appears in the
// error's text.
func TestAuthorityErrorRows(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	// A second API app, so two scopes can name different resources.
	const otherAPI = "api://appcred-errors-other"
	if _, err := a.AddApp(seed.TenantID, directory.App{DisplayName: "other API", IdentifierURIs: []string{otherAPI}}); err != nil {
		t.Fatal(err)
	}
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	endpoint := a.TokenEndpoint(seed.TenantID)
	expired, err := cert.Assertion(seed.ClientID, endpoint, proof.AssertionOptions{Now: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, err := cert.Assertion(seed.ClientID, "https://login.example.com/not-the-token-endpoint", proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Both assertions are otherwise good: the same certificate, signed now
	// for the right audience, gets a token (so the rows below fail for the
	// reason they name).
	good, err := cert.Assertion(seed.ClientID, endpoint, proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromAssertionString(good), WithCACertificates(a.CACertPEM()))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if _, err := gc.AcquireTokenForClient(context.Background(), []string{seed.Scope}); err != nil {
		t.Fatalf("control: a good assertion was refused: %v", err)
	}

	secret := seed.ClientSecret
	cases := []struct {
		name   string
		proof  Proof
		scopes []string
		code   aadsts.Code
		status int
		oauth  string
	}{
		{"two resources", FromSecret(secret), []string{seed.Scope, otherAPI + "/.default"}, 700022, http.StatusBadRequest, "invalid_scope"},
		{"malformed scope", FromSecret(secret), []string{"/.default"}, 70011, http.StatusBadRequest, "invalid_scope"},
		{"expired assertion", FromAssertionString(expired), []string{seed.Scope}, 700024, http.StatusUnauthorized, "invalid_client"},
		{"wrong audience", FromAssertionString(wrongAud), []string{seed.Scope}, 50012, http.StatusUnauthorized, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, tc.proof,
				WithCACertificates(a.CACertPEM()), WithLogger(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.AcquireTokenForClient(context.Background(), tc.scopes)
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want a *ResponseError", err, err)
			}
			if !HasCode(err, tc.code) || re.StatusCode != tc.status || re.OAuthError != tc.oauth {
				t.Fatalf("got %d %q codes %v, want %d %q AADSTS%d: %v",
					re.StatusCode, re.OAuthError, re.Codes, tc.status, tc.oauth, tc.code, err)
			}
			if re.TraceID == "" || re.CorrelationID == "" || re.Description == "" {
				t.Fatalf("error fields missing: %+v", re)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("AADSTS%d", tc.code)) {
				t.Errorf("error text does not name AADSTS%d: %v", tc.code, err)
			}
			printed := err.Error() + fmt.Sprintf(" %v %+v %#v", err, re, re) + logs.String()
			for name, s := range map[string]string{"client secret": secret, "expired assertion": expired,
				"wrong-audience assertion": wrongAud, "assertion signature": signature(expired),
				"other signature": signature(wrongAud)} {
				if strings.Contains(printed, s) {
					t.Fatalf("error text or logs contain the %s", name)
				}
			}
		})
	}
}

// signature returns a JWT's signature part, which alone must not leak either.
func signature(jwt string) string {
	return jwt[strings.LastIndexByte(jwt, '.')+1:]
}

// After Close a credential makes no requests and builds no client: plain and
// CAE requests fail with ErrClosed, not as an authentication failure.
func TestCredentialClose(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	ctx := context.Background()
	plain := policy.TokenRequestOptions{Scopes: []string{a.Seed().Scope}}
	cae := policy.TokenRequestOptions{Scopes: plain.Scopes, EnableCAE: true}
	check := func(t *testing.T, cred *ClientSecretCredential, rec *formRecorder) {
		t.Helper()
		before := rec.count()
		for _, tro := range []policy.TokenRequestOptions{plain, cae} {
			_, err := cred.GetToken(ctx, tro)
			var af *AuthenticationFailedError
			if !errors.Is(err, ErrClosed) || errors.As(err, &af) || !strings.Contains(err.Error(), credNameSecret) {
				t.Fatalf("EnableCAE=%t after Close: %T %v, want ErrClosed unwrapped", tro.EnableCAE, err, err)
			}
			if _, err := cred.GetTokenInfo(ctx, tro); !errors.Is(err, ErrClosed) {
				t.Fatalf("GetTokenInfo after Close: %v", err)
			}
		}
		if rec.count() != before {
			t.Fatalf("%d token requests after Close", rec.count()-before)
		}
		if err := cred.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}

	t.Run("no CAE client yet", func(t *testing.T) {
		cred, rec := secretCred(t, a, nil)
		if _, err := cred.GetToken(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if err := cred.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, cred, rec)
		cred.caeMu.Lock()
		built := cred.cae != nil
		cred.caeMu.Unlock()
		if built {
			t.Fatal("a CAE client was built after Close")
		}
	})
	t.Run("CAE client closed with it", func(t *testing.T) {
		cred, rec := secretCred(t, a, nil)
		if _, err := cred.GetToken(ctx, cae); err != nil {
			t.Fatal(err)
		}
		old := cred.cae
		if err := cred.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, cred, rec)
		if cred.cae != old || !old.closed.Load() {
			t.Fatal("the CAE client was replaced or left open")
		}
	})
}
