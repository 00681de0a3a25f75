// Package storetest is the conformance suite every [cache.Store] passes (the
// pattern of dex's storage/conformance): one set of cases run against the
// memory, file and Redis stores alike.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) cache.Store { return myStore(t) })
//	}
//
// Cases that need to reach under a store's API (damaged data, fields the
// store does not know, reopening) run when a [Harness] provides the means;
// the on-behalf-of session cases run for stores that implement
// [cache.SessionStore].
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
)

// Harness reaches under a store's API for the cases that need it. A nil
// field skips the cases that use it.
type Harness struct {
	// Corrupt damages what s holds for key (or the whole store) behind its
	// back, as a crash or a foreign writer might.
	Corrupt func(t *testing.T, s cache.Store, key string)
	// AddUnknown adds a field s does not know to key's stored entry, and
	// HasUnknown reports whether that field is still there.
	AddUnknown func(t *testing.T, s cache.Store, key string)
	HasUnknown func(t *testing.T, s cache.Store, key string) bool
	// Reopen returns a new store over the same data as s.
	Reopen func(t *testing.T, s cache.Store) cache.Store
}

// Run runs the suite against fresh stores from newStore (one per case).
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	RunWith(t, newStore, Harness{})
}

// RunWith runs the suite, with the cases h makes possible.
func RunWith(t *testing.T, newStore func(t *testing.T) cache.Store, h Harness) {
	cases := []struct {
		name string
		run  func(*testing.T, cache.Store, Harness)
	}{
		{"Missing", testMissing},
		{"PutGet", testPutGet},
		{"DistinctKeys", testDistinctKeys},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"Expired", testExpired},
		{"ExpiresLater", testExpiresLater},
		{"ConcurrentWriters", testConcurrent},
		{"LargeValue", testLarge},
		{"Keys", testKeys},
		{"Reopen", testReopen},
		{"UnknownFields", testUnknown},
		{"Corrupt", testCorrupt},
	}
	for _, c := range append(cases, sessionCases...) {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t), h) })
	}
}

// Keys returns canonical keys of every shape the suite stores: app tokens
// for Entra and a generic issuer (exact scopes), CAE (extra), an OBO
// partition (assertion hash), several scopes, and fields that need escaping.
func Keys() []string {
	const client, tenant = "aaaaaaaa-0000-0000-0000-000000000001", "11111111-2222-3333-4444-555555555555"
	parts := []cache.KeyParts{
		{ClientID: client, Host: "login.microsoftonline.com", Tenant: tenant, Scopes: []string{"api://resource/.default"}},
		{ClientID: client, Host: "login.microsoftonline.com", Tenant: tenant, Extra: "xms_cc=cp1", Scopes: []string{"api://resource/.default"}},
		{ClientID: client, Host: "login.microsoftonline.com", Tenant: tenant, Kind: cache.KindOBO,
			Extra: "q1Wm0PAzNgCvZsIsjFkw4ZSM3M_WyHbGsdnzd1k_O4I=", Scopes: []string{"https://graph.microsoft.com/User.Read"}},
		{ClientID: client, Host: "login.microsoftonline.com", Tenant: tenant, Scopes: []string{"https://a/x", "https://a/y"}},
		{ClientID: "daemon", Host: "issuer.example:8443", Tenant: "https://issuer.example:8443/realms/x",
			ExactScopes: true, Scopes: []string{"Read", "write"}},
		{ClientID: "odd|id", Host: "127.0.0.1:8443", Tenant: "ten%ant", Scopes: []string{"scope with|bars"}},
	}
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = string(cache.AppendKey(nil, p))
	}
	return keys
}

// NewToken returns a token with a random access token of n bytes (at least
// 16), expiring after life, refreshed half way.
func NewToken(n int, life time.Duration) *cache.Token {
	b := make([]byte, max(n, 16)/2)
	_, _ = rand.Read(b)
	now := time.Now()
	return &cache.Token{AccessToken: hex.EncodeToString(b), TokenType: "Bearer",
		ExpiresOn: now.Add(life), RefreshOn: now.Add(life / 2)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// mustGet reads key and fails on an error.
func mustGet(t *testing.T, s cache.Store, key string) *cache.Token {
	t.Helper()
	got, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return got
}

func mustPut(t *testing.T, s cache.Store, key string, tok *cache.Token) {
	t.Helper()
	if err := s.Put(ctx(t), key, tok); err != nil {
		checkRedacted(t, err, tok)
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// checkSame fails unless got is want, with times equal to the second (the
// MSAL schema keeps epoch seconds).
func checkSame(t *testing.T, key string, got, want *cache.Token) {
	t.Helper()
	if got == nil {
		t.Fatalf("Get(%q) = nil, want the token put", key)
	}
	if got.AccessToken != want.AccessToken {
		t.Errorf("Get(%q): access token differs (%d bytes, want %d)", key, len(got.AccessToken), len(want.AccessToken))
	}
	if got.TokenType != want.TokenType {
		t.Errorf("Get(%q): token type %q, want %q", key, got.TokenType, want.TokenType)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{{"ExpiresOn", got.ExpiresOn, want.ExpiresOn}, {"RefreshOn", got.RefreshOn, want.RefreshOn}} {
		if d := c.got.Sub(c.want); d <= -time.Second || d >= time.Second {
			t.Errorf("Get(%q): %s %v, want %v", key, c.name, c.got, c.want)
		}
	}
}

// checkRedacted fails if err's text holds tok's access token.
func checkRedacted(t *testing.T, err error, tok *cache.Token) {
	t.Helper()
	if err != nil && tok != nil && strings.Contains(err.Error(), tok.AccessToken) {
		t.Errorf("error text holds the access token")
	}
}

func testMissing(t *testing.T, s cache.Store, _ Harness) {
	for _, k := range Keys() {
		if got := mustGet(t, s, k); got != nil {
			t.Errorf("Get(%q) on an empty store = %v, want nil", k, got)
		}
	}
}

func testPutGet(t *testing.T, s cache.Store, _ Harness) {
	for _, k := range Keys() {
		tok := NewToken(64, time.Hour)
		mustPut(t, s, k, tok)
		checkSame(t, k, mustGet(t, s, k), tok)
	}
}

func testDistinctKeys(t *testing.T, s cache.Store, _ Harness) {
	keys := Keys()
	toks := make([]*cache.Token, len(keys))
	for i, k := range keys {
		toks[i] = NewToken(64, time.Hour)
		mustPut(t, s, k, toks[i])
	}
	for i, k := range keys {
		checkSame(t, k, mustGet(t, s, k), toks[i])
	}
}

func testOverwrite(t *testing.T, s cache.Store, _ Harness) {
	k := Keys()[0]
	mustPut(t, s, k, NewToken(64, time.Hour))
	second := NewToken(64, 2*time.Hour)
	mustPut(t, s, k, second)
	checkSame(t, k, mustGet(t, s, k), second)
}

func testDelete(t *testing.T, s cache.Store, _ Harness) {
	keys := Keys()
	keep := NewToken(64, time.Hour)
	mustPut(t, s, keys[0], NewToken(64, time.Hour))
	mustPut(t, s, keys[1], keep)
	if err := s.Delete(ctx(t), keys[0]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := mustGet(t, s, keys[0]); got != nil {
		t.Errorf("Get after Delete = %v, want nil", got)
	}
	checkSame(t, keys[1], mustGet(t, s, keys[1]), keep)
	if err := s.Delete(ctx(t), keys[2]); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}

func testExpired(t *testing.T, s cache.Store, _ Harness) {
	k := Keys()[0]
	tok := NewToken(64, time.Hour)
	tok.ExpiresOn, tok.RefreshOn = time.Now().Add(-time.Minute), time.Now().Add(-2*time.Minute)
	if err := s.Put(ctx(t), k, tok); err != nil {
		t.Logf("Put of an expired token refused: %v", err) // allowed
	}
	if got := mustGet(t, s, k); got != nil {
		t.Errorf("Get of an expired token = %v, want nil", got)
	}
}

func testExpiresLater(t *testing.T, s cache.Store, _ Harness) {
	k := Keys()[0]
	tok := NewToken(64, time.Hour)
	tok.ExpiresOn = time.Now().Add(1200 * time.Millisecond)
	tok.RefreshOn = tok.ExpiresOn.Add(-time.Second)
	mustPut(t, s, k, tok)
	if got := mustGet(t, s, k); got == nil {
		t.Fatal("Get of a token that expires in 1.2 s = nil, want it")
	}
	time.Sleep(time.Until(tok.ExpiresOn) + 200*time.Millisecond)
	if got := mustGet(t, s, k); got != nil {
		t.Errorf("Get after ExpiresOn = %v, want nil", got)
	}
}

// Concurrent writers: bounded in count (8 writers × 8 keys).
const writers, perWriter = 8, 8

func testConcurrent(t *testing.T, s cache.Store, _ Harness) {
	base := Keys()[0]
	var wg sync.WaitGroup
	toks := make([][]*cache.Token, writers)
	errs := make(chan error, writers*perWriter)
	for w := range writers {
		toks[w] = make([]*cache.Token, perWriter)
		wg.Go(func() {
			for i := range perWriter {
				tok := NewToken(64, time.Hour)
				toks[w][i] = tok
				k := fmt.Sprintf("%s%d-%d", base, w, i)
				if err := s.Put(ctx(t), k, tok); err != nil {
					errs <- fmt.Errorf("Put(%q): %w", k, err)
				} else if got, err := s.Get(ctx(t), k); err != nil || got == nil || got.AccessToken != tok.AccessToken {
					errs <- fmt.Errorf("Get(%q) right after Put: found %v, err %v", k, got != nil, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		for i := range perWriter {
			k := fmt.Sprintf("%s%d-%d", base, w, i)
			checkSame(t, k, mustGet(t, s, k), toks[w][i])
		}
	}
}

func testLarge(t *testing.T, s cache.Store, _ Harness) {
	k := Keys()[0]
	tok := NewToken(256<<10, time.Hour)
	mustPut(t, s, k, tok)
	checkSame(t, k, mustGet(t, s, k), tok)
}

func testKeys(t *testing.T, s cache.Store, _ Harness) {
	l, ok := s.(cache.Lister)
	if !ok {
		t.Skip("store does not list keys")
	}
	keys := Keys()
	for _, k := range keys {
		mustPut(t, s, k, NewToken(64, time.Hour))
	}
	if err := s.Delete(ctx(t), keys[0]); err != nil {
		t.Fatal(err)
	}
	got, err := l.Keys(ctx(t))
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(keys[1:]))
	if !slices.Equal(got, want) {
		t.Errorf("Keys = %q\nwant %q", got, want)
	}
}

func testReopen(t *testing.T, s cache.Store, h Harness) {
	if h.Reopen == nil {
		t.Skip("no Reopen in the harness")
	}
	keys := Keys()
	toks := make([]*cache.Token, len(keys))
	for i, k := range keys {
		toks[i] = NewToken(64, time.Hour)
		mustPut(t, s, k, toks[i])
	}
	r := h.Reopen(t, s)
	for i, k := range keys {
		checkSame(t, k, mustGet(t, r, k), toks[i])
	}
}

func testUnknown(t *testing.T, s cache.Store, h Harness) {
	if h.AddUnknown == nil || h.HasUnknown == nil {
		t.Skip("store does not keep fields it does not know")
	}
	keys := Keys()
	mustPut(t, s, keys[0], NewToken(64, time.Hour))
	h.AddUnknown(t, s, keys[0])
	if !h.HasUnknown(t, s, keys[0]) {
		t.Fatal("harness: the unknown field was not added")
	}
	mustPut(t, s, keys[1], NewToken(64, time.Hour))
	if !h.HasUnknown(t, s, keys[0]) {
		t.Error("an unknown field was lost when another entry was written")
	}
	tok := NewToken(64, time.Hour)
	mustPut(t, s, keys[0], tok)
	if !h.HasUnknown(t, s, keys[0]) {
		t.Error("an unknown field was lost when its entry was overwritten")
	}
	checkSame(t, keys[0], mustGet(t, s, keys[0]), tok)
}

func testCorrupt(t *testing.T, s cache.Store, h Harness) {
	if h.Corrupt == nil {
		t.Skip("no Corrupt in the harness")
	}
	keys := Keys()
	mustPut(t, s, keys[0], NewToken(64, time.Hour))
	h.Corrupt(t, s, keys[0])
	got, err := s.Get(ctx(t), keys[0])
	if err == nil && got != nil && got.AccessToken == "" {
		t.Errorf("Get of damaged data returned an empty token, want nil or an error")
	}
	tok := NewToken(64, time.Hour)
	mustPut(t, s, keys[0], tok)
	checkSame(t, keys[0], mustGet(t, s, keys[0]), tok)
	mustPut(t, s, keys[1], NewToken(64, time.Hour))
	checkSame(t, keys[0], mustGet(t, s, keys[0]), tok)
}
