package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// poolSize is how many registered scopes the network benchmarks cycle
// through before every client is replaced by a fresh one.
const poolSize = 64

// env is the loopback authority shared by every test and benchmark of the
// package, started on first use and closed by TestMain.
type env struct {
	a    *sts.Authority
	seed *sts.Seed
	pool []string // "api://bench-{i}/.default", registered on one resource app
}

var (
	envOnce   sync.Once
	sharedEnv *env
	envErr    error
	envCancel context.CancelFunc = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		_ = sharedEnv.a.Close()
	}
	envCancel()
	os.Exit(code)
}

// getEnv returns the shared authority, starting it on first use.
func getEnv(tb testing.TB) *env {
	tb.Helper()
	envOnce.Do(func() {
		dir, err := os.MkdirTemp("", "appcred-bench-")
		if err != nil {
			envErr = err
			return
		}
		var ctx context.Context
		ctx, envCancel = context.WithCancel(context.Background())
		a, err := sts.Start(ctx, sts.Options{StateDir: dir})
		if err != nil {
			envErr = fmt.Errorf("start authority: %w", err)
			return
		}
		e := &env{a: a, seed: a.Seed()}
		if e.seed == nil {
			envErr = fmt.Errorf("authority made no development tenant")
			return
		}
		uris := make([]string, poolSize)
		for i := range uris {
			uris[i] = fmt.Sprintf("api://bench-%d", i)
			e.pool = append(e.pool, uris[i]+"/.default")
		}
		if _, err := a.AddApp(e.seed.TenantID, directory.App{
			DisplayName: "bench-api", IdentifierURIs: uris, AccessTokenVersion: 2,
		}); err != nil {
			envErr = fmt.Errorf("register the benchmark resource: %w", err)
			return
		}
		sharedEnv = e
	})
	if envErr != nil {
		tb.Fatal(envErr)
	}
	return sharedEnv
}

// counter wraps a transport and counts the token requests (POSTs to a token
// endpoint) and the other requests that go through it.
type counter struct {
	base   http.RoundTripper
	tokens atomic.Int64
	others atomic.Int64
}

// isTokenRequest tells a token POST from discovery requests.
func isTokenRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token")
}

// RoundTrip counts r and passes it on.
func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if isTokenRequest(r) {
		c.tokens.Add(1)
	} else {
		c.others.Add(1)
	}
	return c.base.RoundTrip(r)
}

// slow delays every token POST by delay before passing it on, as a distant
// or loaded authority would; other requests pass at once.
type slow struct {
	base    http.RoundTripper
	delay   time.Duration
	started chan<- struct{} // if not nil, told (without blocking) when a token POST starts waiting
}

// RoundTrip waits delay (or until r's context ends) for token POSTs.
func (s slow) RoundTrip(r *http.Request) (*http.Response, error) {
	if isTokenRequest(r) {
		select {
		case s.started <- struct{}{}:
		default:
		}
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
	}
	return s.base.RoundTrip(r)
}

// httpClient returns an HTTP client trusting the authority's CA whose
// transport is wrap(the TLS transport).
func (e *env) httpClient(wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	hc := e.a.HTTPClient()
	hc.Transport = wrap(hc.Transport)
	return hc
}

// warmConns opens n keep-alive connections to the authority on hc (n
// concurrent discovery requests), so the first measured op of a concurrent
// benchmark does not pay n TLS handshakes that later ops do not.
func (e *env) warmConns(tb testing.TB, hc *http.Client, n int) {
	tb.Helper()
	url := e.a.TenantURL(e.seed.TenantID) + "/v2.0/.well-known/openid-configuration"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := hc.Get(url)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("warm connections: %v", err)
	}
}

// tokenFunc asks a client for a token for scopes and returns the access token.
type tokenFunc func(ctx context.Context, scopes []string) (string, error)

// client is one library's client, reduced to what the benchmarks call.
type client struct {
	get   tokenFunc // the call applications make: cache first, then the network
	fill  tokenFunc // the call that fills the cache (get unless noted)
	close func()
}

// library makes clients of one library for the seeded daemon app.
type library struct {
	name    string
	maxFill int // largest cache the benchmarks fill (see the package doc)
	make    func(e *env, hc *http.Client) (*client, error)
}

var libraries = []library{
	{name: "appcred", maxFill: 100_000, make: newAppcred},
	{name: "msalgo", maxFill: 100_000, make: newMSAL},
	{name: "azidentity", maxFill: 10_000, make: newAzidentity},
}

func newAppcred(e *env, hc *http.Client) (*client, error) {
	c, err := appcred.New(e.a.TenantURL(e.seed.TenantID), e.seed.ClientID,
		appcred.FromSecret(e.seed.ClientSecret), appcred.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	get := func(ctx context.Context, scopes []string) (string, error) {
		t, err := c.AcquireTokenForClient(ctx, scopes)
		return t.AccessToken, err
	}
	return &client{get: get, fill: get, close: func() { _ = c.Close() }}, nil
}

// fillClaims is sent by MSAL Go while filling, only to skip its cache scan;
// the canned filler ignores it.
const fillClaims = `{"access_token":{"nbf":{"essential":true}}}`

func newMSAL(e *env, hc *http.Client) (*client, error) {
	cred, err := confidential.NewCredFromSecret(e.seed.ClientSecret)
	if err != nil {
		return nil, err
	}
	c, err := confidential.New(e.a.TenantURL(e.seed.TenantID), e.seed.ClientID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
	if err != nil {
		return nil, err
	}
	return &client{
		get: func(ctx context.Context, scopes []string) (string, error) {
			r, err := c.AcquireTokenByCredential(ctx, scopes)
			return r.AccessToken, err
		},
		fill: func(ctx context.Context, scopes []string) (string, error) {
			r, err := c.AcquireTokenByCredential(ctx, scopes, confidential.WithClaims(fillClaims))
			return r.AccessToken, err
		},
		close: func() {},
	}, nil
}

func newAzidentity(e *env, hc *http.Client) (*client, error) {
	cred, err := azidentity.NewClientSecretCredential(e.seed.TenantID, e.seed.ClientID, e.seed.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			DisableInstanceDiscovery: true,
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.a.URL() + "/"},
				Transport: hc,
			},
		})
	if err != nil {
		return nil, err
	}
	get := func(ctx context.Context, scopes []string) (string, error) {
		t, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
		return t.Token, err
	}
	return &client{get: get, fill: get, close: func() {}}, nil
}

// mustClient makes a client of lib or fails tb.
func mustClient(tb testing.TB, lib library, e *env, hc *http.Client) *client {
	tb.Helper()
	c, err := lib.make(e, hc)
	if err != nil {
		tb.Fatalf("%s: new client: %v", lib.name, err)
	}
	return c
}

// scopeCycler hands out scopes from the registered pool, each once per
// client, and replaces the client (timer stopped, warmed with one request for
// the seed scope so discovery is done) when the pool runs out.
type scopeCycler struct {
	b    *testing.B
	lib  library
	e    *env
	hc   *http.Client
	c    *client
	next int
}

func newScopeCycler(b *testing.B, lib library, e *env, hc *http.Client) *scopeCycler {
	s := &scopeCycler{b: b, lib: lib, e: e, hc: hc}
	s.renew()
	b.Cleanup(func() { s.c.close() })
	return s
}

// renew replaces the client with a fresh, warmed one.
func (s *scopeCycler) renew() {
	if s.c != nil {
		s.c.close()
	}
	s.c = mustClient(s.b, s.lib, s.e, s.hc)
	if _, err := s.c.get(context.Background(), []string{s.e.seed.Scope}); err != nil {
		s.b.Fatalf("%s: warm-up token: %v", s.lib.name, err)
	}
	s.next = 0
}

// take returns n scopes the current client has never asked for, renewing
// the client (outside the timer) when the pool has fewer left.
func (s *scopeCycler) take(n int) (*client, []string) {
	if n > len(s.e.pool) {
		s.b.Fatalf("want %d scopes, the pool has %d", n, len(s.e.pool))
	}
	if s.next+n > len(s.e.pool) {
		s.b.StopTimer()
		s.renew()
		s.b.StartTimer()
	}
	out := s.e.pool[s.next : s.next+n]
	s.next += n
	return s.c, out
}
