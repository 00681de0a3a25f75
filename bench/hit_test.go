package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
)

// hitSizes are the cache sizes of the hit benchmarks.
var hitSizes = []struct {
	label string
	n     int
}{{"1", 1}, {"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

// sink keeps results alive so the compiler cannot drop the calls.
var sink string

// skipOverCap skips a size the library is not filled to (see the package doc).
func skipOverCap(b *testing.B, lib library, n int) {
	if n > lib.maxFill {
		b.Skipf("%s is filled up to %d tokens only: each GetToken scans the whole cache before a miss, so filling %d costs O(n²)",
			lib.name, lib.maxFill, n)
	}
}

// checkNoRequests fails b if fc's library sent a token request since the fill.
func checkNoRequests(b *testing.B, fc *filledClient) {
	if got, want := fc.f.tokens.Load(), int64(len(fc.scopes)); got != want {
		b.Fatalf("%d token requests while measuring hits: not a cache hit", got-want)
	}
}

// BenchmarkCacheHit is one token call that finds its token in a cache holding
// 1 to 100k tokens, asking for the same (middle) scope every time: the cost
// of the lookup itself, with the entry hot in the CPU caches.
func BenchmarkCacheHit(b *testing.B) {
	benchHits(b, false)
}

// BenchmarkCacheHitSpread is BenchmarkCacheHit cycling through every cached
// scope in turn, so at 10k and 100k tokens most hits touch memory that is no
// longer in the CPU caches, as a service calling many resources would.
func BenchmarkCacheHitSpread(b *testing.B) {
	benchHits(b, true)
	for _, lib := range libraries { // the largest caches are not used again
		delete(filledCache, lib.name+"/100000")
	}
	runtime.GC()
}

// benchHits runs the hit benchmark for every size and library, asking for
// the middle cached scope every time or, with spread, for each in turn.
func benchHits(b *testing.B, spread bool) {
	e := getEnv(b)
	for _, size := range hitSizes {
		for _, lib := range libraries {
			b.Run("size="+size.label+"/"+lib.name, func(b *testing.B) {
				skipOverCap(b, lib, size.n)
				fc := filled(b, lib, e, size.n)
				ctx, n, i := context.Background(), size.n, size.n/2
				if spread {
					i = 0
				}
				b.ReportAllocs()
				for b.Loop() {
					tok, err := fc.c.get(ctx, fc.scopes[i])
					if err != nil {
						b.Fatal(err)
					}
					sink = tok
					if spread {
						if i++; i == n {
							i = 0
						}
					}
				}
				checkNoRequests(b, fc)
			})
		}
	}
}

// BenchmarkParallelHit is BenchmarkCacheHit with GOMAXPROCS goroutines (2 on
// the reference machine) calling one client at once.
func BenchmarkParallelHit(b *testing.B) {
	e := getEnv(b)
	for _, size := range hitSizes[:2] {
		for _, lib := range libraries {
			b.Run("size="+size.label+"/"+lib.name, func(b *testing.B) {
				fc := filled(b, lib, e, size.n)
				n := len(fc.scopes)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					ctx, i := context.Background(), rand.IntN(n)
					for pb.Next() {
						if _, err := fc.c.get(ctx, fc.scopes[i]); err != nil {
							b.Error(err)
							return
						}
						if i++; i == n {
							i = 0
						}
					}
				})
				b.StopTimer()
				checkNoRequests(b, fc)
			})
		}
	}
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerToken fills a new client with 100k tokens (10k for
// azidentity, see the package doc) per op and reports the live heap it keeps
// per token beyond the token's own 1,152 bytes.
func BenchmarkMemoryPerToken(b *testing.B) {
	e := getEnv(b)
	for _, lib := range libraries {
		n := min(100_000, lib.maxFill)
		b.Run(lib.name, func(b *testing.B) {
			scopes := fillScopes(n)
			perToken := 0.0
			for b.Loop() {
				before := liveHeap()
				fc := fill(b, lib, e, scopes)
				after := liveHeap()
				perToken = float64(int64(after)-int64(before))/float64(n) - tokenLen
				runtime.KeepAlive(fc)
				fc.c.close()
			}
			b.ReportMetric(perToken, "B/token")
			b.ReportMetric(float64(n), "tokens")
		})
	}
}
