package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// joinedCtx reports (once) when Fetch starts waiting on it, which Fetch does
// only after joining the key's flight.
type joinedCtx struct {
	context.Context
	joined *sync.WaitGroup
	once   sync.Once
}

func (c *joinedCtx) Done() <-chan struct{} {
	c.once.Do(c.joined.Done)
	return c.Context.Done()
}

func TestColdHerdFetchesOnce(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	defer c.Close()
	release := make(chan struct{})
	f := &counter{next: func(context.Context, int) (*Token, error) {
		<-release
		return tokenAt("secret-1", clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	k := key("api://a/.default")
	const callers = 1000
	var joined, done sync.WaitGroup
	joined.Add(callers)
	done.Add(callers)
	got := make([]*Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		go func() {
			defer done.Done()
			if tok, ok := c.Lookup(k); ok {
				t.Errorf("caller %d hit a cold cache: %v", i, tok)
			}
			ctx := &joinedCtx{Context: context.Background(), joined: &joined}
			got[i], errs[i] = c.Fetch(ctx, string(k), f.fetch)
		}()
	}
	joined.Wait() // every caller is waiting on the fetch, which is held open
	close(release)
	done.Wait()
	if n := f.calls(); n != 1 {
		t.Fatalf("fetch called %d times for %d cold callers, want 1", n, callers)
	}
	for i := range callers {
		if errs[i] != nil || got[i] != got[0] || got[i].AccessToken != "secret-1" {
			t.Fatalf("caller %d got (%v, %v), want the shared token", i, got[i], errs[i])
		}
	}
}

func TestHitDoesNotWaitForOtherKeysFetch(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	kA, kB, kC := key("a"), key("b"), key("c")
	if _, err := c.Put(ctx, string(kA), tokenAt("tok-a", time.Now(), time.Hour, 50*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := &counter{started: make(chan struct{}, 1), next: func(context.Context, int) (*Token, error) {
		<-release
		return tokenAt("tok-b", time.Now(), time.Hour, 50*time.Minute), nil
	}}
	bDone := make(chan error)
	go func() {
		_, err := c.Fetch(ctx, string(kB), held.fetch)
		bDone <- err
	}()
	<-held.started // B's fetch is now held open

	if tok := mustLookup(t, c, kA); tok.AccessToken != "tok-a" {
		t.Fatalf("hit returned %v", tok)
	}
	other := &counter{next: func(context.Context, int) (*Token, error) {
		return tokenAt("tok-c", time.Now(), time.Hour, 50*time.Minute), nil
	}}
	if tok, err := c.Fetch(ctx, string(kC), other.fetch); err != nil || tok.AccessToken != "tok-c" {
		t.Fatalf("fetch of another key while B is held: %v, %v", tok, err)
	}
	close(release)
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if tok := mustLookup(t, c, kB); tok.AccessToken != "tok-b" {
		t.Fatalf("B = %v", tok)
	}
}

func TestSweepEvictsExpiredEntriesOnWrite(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	defer c.Close()
	ctx := context.Background()
	for i := range 500 {
		c.Put(ctx, fmt.Sprint("old", i), tokenAt("t", clk.Now(), 10*time.Minute, 5*time.Minute), nil)
	}
	clk.Advance(time.Hour)
	// Writing to every shard sweeps it; nobody looks the old keys up.
	for i := 0; c.Len() != i; i++ {
		if i == 100000 {
			t.Fatalf("sweep did not evict expired entries: Len = %d", c.Len())
		}
		c.Put(ctx, fmt.Sprint("new", i), tokenAt("t", clk.Now(), time.Hour, 50*time.Minute), nil)
	}
}

func TestCallerCancelDoesNotCancelSharedFetch(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	k := string(key("cancel"))
	release := make(chan struct{})
	var flightErr error
	f := &counter{started: make(chan struct{}, 1), next: func(ctx context.Context, _ int) (*Token, error) {
		<-release
		flightErr = ctx.Err()
		return tokenAt("tok", time.Now(), time.Hour, 50*time.Minute), nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() { _, err := c.Fetch(ctx, k, f.fetch); first <- err }()
	<-f.started
	second := make(chan *Token)
	go func() { tok, _ := c.Fetch(context.Background(), k, f.fetch); second <- tok }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if tok := <-second; tok == nil || tok.AccessToken != "tok" {
		t.Fatalf("other caller got %v", tok)
	}
	if flightErr != nil {
		t.Fatalf("shared fetch saw %v", flightErr)
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("fetch called %d times", n)
	}
}

func TestStoreBehindMemory(t *testing.T) {
	store := newMemStore()
	logs := newLogSink()
	c := New(Options{Store: store, Logger: slogLogger(logs)})
	defer c.Close()
	ctx := context.Background()
	k := string(key("stored"))
	store.m[k] = *tokenAt("from-store", time.Now(), time.Hour, 50*time.Minute)
	f := &counter{next: func(context.Context, int) (*Token, error) {
		return tokenAt("from-authority", time.Now(), time.Hour, 50*time.Minute), nil
	}}
	if tok, err := c.Fetch(ctx, k, f.fetch); err != nil || tok.AccessToken != "from-store" || f.calls() != 0 {
		t.Fatalf("Fetch = %v, %v after %d fetches; want the stored token", tok, err, f.calls())
	}
	if st := c.Stats(); st.StoreHits != 1 || st.Fetches != 0 {
		t.Fatalf("stats %+v", st)
	}
	// An expired stored token is ignored; the fetched one is written back.
	k2 := string(key("stale"))
	store.m[k2] = *tokenAt("stale", time.Now().Add(-2*time.Hour), time.Hour, 50*time.Minute)
	if tok, err := c.Fetch(ctx, k2, f.fetch); err != nil || tok.AccessToken != "from-authority" {
		t.Fatalf("Fetch = %v, %v", tok, err)
	}
	if <-store.puts != k2 || store.m[k2].AccessToken != "from-authority" {
		t.Fatal("fetched token not written to the store")
	}
	// A failing store is logged (without token text) and not fatal.
	store.mu.Lock()
	store.getErr = errors.New("store offline")
	store.mu.Unlock()
	if tok, err := c.Fetch(ctx, string(key("third")), f.fetch); err != nil || tok.AccessToken != "from-authority" {
		t.Fatalf("Fetch with failing store = %v, %v", tok, err)
	}
	if line := <-logs.ch; !strings.Contains(line, "store offline") || strings.Contains(line, "from-") {
		t.Fatalf("log line %q", line)
	}
}

func TestPutReplacesCachedToken(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	k := key("claims")
	c.Put(ctx, string(k), tokenAt("cached", time.Now(), time.Hour, 50*time.Minute), nil)
	if tok, err := c.Put(ctx, string(k), tokenAt("fresh", time.Now(), time.Hour, 50*time.Minute), nil); err != nil || tok.AccessToken != "fresh" {
		t.Fatalf("Put = %v, %v", tok, err)
	}
	if tok := mustLookup(t, c, k); tok.AccessToken != "fresh" {
		t.Fatalf("Lookup after Put = %v", tok)
	}
}

func TestRemove(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	c := New(Options{Now: clk.Now, Store: store})
	defer c.Close()
	ctx := context.Background()
	parts := func(client, tenant string) KeyParts {
		return KeyParts{ClientID: client, Host: "h", Tenant: tenant, Scopes: []string{"s"}}
	}
	keys := map[string]string{
		"c1/t1": string(AppendKey(nil, parts("C1", "t1"))),
		"c1/t2": string(AppendKey(nil, parts("c1", "T2"))),
		"c2/t1": string(AppendKey(nil, parts("c2", "t1"))),
		"c10":   string(AppendKey(nil, parts("c10", "t1"))),
	}
	release := make(chan struct{})
	f := &counter{started: make(chan struct{}, 1), next: func(context.Context, int) (*Token, error) {
		<-release
		return tokenAt("refreshed", clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	for _, k := range keys {
		c.Put(ctx, k, tokenAt("tok", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
		<-store.puts
	}
	clk.Advance(51 * time.Minute)
	mustLookup(t, c, []byte(keys["c1/t2"])) // a refresh is now in flight for c1/t2
	<-f.started

	if n := c.RemovePrefix(ctx, MakePrefix("c1", "h", "t1").String()); n != 1 {
		t.Fatalf("RemovePrefix(c1/h/t1) removed %d", n)
	}
	if n := c.RemovePrefix(ctx, ClientPrefix("C1")); n != 1 {
		t.Fatalf("RemovePrefix(c1) removed %d", n)
	}
	close(release)
	c.Close() // wait for the refresh: it must not bring c1/t2 back
	for name, k := range keys {
		_, inMem := c.Lookup([]byte(k))
		want := strings.HasPrefix(name, "c2") || name == "c10"
		if inMem != want || store.has(k) != want {
			t.Errorf("%s: in memory %v, in store %v; want %v", name, inMem, store.has(k), want)
		}
	}
	if n := c.Clear(ctx); n != 2 || c.Len() != 0 {
		t.Fatalf("Clear removed %d, Len %d", n, c.Len())
	}
}

func TestRejectsUnusableTokens(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	for name, tok := range map[string]*Token{
		"nil":          nil,
		"empty access": {ExpiresOn: time.Now().Add(time.Hour)},
		"no expiry":    {AccessToken: "x"},
	} {
		f := func(context.Context) (*Token, error) { return tok, nil }
		if got, err := c.Fetch(ctx, name, f); err == nil {
			t.Errorf("%s: Fetch = %v, want an error", name, got)
		}
		if _, err := c.Put(ctx, name, tok, nil); err == nil {
			t.Errorf("%s: Put accepted it", name)
		}
	}
	if c.Len() != 0 {
		t.Fatalf("cached a bad token: Len %d", c.Len())
	}
	// A token that is already unusable (expired on arrival) is returned but
	// not cached. (A 1 s token is cached now: see TestShortLivedTokensCached.)
	short := func(context.Context) (*Token, error) {
		return &Token{AccessToken: "x", ExpiresOn: time.Now().Add(-time.Millisecond)}, nil
	}
	if tok, err := c.Fetch(ctx, "short", short); err != nil || tok.AccessToken != "x" || c.Len() != 0 {
		t.Fatalf("short-lived: %v, %v, Len %d", tok, err, c.Len())
	}
}

func TestFetchFillsRefreshOn(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	defer c.Close()
	f := func(context.Context) (*Token, error) {
		return &Token{AccessToken: "x", ExpiresOn: clk.Now().Add(time.Hour)}, nil
	}
	tok, err := c.Fetch(context.Background(), "k", f)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(55 * time.Minute); !tok.RefreshOn.Equal(want) {
		t.Fatalf("RefreshOn = %v, want %v", tok.RefreshOn, want)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	parts := KeyParts{ClientID: "client", Host: "login.example", Tenant: "t", Scopes: []string{"b", "A"}}
	c.Put(context.Background(), string(AppendKey(nil, parts)), tokenAt("tok", time.Now(), time.Hour, 50*time.Minute), nil)
	allocs := testing.AllocsPerRun(100, func() {
		var buf [256]byte
		if _, ok := c.Lookup(AppendKey(buf[:0], parts)); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendKey+Lookup allocates %v times", allocs)
	}
}

func TestExpiredEntryEvictedOnLookup(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	defer c.Close()
	k := key("short")
	c.Put(context.Background(), string(k), tokenAt("t", clk.Now(), 40*time.Second, 20*time.Second), nil)
	if c.Len() != 1 {
		t.Fatal("not stored")
	}
	clk.Advance(20 * time.Second) // past ExpiresOn-skew, long before a sweep
	if _, ok := c.Lookup(k); ok {
		t.Fatal("hit on a token within the expiry skew")
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d after the expired entry was looked up", n)
	}
	if st := c.Stats(); st.Misses != 1 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestManyPrefixesAndOddKeys(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("api://some-long-resource-%02d/.default", i)
	}
	var keys [][]byte
	for i := range 10 { // more clients than probePrefixes
		keys = append(keys, AppendKey(nil, KeyParts{ClientID: fmt.Sprint("client", i), Host: "h", Tenant: "t", Scopes: []string{"s"}}))
	}
	keys = append(keys, []byte("no-separators"), []byte("a|b"), []byte(""),
		AppendKey(nil, KeyParts{ClientID: "c", Host: "h", Tenant: "t", Scopes: long})) // > stackKey
	for i, k := range keys {
		if _, err := c.Put(ctx, string(k), tokenAt(fmt.Sprint("tok", i), time.Now(), time.Hour, 50*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		if tok := mustLookup(t, c, k); tok.AccessToken != fmt.Sprint("tok", i) {
			t.Errorf("key %d (%q) = %v", i, k, tok)
		}
	}
	for _, miss := range []string{"client3|h|t|app||other", "unknown|h|t|app||s", "no-separator"} {
		if tok, ok := c.Lookup([]byte(miss)); ok {
			t.Errorf("Lookup(%q) = %v", miss, tok)
		}
	}
	if n := c.RemovePrefix(ctx, ClientPrefix("client7")); n != 1 {
		t.Fatalf("removed %d", n)
	}
	if _, ok := c.Lookup(keys[7]); ok {
		t.Fatal("client7 still cached")
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	ctx := context.Background()
	var keys [][]byte
	for i := range 64 {
		keys = append(keys, key(fmt.Sprint("scope", i)))
	}
	f := func(context.Context) (*Token, error) {
		return tokenAt("t", time.Now(), time.Hour, 50*time.Minute), nil
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for i := range 200 {
				k := keys[(i*7+w)%len(keys)]
				switch i % 3 {
				case 0:
					c.Fetch(ctx, string(k), f)
				case 1:
					tok, _ := f(ctx)
					c.Put(ctx, string(k), tok, f)
				default:
					c.RemoveFunc(ctx, func(s string) bool { return s == string(k) })
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for i := range 2000 {
				if tok, ok := c.Lookup(keys[i%len(keys)]); ok && tok.AccessToken != "t" {
					t.Errorf("Lookup = %v", tok)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Hits+st.Misses != 8000 {
		t.Fatalf("stats %+v: hits+misses != lookups", st)
	}
}

// Past prefixCap distinct client|host|tenant prefixes (a client that accepts
// any tenant), keys are stored whole instead of growing the intern table.
func TestInterningIsBounded(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	c.prefixCap = 8
	ctx := context.Background()
	f := func(context.Context) (*Token, error) { return tokenAt("t", time.Now(), time.Hour, 50*time.Minute), nil }
	keyOf := func(tenant int) string {
		return string(AppendKey(nil, KeyParts{ClientID: "c", Host: "h", Tenant: fmt.Sprint("tenant", tenant), Scopes: []string{"s"}}))
	}
	const tenants = 50
	for i := range tenants {
		if _, err := c.Fetch(ctx, keyOf(i), f); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.prefixes.Load().names); n != c.prefixCap+1 {
		t.Fatalf("%d prefixes interned, want %d", n, c.prefixCap+1)
	}
	for i := range tenants {
		k := keyOf(i)
		if _, ok := c.Lookup([]byte(k)); !ok {
			t.Fatalf("tenant %d: miss", i)
		}
		ck, _ := c.compact(nil, []byte(k), false)
		if got := c.fullKey(string(ck)); got != k {
			t.Fatalf("tenant %d: fullKey = %q, want %q", i, got, k)
		}
	}
	whole := []byte(keyOf(tenants - 1))
	allocs := testing.AllocsPerRun(50, func() {
		if _, ok := c.Lookup(whole); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("Lookup of a key stored whole allocates %v times", allocs)
	}
	if _, ok := c.Lookup([]byte(keyOf(tenants))); ok {
		t.Fatal("hit for a tenant never cached")
	}
	if n := c.RemovePrefix(ctx, MakePrefix("c", "h", fmt.Sprint("tenant", tenants-1)).String()); n != 1 {
		t.Fatalf("RemovePrefix of a tenant stored whole removed %d", n)
	}
	if n := c.RemovePrefix(ctx, ClientPrefix("c")); n != tenants-1 || c.Len() != 0 {
		t.Fatalf("RemovePrefix(client) removed %d, Len %d", n, c.Len())
	}
}

// Tokens with a lifetime at or under ExpirySkew were never cached (6,019
// requests in 6 s for expires_in=1): they are cached for half their life,
// never past it, and refreshed ahead, not fetched on every call.
func TestShortLivedTokensCached(t *testing.T) {
	for _, life := range []time.Duration{time.Second, 10 * time.Second, 30 * time.Second} {
		clk := newClock()
		c := New(Options{Now: clk.Now})
		f := &counter{next: func(context.Context, int) (*Token, error) {
			return &Token{AccessToken: "t", ExpiresOn: clk.Now().Add(life)}, nil
		}}
		k := key("short")
		for range 100 {
			if _, err := c.Fetch(context.Background(), string(k), f.fetch); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.calls(); n != 1 {
			t.Errorf("%v token: %d fetches for 100 calls, want 1", life, n)
		}
		tok, ok := c.Lookup(k)
		if !ok {
			t.Fatalf("%v token: not cached", life)
		}
		if tok.RefreshOn.After(clk.Now().Add(life / 2)) {
			t.Errorf("%v token: RefreshOn %v after its usable life", life, tok.RefreshOn.Sub(clk.Now()))
		}
		clk.Advance(life / 2)
		if _, ok := c.Lookup(k); ok {
			t.Errorf("%v token: served past half its life", life)
		}
		c.Close()
	}
}

// The cache had no size bound (20,000 scopes = 34 MiB, nothing evicted):
// past MaxEntries an insert drops expired entries, then those expiring
// soonest, and the newest token is still served.
func TestMaxEntriesBoundsTheCache(t *testing.T) {
	clk := newClock()
	const max = 100
	c := New(Options{Now: clk.Now, MaxEntries: max})
	defer c.Close()
	ctx := context.Background()
	// Ten entries that expire first: they must go before any live one.
	for i := range 10 {
		c.Put(ctx, string(key(fmt.Sprintf("old%d", i))), tokenAt("t", clk.Now(), 2*time.Minute, time.Minute), nil)
	}
	clk.Advance(5 * time.Minute)
	for i := range 1000 {
		life := time.Hour + time.Duration(i%200)*time.Minute // some expire sooner than others
		k := key(fmt.Sprintf("k%d", i))
		if _, err := c.Put(ctx, string(k), tokenAt("t", clk.Now(), life, life/2), nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Lookup(k); !ok {
			t.Fatalf("the token just put (%d) is not served", i)
		}
		if n := c.Len(); n > max {
			t.Fatalf("Len = %d after %d puts, bound %d", n, i+1, max)
		}
	}
	// The expired ones went first; what is left is the longest-lived, but
	// for the tokens put since the last trim (fewer than a tenth of max).
	for i := range 10 {
		if _, ok := c.Lookup(key(fmt.Sprintf("old%d", i))); ok {
			t.Errorf("expired entry old%d kept", i)
		}
	}
	short := 0
	for i := range 1000 {
		if tok, ok := c.Lookup(key(fmt.Sprintf("k%d", i))); ok && tok.ExpiresOn.Sub(clk.Now()) < time.Hour+150*time.Minute {
			short++
		}
	}
	if short > max/10 {
		t.Errorf("%d of the kept tokens expire sooner than longer-lived ones that were dropped", short)
	}
	if st := c.Stats(); st.Evictions == 0 {
		t.Error("no evictions counted")
	}
	unbounded := New(Options{Now: clk.Now, MaxEntries: -1})
	defer unbounded.Close()
	for i := range 300 {
		unbounded.Put(ctx, string(key(fmt.Sprintf("u%d", i))), tokenAt("t", clk.Now(), time.Hour, time.Minute), nil)
	}
	if n := unbounded.Len(); n != 300 {
		t.Errorf("MaxEntries -1: Len = %d, want 300", n)
	}
}
