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
	mu sync.Mutex
	m  map[string]cache.Token
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{m: map[string]cache.Token{}} }

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

// Delete removes key; a missing key is not an error.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Keys returns the keys held, expired ones included until they are read.
func (s *Memory) Keys(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	return keys, nil
}
