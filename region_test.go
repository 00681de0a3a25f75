package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/appcred/appcred/internal/fakehost"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
)

// fakeRegionalEntra is a real TLS server on 127.0.0.1 with a certificate for
// the Microsoft public-cloud host names; its transport dials it whatever host
// is asked for, and it records "METHOD host/path" of every request.
type fakeRegionalEntra struct {
	srv       *httptest.Server
	transport *http.Transport
	mu        sync.Mutex
	reqs      []string
}

func newFakeRegionalEntra(t *testing.T) *fakeRegionalEntra {
	t.Helper()
	f := &fakeRegionalEntra{}
	f.srv, f.transport = fakehost.Start(t, []string{"login.microsoftonline.com", "*.login.microsoft.com"},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.reqs = append(f.reqs, r.Method+" "+r.Host+r.URL.Path)
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch {
			case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
				_ = json.NewEncoder(w).Encode(map[string]any{
					"token_endpoint": "https://" + r.Host + "/{tenant}/oauth2/v2.0/token",
					"issuer":         "https://login.microsoftonline.com/{tenantid}/v2.0",
				})
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "from-" + r.Host, "token_type": "Bearer", "expires_in": 3600})
			default:
				w.WriteHeader(http.StatusNotFound)
			}
		}))
	return f
}

func (f *fakeRegionalEntra) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

// keyStore is a cache.Store that records the keys it is given.
type keyStore struct {
	mu   sync.Mutex
	keys []string
}

func (s *keyStore) Get(context.Context, string) (*cache.Token, error) { return nil, nil }
func (s *keyStore) Delete(context.Context, string) error              { return nil }
func (s *keyStore) Put(_ context.Context, key string, _ *cache.Token) error {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return nil
}

// WithAzureRegion sends discovery and the token request to
// {region}.login.microsoft.com, skips instance discovery, and keeps the
// central host in the cache key.
func TestWithAzureRegion(t *testing.T) {
	f := newFakeRegionalEntra(t)
	store := &keyStore{}
	const tenant = "contoso.onmicrosoft.com"
	c, err := New(authority.PublicCloud+"/"+tenant, "11111111-2222-3333-4444-555555555555", FromSecret("s3cret-value"),
		WithAzureRegion(" WestUS2 "), WithTransport(f.transport), WithCacheStore(store))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		tok, err := c.AcquireTokenForClient(context.Background(), []string{"api://orders/.default"})
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != "from-westus2.login.microsoft.com" || tok.FromCache != (i == 1) {
			t.Fatalf("call %d: token %q from cache %t", i, tok.AccessToken, tok.FromCache)
		}
	}
	want := []string{
		"GET westus2.login.microsoft.com/" + tenant + "/v2.0/.well-known/openid-configuration",
		"POST westus2.login.microsoft.com/" + tenant + "/oauth2/v2.0/token",
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.keys) != 1 || !strings.Contains(store.keys[0], "login.microsoftonline.com") || strings.Contains(store.keys[0], "westus2") {
		t.Fatalf("cache keys %q: want the central host", store.keys)
	}
}

func TestWithAzureRegionValidation(t *testing.T) {
	for _, bad := range []string{"west us", "westus2.evil.com", "-x", "try-auto-detect!"} {
		_, err := New("https://login.microsoftonline.com/t1", "id", FromSecret("s3cret-value"), WithAzureRegion(bad))
		if !errors.Is(err, authority.ErrInvalidRegion) || !strings.Contains(err.Error(), "WithAzureRegion") {
			t.Errorf("WithAzureRegion(%q): %v", bad, err)
		}
	}
	c, err := New("https://login.microsoftonline.com/t1", "id", FromSecret("s3cret-value"), WithAzureRegion(""))
	if err != nil {
		t.Fatalf("empty region: %v", err)
	}
	_ = c.Close()
}

// The region is ignored for an authority that is not on a Microsoft host.
func TestWithAzureRegionIgnoredForGenericIssuer(t *testing.T) {
	g := newGenericIssuer(t)
	c, err := New(g.srv.URL, g.clientID, FromSecret(g.secret), WithGenericIssuer(), WithHTTPClient(g.srv.Client()),
		WithAzureRegion("westus2"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tok, err := c.AcquireTokenForClient(context.Background(), []string{"orders.read"}); err != nil || tok.AccessToken != "opaque-orders.read" {
		t.Fatalf("%v, %v", tok, err)
	}
}
