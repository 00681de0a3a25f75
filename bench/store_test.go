package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	msalcache "github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/redisstore"
)

// storeSizes are the token counts of the persistent-cache benchmarks.
var storeSizes = []struct {
	label string
	n     int
}{{"1k", 1_000}, {"10k", 10_000}}

// writeMSALFile writes a cache file in MSAL's schema holding the canned
// token of each of n fill scopes for the seeded app, environment host:port
// as MSAL Go writes it, all at once (n Puts would rewrite it n times).
func writeMSALFile(tb testing.TB, e *env, n int) string {
	tb.Helper()
	u, err := url.Parse(e.a.URL())
	if err != nil {
		tb.Fatal(err)
	}
	exp := strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	ats := make(map[string]map[string]any, n)
	for i, s := range fillScopes(n) {
		ats["127.0.0.1-accesstoken-"+strconv.Itoa(i)] = map[string]any{
			"credential_type": "AccessToken", "secret": cannedToken(s[0]), "home_account_id": "",
			"environment": u.Host, "client_id": e.seed.ClientID, "realm": e.seed.TenantID,
			"target": s[0], "token_type": "Bearer", "cached_at": "1", "expires_on": exp, "extended_expires_on": exp}
	}
	data, err := json.Marshal(map[string]any{"AccessToken": ats})
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "msal.cache.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// fileAccessor is MSAL Go's cache.ExportReplace over one file, as its
// persistence extension does it: Replace reads and decodes the file before
// every token call, Export writes it after every token request.
type fileAccessor struct{ path string }

func (a fileAccessor) Replace(_ context.Context, u msalcache.Unmarshaler, _ msalcache.ReplaceHints) error {
	data, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.Unmarshal(data)
}

func (a fileAccessor) Export(_ context.Context, m msalcache.Marshaler, _ msalcache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(a.path, data, 0o600)
}

// persistentClient makes a client of lib ("appcred" with the file store,
// "msalgo" with WithCache) over the cache file at path, behind a filler
// that counts any token request.
func persistentClient(b *testing.B, e *env, lib, path string) (*client, *filler) {
	f := &filler{}
	hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper { f.base = rt; return f })
	if lib == "appcred" {
		s, err := filestore.Open(path, filestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := appcred.New(e.a.TenantURL(e.seed.TenantID), e.seed.ClientID, appcred.FromSecret(e.seed.ClientSecret),
			appcred.WithHTTPClient(hc), appcred.WithCacheStore(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return &client{get: func(ctx context.Context, scopes []string) (string, error) {
			t, err := c.AcquireTokenForClient(ctx, scopes)
			return t.AccessToken, err
		}}, f
	}
	cred, err := confidential.NewCredFromSecret(e.seed.ClientSecret)
	if err != nil {
		b.Fatal(err)
	}
	c, err := confidential.New(e.a.TenantURL(e.seed.TenantID), e.seed.ClientID, cred, confidential.WithHTTPClient(hc),
		confidential.WithInstanceDiscovery(false), confidential.WithCache(fileAccessor{path}))
	if err != nil {
		b.Fatal(err)
	}
	return &client{get: func(ctx context.Context, scopes []string) (string, error) {
		r, err := c.AcquireTokenByCredential(ctx, scopes)
		return r.AccessToken, err
	}}, f
}

// BenchmarkPersistentHit is a token call that finds its token (the middle
// one of 1k or 10k) with the tokens persisted in a cache file: appcred with
// its file store and MSAL Go with WithCache over the same file, beside the
// in-memory hit of each (memory: no persistence). appcred answers from
// memory once the file gave it the token; MSAL Go decodes the file first on
// every call.
func BenchmarkPersistentHit(b *testing.B) {
	e := getEnv(b)
	for _, size := range storeSizes {
		path := writeMSALFile(b, e, size.n)
		scope := fillScopes(size.n)[size.n/2]
		for _, lib := range libraries[:2] {
			b.Run("size="+size.label+"/"+lib.name+"/memory", func(b *testing.B) {
				fc := filled(b, lib, e, size.n)
				measureHits(b, fc.c, fc.f, int64(size.n), fc.scopes[size.n/2])
			})
			b.Run("size="+size.label+"/"+lib.name+"/file", func(b *testing.B) {
				c, f := persistentClient(b, e, lib.name, path)
				measureHits(b, c, f, 0, scope)
			})
		}
	}
}

// measureHits times c.get(scope), which must return the scope's canned
// token, and fails b if f saw more than filled token requests.
func measureHits(b *testing.B, c *client, f *filler, filled int64, scope []string) {
	ctx := context.Background()
	want := cannedToken(scope[0])
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.get(ctx, scope)
		if err != nil || tok != want {
			b.Fatalf("get: %v (right token %t)", err, tok == want)
		}
	}
	if got := f.tokens.Load(); got != filled {
		b.Fatalf("%d token requests while measuring hits: not a cache hit", got-filled)
	}
}

// BenchmarkStoreMiss is an appcred cache miss the store answers (the token
// is not in memory but in the store): cache.Fetch consulting the file store
// (1k, 10k tokens in the file) or Redis (on loopback), never the fetch.
func BenchmarkStoreMiss(b *testing.B) {
	e := getEnv(b)
	for _, size := range storeSizes {
		b.Run("size="+size.label+"/file", func(b *testing.B) {
			s, err := filestore.Open(writeMSALFile(b, e, size.n), filestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			u, _ := url.Parse(e.a.URL())
			measureStoreMisses(b, s, storeKeys(e, u.Host, size.n))
		})
	}
	b.Run("size=1k/redis", func(b *testing.B) {
		s, err := redisstore.New(startRedis(b), redisstore.Options{Prefix: "bench:", Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		keys := storeKeys(e, "login.microsoftonline.com", 1_000)
		for i, k := range keys {
			if err := s.Put(context.Background(), k, &cache.Token{AccessToken: cannedToken(strconv.Itoa(i)),
				ExpiresOn: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		measureStoreMisses(b, s, keys)
	})
}

// storeKeys returns the cache keys of the seeded app's first n fill scopes
// at host.
func storeKeys(e *env, host string, n int) []string {
	p := cache.MakePrefix(e.seed.ClientID, host, e.seed.TenantID)
	keys := make([]string, n)
	for i, s := range fillScopes(n) {
		keys[i] = string(p.AppendKey(nil, cache.KindApp, "", s))
	}
	return keys
}

// measureStoreMisses times cache.Fetch of each key in turn on a cache
// backed by s, starting a new cache (outside the timer) when every key has
// been fetched, so every op misses memory and is answered by s.
func measureStoreMisses(b *testing.B, s cache.Store, keys []string) {
	ctx := context.Background()
	fetch := func(context.Context) (*cache.Token, error) { return nil, errors.New("fetch called: the store missed") }
	var c *cache.Cache
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(keys) == 0 {
			b.StopTimer()
			if c != nil {
				_ = c.Close()
			}
			c = cache.New(cache.Options{Store: s})
			b.StartTimer()
		}
		if _, err := c.Fetch(ctx, keys[i%len(keys)], fetch); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.Close()
}

// startRedis starts Debian's redis-server on a free loopback port, without
// persistence, and returns a client of it; without the binary the benchmark
// skips (fails under CI=true).
func startRedis(b *testing.B) redis.UniversalClient {
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("CI=true: %s not installed (apt-get install redis-server)", bin)
		}
		b.Skipf("%s not installed (apt-get install redis-server)", bin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", b.TempDir())
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:" + port}})
	b.Cleanup(func() { _ = c.Close() })
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not answer PING in 10 s")
		}
	}
	return c
}
