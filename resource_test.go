package appcred

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// v1API registers a resource that gets v1 tokens and lets the seed's daemon call it.
func v1API(t *testing.T, a *sts.Authority, uri string) {
	t.Helper()
	seed := a.Seed()
	if _, err := a.AddApp(seed.TenantID, directory.App{DisplayName: "legacy-api", IdentifierURIs: []string{uri},
		AppRoles: []string{"Legacy.Read"}, AccessTokenVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Grant(seed.TenantID, seed.ClientID, uri, "Legacy.Read"); err != nil {
		t.Fatal(err)
	}
}

// TestV1ResourceRequest asks the local authority's v1 endpoint with resource=
// and reads its v1 answer (numbers as strings, expires_on).
func TestV1ResourceRequest(t *testing.T) {
	const uri = "api://legacy-v1"
	a := startAuthority(t, sts.Options{TokenLifetime: 2 * time.Hour})
	v1API(t, a, uri)
	seed := a.Seed()
	rec := newRecorder(a)
	store := newMemStore()
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
		WithTransport(rec), WithV1Resource(), WithCacheStore(store))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := time.Now()
	tok, err := c.AcquireTokenForClient(context.Background(), []string{uri + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	form := rec.form(t, -1)
	rec.mu.Lock()
	path := rec.paths[len(rec.paths)-1]
	rec.mu.Unlock()
	if want := "/" + seed.TenantID + "/oauth2/token"; path != want {
		t.Errorf("posted to %s, want the v1 endpoint %s", path, want)
	}
	if form.Get("resource") != uri || form.Has("scope") {
		t.Errorf("form resource=%q scope present=%t; want resource=%q and no scope", form.Get("resource"), form.Has("scope"), uri)
	}
	claims, err := a.VerifyToken(tok.AccessToken)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if claims["aud"] != uri || claims["ver"] != "1.0" {
		t.Errorf("aud %v ver %v; want %s and 1.0", claims["aud"], claims["ver"], uri)
	}
	if d := tok.ExpiresOn.Sub(before); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("token expires in %v, want about 2h (from the v1 string expires_in)", d)
	}
	if tok.TokenType != "Bearer" {
		t.Errorf("token type %q", tok.TokenType)
	}
	// A v2 client of the same app sharing the store must not be served the v1 token.
	v2, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
		WithTransport(a.HTTPClient().Transport), WithCacheStore(store))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	tok2, err := v2.AcquireTokenForClient(context.Background(), []string{uri + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if tok2.FromCache || tok2.AccessToken == tok.AccessToken {
		t.Error("a v2 client was served the v1 client's token from the shared store")
	}
}

// TestV1ResourceCertificate signs the client assertion for the v1 endpoint,
// which the authority accepts only with that endpoint as its audience.
func TestV1ResourceCertificate(t *testing.T) {
	const uri = "https://legacy.example/"
	a := startAuthority(t, sts.Options{})
	v1API(t, a, uri)
	seed := a.Seed()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	rec := newRecorder(a)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromCertificate(cert, CertificateOptions{}), WithTransport(rec), WithV1Resource())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// azidentity's form of a resource with a trailing slash: "https://legacy.example//.default".
	tok, err := c.AcquireTokenForClient(context.Background(), []string{uri + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if form := rec.form(t, -1); form.Get("resource") != uri || form.Get("client_assertion") == "" {
		t.Errorf("form resource=%q assertion sent=%t", form.Get("resource"), form.Get("client_assertion") != "")
	}
	if claims := claimsOf(t, tok.AccessToken); claims["aud"] != uri {
		t.Errorf("aud %v, want %s", claims["aud"], uri)
	}
}

// TestV1ResourceBadScopes refuses what a v1 request cannot carry, before any request.
func TestV1ResourceBadScopes(t *testing.T) {
	_, c, ct := seedClient(t, sts.Options{}, WithV1Resource())
	for _, scopes := range [][]string{{"api://a/.default", "api://b/.default"}, {"/.default"}} {
		_, err := c.AcquireTokenForClient(context.Background(), scopes)
		if err == nil || !strings.Contains(err.Error(), "WithV1Resource") {
			t.Errorf("scopes %q: err %v, want a WithV1Resource error", scopes, err)
		}
	}
	if n := ct.posts.Load(); n != 0 {
		t.Errorf("%d token requests sent for refused scopes", n)
	}
}

// TestV1ResourceCredential: CredentialOptions.V1Resource gives an Azure SDK
// credential v1 tokens for "{resource}/.default".
func TestV1ResourceCredential(t *testing.T) {
	const uri = "api://legacy-cred"
	a := startAuthority(t, sts.Options{})
	v1API(t, a, uri)
	cred, rec := secretCred(t, a, &ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{V1Resource: true}})
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{uri + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if form := rec.form(t, -1); form.Get("resource") != uri {
		t.Errorf("resource=%q, want %q", form.Get("resource"), uri)
	}
	if claims := claimsOf(t, tok.Token); claims["aud"] != uri || claims["ver"] != "1.0" {
		t.Errorf("aud %v ver %v", claims["aud"], claims["ver"])
	}
}
