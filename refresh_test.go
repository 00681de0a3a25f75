package appcred

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/sts"
)

// End-to-end refresh ahead against the real local authority: the cache
// serves the old token while ONE background request is in flight, keeps
// serving it while refreshes fail, and short-lived tokens are not refreshed
// back to back.

// hangGuard bounds the waits below so that a broken cache fails the test
// instead of hanging it; it is not a speed target.
const hangGuard = 30 * time.Second

// waitPast polls until the wall clock is at or past at.
func waitPast(t *testing.T, at time.Time) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); time.Now().Before(at); {
		if time.Now().After(deadline) {
			t.Fatalf("clock never reached %v", at)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGroup waits for wg, failing the test if it takes longer than hangGuard.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("%s never returned", what)
	}
}

func TestRefreshAheadEndToEnd(t *testing.T) {
	const refreshIn = 2 * time.Second
	a, c, ct := seedClient(t, sts.Options{RefreshIn: refreshIn})
	seed := a.Seed()
	ctx := context.Background()
	scopes := []string{seed.Scope}
	first, err := c.AcquireTokenForClient(ctx, scopes)
	if err != nil || first.FromCache {
		t.Fatalf("first token: from cache %v, err %v", first.FromCache, err)
	}
	// RefreshOn = issue + refresh_in; ExpiresOn = issue + expires_in.
	if got, want := first.ExpiresOn.Sub(first.RefreshOn), sts.DefaultTokenLifetime-refreshIn; got != want {
		t.Fatalf("RefreshOn is %v before expiry, want %v (refresh_in honoured)", got, want)
	}

	waitPast(t, first.RefreshOn)
	ct.hold = make(chan struct{}) // the refresh request will wait in the transport
	const callers = 200
	got := make([]Token, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.AcquireTokenForClient(ctx, scopes)
		}()
	}
	waitGroup(t, &wg, "callers past RefreshOn (did they wait for the held refresh?)")
	for i := range callers {
		if errs[i] != nil || !got[i].FromCache || got[i].AccessToken != first.AccessToken {
			t.Fatalf("caller %d past RefreshOn: from cache %v, same token %v, err %v",
				i, got[i].FromCache, got[i].AccessToken == first.AccessToken, errs[i])
		}
	}
	for deadline := time.Now().Add(hangGuard); ct.posts.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no refresh request was made")
		}
	}
	for range 50 { // more hits while the refresh is still held: no second request
		tok, err := c.AcquireTokenForClient(ctx, scopes)
		if err != nil || !tok.FromCache || tok.AccessToken != first.AccessToken {
			t.Fatalf("hit during the refresh: from cache %v, err %v", tok.FromCache, err)
		}
	}
	if n := ct.posts.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2 (the first and ONE refresh)", n)
	}

	close(ct.hold)
	var next Token
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(time.Millisecond) {
		tok, err := c.AcquireTokenForClient(ctx, scopes)
		if err != nil || !tok.FromCache {
			t.Fatalf("after the release: from cache %v, err %v", tok.FromCache, err)
		}
		if tok.AccessToken != first.AccessToken {
			next = tok
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refreshed token never replaced the old one")
		}
	}
	checked := time.Now()
	if !next.RefreshOn.After(first.RefreshOn) || !next.ExpiresOn.After(first.ExpiresOn) {
		t.Fatalf("refreshed token: RefreshOn %v, ExpiresOn %v; not later than the first's", next.RefreshOn, next.ExpiresOn)
	}
	for range 10 {
		if tok, err := c.AcquireTokenForClient(ctx, scopes); err != nil || tok.AccessToken != next.AccessToken {
			t.Fatalf("after the refresh: new token %v, err %v", tok.AccessToken == next.AccessToken, err)
		}
	}
	// Until the new token is due itself, no further request may be made.
	if n := ct.posts.Load(); n != 2 && checked.Before(next.RefreshOn) {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestFailedRefreshServesTokenUntilExpiry(t *testing.T) {
	// Usable for 34 s − ExpirySkew (30 s) = 4 s; due for refresh after 1 s.
	a := startAuthority(t, sts.Options{TokenLifetime: 34 * time.Second, RefreshIn: time.Second})
	seed := a.Seed()
	ct := newCounting(a)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
		WithTransport(ct), WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	scopes := []string{seed.Scope}
	first, err := c.AcquireTokenForClient(ctx, scopes)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // the authority goes away: every refresh fails
		t.Fatal(err)
	}
	servedAfterFailure := 0
	var lastErr error
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(10 * time.Millisecond) {
		failedBefore := ct.posts.Load() >= 2
		tok, err := c.AcquireTokenForClient(ctx, scopes)
		if err != nil {
			if time.Now().Before(first.ExpiresOn.Add(-cache.DefaultExpirySkew)) {
				t.Fatalf("the cached token was dropped before expiry: %v", err)
			}
			lastErr = err
			break
		}
		if !tok.FromCache || tok.AccessToken != first.AccessToken {
			t.Fatalf("while refreshes fail: from cache %v, same token %v", tok.FromCache, tok.AccessToken == first.AccessToken)
		}
		if failedBefore {
			servedAfterFailure++
		}
		if time.Now().After(deadline) {
			t.Fatal("the token was served past its expiry")
		}
	}
	if servedAfterFailure == 0 {
		t.Fatal("no hit was served after a failed refresh")
	}
	if strings.Contains(lastErr.Error(), first.AccessToken) || strings.Contains(lastErr.Error(), seed.ClientSecret) {
		t.Fatal("error text carries the token or the secret")
	}
	// posts = the first request + background attempts + the final miss. The
	// attempts back off (1 s, 2 s, … jittered), so a 3 s window holds few.
	if attempts := ct.posts.Load() - 2; attempts < 1 || attempts > 5 {
		t.Fatalf("%d background refresh attempts while the authority was down, want 1 to 5 (backoff)", attempts)
	}
}

func TestShortLivedTokenIsNotRefreshedAtOnce(t *testing.T) {
	for _, life := range []time.Duration{5 * time.Minute, 6 * time.Minute} {
		t.Run(life.String(), func(t *testing.T) {
			a, c, ct := seedClient(t, sts.Options{TokenLifetime: life})
			seed := a.Seed()
			ctx := context.Background()
			scopes := []string{seed.Scope}
			first, err := c.AcquireTokenForClient(ctx, scopes)
			if err != nil {
				t.Fatal(err)
			}
			issued := first.ExpiresOn.Add(-life)
			if want := cache.ComputeRefreshOn(issued, first.ExpiresOn, 0); !first.RefreshOn.Equal(want) {
				t.Fatalf("RefreshOn = issue+%v, want issue+%v", first.RefreshOn.Sub(issued), want.Sub(issued))
			}
			if got := first.RefreshOn.Sub(issued); got != life/2 {
				t.Fatalf("RefreshOn = issue+%v, want half the lifetime", got)
			}
			const workers, each = 8, 100
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						tok, err := c.AcquireTokenForClient(ctx, scopes)
						if err != nil || !tok.FromCache || tok.AccessToken != first.AccessToken {
							t.Errorf("hit: from cache %v, err %v", tok.FromCache, err)
							return
						}
					}
				}()
			}
			waitGroup(t, &wg, "the burst of hits")
			c.Close() // waits for any background refresh
			if n := ct.posts.Load(); n != 1 {
				t.Fatalf("%d token requests for %d hits on a fresh %v token, want 1", n, workers*each, life)
			}
		})
	}
}
