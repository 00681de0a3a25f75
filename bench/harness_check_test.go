package bench

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestClientsGetTokensFromAuthority checks the network half of the harness:
// every library (and the miss floor) gets a real token from the authority for
// the seed scope and for a pool scope, and a second call is a cache hit.
func TestClientsGetTokensFromAuthority(t *testing.T) {
	e := getEnv(t)
	for _, lib := range slices.Concat(libraries, []library{floorLibrary}) {
		t.Run(lib.name, func(t *testing.T) {
			ct := &counter{}
			hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper { ct.base = rt; return ct })
			defer hc.CloseIdleConnections()
			c := mustClient(t, lib, e, hc)
			defer c.close()
			ctx := context.Background()
			for _, scope := range []string{e.seed.Scope, e.pool[len(e.pool)-1]} {
				before := ct.tokens.Load()
				tok, err := c.get(ctx, []string{scope})
				if err != nil {
					t.Fatalf("token for %s: %v", scope, err)
				}
				if got := ct.tokens.Load() - before; got != 1 {
					t.Fatalf("first call for %s sent %d token requests, want 1", scope, got)
				}
				claims := jwt.MapClaims{}
				if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
					t.Fatalf("token for %s is not a JWT: %v", scope, err)
				}
				if claims["tid"] != e.seed.TenantID {
					t.Errorf("token for %s: tid = %v, want %s", scope, claims["tid"], e.seed.TenantID)
				}
				before = ct.tokens.Load()
				again, err := c.get(ctx, []string{scope})
				if err != nil {
					t.Fatalf("second token for %s: %v", scope, err)
				}
				cached := lib.name != "floor" // the floor has no cache: every call is a request
				if got, want := ct.tokens.Load()-before, map[bool]int64{true: 0, false: 1}[cached]; got != want {
					t.Errorf("second call for %s sent %d token requests, want %d", scope, got, want)
				}
				if (again == tok) != cached {
					t.Errorf("second call for %s: same token = %v, want %v", scope, again == tok, cached)
				}
			}
		})
	}
}

// TestFillerTokensAccepted checks the fill half: every library accepts the
// canned responses, caches them under the key a plain call looks up (MSAL Go
// is filled with claims), returns each scope's own token from the cache, and
// sends no token request for a hit.
func TestFillerTokensAccepted(t *testing.T) {
	e := getEnv(t)
	const n = 5
	for _, lib := range libraries {
		t.Run(lib.name, func(t *testing.T) {
			fc := fill(t, lib, e, fillScopes(n))
			defer fc.c.close()
			for round := 0; round < 2; round++ {
				for _, s := range fc.scopes {
					tok, err := fc.c.get(context.Background(), s)
					if err != nil {
						t.Fatalf("hit for %s: %v", s[0], err)
					}
					if tok != cannedToken(s[0]) {
						t.Fatalf("hit for %s returned another token (%d bytes)", s[0], len(tok))
					}
				}
			}
			if got := fc.f.tokens.Load(); got != n {
				t.Errorf("%d token requests for %d scopes filled and hit twice, want %d", got, n, n)
			}
			if tok := cannedToken(fc.scopes[0][0]); len(tok) != tokenLen || tok == cannedToken(fc.scopes[1][0]) {
				t.Errorf("canned tokens must be %d bytes and differ per scope", tokenLen)
			}
		})
	}
}
