package appcred

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/sts"
)

// openFile opens the file store at path, as a new process would.
func openFile(t *testing.T, path string) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(path, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRemoveTokensForClientReachesFile checks that RemoveTokensForClient
// deletes the client's tokens from a file store even when this client never
// had them in memory (another process wrote them), and leaves other
// clients' tokens alone.
func TestRemoveTokensForClientReachesFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.json")
	a, writer, wct := seedClient(t, sts.Options{}, WithCacheStore(openFile(t, path)))
	seed := a.Seed()
	if _, err := writer.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	other := cache.MakePrefix("other-client", "login.microsoftonline.com", "tenant").AppendKey(nil, cache.KindApp, "", []string{"api://x/.default"})
	store := openFile(t, path)
	if err := store.Put(ctx, string(other), &cache.Token{AccessToken: "x", ExpiresOn: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// A fresh client on the same file is served from it: no token request.
	newClient := func() (*Client, *countingTransport) {
		ct := newCounting(a)
		c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
			WithTransport(ct), WithCacheStore(openFile(t, path)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, ct
	}
	reader, rct := newClient()
	if _, err := reader.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	if wct.posts.Load() != 1 || rct.posts.Load() != 0 {
		t.Fatalf("token requests: writer %d (want 1), reader %d (want 0: served from the file)", wct.posts.Load(), rct.posts.Load())
	}

	remover, _ := newClient() // holds nothing in memory
	if err := remover.RemoveTokensForClient(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := store.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{string(other)}) {
		t.Fatalf("keys left in the file = %q, want only the other client's %q", keys, other)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, cache.ClientPrefix(seed.ClientID)) {
			t.Errorf("the client's key %q survived RemoveTokensForClient", k)
		}
	}
	again, act := newClient()
	if _, err := again.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	if act.posts.Load() != 1 {
		t.Errorf("after removal a fresh client made %d token requests, want 1", act.posts.Load())
	}
}

// TestPurgeStore checks PurgeStore's count, its client filter and its
// refusal of a store that cannot list keys.
func TestPurgeStore(t *testing.T) {
	ctx := context.Background()
	s := openFile(t, filepath.Join(t.TempDir(), "tokens.json"))
	tok := &cache.Token{AccessToken: "x", ExpiresOn: time.Now().Add(time.Hour)}
	for _, k := range []struct{ id, scope string }{{"a", "s1"}, {"a", "s2"}, {"b", "s1"}} {
		key := cache.MakePrefix(k.id, "login.microsoftonline.com", "t").AppendKey(nil, cache.KindApp, "", []string{k.scope})
		if err := s.Put(ctx, string(key), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := PurgeStore(ctx, s, "A"); err != nil || n != 2 {
		t.Fatalf("PurgeStore(A) = %d, %v; want a's 2 keys (client ids are case-insensitive)", n, err)
	}
	if n, err := PurgeStore(ctx, s, ""); err != nil || n != 1 {
		t.Fatalf("PurgeStore(all) = %d, %v; want 1 key (b's)", n, err)
	}
	if _, err := PurgeStore(ctx, newMemStore(), ""); err == nil || !strings.Contains(err.Error(), "cache.Lister") {
		t.Errorf("PurgeStore of a store without Keys: err = %v, want one naming cache.Lister", err)
	}
}
