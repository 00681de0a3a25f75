package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/appcred/appcred/cache"
)

// Memory is the simplest [cache.Store]: a map in memory. It is the
// reference the conformance suite is checked against, and a stand-in store
// for tests of code that takes one.
type Memory struct {
	mu       sync.Mutex
	m        map[string]cache.Token
	sessions map[string]cache.Session
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{m: map[string]cache.Token{}, sessions: map[string]cache.Session{}}
}

// Get returns a copy of key's token, or (nil, nil) when it is missing or
// expired; an expired token is removed.
func (s *Memory) Get(_ context.Context, key string) (*cache.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	if !time.Now().Before(t.ExpiresOn) {
		delete(s.m, key)
		return nil, nil
	}
	return &t, nil
}

// Put stores a copy of t under key.
func (s *Memory) Put(_ context.Context, key string, t *cache.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = *t
	return nil
}

// Delete removes key (a token or a session); a missing key is not an error.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	delete(s.sessions, key)
	return nil
}

// GetSession returns a copy of key's session, or (nil, nil) (implements
// [cache.SessionStore]).
func (s *Memory) GetSession(_ context.Context, key string) (*cache.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[key]
	if !ok {
		return nil, nil
	}
	return &v, nil
}

// PutSession stores a copy of v under key.
func (s *Memory) PutSession(_ context.Context, key string, v *cache.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[key] = *v
	return nil
}

// DeleteSession removes key's session; a missing one is not an error.
func (s *Memory) DeleteSession(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, key)
	return nil
}

// Keys returns the keys held (tokens, expired ones included until they are
// read, and sessions).
func (s *Memory) Keys(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m)+len(s.sessions))
	for k := range s.m {
		keys = append(keys, k)
	}
	for k := range s.sessions {
		keys = append(keys, k)
	}
	return keys, nil
}
