// Package redisstore is a [cache.Store] in Redis (or Valkey), so a fleet of
// replicas shares its tokens: one Redis key per token, expiring with the
// token, under a namespace prefix, optionally AES-256-GCM encrypted.
//
// It takes any [redis.UniversalClient], so a single server, Sentinel and
// Cluster all work. It implements [cache.Leaser]: on a miss one replica takes
// a short SET NX lease and fetches while the others wait for its token, so N
// replicas make one token request per key; a lease holder that dies loses
// the lease when it times out.
//
// Redis is an accelerator, never a dependency: every call is bounded by
// [Options].Timeout. When Redis fails or is too slow, the store logs one
// warning and answers as an empty cache (Get misses, Put is dropped, Lease
// lets the caller fetch) for [Options].RetryAfter, then tries Redis again,
// and logs when it is back.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/seal"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Prefix namespaces every Redis key the store uses (default "appcred:").
	Prefix string
	// Key, when set (32 bytes), encrypts values with AES-256-GCM.
	Key []byte
	// Timeout bounds each Redis call (default 100 ms).
	Timeout time.Duration
	// RetryAfter is how long Redis is left alone after a failure (default 5 s).
	RetryAfter time.Duration
	// LeaseTTL is how long a fetch lease lasts if its holder never releases
	// it, and so how long waiters wait at most (default 10 s).
	LeaseTTL time.Duration
	// Poll is how often a waiter looks for the lease holder's token (default 20 ms).
	Poll time.Duration
	// SessionTTL is how long an on-behalf-of session (its refresh token) is
	// kept after it was last written (default 90 days, Entra's refresh
	// token lifetime).
	SessionTTL time.Duration
	// Logger receives the outage and recovery messages. Nil: slog.Default().
	Logger *slog.Logger
}

// Store is a token store in Redis. It is safe for concurrent use.
type Store struct {
	c      redis.UniversalClient
	o      Options
	sealer *seal.Sealer

	downUntil atomic.Int64 // unix nanos: skip Redis until then
	down      atomic.Bool  // in an outage (warned once)
}

// New returns a Store over c.
func New(c redis.UniversalClient, o Options) (*Store, error) {
	if c == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if o.Prefix == "" {
		o.Prefix = "appcred:"
	}
	for p, d := range map[*time.Duration]time.Duration{
		&o.Timeout: 100 * time.Millisecond, &o.RetryAfter: 5 * time.Second,
		&o.LeaseTTL: 10 * time.Second, &o.Poll: 20 * time.Millisecond, &o.SessionTTL: DefaultSessionTTL,
	} {
		if *p <= 0 {
			*p = d
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{c: c, o: o}
	if o.Key != nil {
		sl, err := seal.New(o.Key)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		s.sealer = sl
	}
	return s, nil
}

// tokenKey and leaseKey are the Redis keys of a cache key's token and lease
// (sessionKey, in sessions.go, of a session's).
func (s *Store) tokenKey(key string) string { return s.o.Prefix + "t:" + key }
func (s *Store) leaseKey(key string) string { return s.o.Prefix + "l:" + key }

// errSkipped means Redis was not asked: it is in an outage.
var errSkipped = errors.New("redisstore: Redis unavailable")

// call runs fn against Redis within Timeout, whatever the client's own
// timeouts. A failure (other than a miss or the caller's own context ending)
// starts an outage: one warning, then Redis is skipped for RetryAfter.
func (s *Store) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if time.Now().UnixNano() < s.downUntil.Load() {
		return errSkipped
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(cctx) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		err = cctx.Err()
	}
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		if s.down.CompareAndSwap(true, false) {
			s.o.Logger.Info("redisstore: Redis is back; sharing tokens again")
		}
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	s.downUntil.Store(time.Now().Add(s.o.RetryAfter).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.o.Logger.Warn("redisstore: Redis unavailable; using memory and the authority until it is back",
			"err", err, "retry_after", s.o.RetryAfter)
	}
	return errSkipped
}

// Get returns key's token, or (nil, nil) on a miss or while Redis is
// unavailable. A value that does not decode is an error (and no token).
func (s *Store) Get(ctx context.Context, key string) (*cache.Token, error) {
	raw, err := s.getRaw(ctx, s.tokenKey(key))
	if raw == nil || err != nil {
		return nil, err
	}
	return s.decode(raw)
}

// getRaw returns the value of the Redis key rkey, or (nil, nil) on a miss
// or while Redis is unavailable.
func (s *Store) getRaw(ctx context.Context, rkey string) ([]byte, error) {
	var raw []byte
	err := s.call(ctx, func(ctx context.Context) (err error) {
		raw, err = s.c.Get(ctx, rkey).Bytes()
		return err
	})
	if errors.Is(err, errSkipped) || errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return raw, err
}

// unseal opens a stored value: sealed when the store has a key (and
// refused when sealed but the store has none).
func (s *Store) unseal(raw []byte) ([]byte, error) {
	if s.sealer != nil || seal.IsSealed(raw) {
		var err error
		if raw, err = s.sealer.Open(raw); err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
	}
	return raw, nil
}

// encode returns v's JSON, sealed when the store has a key.
func (s *Store) encode(v any) ([]byte, error) {
	val, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("redisstore: encode: %w", err)
	}
	if s.sealer != nil {
		val = s.sealer.Seal(val)
	}
	return val, nil
}

// decode opens and parses a stored value; an expired token is a miss.
func (s *Store) decode(raw []byte) (*cache.Token, error) {
	raw, err := s.unseal(raw)
	if err != nil {
		return nil, err
	}
	var t cache.Token
	if err := json.Unmarshal(raw, &t); err != nil || t.AccessToken == "" {
		return nil, errors.New("redisstore: stored value is damaged")
	}
	if !time.Now().Before(t.ExpiresOn) {
		return nil, nil
	}
	return &t, nil
}

// Put stores t under key until it expires (an expired token removes key).
// While Redis is unavailable the write is dropped.
func (s *Store) Put(ctx context.Context, key string, t *cache.Token) error {
	ttl := time.Until(t.ExpiresOn)
	if ttl <= 0 {
		return s.Delete(ctx, key)
	}
	val, err := s.encode(t)
	if err != nil {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error { return s.c.Set(ctx, s.tokenKey(key), val, ttl).Err() })
	if errors.Is(err, errSkipped) {
		return nil
	}
	return err
}

// Delete removes key (a token, or a session given its session key). Unlike
// Get and Put it reports an outage, so a purge that could not reach Redis
// says so.
func (s *Store) Delete(ctx context.Context, key string) error {
	if p, err := cache.ParseKey(key); err == nil && p.Kind == cache.KindOBOSession {
		return s.DeleteSession(ctx, key)
	}
	return s.call(ctx, func(ctx context.Context) error { return s.c.Del(ctx, s.tokenKey(key)).Err() })
}

// Keys returns the cache keys of the tokens and sessions held under the
// prefix (implements [cache.Lister]), scanning every master of a cluster.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var found []string
		for _, ns := range []string{s.tokenKey(""), s.sessionKey("")} {
			it := c.Scan(ctx, 0, globEscape(ns)+"*", 500).Iterator()
			for it.Next(ctx) {
				found = append(found, strings.TrimPrefix(it.Val(), ns))
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		mu.Lock()
		keys = append(keys, found...)
		mu.Unlock()
		return nil
	}
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: list keys: %w", err)
	}
	return keys, nil
}

// globEscape escapes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
