package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred/internal/seal"
)

// startRedis runs Debian's redis-server on a free loopback port without
// persistence, killed with the test, and returns its address. Without the
// binary the test skips, or fails under CI=true.
func startRedis(t *testing.T) (addr string, stop func()) {
	t.Helper()
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %s not installed (apt-get install redis-server)", bin)
		}
		t.Skipf("%s not installed (apt-get install redis-server)", bin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	addr = "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
	}
	return addr, stop
}

// TestTokenCacheRedis: --cache redis://… (or $APPCRED_CACHE) serves the
// second run with no token request, encrypts values with --cache-key-env,
// lists and purges; with Redis down, "appcred token" still gets a token.
func TestTokenCacheRedis(t *testing.T) {
	c := countedAuthority(t)
	addr, stop := startRedis(t)
	url := "redis://" + addr + "/0"
	env := c.env("CACHE_KEY=" + seal.NewKey())
	first := c.tokenRun(t, env, 1, "--cache", url, "--cache-key-env", "CACHE_KEY")
	secretsInPlay = append(secretsInPlay, first)
	if again := c.tokenRun(t, append(env, envCache+"="+url), 1, "--cache-key-env", "CACHE_KEY"); again != first {
		t.Error("the second run printed another token than the cached one")
	}

	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = rc.Close() }()
	keys, err := rc.Keys(context.Background(), "appcred:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Redis keys: %q, %v; want one token", keys, err)
	}
	val, err := rc.Get(context.Background(), keys[0]).Bytes()
	if err != nil || !seal.IsSealed(val) || strings.Contains(string(val), first) {
		t.Errorf("the Redis value is not sealed (err %v)", err)
	}

	entries := listJSON(t, env, "--cache", url, "--cache-key-env", "CACHE_KEY")
	if len(entries) != 1 || entries[0].Source != url || entries[0].ClientID != strings.ToLower(c.a.Seed().ClientID) {
		t.Fatalf("cache list: %+v, want one entry of the seed client from %s", entries, url)
	}
	if r := mustRun(t, env, "", "cache", "purge", "--cache", url); !strings.Contains(r.stdout, "removed 1 ") {
		t.Errorf("purge: %s", r)
	}
	c.tokenRun(t, env, 2, "--cache", url, "--cache-key-env", "CACHE_KEY")

	stop()
	start := time.Now()
	c.tokenRun(t, env, 3, "--cache", url, "--cache-key-env", "CACHE_KEY")
	t.Logf("appcred token with Redis down took %s", time.Since(start))
}
