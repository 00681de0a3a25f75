package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/cache/storetest"
)

// BenchmarkMissFromRedis is the store's part of a cache miss Redis answers:
// one GET over loopback and the decode.
func BenchmarkMissFromRedis(b *testing.B) {
	srv := startRedis(b)
	s := newStore(b, srv, redisstore.Options{Prefix: "bench:", Timeout: time.Second})
	const n = 1000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = storetest.Keys()[0] + strconv.Itoa(i)
		if err := s.Put(context.Background(), keys[i], storetest.NewToken(1500, time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if tok, err := s.Get(context.Background(), keys[i%n]); tok == nil || err != nil {
			b.Fatalf("Get: %v, %v", tok, err)
		}
	}
}
