package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/internal/seal"
	"github.com/appcred/appcred/sts"
)

// counted is a local authority of its own whose handler counts the token
// requests (POSTs) and the other requests (discovery GETs) it answers.
type counted struct {
	a           *sts.Authority
	posts, gets atomic.Int64
}

// idleListener has the address of the real listener but never accepts: the
// authority's Serve on it registers that address (its URL and the Host it
// answers to) while another server, counting, serves the real one.
type idleListener struct {
	addr      net.Addr
	accepting chan struct{}
	once      sync.Once
	done      chan struct{}
}

func (l *idleListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.accepting) })
	<-l.done
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *idleListener) Addr() net.Addr { return l.addr }

// countedAuthority starts a local authority over TLS on 127.0.0.1 whose
// requests are counted.
func countedAuthority(t testing.TB) *counted {
	t.Helper()
	a, err := sts.Open(sts.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idle := &idleListener{addr: ln.Addr(), accepting: make(chan struct{}), done: make(chan struct{})}
	go func() { _ = a.Serve(idle) }()
	select {
	case <-idle.accepting:
	case <-time.After(10 * time.Second):
		t.Fatal("the authority did not start serving")
	}
	c := &counted{a: a}
	h := a.Handler()
	srv := &http.Server{TLSConfig: a.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				c.posts.Add(1)
			} else {
				c.gets.Add(1)
			}
			h.ServeHTTP(w, r)
		})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close(); _ = a.Close() })
	return c
}

// tokenArgs are "appcred token" arguments for c's seed app, secret from $SEED_SECRET.
func (c *counted) tokenArgs(extra ...string) []string {
	s := c.a.Seed()
	return append([]string{"token", "--tenant", s.TenantID, "--client-id", s.ClientID, "--secret-env", "SEED_SECRET",
		"--authority-host", c.a.URL(), "--ca-file", c.a.CAFile(), "--scope", s.Scope, "-o", "raw"}, extra...)
}

func (c *counted) env(extra ...string) []string {
	return append([]string{"SEED_SECRET=" + c.a.Seed().ClientSecret}, extra...)
}

// tokenRun runs "appcred token" and checks how many token requests the
// authority has answered in all after it.
func (c *counted) tokenRun(t *testing.T, env []string, wantPosts int64, extra ...string) string {
	t.Helper()
	r := mustRun(t, env, "", c.tokenArgs(extra...)...)
	if got := c.posts.Load(); got != wantPosts {
		t.Fatalf("after appcred token %v: %d token requests in all, want %d", extra, got, wantPosts)
	}
	return strings.TrimSpace(r.stdout)
}

// TestTokenCachesByDefault: a second "appcred token" with the same
// arguments makes no request at all (neither token nor discovery), through the default cache file
// ($XDG_CACHE_HOME/appcred/token-cache.json, 0600 in a 0700 directory);
// --no-cache asks again, and a purge makes the next run ask again.
func TestTokenCachesByDefault(t *testing.T) {
	c := countedAuthority(t)
	xdg := t.TempDir()
	env := c.env("XDG_CACHE_HOME=" + xdg)
	first := c.tokenRun(t, env, 1)
	secretsInPlay = append(secretsInPlay, first)
	gets := c.gets.Load()
	if gets == 0 {
		t.Fatal("the cold run made no discovery request: the counter does not see them")
	}
	if second := c.tokenRun(t, env, 1); second != first {
		t.Error("the second run printed another token than the cached one")
	}
	if n := c.gets.Load() - gets; n != 0 {
		t.Errorf("the warm run made %d discovery requests, want none (no request at all)", n)
	}
	file := filepath.Join(xdg, "appcred", "token-cache.json")
	for path, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	if fresh := c.tokenRun(t, env, 2, "--no-cache"); fresh == first {
		t.Error("--no-cache printed the cached token")
	}

	entries := listJSON(t, env)
	s := c.a.Seed()
	if len(entries) != 1 {
		t.Fatalf("cache list: %d entries, want 1: %+v", len(entries), entries)
	}
	e := entries[0]
	host := strings.TrimPrefix(c.a.URL(), "https://")
	if e.ClientID != strings.ToLower(s.ClientID) || e.Tenant != strings.ToLower(s.TenantID) || e.Authority != host ||
		len(e.Scopes) != 1 || e.Scopes[0] != strings.ToLower(s.Scope) || e.Kind != "app" || e.Source != file {
		t.Errorf("cache list entry = %+v, want client %s, host %s, tenant %s, scope %s, kind app, source %s",
			e, s.ClientID, host, s.TenantID, s.Scope, file)
	}
	if left := time.Until(e.ExpiresOn); left < 50*time.Minute || left > time.Hour {
		t.Errorf("cache list: expires in %s, want about an hour", left)
	}
	text := mustRun(t, env, "", "cache", "list")
	if !strings.Contains(text.stdout, strings.ToLower(s.ClientID)) || !strings.Contains(text.stdout, file) {
		t.Errorf("cache list does not show the client id and the file:\n%s", text)
	}
	noSecrets(t, text)

	if r := mustRun(t, env, "", "cache", "purge", "--client-id", "someone-else"); !strings.Contains(r.stdout, "removed 0 ") {
		t.Errorf("purge of another client: %s", r)
	}
	c.tokenRun(t, env, 2)
	if r := mustRun(t, env, "", "cache", "purge", "--client-id", strings.ToUpper(s.ClientID)); !strings.Contains(r.stdout, "removed 1 ") {
		t.Errorf("purge of the client: %s", r)
	}
	c.tokenRun(t, env, 3)
	if r := mustRun(t, env, "", "cache", "purge"); !strings.Contains(r.stdout, "removed 1 ") {
		t.Errorf("purge of everything: %s", r)
	}
	if got := listJSON(t, env); len(got) != 0 {
		t.Errorf("cache list after purge: %+v", got)
	}
}

// listJSON runs "appcred cache list -o json" and decodes it, checking that
// no token value is in it.
func listJSON(t *testing.T, env []string, args ...string) []cacheEntry {
	t.Helper()
	r := mustRun(t, env, "", append([]string{"cache", "list", "-o", "json"}, args...)...)
	noSecrets(t, r)
	var entries []cacheEntry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("cache list -o json: %v\n%s", err, r)
	}
	return entries
}

// TestTokenCacheDueForRefresh: a cached token past its RefreshOn is not
// printed; the CLI asks for a new one (it cannot refresh in the background).
func TestTokenCacheDueForRefresh(t *testing.T) {
	c := countedAuthority(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	first := c.tokenRun(t, c.env(), 1, "--cache", file)
	s, err := filestore.Open(file, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := s.Keys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys in the cache file: %q, %v", keys, err)
	}
	tok, err := s.Get(ctx, keys[0])
	if err != nil || tok == nil {
		t.Fatalf("cached token: %v, %v", tok, err)
	}
	due := *tok
	due.RefreshOn = time.Now().Add(-time.Second)
	if err := s.Put(ctx, keys[0], &due); err != nil {
		t.Fatal(err)
	}
	if next := c.tokenRun(t, c.env(), 2, "--cache", file); next == first {
		t.Error("a token due for refresh was printed again")
	}
	c.tokenRun(t, c.env(), 2, "--cache", file) // the new one is cached
}

// TestTokenCacheEncrypted: with --cache-key-env the file is sealed, serves
// the next run, and is refused without the key or with another one.
func TestTokenCacheEncrypted(t *testing.T) {
	c := countedAuthority(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	env := c.env("CACHE_KEY="+seal.NewKey(), "OTHER_KEY="+seal.NewKey(), "NOT_A_KEY=hunter2")
	secretsInPlay = append(secretsInPlay, "hunter2")
	tok := c.tokenRun(t, env, 1, "--cache", file, "--cache-key-env", "CACHE_KEY")
	c.tokenRun(t, env, 1, "--cache", file, "--cache-key-env", "CACHE_KEY")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealed(data) || strings.Contains(string(data), tok) || strings.Contains(string(data), "AccessToken") {
		t.Error("the cache file is not sealed")
	}
	if got := listJSON(t, env, "--cache", file, "--cache-key-env", "CACHE_KEY"); len(got) != 1 {
		t.Errorf("cache list of the sealed file: %+v", got)
	}
	mustFail(t, env, c.tokenArgs("--cache", file), file, "key")
	mustFail(t, env, c.tokenArgs("--cache", file, "--cache-key-env", "OTHER_KEY"), file, "key")
	mustFail(t, env, []string{"cache", "list", "--cache", file}, file, "key")
	mustFail(t, env, c.tokenArgs("--cache", file, "--cache-key-env", "NOT_A_KEY"), "--cache-key-env NOT_A_KEY")
	if c.posts.Load() != 1 {
		t.Errorf("refused caches made token requests: %d in all, want 1", c.posts.Load())
	}
}

// TestCacheFlagErrors: conflicting or bad cache flags fail naming the
// input, without echoing a password.
func TestCacheFlagErrors(t *testing.T) {
	secretsInPlay = append(secretsInPlay, "s3cr3tpw")
	base := []string{"token", "--scope", "api://x", "--tenant", "t", "--client-id", "c", "--secret-env", "S"}
	env := []string{"S=x"}
	mustFail(t, env, append(base, "--no-cache", "--cache", "f.json"), "no-cache", "cache")
	mustFail(t, env, append(base, "--cache-key-env", "not a name"), "--cache-key-env")
	mustFail(t, env, append(base, "--cache", "redis://:s3cr3tpw@127.0.0.1:notaport/0"), "--cache", "Redis URL")
	mustFail(t, env, append(base, "--cache", "redis://:s3cr3tpw@127.0.0.1:6379/notadb"), "--cache", "redis://:xxxxx@")
	mustFail(t, append(env, envCache+"=redis://:s3cr3tpw@127.0.0.1:6379/notadb"), base, envCache)
	mustFail(t, nil, []string{"cache", "list", "-o", "yaml"}, "--output")
}

// BenchmarkTokenWarm is one whole "appcred token" process served from the
// default cache file (a warm run: no request), what a script pays per call:
// with --ca-file (which loads the system roots too), without it (as against
// Entra: the cached token needs no TLS), and "appcred version" for the cost of
// starting a process at all.
func BenchmarkTokenWarm(b *testing.B) {
	base := []string{"token", "--scope", seed.Scope, "--secret-env", "SEED_SECRET", "-o", "raw",
		"--tenant", seed.TenantID, "--client-id", seed.ClientID, "--authority-host", auth.URL()}
	env := append(os.Environ(), "SEED_SECRET="+seed.ClientSecret, "XDG_CACHE_HOME="+b.TempDir(), envCache+"=")
	run := func(b *testing.B, args ...string) {
		cmd := exec.Command(binPath, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("appcred %v: %v\n%s", args, err, out)
		}
	}
	withCA := append(slices.Clip(base), "--ca-file", auth.CAFile())
	run(b, withCA...) // fills the cache
	for name, args := range map[string][]string{"ca-file": withCA, "no-ca-file": base, "version-only": {"version"}} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				run(b, args...)
			}
		})
	}
}
