package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/appcred/appcred/cache"
)

// DefaultSessionTTL is how long an on-behalf-of session is kept after its
// last write unless [Options].SessionTTL says otherwise: Entra's refresh
// token lifetime.
const DefaultSessionTTL = 90 * 24 * time.Hour

// sessionKey is the Redis key of an on-behalf-of session.
func (s *Store) sessionKey(key string) string { return s.o.Prefix + "s:" + key }

// GetSession returns key's on-behalf-of session, or (nil, nil) on a miss or
// while Redis is unavailable (implements [cache.SessionStore]). A value that
// does not decode is an error.
func (s *Store) GetSession(ctx context.Context, key string) (*cache.Session, error) {
	raw, err := s.getRaw(ctx, s.sessionKey(key))
	if raw == nil || err != nil {
		return nil, err
	}
	return s.decodeSession(raw)
}

// decodeSession opens and parses a stored session.
func (s *Store) decodeSession(raw []byte) (*cache.Session, error) {
	raw, err := s.unseal(raw)
	if err != nil {
		return nil, err
	}
	var v cache.Session
	if err := json.Unmarshal(raw, &v); err != nil || v.RefreshToken == "" {
		return nil, errors.New("redisstore: stored session is damaged")
	}
	return &v, nil
}

// PutSession stores v under key for [Options].SessionTTL, replacing the
// session's refresh token. While Redis is unavailable the write is dropped.
func (s *Store) PutSession(ctx context.Context, key string, v *cache.Session) error {
	if v == nil || v.RefreshToken == "" {
		return errors.New("redisstore: put of a session with no refresh token")
	}
	if p, err := cache.ParseKey(key); err != nil || p.Kind != cache.KindOBOSession {
		return fmt.Errorf("redisstore: a session key must be a canonical key of kind %s", cache.KindOBOSession)
	}
	val, err := s.encode(v)
	if err != nil {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error {
		return s.c.Set(ctx, s.sessionKey(key), val, s.o.SessionTTL).Err()
	})
	if errors.Is(err, errSkipped) {
		return nil
	}
	return err
}

// DeleteSession removes key's session. Like Delete it reports an outage.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	return s.call(ctx, func(ctx context.Context) error { return s.c.Del(ctx, s.sessionKey(key)).Err() })
}
