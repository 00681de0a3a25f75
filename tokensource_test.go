package appcred

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2"

	"github.com/appcred/appcred/sts"
)

func TestTokenSource(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{})
	seed := a.Seed()
	ts := c.TokenSource(context.Background(), seed.Scope)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Valid() || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token: valid %t, type %q, expiry %v", tok.Valid(), tok.TokenType, tok.Expiry)
	}
	if claimsOf(t, tok.AccessToken)["tid"] != seed.TenantID {
		t.Fatal("wrong token")
	}
	again, err := ts.Token()
	if err != nil || again != tok || ct.posts.Load() != 1 {
		t.Fatalf("second Token: same %t, %d requests, err %v", again == tok, ct.posts.Load(), err)
	}
	// The adapter adds no allocation to the Client's hit path.
	sc := []string{seed.Scope}
	base := testing.AllocsPerRun(100, func() { _, _ = c.AcquireTokenForClient(context.Background(), sc) })
	if n := testing.AllocsPerRun(100, func() { _, _ = ts.Token() }); n > base {
		t.Errorf("cached Token allocates %.0f times, the Client %.0f", n, base)
	}

	// An oauth2.Transport authorizes requests to a TLS resource server, and
	// asks the source on every request: a token the cache replaced (here:
	// removed and fetched again) is sent at once.
	rs := startResource(t, a)
	rs.stepUp = false // no challenge: plain x/oauth2 does not answer them
	post := func(hc *http.Client) {
		t.Helper()
		resp, err := hc.Post(rs.URL+"/orders", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok:x" {
			t.Fatalf("resource: %d %q", resp.StatusCode, body)
		}
	}
	sent := func() (first, last string) {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.tokens[len(rs.tokens)-2], rs.tokens[len(rs.tokens)-1]
	}
	hc := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: rs.Client().Transport}}
	post(hc)
	if err := c.RemoveTokensForClient(context.Background()); err != nil {
		t.Fatal(err)
	}
	post(hc)
	if before, after := sent(); before != tok.AccessToken || after == before || ct.posts.Load() != 2 {
		t.Fatalf("oauth2.Transport: replaced token sent %t, %d token requests", after != before, ct.posts.Load())
	}
	// What the doc warns about: oauth2.NewClient (ReuseTokenSource) keeps
	// sending its first token after the cache replaced it.
	reuse := oauth2.NewClient(context.WithValue(context.Background(), oauth2.HTTPClient, rs.Client()), ts)
	post(reuse)
	if err := c.RemoveTokensForClient(context.Background()); err != nil {
		t.Fatal(err)
	}
	post(reuse)
	if before, after := sent(); after != before {
		t.Fatal("oauth2.NewClient picked up the replaced token; update TokenSource's doc")
	}

	// Errors pass through.
	bad := c.TokenSource(context.Background())
	if _, err := bad.Token(); err == nil {
		t.Fatal("no scopes: no error")
	}
}

func TestCredentialTokenSourceAndFastPath(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	cred, rec := secretCred(t, a, nil)
	ts := CredentialTokenSource(context.Background(), cred, a.Seed().Scope)
	tok, err := ts.Token()
	if err != nil || !tok.Valid() {
		t.Fatalf("%v %v", tok, err)
	}
	ctx := context.Background()
	tro := policy.TokenRequestOptions{Scopes: []string{a.Seed().Scope}}
	if _, err := cred.GetToken(ctx, tro); err != nil {
		t.Fatal(err)
	}
	// The credential's cached path allocates nothing beyond the Client's.
	base := testing.AllocsPerRun(100, func() { _, _ = cred.plain.AcquireTokenForClient(ctx, tro.Scopes) })
	if n := testing.AllocsPerRun(100, func() { _, _ = cred.GetToken(ctx, tro) }); n > base {
		t.Errorf("cached GetToken allocates %.0f times, the Client %.0f", n, base)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ts.Token() }); n > base {
		t.Errorf("cached credential Token allocates %.0f times, the Client %.0f", n, base)
	}
	if rec.count() != 1 {
		t.Fatalf("%d token requests, want 1", rec.count())
	}
}

func BenchmarkCredentialGetTokenCached(b *testing.B) {
	a := startAuthority(b, sts.Options{})
	seed := a.Seed()
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}})
	if err != nil {
		b.Fatal(err)
	}
	defer cred.Close()
	ctx := context.Background()
	for _, cae := range []bool{false, true} {
		tro := policy.TokenRequestOptions{Scopes: []string{seed.Scope}, EnableCAE: cae}
		if _, err := cred.GetToken(ctx, tro); err != nil {
			b.Fatal(err)
		}
		name := "plain"
		if cae {
			name = "cae"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cred.GetToken(ctx, tro); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTokenSourceCached(b *testing.B) {
	a := startAuthority(b, sts.Options{})
	seed := a.Seed()
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithCACertificates(a.CACertPEM()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ts := c.TokenSource(context.Background(), seed.Scope)
	if _, err := ts.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ts.Token(); err != nil {
			b.Fatal(err)
		}
	}
}
