package appcred_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"golang.org/x/oauth2"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/bearer"
	"github.com/appcred/appcred/sts"
)

// localAuthority starts appcred's local authority in a temporary directory,
// so the examples run offline.
func localAuthority() (*sts.Authority, func()) {
	dir, err := os.MkdirTemp("", "appcred-example-")
	if err != nil {
		log.Fatal(err)
	}
	a, err := sts.Start(context.Background(), sts.Options{StateDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	return a, func() { _ = a.Close(); _ = os.RemoveAll(dir) }
}

// Azure SDK users: an appcred credential goes wherever an
// azcore.TokenCredential is taken (every Azure SDK client constructor). With
// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or
// AZURE_CLIENT_CERTIFICATE_PATH) set, as for azidentity:
func Example_azureSDK() {
	cred, err := appcred.NewEnvironmentCredential(nil)
	if err != nil {
		log.Fatal(err) // a *appcred.CredentialUnavailableError names what is missing
	}
	defer cred.Close()

	// For example: client, err := azblob.NewClient(accountURL, cred, nil)
	// or, at the pipeline level, azcore's own bearer token policy:
	pl := runtime.NewPipeline("my-module", "v1.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{"https://storage.azure.com/.default"}, nil)},
	}, nil)
	_ = pl
}

// A ClientSecretCredential against the local authority: the second GetToken
// is served from the cache.
func ExampleNewClientSecretCredential() {
	a, stop := localAuthority()
	defer stop()
	seed := a.Seed() // a development tenant with a daemon app and an API

	cred, err := appcred.NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&appcred.ClientSecretCredentialOptions{CredentialOptions: appcred.CredentialOptions{
			AuthorityHost:  a.URL(),       // default: https://login.microsoftonline.com
			CACertificates: a.CACertPEM(), // trust the local authority's CA
		}})
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()

	ctx := context.Background()
	opts := policy.TokenRequestOptions{Scopes: []string{seed.Scope}}
	first, err := cred.GetTokenInfo(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	second, err := cred.GetTokenInfo(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("type:", first.TokenType)
	fmt.Println("valid for more than 50 minutes:", time.Until(first.ExpiresOn) > 50*time.Minute)
	fmt.Println("refreshed before expiry:", first.RefreshOn.Before(first.ExpiresOn))
	fmt.Println("second from cache:", second.FromCache, second.AccessToken == first.AccessToken)
	// Output:
	// type: Bearer
	// valid for more than 50 minutes: true
	// refreshed before expiry: true
	// second from cache: true true
}

// golang.org/x/oauth2 users: Client.TokenSource plugs into oauth2.Transport
// (and anything else that takes an oauth2.TokenSource). Use oauth2.Transport
// directly, not oauth2.NewClient: NewClient wraps the source in
// oauth2.ReuseTokenSource, which keeps a token until 10 s before it expires
// and so misses the tokens appcred refreshes ahead of time.
func ExampleClient_TokenSource() {
	a, stop := localAuthority()
	defer stop()
	seed := a.Seed()

	c, err := appcred.New(a.TenantURL(seed.TenantID), seed.ClientID, appcred.FromSecret(seed.ClientSecret),
		appcred.WithCACertificates(a.CACertPEM()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ts := c.TokenSource(context.Background(), seed.Scope)
	tok, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.TokenType, tok.Valid())

	// Requests made with hc carry "Authorization: Bearer …"; every request
	// asks ts, whose cached answer costs a map lookup.
	hc := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: http.DefaultTransport}}
	_ = hc
	// Output: Bearer true
}

// Any HTTP client: bearer.Transport authorizes requests with a credential's
// tokens and answers CAE claims challenges.
func Example_bearerTransport() {
	cred, err := appcred.NewEnvironmentCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()
	hc := &http.Client{Transport: &bearer.Transport{
		Credential: cred,
		Scopes:     []string{"api://orders/.default"},
	}}
	resp, err := hc.Get("https://orders.example.com/v1/orders")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
}
