package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/cache/storetest"
)

// fleet is n replicas, each with its own cache.Cache and Redis connection,
// sharing one redis-server, and the token requests they make.
type fleet struct {
	caches  []*cache.Cache
	fetches atomic.Int64
}

func newFleet(t *testing.T, srv *server, n int, o redisstore.Options) *fleet {
	f := &fleet{}
	for range n {
		c := cache.New(cache.Options{Store: newStore(t, srv, o), FetchTimeout: 10 * time.Second})
		t.Cleanup(func() { _ = c.Close() })
		f.caches = append(f.caches, c)
	}
	return f
}

// herd has callers per replica ask for key at once; every caller must get a
// token within bound.
func (f *fleet) herd(t *testing.T, key string, callers int, bound time.Duration) {
	var wg sync.WaitGroup
	for _, c := range f.caches {
		for range callers {
			wg.Go(func() {
				start := time.Now()
				tok, err := c.Fetch(context.Background(), key, func(context.Context) (*cache.Token, error) {
					f.fetches.Add(1)
					time.Sleep(50 * time.Millisecond) // the authority's round trip
					return storetest.NewToken(32, time.Hour), nil
				})
				if err != nil || tok == nil {
					t.Errorf("caller got %v, %v", tok, err)
				}
				if d := time.Since(start); d > bound {
					t.Errorf("caller waited %v, want ≤ %v", d, bound)
				}
			})
		}
	}
	wg.Wait()
}

// TestFleetSharesOneRequest: 8 replicas × 100 cold callers of one key make
// one token request through the real cache; with Redis down every caller
// still gets a token in bounded time (each replica asks for itself); with
// Redis back the fleet shares again.
func TestFleetSharesOneRequest(t *testing.T) {
	srv := startRedis(t)
	// A healthy Redis gets a generous per-call bound (the machine may be
	// loaded); the outage fleet uses the default 100 ms one.
	o := redisstore.Options{Prefix: "fleet-cache:", Timeout: 2 * time.Second, RetryAfter: 300 * time.Millisecond}
	keys := storetest.Keys()

	f := newFleet(t, srv, 8, o)
	f.herd(t, keys[0], 100, 5*time.Second)
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d token requests from 8 replicas × 100 callers, want 1", n)
	}

	srv.stop()
	down := newFleet(t, srv, 8, redisstore.Options{Prefix: o.Prefix, Timeout: 100 * time.Millisecond, RetryAfter: time.Minute})
	down.herd(t, keys[1], 100, 250*time.Millisecond+100*time.Millisecond) // ≤ 250 ms added to the 50 ms fetch (+ slack)
	if n := down.fetches.Load(); n < 1 || n > 8 {
		t.Fatalf("%d token requests with Redis down, want one per replica at most", n)
	}

	srv.restart()
	time.Sleep(o.RetryAfter + 50*time.Millisecond)
	back := newFleet(t, srv, 8, o)
	back.herd(t, keys[2], 100, 5*time.Second)
	if n := back.fetches.Load(); n != 1 {
		t.Fatalf("%d token requests after Redis came back, want 1 (shared again)", n)
	}
}
