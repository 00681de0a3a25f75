package appcred_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/redisstore"
)

// Tokens that outlive the process: a file in MSAL's cache format (MSAL
// Python, MSAL Go and msal-node share it), so the next run of a CLI or cron
// job asks the authority nothing while its token lasts.
func ExampleWithCacheStore_file() {
	a, stop := localAuthority()
	defer stop()
	seed := a.Seed()
	dir, err := os.MkdirTemp("", "appcred-cache-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var first string
	for run := 1; run <= 2; run++ { // two "processes"
		store, err := filestore.Open(filepath.Join(dir, "token-cache.json"), filestore.Options{})
		if err != nil {
			log.Fatal(err)
		}
		c, err := appcred.New(a.TenantURL(seed.TenantID), seed.ClientID, appcred.FromSecret(seed.ClientSecret),
			appcred.WithCACertificates(a.CACertPEM()), appcred.WithCacheStore(store))
		if err != nil {
			log.Fatal(err)
		}
		tok, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
		if err != nil {
			log.Fatal(err)
		}
		if run == 1 {
			first = tok.AccessToken
		} else {
			fmt.Println("second run reused the first run's token:", tok.AccessToken == first)
		}
		_ = c.Close()
	}
	// Output: second run reused the first run's token: true
}

// A fleet sharing one Redis (or Valkey): one token request per key for all
// replicas, values encrypted with a key from the environment. Any
// redis.UniversalClient works (Cluster, Sentinel).
func ExampleWithCacheStore_redis() {
	key, err := base64.StdEncoding.DecodeString(os.Getenv("APPCRED_CACHE_KEY")) // 32 bytes
	if err != nil {
		log.Fatal(err)
	}
	opts, err := redis.ParseURL("rediss://cache.internal:6380/0")
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(redis.NewClient(opts), redisstore.Options{Prefix: "orders-api:", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	c, err := appcred.New("https://login.microsoftonline.com/contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001",
		appcred.FromSecret(os.Getenv("AZURE_CLIENT_SECRET")), appcred.WithCacheStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
