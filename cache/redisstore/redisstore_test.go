package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/cache/storetest"
	"github.com/appcred/appcred/internal/seal"
)

func newStore(t testing.TB, srv *server, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = "test:" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
	}
	s, err := redisstore.New(srv.client(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func conformance(t *testing.T, key []byte) {
	srv := startRedis(t)
	opts := map[cache.Store]redisstore.Options{}
	storetest.RunWith(t, func(t *testing.T) cache.Store {
		o := redisstore.Options{Key: key, Timeout: 2 * time.Second}
		s := newStore(t, srv, o)
		o.Prefix = "test:" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
		opts[s] = o
		return s
	}, storetest.Harness{
		Corrupt: func(t *testing.T, s cache.Store, key string) {
			prefix := opts[s].Prefix
			if err := srv.client(t).Set(context.Background(), prefix+"t:"+key, "{damaged", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		},
		Reopen: func(t *testing.T, s cache.Store) cache.Store {
			r, err := redisstore.New(srv.client(t), opts[s])
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	})
}

func TestConformance(t *testing.T) { conformance(t, nil) }

func TestConformanceEncrypted(t *testing.T) {
	key, _ := seal.ParseKey(seal.NewKey())
	conformance(t, key)
}

// TestTTL checks that a token's Redis key expires with the token.
func TestTTL(t *testing.T) {
	srv := startRedis(t)
	s := newStore(t, srv, redisstore.Options{Prefix: "ttl:", Timeout: 2 * time.Second})
	key := storetest.Keys()[0]
	if err := s.Put(context.Background(), key, storetest.NewToken(32, time.Hour)); err != nil {
		t.Fatal(err)
	}
	ttl, err := srv.client(t).PTTL(context.Background(), "ttl:t:"+key).Result()
	if err != nil || ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL = %v, %v; want about 1 h", ttl, err)
	}
}

// TestLeaseCoalesces: 8 stores (replicas) × 10 cold callers on one key
// through the Leaser protocol make exactly one fetch.
func TestLeaseCoalesces(t *testing.T) {
	srv := startRedis(t)
	key := storetest.Keys()[0]
	var fetches atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		s := newStore(t, srv, redisstore.Options{Prefix: "fleet:", Timeout: 2 * time.Second})
		for range 10 {
			wg.Go(func() {
				tok, err := leasedGet(context.Background(), s, key, func() *cache.Token {
					fetches.Add(1)
					time.Sleep(50 * time.Millisecond) // the authority's round trip
					return storetest.NewToken(32, time.Hour)
				})
				if err != nil || tok == nil {
					t.Errorf("caller got %v, %v", tok, err)
				}
			})
		}
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for one key across the fleet, want 1", n)
	}
}

// leasedGet is what the cache does on a miss with a Leaser store.
func leasedGet(ctx context.Context, s *redisstore.Store, key string, fetch func() *cache.Token) (*cache.Token, error) {
	for {
		if tok, err := s.Get(ctx, key); tok != nil || err != nil {
			return tok, err
		}
		release, held, err := s.Lease(ctx, key)
		if err != nil {
			return nil, err
		}
		if held {
			defer release()
			tok := fetch()
			return tok, s.Put(ctx, key, tok)
		}
		if tok, err := s.Wait(ctx, key); tok != nil || err != nil {
			return tok, err
		}
	}
}

// TestDeadLeaseHolder: a holder that never releases loses its lease after
// LeaseTTL; a waiter then gets (nil, nil) and can take the lease itself.
func TestDeadLeaseHolder(t *testing.T) {
	srv := startRedis(t)
	o := redisstore.Options{Prefix: "dead:", LeaseTTL: 300 * time.Millisecond, Timeout: time.Second}
	dead, live := newStore(t, srv, o), newStore(t, srv, o)
	key := storetest.Keys()[0]
	if _, held, err := dead.Lease(context.Background(), key); !held || err != nil {
		t.Fatalf("first Lease: held %v, %v", held, err)
	}
	if _, held, _ := live.Lease(context.Background(), key); held {
		t.Fatal("a second replica took a lease that is held")
	}
	start := time.Now()
	tok, err := live.Wait(context.Background(), key)
	if tok != nil || err != nil {
		t.Fatalf("Wait = %v, %v; want nil, nil after the lease ends", tok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait took %v after a dead holder; want about the 300 ms lease", d)
	}
	if _, held, err := live.Lease(context.Background(), key); !held || err != nil {
		t.Errorf("Lease after the holder's lease ended: held %v, %v", held, err)
	}
}

// TestOutage: with Redis down, calls answer as a miss within the bound and
// log one warning; Delete reports the outage; once Redis is back (after
// RetryAfter) tokens are shared again.
func TestOutage(t *testing.T) {
	srv := startRedis(t)
	var logs syncBuffer
	o := redisstore.Options{Prefix: "out:", Timeout: 100 * time.Millisecond, RetryAfter: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s := newStore(t, srv, o)
	key := storetest.Keys()[0]
	srv.stop()
	for i := range 20 {
		start := time.Now()
		if tok, err := s.Get(context.Background(), key); tok != nil || err != nil {
			t.Fatalf("Get during outage = %v, %v; want a miss", tok, err)
		}
		if err := s.Put(context.Background(), key, storetest.NewToken(32, time.Hour)); err != nil {
			t.Fatalf("Put during outage: %v", err)
		}
		if _, held, err := s.Lease(context.Background(), key); !held || err != nil {
			t.Fatalf("Lease during outage: held %v, %v; want the caller to fetch", held, err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("call %d during outage took %v, want ≤ 250 ms", i, d)
		}
	}
	if err := s.Delete(context.Background(), key); err == nil {
		t.Error("Delete during an outage reported success")
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings during the outage, want 1:\n%s", n, logs.String())
	}
	srv.restart()
	time.Sleep(o.RetryAfter + 50*time.Millisecond)
	tok := storetest.NewToken(32, time.Hour)
	if err := s.Put(context.Background(), key, tok); err != nil {
		t.Fatal(err)
	}
	other := newStore(t, srv, o)
	if got, err := other.Get(context.Background(), key); err != nil || got == nil || got.AccessToken != tok.AccessToken {
		t.Errorf("after Redis came back, another replica got %v, %v", got, err)
	}
	if !strings.Contains(logs.String(), "back") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger used from goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
