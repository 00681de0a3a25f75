package appcred

import (
	"context"
	"sync"
	"testing"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// 1,000 concurrent cold callers for one key make exactly one token request.
func TestHerdMakesOneRequest(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{})
	seed := a.Seed()
	ct.hold = make(chan struct{})
	const n = 1000
	var wg, started sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	started.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			started.Done()
			tok, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
			tokens[i], errs[i] = tok.AccessToken, err
		}(i)
	}
	started.Wait()
	close(ct.hold) // let the (single) request through once every caller is running
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Fatal("callers got different tokens")
		}
	}
	if got := ct.posts.Load(); got != 1 {
		t.Fatalf("%d token requests for %d concurrent callers, want 1", got, n)
	}
}

// A cache hit returns while another key's request is held open.
func TestHitDoesNotWaitForOtherMiss(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	other, err := a.AddApp(seed.TenantID, directory.App{DisplayName: "other-api", IdentifierURIs: []string{"api://other"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = other
	ct := newCounting(a)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithTransport(ct))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	ct.hold = make(chan struct{})
	missDone := make(chan error, 1)
	go func() {
		_, err := c.AcquireTokenForClient(ctx, []string{"api://other/.default"})
		missDone <- err
	}()
	for ct.posts.Load() < 2 { // the miss is now held inside the transport
		select {
		case err := <-missDone:
			t.Fatalf("miss finished early: %v", err)
		default:
		}
	}
	tok, err := c.AcquireTokenForClient(ctx, []string{seed.Scope})
	if err != nil || !tok.FromCache {
		t.Fatalf("hit while another key's miss is in flight: from cache %v, err %v", tok.FromCache, err)
	}
	select {
	case err := <-missDone:
		t.Fatalf("the miss finished before it was released: %v", err)
	default:
	}
	close(ct.hold)
	if err := <-missDone; err != nil {
		t.Fatal(err)
	}
}
