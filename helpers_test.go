package appcred

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

// startAuthority runs the real local authority over TLS on an ephemeral loopback port.
func startAuthority(t testing.TB, opts sts.Options) *sts.Authority {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	a, err := sts.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// countingTransport counts token requests (POSTs) on their way to the authority.
type countingTransport struct {
	next  http.RoundTripper
	posts atomic.Int64
	gets  atomic.Int64
	hold  chan struct{} // when set, POSTs wait for it to close
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		c.posts.Add(1)
		if c.hold != nil {
			select { // a real transport gives up when the request's context ends
			case <-c.hold:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	} else {
		c.gets.Add(1)
	}
	return c.next.RoundTrip(r)
}

func newCounting(a *sts.Authority) *countingTransport {
	return &countingTransport{next: a.HTTPClient().Transport}
}

// seedClient starts the local authority with opts and a client for its dev
// tenant's daemon app (client secret) whose requests go through a counting
// transport; the client is closed when the test ends.
func seedClient(t testing.TB, opts sts.Options, extra ...Option) (*sts.Authority, *Client, *countingTransport) {
	t.Helper()
	a := startAuthority(t, opts)
	seed := a.Seed()
	ct := newCounting(a)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
		append([]Option{WithTransport(ct)}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return a, c, ct
}

// registerCert makes a certificate and registers it on the app.
func registerCert(t testing.TB, a *sts.Authority, tenant, clientID string) *proof.Certificate {
	t.Helper()
	c, err := proof.NewSelfSigned("CN=appcred-test", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddCertificate(tenant, clientID, c.CertPEM()); err != nil {
		t.Fatal(err)
	}
	return c
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// logBuffer is a concurrency-safe buffer for a debug-level slog logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// memStore is an in-memory cache.Store, a stand-in for a store shared by
// several clients (processes or replicas).
type memStore struct {
	mu sync.Mutex
	m  map[string]cache.Token
}

func newMemStore() *memStore { return &memStore{m: map[string]cache.Token{}} }

func (s *memStore) Get(_ context.Context, key string) (*cache.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[key]; ok {
		return &t, nil
	}
	return nil, nil
}

func (s *memStore) Put(_ context.Context, key string, t *cache.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = *t
	return nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
