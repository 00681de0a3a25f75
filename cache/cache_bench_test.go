package cache

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchParts returns n realistic, distinct key parts: Entra host, GUID
// tenant and client, one api://GUID/.default scope each.
func benchParts(n int) []KeyParts {
	ps := make([]KeyParts, n)
	for i := range ps {
		ps[i] = KeyParts{
			ClientID: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
			Host:     "login.microsoftonline.com",
			Tenant:   "72f988bf-86f1-41af-91ab-2d7cd011db47",
			Scopes:   []string{fmt.Sprintf("api://%08x-1c4b-4f3a-9d2e-0a1b2c3d4e5f/.default", i)},
		}
	}
	return ps
}

// accessToken is one 1.2 KB token text shared by every benchmark token, so
// per-entry memory excludes the access token's bytes.
var accessToken = "eyJ" + strings.Repeat("x", 1200)

func benchToken(context.Context) (*Token, error) {
	now := time.Now()
	return &Token{AccessToken: accessToken, TokenType: "Bearer", ExpiresOn: now.Add(time.Hour),
		RefreshOn: now.Add(50 * time.Minute)}, nil
}

func filled(b *testing.B, n int) (*Cache, []KeyParts) {
	c := New(Options{})
	b.Cleanup(func() { c.Close() })
	ps := benchParts(n)
	for _, p := range ps {
		if _, err := c.Fetch(context.Background(), string(AppendKey(nil, p)), benchToken); err != nil {
			b.Fatal(err)
		}
	}
	return c, ps
}

// BenchmarkLookup is the hit path as a caller runs it: build the key with
// AppendKey into a stack buffer, then Lookup. The cache holds n tokens; the
// lookups go round 64 of them spread over the whole cache (a service's
// working set), so the figure shows the cost per hit, not DRAM latency
// (BenchmarkLookupColdMemory measures that).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c, ps := filled(b, n)
			hot := workingSet(ps, 64)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var buf [256]byte
				if _, ok := c.Lookup(AppendKey(buf[:0], hot[i&63])); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// BenchmarkLookupWithPrefix is BenchmarkLookup for a caller that made its
// client's Prefix once and appends only kind, extra and scopes per call.
func BenchmarkLookupWithPrefix(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c, ps := filled(b, n)
			hot := workingSet(ps, 64)
			p := MakePrefix(hot[0].ClientID, hot[0].Host, hot[0].Tenant)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var buf [256]byte
				k := &hot[i&63]
				if _, ok := c.Lookup(p.AppendKey(buf[:0], k.Kind, k.Extra, k.Scopes)); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// workingSet picks k of ps, evenly spaced (repeating when len(ps) < k).
func workingSet(ps []KeyParts, k int) []KeyParts {
	ws := make([]KeyParts, k)
	for i := range ws {
		ws[i] = ps[i*len(ps)/k]
	}
	return ws
}

// BenchmarkLookupColdMemory cycles through every one of 100k cached tokens,
// so nearly every hit misses the CPU caches (key parts, map, entry).
func BenchmarkLookupColdMemory(b *testing.B) {
	c, ps := filled(b, 100_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var buf [256]byte
		if _, ok := c.Lookup(AppendKey(buf[:0], ps[i])); !ok {
			b.Fatal("miss")
		}
		if i++; i == len(ps) {
			i = 0
		}
	}
}

// BenchmarkLookupPrebuiltKey is Lookup alone, with the keys built beforehand.
func BenchmarkLookupPrebuiltKey(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c, ps := filled(b, n)
			var keys [64][]byte
			for i, p := range workingSet(ps, 64) {
				keys[i] = AppendKey(nil, p)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := c.Lookup(keys[i&63]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// BenchmarkLookupParallel runs hits on every core (GOMAXPROCS goroutines):
// all on one hot key, and spread over 1,000 keys.
func BenchmarkLookupParallel(b *testing.B) {
	for _, n := range []int{1, 1_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			c, ps := filled(b, n)
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919)) % len(ps)
				for pb.Next() {
					var buf [256]byte
					if _, ok := c.Lookup(AppendKey(buf[:0], ps[i])); !ok {
						b.Error("miss")
						return
					}
					if i++; i == len(ps) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkAppendKey is the key builder alone (one scope).
func BenchmarkAppendKey(b *testing.B) {
	p := benchParts(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		var buf [256]byte
		AppendKey(buf[:0], p)
	}
}

// BenchmarkFetchMiss is the miss path's own cost (flight, insert) with a
// FetchFunc that returns at once: a new key every time, in a cache that
// holds up to 4,096 tokens.
func BenchmarkFetchMiss(b *testing.B) {
	c := New(Options{})
	defer c.Close()
	keys := make([]string, 4096)
	for i, p := range benchParts(len(keys)) {
		keys[i] = string(AppendKey(nil, p))
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(keys) {
			b.StopTimer()
			c.Clear(ctx)
			i = 0
			b.StartTimer()
		}
		if _, err := c.Fetch(ctx, keys[i], benchToken); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryPerEntry reports the heap held per cached token beyond the
// access token's bytes (all tokens share one access-token string, so it
// counts nothing): key string, entry, map slot. 100k tokens are fetched
// through the normal miss path with keys built by AppendKey.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 100_000
	ps := benchParts(n)
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(Options{})
		var buf [256]byte
		for _, p := range ps {
			if _, err := c.Fetch(context.Background(), string(AppendKey(buf[:0], p)), benchToken); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if c.Len() != n {
			b.Fatalf("Len = %d", c.Len())
		}
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
		c.Close()
	}
	b.ReportMetric(perEntry, "B/entry")
}

// BenchmarkWrite replaces tokens in a cache of n entries (Put: no flight),
// the cost a miss or refresh adds to the network call: one shard's map is
// cloned.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c, ps := filled(b, n)
			keys := make([]string, len(ps))
			for i, p := range ps {
				keys[i] = string(AppendKey(nil, p))
			}
			ctx := context.Background()
			tok, _ := benchToken(ctx)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Put(ctx, keys[i], tok, benchToken); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}
