package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache/filestore"
)

// requests is how many requests c's authority has answered in all.
func (c *counted) requests() int64 { return c.posts.Load() + c.gets.Load() }

// makeDue marks every token in the cache file as due for refresh.
func makeDue(t testing.TB, file string) {
	t.Helper()
	s, err := filestore.Open(file, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := s.Keys(ctx)
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys in the cache file: %q, %v", keys, err)
	}
	for _, k := range keys {
		tok, err := s.Get(ctx, k)
		if err != nil || tok == nil {
			t.Fatalf("cached token: %v, %v", tok, err)
		}
		due := *tok
		due.RefreshOn = time.Now().Add(-time.Second)
		if err := s.Put(ctx, k, &due); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTokenDiscoveryCache: with a cache file, discovery results are kept in
// discovery.json beside it (0600), so a run whose token was removed or is
// due for refresh makes exactly one request (the token POST) and a warm run
// none; a warm run does not even read the discovery file; a damaged one is
// ignored with a warning and rewritten; "cache list" shows it and "cache
// purge" removes it.
func TestTokenDiscoveryCache(t *testing.T) {
	c := countedAuthority(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.json")
	disco := filepath.Join(dir, authority.DiscoveryFileName)
	args := []string{"--cache", file}
	c.tokenRun(t, c.env(), 1, args...)
	cold := c.requests()
	if c.gets.Load() == 0 {
		t.Fatal("the cold run made no discovery request: the counter does not see them")
	}
	fi, err := os.Stat(disco)
	if err != nil {
		t.Fatalf("no discovery file beside the token cache: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("discovery file mode %v, want 0600", fi.Mode().Perm())
	}
	c.tokenRun(t, c.env(), 1, args...)
	if n := c.requests() - cold; n != 0 {
		t.Fatalf("a warm run made %d requests, want 0", n)
	}

	s := c.a.Seed()
	mustRun(t, nil, "", "cache", "purge", "--cache", file, "--client-id", s.ClientID) // tokens only
	c.tokenRun(t, c.env(), 2, args...)
	if n := c.requests() - cold; n != 1 {
		t.Fatalf("after removing the tokens: %d requests, want exactly 1 (the token POST)", n)
	}
	makeDue(t, file)
	c.tokenRun(t, c.env(), 3, args...)
	if n := c.requests() - cold; n != 2 {
		t.Fatalf("with a token due for refresh: %d more requests, want exactly 1 (the token POST)", n-1)
	}

	// A warm run does not read the discovery file: a damaged one goes unnoticed.
	garbage := []byte("{not json")
	if err := os.WriteFile(disco, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	warm := mustRun(t, c.env(), "", c.tokenArgs(args...)...)
	if strings.Contains(warm.stderr, "discovery") || c.requests()-cold != 2 {
		t.Fatalf("a warm run read the discovery file or asked the authority:\n%s", warm)
	}
	if data, _ := os.ReadFile(disco); !bytes.Equal(data, garbage) {
		t.Fatal("a warm run rewrote the discovery file")
	}
	makeDue(t, file)
	before := c.gets.Load()
	r := mustRun(t, c.env(), "", c.tokenArgs(args...)...)
	if n := strings.Count(r.stderr, "ignoring the discovery cache file"); n != 1 || c.gets.Load() == before {
		t.Fatalf("a damaged discovery file: %d warnings (want 1), %d discovery requests (want some)\n%s",
			n, c.gets.Load()-before, r)
	}
	makeDue(t, file)
	before = c.requests()
	c.tokenRun(t, c.env(), 5, args...)
	if n := c.requests() - before; n != 1 {
		t.Fatalf("after the damaged file was rewritten: %d requests, want 1", n)
	}

	list := mustRun(t, nil, "", "cache", "list", "--cache", file)
	if !strings.Contains(list.stdout, disco) || !strings.Contains(list.stdout, c.a.URL()+"/"+strings.ToLower(s.TenantID)) {
		t.Errorf("cache list does not show the discovery file and its URLs:\n%s", list)
	}
	purge := mustRun(t, nil, "", "cache", "purge", "--cache", file)
	if !strings.Contains(purge.stdout, "discovery document(s) from "+disco) {
		t.Errorf("cache purge did not report the discovery file:\n%s", purge)
	}
	if _, err := os.Stat(disco); !os.IsNotExist(err) {
		t.Errorf("cache purge left the discovery file: %v", err)
	}
}

// TestTokenDiscoveryCacheDefaultAndNoCache: the default cache directory gets
// discovery.json too; --no-cache neither reads nor writes it.
func TestTokenDiscoveryCacheDefaultAndNoCache(t *testing.T) {
	c := countedAuthority(t)
	xdg := t.TempDir()
	env := c.env("XDG_CACHE_HOME=" + xdg)
	disco := filepath.Join(xdg, "appcred", authority.DiscoveryFileName)
	c.tokenRun(t, env, 1, "--no-cache")
	if _, err := os.Stat(disco); !os.IsNotExist(err) {
		t.Fatalf("--no-cache wrote the discovery file: %v", err)
	}
	gets := c.gets.Load()
	c.tokenRun(t, env, 2)
	if c.gets.Load() == gets {
		t.Fatal("the first cached run made no discovery request")
	}
	if _, err := os.Stat(disco); err != nil {
		t.Fatalf("no discovery file in the default cache directory: %v", err)
	}
	gets = c.gets.Load()
	c.tokenRun(t, env, 3, "--no-cache")
	if c.gets.Load() == gets {
		t.Error("--no-cache used the discovery file")
	}
}

// BenchmarkTokenNewToken is one "appcred token" process that must request a
// token: with its cached token due for refresh (the discovery file answers
// discovery: one request) and with --no-cache (discovery and the token
// request), against the shared local authority.
func BenchmarkTokenNewToken(b *testing.B) {
	file := filepath.Join(b.TempDir(), "tokens.json")
	args := []string{"token", "--scope", seed.Scope, "--secret-env", "SEED_SECRET", "-o", "raw", "--tenant", seed.TenantID,
		"--client-id", seed.ClientID, "--authority-host", auth.URL(), "--ca-file", auth.CAFile()}
	env := append(os.Environ(), "SEED_SECRET="+seed.ClientSecret, "XDG_CACHE_HOME="+b.TempDir(), envCache+"=")
	run := func(b *testing.B, args ...string) {
		cmd := exec.Command(binPath, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("appcred %v: %v\n%s", args, err, out)
		}
	}
	run(b, append(args, "--cache", file)...) // fills the token and discovery files
	b.Run("due-discovery-file", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			makeDue(b, file)
			b.StartTimer()
			run(b, append(args, "--cache", file)...)
		}
	})
	b.Run("no-cache", func(b *testing.B) {
		for range b.N {
			run(b, append(args, "--no-cache")...)
		}
	})
}
