//go:build unix

package redisstore_test

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/cache/storetest"
)

// pause freezes the server (SIGSTOP), so it accepts but never answers, and
// returns the function that resumes it.
func (s *server) pause() (resume func()) {
	_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	return func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }
}

// TestSlowRedis: a Redis that accepts but never answers (SIGSTOP) costs a
// caller at most the call bound, once per RetryAfter, with one warning.
func TestSlowRedis(t *testing.T) {
	srv := startRedis(t)
	var logs syncBuffer
	o := redisstore.Options{Prefix: "slow:", Timeout: 100 * time.Millisecond, RetryAfter: time.Minute,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s := newStore(t, srv, o)
	key := storetest.Keys()[0]
	if err := s.Put(context.Background(), key, storetest.NewToken(32, time.Hour)); err != nil {
		t.Fatal(err)
	}
	resume := srv.pause()
	defer resume()
	for i := range 10 {
		start := time.Now()
		if tok, err := s.Get(context.Background(), key); tok != nil || err != nil {
			t.Fatalf("Get with Redis frozen = %v, %v; want a miss", tok, err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("Get %d with Redis frozen took %v, want ≤ 250 ms", i, d)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}
