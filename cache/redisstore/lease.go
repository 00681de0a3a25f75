package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred/cache"
)

// releaseScript deletes a lease only if this holder still owns it (a lease
// that timed out may belong to another replica by now).
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Lease tries to become the one replica that fetches key (implements
// [cache.Leaser]) with SET NX and a time to live of LeaseTTL. It also looks
// for the token in the same round trip: when another replica stored it
// since the caller's miss, the lease is given back and held is false, so
// the caller's Wait returns that token at once. While Redis is unavailable
// every caller holds a lease of its own (it fetches, as without Redis).
func (s *Store) Lease(ctx context.Context, key string) (release func(), held bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	lk := s.leaseKey(key)
	var stored bool
	err = s.call(ctx, func(ctx context.Context) error {
		var set *redis.BoolCmd
		var n *redis.IntCmd
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			set, n = p.SetNX(ctx, lk, owner, s.o.LeaseTTL), p.Exists(ctx, s.tokenKey(key))
			return nil
		})
		held, stored = set.Val(), n.Val() > 0
		return err
	})
	if errors.Is(err, errSkipped) {
		return func() {}, true, nil
	}
	if err != nil || !held {
		return func() {}, false, err
	}
	release = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Timeout)
		defer cancel()
		_ = s.call(ctx, func(ctx context.Context) error {
			return releaseScript.Run(ctx, s.c, []string{lk}, owner).Err()
		})
	}
	if stored {
		release()
		return func() {}, false, nil
	}
	return release, true, nil
}

// Wait polls every Poll for the token of the replica holding key's lease
// (implements [cache.Leaser]). It returns the token once stored, or
// (nil, nil) when the lease ends without one, LeaseTTL passes, or Redis
// becomes unavailable: the caller then fetches itself.
func (s *Store) Wait(ctx context.Context, key string) (*cache.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.LeaseTTL+s.o.Poll)
	defer cancel()
	tk, lk := s.tokenKey(key), s.leaseKey(key)
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	for {
		var val *redis.StringCmd
		var leased *redis.IntCmd
		err := s.call(ctx, func(ctx context.Context) error {
			_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				// EXISTS first: the holder stores its token before it releases,
				// so a lease gone here means the GET below sees the token.
				leased, val = p.Exists(ctx, lk), p.Get(ctx, tk)
				return nil
			})
			return err
		})
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			if raw, err := val.Bytes(); err == nil {
				return s.decode(raw)
			}
			if leased.Val() == 0 {
				return nil, nil
			}
		case errors.Is(err, errSkipped), ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
			return nil, nil
		default:
			return nil, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, nil
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
