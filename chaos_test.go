package appcred

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// Through an outage of the authority (every token request answered 503 by
// its chaos middleware), the client keeps serving the cached token while its
// background refreshes fail, and never hands out an error for it.
func TestChaosOutageServedFromCache(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{TokenLifetime: 10 * time.Second}, WithMaxRetries(0))
	scopes := []string{a.Seed().Scope}
	ctx := context.Background()
	first, err := c.AcquireTokenForClient(ctx, scopes)
	if err != nil {
		t.Fatal(err)
	}
	before := ct.posts.Load()
	a.SetChaos(sts.Chaos{Unavailable: 1})
	// Its refresh is due half way through its usable life (about 2.5 s);
	// keep calling until two refreshes have failed, or the usable life ends.
	deadline := time.Now().Add(4 * time.Second)
	for ct.posts.Load() < before+2 && time.Now().Before(deadline) {
		tok, err := c.AcquireTokenForClient(ctx, scopes)
		if err != nil {
			t.Fatalf("during the outage: %v", err)
		}
		if tok.AccessToken != first.AccessToken {
			t.Fatal("during the outage: a token other than the cached one")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ct.posts.Load() == before {
		t.Fatal("no refresh was attempted during the outage")
	}
}

// A 429 with Retry-After is retried after the wait, and the retry succeeds
// once the authority accepts requests again.
func TestChaosRetriesThrough429(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	got429 := make(chan struct{}, 8)
	rt := &statusTransport{next: a.HTTPClient().Transport, status: http.StatusTooManyRequests, seen: got429}
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithTransport(rt))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a.SetChaos(sts.Chaos{TooMany: 1}) // Retry-After: 1
	done := make(chan error, 1)
	begin := time.Now()
	go func() {
		_, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
		done <- err
	}()
	select {
	case <-got429:
	case err := <-done:
		t.Fatalf("returned (%v) before any 429", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no 429 within 10 s")
	}
	a.SetChaos(sts.Chaos{}) // the retry goes through
	if err := <-done; err != nil {
		t.Fatalf("after a 429: %v", err)
	}
	if d := time.Since(begin); d < 900*time.Millisecond {
		t.Fatalf("retried after %v, before the 1 s Retry-After", d)
	}
}

// statusTransport reports on seen each response with the given status.
type statusTransport struct {
	next   http.RoundTripper
	status int
	seen   chan struct{}
}

func (s *statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(r)
	if err == nil && res.StatusCode == s.status {
		select {
		case s.seen <- struct{}{}:
		default:
		}
	}
	return res, err
}
