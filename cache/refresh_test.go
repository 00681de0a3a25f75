package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRefreshAheadServesCachedWhileOneRefreshRuns(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	c := New(Options{Now: clk.Now, Store: store})
	defer c.Close()
	k := key("api://r/.default")
	release := make(chan struct{})
	f := &counter{started: make(chan struct{}, 10), next: func(ctx context.Context, n int) (*Token, error) {
		<-release
		return tokenAt(fmt.Sprintf("tok-%d", n+1), clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	old, err := c.Put(context.Background(), string(k), tokenAt("tok-1", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	if err != nil {
		t.Fatal(err)
	}
	<-store.puts

	clk.Advance(51 * time.Minute) // past RefreshOn, well before expiry
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if tok, ok := c.Lookup(k); !ok || tok != old {
					t.Errorf("Lookup during refresh = %v, %v; want the cached token", tok, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-f.started
	if n := f.calls(); n != 1 {
		t.Fatalf("%d refreshes started, want 1", n)
	}
	if st := c.Stats(); st.Refreshes != 1 || st.Hits != 1000 {
		t.Fatalf("stats %+v, want 1 refresh and 1000 hits", st)
	}
	close(release)
	if got := <-store.puts; got != string(k) { // the refresh persisted its token
		t.Fatalf("store put %q", got)
	}
	if tok := mustLookup(t, c, k); tok.AccessToken != "tok-2" {
		t.Fatalf("after refresh Lookup = %v, want tok-2", tok)
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("fetch called %d times, want 1", n)
	}
}

func TestRefreshFailureKeepsServingAndRetries(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	logs := newLogSink()
	c := New(Options{Now: clk.Now, Store: store, Logger: slogLogger(logs), RetryBase: time.Second, RetryMax: 4 * time.Second})
	defer c.Close()
	k := key("api://f/.default")
	f := &counter{next: func(ctx context.Context, n int) (*Token, error) {
		if n <= 2 {
			return nil, errors.New("authority unavailable")
		}
		return tokenAt("tok-new", clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	old, _ := c.Put(context.Background(), string(k), tokenAt("tok-old-secret", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	<-store.puts

	clk.Advance(51 * time.Minute)
	for round := 1; round <= 2; round++ {
		if tok := mustLookup(t, c, k); tok != old { // starts refresh attempt `round`
			t.Fatalf("round %d: Lookup = %v, want the old token", round, tok)
		}
		line := <-logs.ch
		if !strings.Contains(line, "refresh failed") || strings.Contains(line, "tok-old-secret") {
			t.Fatalf("log line %q", line)
		}
		// Backing off: more Lookups serve the old token and start nothing.
		for range 10 {
			if tok := mustLookup(t, c, k); tok != old {
				t.Fatalf("Lookup while backing off = %v", tok)
			}
		}
		if n := f.calls(); n != round {
			t.Fatalf("round %d: fetch called %d times during backoff", round, n)
		}
		clk.Advance(4 * time.Second) // RetryMax: the backoff is over
	}
	mustLookup(t, c, k) // third attempt succeeds
	<-store.puts
	if tok := mustLookup(t, c, k); tok.AccessToken != "tok-new" {
		t.Fatalf("after successful retry Lookup = %v", tok)
	}
	if st := c.Stats(); st.Refreshes != 3 || st.RefreshFailures != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailedRefreshServesUntilExpiry(t *testing.T) {
	clk := newClock()
	logs := newLogSink()
	c := New(Options{Now: clk.Now, Logger: slogLogger(logs)})
	defer c.Close()
	k := key("x")
	f := &counter{next: func(context.Context, int) (*Token, error) { return nil, errors.New("down") }}
	c.Put(context.Background(), string(k), tokenAt("tok", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	clk.Advance(51 * time.Minute)
	mustLookup(t, c, k)
	<-logs.ch
	clk.Advance(9*time.Minute - DefaultExpirySkew - time.Nanosecond) // last usable instant
	mustLookup(t, c, k)
	clk.Advance(time.Nanosecond)
	if tok, ok := c.Lookup(k); ok {
		t.Fatalf("Lookup within the expiry skew returned %v", tok)
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("expired entry not evicted: Len = %d", n)
	}
}

func TestCloseStopsRefreshInFlight(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	k := key("close")
	ended := make(chan error, 1)
	f := &counter{started: make(chan struct{}, 1), next: func(ctx context.Context, _ int) (*Token, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}}
	old, _ := c.Put(context.Background(), string(k), tokenAt("tok", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	clk.Advance(51 * time.Minute)
	mustLookup(t, c, k)
	<-f.started
	c.Close() // returns only once the refresh has stopped
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("refresh ended with %v", err)
		}
	default:
		t.Fatal("Close returned while the refresh was still running")
	}
	if tok := mustLookup(t, c, k); tok != old { // still served, no new refresh
		t.Fatalf("Lookup after Close = %v", tok)
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("refresh started after Close: %d calls", n)
	}
	if _, err := c.Fetch(context.Background(), "other", f.fetch); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch after Close: %v", err)
	}
	c.Close() // idempotent
}

func TestBackoffBounds(t *testing.T) {
	c := New(Options{RetryBase: time.Second, RetryMax: 8 * time.Second})
	defer c.Close()
	for n, max := range map[uint32]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 40: 8 * time.Second} {
		for range 100 {
			if d := c.backoff(n); d < max/2 || d > max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, max/2, max)
			}
		}
	}
}

func TestRealClockStartsRefreshWhenDue(t *testing.T) {
	c := New(Options{}) // coarse clock path
	defer c.Close()
	k := key("due")
	f := &counter{started: make(chan struct{}, 1), next: func(context.Context, int) (*Token, error) {
		return tokenAt("fresh", time.Now(), time.Hour, 50*time.Minute), nil
	}}
	far, _ := c.Put(context.Background(), string(key("far")), tokenAt("far", time.Now(), time.Hour, 50*time.Minute), f.fetch)
	old, _ := c.Put(context.Background(), string(k), tokenAt("old", time.Now().Add(-time.Minute), time.Hour, time.Second), f.fetch)
	if tok := mustLookup(t, c, key("far")); tok != far {
		t.Fatalf("far = %v", tok)
	}
	if tok := mustLookup(t, c, k); tok != old {
		t.Fatalf("due = %v", tok)
	}
	<-f.started
	c.Close() // waits for the refresh to finish
	if tok := mustLookup(t, c, k); tok.AccessToken != "fresh" || f.calls() != 1 {
		t.Fatalf("after refresh: %v, %d calls", tok, f.calls())
	}
}

func TestRefreshAdoptsFresherTokenFromStore(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	c := New(Options{Now: clk.Now, Store: store})
	defer c.Close()
	k := key("shared")
	f := &counter{next: func(context.Context, int) (*Token, error) {
		return tokenAt("fetched", clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	c.Put(context.Background(), string(k), tokenAt("old", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	<-store.puts
	clk.Advance(51 * time.Minute)
	// Another replica has refreshed the token and written it to the store.
	store.Put(context.Background(), string(k), tokenAt("from-replica", clk.Now(), time.Hour, 50*time.Minute))
	<-store.puts
	mustLookup(t, c, k) // starts the refresh
	c.Close()
	if tok := mustLookup(t, c, k); tok.AccessToken != "from-replica" || f.calls() != 0 {
		t.Fatalf("after refresh: %v with %d fetches; want the replica's token and none", tok, f.calls())
	}
	select {
	case k := <-store.puts:
		t.Fatalf("adopted token written back to the store (%s)", k)
	default:
	}
}

func TestUnclosedCacheStopsItsClock(t *testing.T) {
	clk := New(Options{}).clock // the Cache itself becomes garbage at once
	for range 100 {
		runtime.GC()
		select {
		case <-clk.stop:
			return
		default:
			runtime.Gosched()
		}
	}
	t.Fatal("the coarse clock of an unreachable Cache was never stopped")
}

// Short-lived tokens whose RefreshOn comes from ComputeRefreshOn (as the
// client computes it) are refreshed about twice a lifetime under steady
// traffic, not back to back.
func TestShortLivedTokensRefreshHalfWay(t *testing.T) {
	for _, life := range []time.Duration{300 * time.Second, 6 * time.Minute, 2 * time.Minute} {
		t.Run(life.String(), func(t *testing.T) {
			clk := newClock()
			store := newMemStore() // its puts tell when a refresh has landed
			c := New(Options{Now: clk.Now, Store: store})
			defer c.Close()
			k := key("short-lived")
			f := &counter{next: func(context.Context, int) (*Token, error) {
				now := clk.Now()
				return &Token{AccessToken: "t", ExpiresOn: now.Add(life), RefreshOn: ComputeRefreshOn(now, now.Add(life), 0)}, nil
			}}
			first, err := c.Fetch(context.Background(), string(k), f.fetch)
			if err != nil {
				t.Fatal(err)
			}
			<-store.puts
			// Half the lifetime, or half the usable life (the cache leaves
			// room for refresh ahead before ExpiresOn-ExpirySkew).
			every := first.RefreshOn.Sub(clk.Now())
			if every < (life-DefaultExpirySkew)/2 {
				t.Fatalf("RefreshOn = issue+%v for a %v token", every, life)
			}
			const span = 20 * time.Minute
			refreshes := uint64(0)
			for elapsed := time.Duration(0); elapsed < span; elapsed += time.Second { // a hit every second
				tok := mustLookup(t, c, k)
				if !clk.Now().Before(tok.ExpiresOn.Add(-DefaultExpirySkew)) {
					t.Fatalf("served a token past its usable life at +%v", elapsed)
				}
				if st := c.Stats(); st.Refreshes > refreshes { // wait for it to land
					refreshes = st.Refreshes
					<-store.puts
				}
				clk.Advance(time.Second)
			}
			if want := uint64(span / every); refreshes < want-1 || refreshes > want+1 {
				t.Fatalf("%d refreshes of a %v token over %v of hits, want about %d", refreshes, life, span, want)
			}
			if n := f.calls(); uint64(n) != refreshes+1 {
				t.Fatalf("%d fetches for %d refreshes", n, refreshes)
			}
		})
	}
}

// A RefreshOn at or just before the moment a token stops being served (a
// refresh_in close to the lifetime, a stored token) is moved earlier, so a
// hit still starts a refresh ahead of expiry.
func TestRefreshOnLeavesRoomForRefreshAhead(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.Now})
	defer c.Close()
	k := key("late")
	f := &counter{started: make(chan struct{}, 1), next: func(context.Context, int) (*Token, error) {
		return tokenAt("new", clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	for _, refreshAfter := range []time.Duration{time.Hour, time.Hour - time.Second, 59*time.Minute + 20*time.Second} {
		tok, err := c.Put(context.Background(), "x", tokenAt("old", clk.Now(), time.Hour, refreshAfter), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := clk.Now().Add(time.Hour - DefaultExpirySkew - refreshLead); !tok.RefreshOn.Equal(want) {
			t.Errorf("refresh after %v: RefreshOn = +%v, want +%v", refreshAfter, tok.RefreshOn.Sub(clk.Now()), want.Sub(clk.Now()))
		}
	}
	// Earlier RefreshOn values are kept as they are.
	if tok, _ := c.Put(context.Background(), "x", tokenAt("old", clk.Now(), time.Hour, 55*time.Minute), nil); !tok.RefreshOn.Equal(clk.Now().Add(55 * time.Minute)) {
		t.Errorf("RefreshOn moved: +%v", tok.RefreshOn.Sub(clk.Now()))
	}
	// A short usable life: half way to the end of it.
	if tok, _ := c.Put(context.Background(), "x", tokenAt("old", clk.Now(), 90*time.Second, 90*time.Second), nil); !tok.RefreshOn.Equal(clk.Now().Add(30 * time.Second)) {
		t.Errorf("90 s token: RefreshOn = +%v, want +30s", tok.RefreshOn.Sub(clk.Now()))
	}

	old, _ := c.Put(context.Background(), string(k), tokenAt("old", clk.Now(), time.Hour, time.Hour), f.fetch)
	clk.Advance(time.Hour - DefaultExpirySkew - time.Second) // the last second it is served
	if tok := mustLookup(t, c, k); tok != old {
		t.Fatalf("Lookup = %v", tok)
	}
	if st := c.Stats(); st.Refreshes != 1 {
		t.Fatalf("no refresh ahead before the token stops being served: stats %+v", st)
	}
	<-f.started
	c.Close()
	if tok := mustLookup(t, c, k); tok.AccessToken != "new" {
		t.Fatalf("after the refresh Lookup = %v", tok)
	}
}

// A Lookup that loaded an entry just before its refresh replaced it must not
// start a second refresh (whose result replace would throw away).
func TestReplacedEntryStartsNoSecondRefresh(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	c := New(Options{Now: clk.Now, Store: store})
	defer c.Close()
	k := key("dup")
	f := &counter{next: func(_ context.Context, n int) (*Token, error) {
		return tokenAt(fmt.Sprint("tok-", n+1), clk.Now(), time.Hour, 50*time.Minute), nil
	}}
	c.Put(context.Background(), string(k), tokenAt("tok-1", clk.Now(), time.Hour, 50*time.Minute), f.fetch)
	<-store.puts
	clk.Advance(51 * time.Minute)
	ck := c.compactString(string(k))
	stale := c.shardOf([]byte(ck)).load()[ck] // what a racing Lookup has loaded
	mustLookup(t, c, k)                       // starts the refresh
	<-store.puts                              // it has replaced stale
	if tok := mustLookup(t, c, k); tok.AccessToken != "tok-2" {
		t.Fatalf("after refresh Lookup = %v", tok)
	}
	c.refreshAhead(k, stale, clk.Now()) // the racing Lookup goes on with stale
	c.Close()                           // waits for any refresh it started
	if n, st := f.calls(), c.Stats(); n != 1 || st.Refreshes != 1 {
		t.Fatalf("%d fetches, %d refreshes started; want 1 (the replaced entry refreshed again)", n, st.Refreshes)
	}
	if tok := mustLookup(t, c, k); tok.AccessToken != "tok-2" {
		t.Fatalf("Lookup = %v", tok)
	}
}
