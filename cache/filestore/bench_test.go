package filestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
)

// benchKey is the key of the i-th token of a benchmark file.
func benchKey(i int) string {
	return string(cache.AppendKey(nil, cache.KeyParts{ClientID: "bench-client", Host: "login.microsoftonline.com",
		Tenant: "bench-tenant", Scopes: []string{"api://r" + strconv.Itoa(i) + "/.default"}}))
}

// writeBenchFile writes n app tokens in MSAL's schema at once, as MSAL
// would leave them (building it with n Puts would rewrite it n times).
func writeBenchFile(b *testing.B, n int) string {
	b.Helper()
	exp := strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	ats := make(map[string]map[string]any, n)
	for i := range n {
		target := "api://r" + strconv.Itoa(i) + "/.default"
		ats["-login.microsoftonline.com-accesstoken-bench-client-bench-tenant-"+target] = map[string]any{
			"credential_type": "AccessToken", "secret": fmt.Sprintf("%01500d", i), "home_account_id": nil,
			"environment": "login.microsoftonline.com", "client_id": "bench-client", "realm": "bench-tenant",
			"target": target, "token_type": "Bearer", "cached_at": "1", "expires_on": exp, "extended_expires_on": exp}
	}
	data, err := json.Marshal(map[string]any{"AccessToken": ats})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkHit compares a cache hit with the file store behind the cache
// against a cache without a store, at 1k and 10k tokens: memory answers
// both (the store is read once per key, on the first miss).
func BenchmarkHit(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		path := writeBenchFile(b, n)
		for _, backed := range []string{"memory", "file"} {
			b.Run(fmt.Sprintf("%s/%d", backed, n), func(b *testing.B) {
				o := cache.Options{}
				if backed == "file" {
					s, err := filestore.Open(path, filestore.Options{})
					if err != nil {
						b.Fatal(err)
					}
					o.Store = s
				}
				c := cache.New(o)
				fetch := func(context.Context) (*cache.Token, error) {
					return &cache.Token{AccessToken: "fetched", ExpiresOn: time.Now().Add(2 * time.Hour)}, nil
				}
				keys := make([][]byte, n)
				for i := range n {
					keys[i] = []byte(benchKey(i))
					if _, err := c.Fetch(context.Background(), string(keys[i]), fetch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, ok := c.Lookup(keys[i%n]); !ok {
						b.Fatal("miss")
					}
				}
			})
		}
	}
}

// BenchmarkMissFromFile is the store's part of a cache miss the file
// answers: a stat of the file and an index lookup.
func BenchmarkMissFromFile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, err := filestore.Open(writeBenchFile(b, n), filestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]string, n)
			for i := range keys {
				keys[i] = benchKey(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if tok, err := s.Get(context.Background(), keys[i%n]); tok == nil || err != nil {
					b.Fatalf("Get: %v, %v", tok, err)
				}
			}
		})
	}
}
