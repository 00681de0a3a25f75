package interop_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestAzidentity drives azidentity v1.15.0's ClientSecretCredential and
// ClientCertificateCredential (certificate parsed by azidentity itself, with
// and without the chain in x5c) against the local authority, with instance
// discovery off, the authority host pointing at it and the local CA trusted.
// A second GetToken must come from azidentity's cache; a CAE request (which
// adds the CP1 claims parameter, as azcore's bearer policy does) must work too.
func TestAzidentity(t *testing.T) {
	f := startAuthority(t)
	keyPEM, err := f.cert.KeyPEM()
	if err != nil {
		t.Fatalf("key PEM: %v", err)
	}
	pemData := append(append([]byte{}, f.cert.CertPEM()...), keyPEM...)

	type newCred func(o azcore.ClientOptions) (azcore.TokenCredential, error)
	secret := func(o azcore.ClientOptions) (azcore.TokenCredential, error) {
		return azidentity.NewClientSecretCredential(f.seed.TenantID, f.seed.ClientID, f.seed.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: o, DisableInstanceDiscovery: true})
	}
	certificate := func(data []byte, chain bool) newCred {
		return func(o azcore.ClientOptions) (azcore.TokenCredential, error) {
			certs, key, err := azidentity.ParseCertificates(data, nil)
			if err != nil {
				return nil, err
			}
			return azidentity.NewClientCertificateCredential(f.seed.TenantID, f.certClientID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{
					ClientOptions: o, DisableInstanceDiscovery: true, SendCertificateChain: chain,
				})
		}
	}
	cases := []struct {
		name     string
		clientID string
		cred     newCred
		chain    bool
		resource string
		acr      string
	}{
		{"secret/v2", f.seed.ClientID, secret, false, "v2", "1"},
		{"secret/v1", f.seed.ClientID, secret, false, "v1", "1"},
		{"cert-pem/v2", f.certClientID, certificate(pemData, false), false, "v2", "2"},
		{"cert-pem-chain/v2", f.certClientID, certificate(pemData, true), true, "v2", "2"},
		{"cert-pem-chain/v1", f.certClientID, certificate(pemData, true), true, "v1", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hc, counter := f.countingClient(t)
			cred, err := tc.cred(azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.a.URL() + "/"},
				Transport: hc,
			})
			if err != nil {
				t.Fatalf("credential: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			opts := policy.TokenRequestOptions{Scopes: []string{f.scopeFor(tc.resource)}}
			w := want{clientID: tc.clientID, resource: tc.resource, acr: tc.acr}

			first, err := cred.GetToken(ctx, opts)
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if n := counter.tokens.Load(); n != 1 {
				t.Fatalf("first GetToken made %d token requests, want 1", n)
			}
			if left := time.Until(first.ExpiresOn); left < 55*time.Minute || left > time.Hour {
				t.Errorf("token expires in %v, want about 3599 s", left)
			}
			checkSent(t, counter.lastForm(), tc.acr == "1", tc.chain)
			f.checkToken(t, first.Token, w)

			second, err := cred.GetToken(ctx, opts)
			if err != nil {
				t.Fatalf("second GetToken: %v", err)
			}
			if n := counter.tokens.Load(); n != 1 || second.Token != first.Token {
				t.Errorf("second GetToken: %d token requests in all, same token %v; want the cached token",
					n, second.Token == first.Token)
			}

			// azcore's BearerTokenPolicy always asks with EnableCAE, which sends
			// claims={"access_token":{"xms_cc":{"values":["CP1"]}}}; CAE tokens
			// have their own cache, so this is a second request.
			opts.EnableCAE = true
			cae, err := cred.GetToken(ctx, opts)
			if err != nil {
				t.Fatalf("GetToken with EnableCAE: %v", err)
			}
			if n := counter.tokens.Load(); n != 2 {
				t.Errorf("CAE GetToken: %d token requests in all, want 2", n)
			}
			if claims := counter.lastForm().Get("claims"); !strings.Contains(claims, "CP1") {
				t.Errorf("CAE request sent claims %q, want the CP1 capability", claims)
			}
			f.checkToken(t, cae.Token, w)
		})
	}
}

// TestAzidentityError checks that azidentity reports the authority's error
// for a wrong secret as an AuthenticationFailedError with the 401 response.
func TestAzidentityError(t *testing.T) {
	f := startAuthority(t)
	hc, _ := f.countingClient(t)
	cred, err := azidentity.NewClientSecretCredential(f.seed.TenantID, f.seed.ClientID, "not-the-secret-"+f.seed.TenantID,
		&azidentity.ClientSecretCredentialOptions{DisableInstanceDiscovery: true, ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.a.URL() + "/"},
			Transport: hc,
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("GetToken with a wrong secret: %v, want an AuthenticationFailedError", err)
	}
	if afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(afe.Error(), "AADSTS7000215") {
		t.Errorf("error %q (response %v), want HTTP 401 with AADSTS7000215", afe.Error(), afe.RawResponse != nil)
	}
}
