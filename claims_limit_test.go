package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/sts"
)

// hugeClaims is valid claims JSON of n bytes.
func hugeClaims(n int) string {
	head, tail := `{"access_token":{"x":{"value":"`, `"}}}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// TestOversizedClaimsAreRefused: claims over MaxClaimsBytes (from WithClaims
// or a credential's TokenRequestOptions.Claims) fail with an error naming the
// size, and nothing is sent to the authority.
func TestOversizedClaimsAreRefused(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	big := hugeClaims(3 << 20)
	_, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(big))
	if !errors.Is(err, ErrClaimsTooLarge) || !strings.Contains(err.Error(), strconv.Itoa(len(big))) ||
		!strings.Contains(err.Error(), "WithClaims") {
		t.Fatalf("err = %v, want ErrClaimsTooLarge naming WithClaims and %d bytes", err, len(big))
	}
	cred, rec := secretCred(t, a, nil)
	for _, cae := range []bool{false, true} {
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{seed.Scope}, Claims: big, EnableCAE: cae})
		if !errors.Is(err, ErrClaimsTooLarge) || !strings.Contains(err.Error(), strconv.Itoa(len(big))) {
			t.Fatalf("credential (CAE %t): err = %v, want ErrClaimsTooLarge naming the size", cae, err)
		}
	}
	if n := ct.posts.Load() + int64(rec.count()); n != 0 {
		t.Fatalf("%d token requests for oversized claims, want 0", n)
	}
}

// TestClaimsRequestsAreRateLimitedPerKey: a resource that challenges every
// call cannot make each call a request to the authority. Within
// ClaimsRequestInterval, claims requests for one key (sequential or
// concurrent, whatever their claims) share the last one's token; another key
// is not held back; after the interval a claims request goes out again.
func TestClaimsRequestsAreRateLimitedPerKey(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	c.cfg.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	first, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(claims))
	if err != nil || first.FromCache {
		t.Fatalf("first claims request: from cache %t, err %v", first.FromCache, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := `{"access_token":{"acrs":{"essential":true,"value":"c` + strconv.Itoa(i) + `"}}}`
			tok, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(other))
			if err == nil && (tok.AccessToken != first.AccessToken || !tok.FromCache) {
				err = errors.New("a claims request within the interval got a new token")
			}
			errs <- err
		}()
	}
	waitGroup(t, &wg, "claims requests")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.posts.Load(); n != 1 {
		t.Fatalf("%d token requests for 21 claims requests within %v, want 1", n, ClaimsRequestInterval)
	}
	// Another key (another tenant) has its own budget: its claims request
	// goes to the authority (which does not know the tenant) instead of
	// sharing this key's token.
	if tok, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(claims), WithTenant("other-tenant")); err == nil ||
		tok.AccessToken == first.AccessToken || !strings.Contains(err.Error(), "other-tenant") {
		t.Fatalf("another key's claims request was held back: err %v", err)
	}
	mu.Lock()
	now = now.Add(ClaimsRequestInterval)
	mu.Unlock()
	later, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(claims))
	if err != nil || later.FromCache || later.AccessToken == first.AccessToken {
		t.Fatalf("after the interval: from cache %t, same token %t, err %v", later.FromCache, later.AccessToken == first.AccessToken, err)
	}
}

// FuzzMergeCapabilities checks that merging CP1 into any claims either fails
// cleanly or gives a JSON object that lists CP1 and that a second merge leaves
// unchanged.
func FuzzMergeCapabilities(f *testing.F) {
	for _, s := range []string{"", "{}", `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`,
		`{"access_token":{"xms_cc":{"values":["cp1","X"]}}}`, `{"access_token":7}`, `{"access_token":{"xms_cc":[]}}`, "null", "[1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, claims string) {
		merged, err := mergeCapabilities(claims, []string{"CP1"})
		if err != nil {
			return
		}
		var doc map[string]any
		if json.Unmarshal([]byte(merged), &doc) != nil || !strings.Contains(strings.ToLower(merged), `"cp1"`) {
			t.Fatalf("merged %q into %q", claims, merged)
		}
		again, err := mergeCapabilities(merged, []string{"CP1"})
		if err != nil || again != merged {
			t.Fatalf("second merge: %q, %v; want %q", again, err, merged)
		}
	})
}
