package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
)

// sessionCases are the cases of stores that implement [cache.SessionStore];
// they skip for others.
var sessionCases = []struct {
	name string
	run  func(*testing.T, cache.Store, Harness)
}{
	{"SessionPutGet", testSessionPutGet},
	{"SessionOverwrite", testSessionOverwrite},
	{"SessionDelete", testSessionDelete},
	{"SessionApartFromTokens", testSessionApart},
	{"SessionKeys", testSessionKeys},
	{"SessionReopen", testSessionReopen},
}

// SessionKeys returns canonical session keys (kind obo-rt) of every shape
// the suite stores: an Entra partition, one with client capabilities, a
// host with a port, a generic issuer's (exact case), and fields that need
// escaping.
func SessionKeys() []string {
	const client, tenant = "aaaaaaaa-0000-0000-0000-000000000001", "11111111-2222-3333-4444-555555555555"
	const hash = "q1Wm0PAzNgCvZsIsjFkw4ZSM3M_WyHbGsdnzd1k_O4I="
	prefixes := []cache.Prefix{
		cache.MakePrefix(client, "login.microsoftonline.com", tenant),
		cache.MakePrefix(client, "login.microsoftonline.com", tenant),
		cache.MakePrefix(client, "127.0.0.1:8443", tenant),
		cache.MakePrefix("Daemon", "issuer.example:8443", "https://issuer.example:8443/realms/x").ExactScopes(),
		cache.MakePrefix("odd|id", "localhost", "ten%ant"),
	}
	extras := []string{hash, hash + "xms_cc=cp1", hash, "Zm9vYmFy-_==", "h|a sh%"}
	keys := make([]string, len(prefixes))
	for i, p := range prefixes {
		keys[i] = string(p.AppendKey(nil, cache.KindOBOSession, extras[i], nil))
	}
	return keys
}

// NewSession returns a session with a random refresh token and an account.
func NewSession() *cache.Session {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return &cache.Session{RefreshToken: "rt." + hex.EncodeToString(b), HomeAccountID: "0f1e2d3c-oid.11111111-tid",
		Username: "user@contoso.example", ObjectID: "0f1e2d3c-oid", TenantID: "11111111-tid"}
}

func sessionStore(t *testing.T, s cache.Store) cache.SessionStore {
	t.Helper()
	ss, ok := s.(cache.SessionStore)
	if !ok {
		t.Skip("store does not persist sessions")
	}
	return ss
}

func mustGetSession(t *testing.T, s cache.SessionStore, key string) *cache.Session {
	t.Helper()
	got, err := s.GetSession(ctx(t), key)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", key, err)
	}
	return got
}

func mustPutSession(t *testing.T, s cache.SessionStore, key string, v *cache.Session) {
	t.Helper()
	if err := s.PutSession(ctx(t), key, v); err != nil {
		t.Fatalf("PutSession(%q): %v", key, err)
	}
}

// checkSession fails unless got is want (the refresh token compared
// without printing it).
func checkSession(t *testing.T, key string, got, want *cache.Session) {
	t.Helper()
	switch {
	case got == nil:
		t.Fatalf("GetSession(%q) = nil, want the session put", key)
	case got.RefreshToken != want.RefreshToken:
		t.Errorf("GetSession(%q): refresh token differs (%d bytes, want %d)", key, len(got.RefreshToken), len(want.RefreshToken))
	case *got != *want:
		t.Errorf("GetSession(%q) = %v %s %s, want %v %s %s", key, got, got.ObjectID, got.TenantID, want, want.ObjectID, want.TenantID)
	}
}

func testSessionPutGet(t *testing.T, st cache.Store, _ Harness) {
	s := sessionStore(t, st)
	keys := SessionKeys()
	for _, k := range keys {
		if got := mustGetSession(t, s, k); got != nil {
			t.Errorf("GetSession(%q) on an empty store = %v, want nil", k, got)
		}
	}
	want := make([]*cache.Session, len(keys))
	for i, k := range keys {
		want[i] = NewSession()
		if i == 3 {
			want[i] = &cache.Session{RefreshToken: want[i].RefreshToken} // no account
		}
		mustPutSession(t, s, k, want[i])
	}
	for i, k := range keys {
		checkSession(t, k, mustGetSession(t, s, k), want[i])
	}
}

func testSessionOverwrite(t *testing.T, st cache.Store, _ Harness) {
	s := sessionStore(t, st)
	k := SessionKeys()[0]
	first, rotated := NewSession(), NewSession()
	mustPutSession(t, s, k, first)
	mustPutSession(t, s, k, rotated)
	checkSession(t, k, mustGetSession(t, s, k), rotated)
}

func testSessionDelete(t *testing.T, st cache.Store, _ Harness) {
	s := sessionStore(t, st)
	keys := SessionKeys()
	keep := NewSession()
	mustPutSession(t, s, keys[0], NewSession())
	mustPutSession(t, s, keys[1], keep) // the same user in another partition
	if err := s.DeleteSession(ctx(t), keys[0]); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if got := mustGetSession(t, s, keys[0]); got != nil {
		t.Errorf("GetSession after DeleteSession = %v, want nil", got)
	}
	checkSession(t, keys[1], mustGetSession(t, s, keys[1]), keep)
	if err := s.DeleteSession(ctx(t), keys[2]); err != nil {
		t.Errorf("DeleteSession of a missing key: %v, want nil", err)
	}
}

// testSessionApart: tokens and sessions of one partition live side by side;
// Get of a session key is a miss, and writing or deleting tokens (which
// drops expired ones) leaves the session alone.
func testSessionApart(t *testing.T, st cache.Store, _ Harness) {
	s := sessionStore(t, st)
	sk, tk := SessionKeys()[0], Keys()[2] // the same OBO partition
	v := NewSession()
	mustPutSession(t, s, sk, v)
	if got := mustGet(t, st, sk); got != nil {
		t.Errorf("Get of a session key = %v, want nil", got)
	}
	tok := NewToken(64, time.Hour)
	mustPut(t, st, tk, tok)
	expired := NewToken(64, time.Hour)
	expired.ExpiresOn, expired.RefreshOn = time.Now().Add(-time.Minute), time.Now().Add(-2*time.Minute)
	_ = st.Put(ctx(t), Keys()[0], expired) // may be refused; must not touch the session
	if err := st.Delete(ctx(t), tk); err != nil {
		t.Fatal(err)
	}
	checkSession(t, sk, mustGetSession(t, s, sk), v)
	mustPut(t, st, tk, tok)
	if err := s.DeleteSession(ctx(t), sk); err != nil {
		t.Fatal(err)
	}
	checkSame(t, tk, mustGet(t, st, tk), tok)
}

// testSessionKeys: a store that lists its keys lists session keys too, and
// Delete of a listed session key removes the session (so a purge does).
func testSessionKeys(t *testing.T, st cache.Store, _ Harness) {
	s := sessionStore(t, st)
	l, ok := st.(cache.Lister)
	if !ok {
		t.Skip("store does not list keys")
	}
	keys := SessionKeys()
	for _, k := range keys {
		mustPutSession(t, s, k, NewSession())
	}
	mustPut(t, st, Keys()[0], NewToken(64, time.Hour))
	if err := st.Delete(ctx(t), keys[0]); err != nil {
		t.Fatalf("Delete of a session key: %v", err)
	}
	if got := mustGetSession(t, s, keys[0]); got != nil {
		t.Errorf("GetSession after Delete of its key = %v, want nil", got)
	}
	got, err := l.Keys(ctx(t))
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(append(keys[1:], Keys()[0])))
	if !slices.Equal(got, want) {
		t.Errorf("Keys = %q\nwant %q", got, want)
	}
}

func testSessionReopen(t *testing.T, st cache.Store, h Harness) {
	s := sessionStore(t, st)
	if h.Reopen == nil {
		t.Skip("no Reopen in the harness")
	}
	keys := SessionKeys()
	want := make([]*cache.Session, len(keys))
	for i, k := range keys {
		want[i] = NewSession()
		mustPutSession(t, s, k, want[i])
	}
	r, ok := h.Reopen(t, st).(cache.SessionStore)
	if !ok {
		t.Fatal("the reopened store does not persist sessions")
	}
	for i, k := range keys {
		checkSession(t, k, mustGetSession(t, r, k), want[i])
	}
}
