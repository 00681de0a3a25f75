package interop_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestMSALGo drives MSAL Go v1.10.1's confidential client against the local
// authority: secret and certificate credentials (with and without x5c), v2
// and v1 resources, instance discovery off and the local CA trusted. The
// second call for the same scope must come from MSAL's cache.
func TestMSALGo(t *testing.T) {
	f := startAuthority(t)
	certs, key := []*x509.Certificate{f.cert.Leaf}, f.cert.Key
	cases := []struct {
		name     string
		clientID string
		cred     func() (confidential.Credential, error)
		x5c      bool
		resource string
		acr      string
	}{
		{"secret/v2", f.seed.ClientID, func() (confidential.Credential, error) {
			return confidential.NewCredFromSecret(f.seed.ClientSecret)
		}, false, "v2", "1"},
		{"secret/v1", f.seed.ClientID, func() (confidential.Credential, error) {
			return confidential.NewCredFromSecret(f.seed.ClientSecret)
		}, false, "v1", "1"},
		{"cert/v2", f.certClientID, func() (confidential.Credential, error) {
			return confidential.NewCredFromCert(certs, key)
		}, false, "v2", "2"},
		{"cert-x5c/v2", f.certClientID, func() (confidential.Credential, error) {
			return confidential.NewCredFromCert(certs, key)
		}, true, "v2", "2"},
		{"cert-x5c/v1", f.certClientID, func() (confidential.Credential, error) {
			return confidential.NewCredFromCert(certs, key)
		}, true, "v1", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := tc.cred()
			if err != nil {
				t.Fatalf("credential: %v", err)
			}
			hc, counter := f.countingClient(t)
			opts := []confidential.Option{
				confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false),
			}
			if tc.x5c {
				opts = append(opts, confidential.WithX5C())
			}
			client, err := confidential.New(f.a.TenantURL(f.seed.TenantID), tc.clientID, cred, opts...)
			if err != nil {
				t.Fatalf("confidential.New: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			scopes := []string{f.scopeFor(tc.resource)}

			first, err := client.AcquireTokenByCredential(ctx, scopes)
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			if n := counter.tokens.Load(); n != 1 {
				t.Fatalf("first call made %d token requests, want 1", n)
			}
			if first.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
				t.Errorf("first token source = %v, want the identity provider", first.Metadata.TokenSource)
			}
			if left := time.Until(first.ExpiresOn); left < 55*time.Minute || left > time.Hour {
				t.Errorf("token expires in %v, want about 3599 s", left)
			}
			checkSent(t, counter.lastForm(), tc.acr == "1", tc.x5c)
			if sc := counter.lastForm().Get("scope"); !strings.Contains(sc, "openid") {
				t.Errorf("MSAL Go sent scope %q; it is known to add openid offline_access profile", sc)
			}
			f.checkToken(t, first.AccessToken, want{clientID: tc.clientID, resource: tc.resource, acr: tc.acr})

			second, err := client.AcquireTokenByCredential(ctx, scopes)
			if err != nil {
				t.Fatalf("second AcquireTokenByCredential: %v", err)
			}
			if n := counter.tokens.Load(); n != 1 {
				t.Errorf("second call made a token request (%d in all): not served from MSAL's cache", n)
			}
			if second.Metadata.TokenSource != confidential.TokenSourceCache || second.AccessToken != first.AccessToken {
				t.Errorf("second call: source %v, same token %v; want the cached token",
					second.Metadata.TokenSource, second.AccessToken == first.AccessToken)
			}
		})
	}
}

// TestMSALGoError checks that MSAL Go reads the authority's Entra-shaped
// error for a wrong secret: HTTP 401 with AADSTS7000215.
func TestMSALGoError(t *testing.T) {
	f := startAuthority(t)
	hc, counter := f.countingClient(t)
	cred, err := confidential.NewCredFromSecret("not-the-secret-" + f.seed.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(f.a.TenantURL(f.seed.TenantID), f.seed.ClientID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = client.AcquireTokenByCredential(ctx, []string{f.seed.Scope})
	if err == nil {
		t.Fatal("AcquireTokenByCredential with a wrong secret succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "AADSTS7000215") || !strings.Contains(msg, "401") {
		t.Errorf("error = %q, want HTTP 401 with AADSTS7000215", msg)
	}
	if n := counter.tokens.Load(); n != 1 {
		t.Errorf("%d token requests, want 1 (no retry of a 401)", n)
	}
}
