package appcred

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
)

// replayGuard is a generic issuer that checks client assertions signed with
// newGenericIssuer's certificate and, like Ory Hydra or oidc-provider,
// accepts each jti once. It answers the first token request with a 503.
type replayGuard struct {
	srv   *httptest.Server
	posts atomic.Int64
	mu    sync.Mutex
	seen  map[string]bool
	jtis  []string
}

func newReplayGuard(t *testing.T, g *genericIssuer) *replayGuard {
	t.Helper()
	rg := &replayGuard{seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": rg.srv.URL, "token_endpoint": rg.srv.URL + "/token",
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := rg.posts.Add(1)
		if err := r.ParseForm(); err != nil {
			g.fail(w, 400, "invalid_request")
			return
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &claims,
			func(*jwt.Token) (any, error) { return g.cert.Leaf.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(rg.srv.URL+"/token"),
			jwt.WithIssuer(g.clientID), jwt.WithSubject(g.clientID), jwt.WithExpirationRequired())
		if err != nil || claims.ID == "" {
			g.fail(w, 401, "invalid_client")
			return
		}
		rg.mu.Lock()
		replayed := rg.seen[claims.ID]
		rg.seen[claims.ID] = true
		rg.jtis = append(rg.jtis, claims.ID)
		rg.mu.Unlock()
		switch {
		case replayed:
			g.fail(w, 401, "invalid_client") // jti already used
		case n == 1:
			g.fail(w, http.StatusServiceUnavailable, "temporarily_unavailable")
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "opaque", "token_type": "Bearer", "expires_in": 3600})
		}
	})
	rg.srv = httptest.NewTLSServer(mux)
	t.Cleanup(rg.srv.Close)
	return rg
}

// A retry after a 503 signs a new client assertion: a server that rejects a
// replayed jti still issues the token on the second attempt.
func TestRetrySignsFreshAssertion(t *testing.T) {
	g := newGenericIssuer(t)
	for name, p := range map[string]Proof{
		"certificate": FromCertificate(g.cert, CertificateOptions{}),
		"callback": FromAssertion(func(ctx context.Context, req AssertionRequest) (string, error) {
			return g.cert.Assertion(req.ClientID, req.TokenEndpoint, proof.AssertionOptions{Alg: proof.RS256})
		}),
	} {
		t.Run(name, func(t *testing.T) {
			rg := newReplayGuard(t, g)
			c, err := New(rg.srv.URL, g.clientID, p, WithGenericIssuer(), WithHTTPClient(rg.srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tok, err := c.AcquireTokenForClient(context.Background(), []string{"orders.read"})
			if err != nil {
				t.Fatalf("after one 503: %v", err)
			}
			if tok.AccessToken != "opaque" || rg.posts.Load() != 2 {
				t.Fatalf("token %v after %d POSTs, want 2", tok, rg.posts.Load())
			}
			rg.mu.Lock()
			defer rg.mu.Unlock()
			if len(rg.jtis) != 2 || rg.jtis[0] == rg.jtis[1] {
				t.Fatalf("jtis %q: want two different", rg.jtis)
			}
		})
	}
}
