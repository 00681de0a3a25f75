package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is an injectable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tokenAt returns a token issued at issued that lives for life and should be
// refreshed after refreshAfter.
func tokenAt(secret string, issued time.Time, life, refreshAfter time.Duration) *Token {
	return &Token{AccessToken: secret, TokenType: "Bearer",
		ExpiresOn: issued.Add(life), RefreshOn: issued.Add(refreshAfter)}
}

// memStore is an in-memory Store that reports writes on puts.
type memStore struct {
	mu     sync.Mutex
	m      map[string]Token
	getErr error
	puts   chan string
}

func newMemStore() *memStore {
	return &memStore{m: map[string]Token{}, puts: make(chan string, 100)}
}

func (s *memStore) Get(_ context.Context, key string) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	t, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return &t, nil
}

func (s *memStore) Put(_ context.Context, key string, t *Token) error {
	s.mu.Lock()
	s.m[key] = *t
	s.mu.Unlock()
	s.puts <- key
	return nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok {
		return errors.New("memstore: no such key")
	}
	delete(s.m, key)
	return nil
}

func (s *memStore) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}

// logSink is a slog.Handler that sends every record's text to a channel.
type logSink struct{ ch chan string }

func newLogSink() *logSink { return &logSink{ch: make(chan string, 100)} }

func (h *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSink) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logSink) WithGroup(string) slog.Handler            { return h }
func (h *logSink) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += fmt.Sprintf(" %s=%v", a.Key, a.Value); return true })
	h.ch <- s
	return nil
}

// counter is a FetchFunc that counts calls, reports each start on started
// (when set) and returns what next returns.
type counter struct {
	mu      sync.Mutex
	n       int
	started chan struct{}
	next    func(ctx context.Context, n int) (*Token, error)
}

func (f *counter) fetch(ctx context.Context) (*Token, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	return f.next(ctx, n)
}

func (f *counter) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func key(scope string) []byte {
	return AppendKey(nil, KeyParts{ClientID: "client", Host: "login.example", Tenant: "tenant", Scopes: []string{scope}})
}

func mustLookup(t *testing.T, c *Cache, k []byte) *Token {
	t.Helper()
	tok, ok := c.Lookup(k)
	if !ok {
		t.Fatalf("Lookup(%s) missed", k)
	}
	return tok
}
