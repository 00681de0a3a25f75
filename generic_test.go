package appcred

import (
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
)

// genericIssuer is a small standards-only OAuth 2.0 server: RFC 8414 discovery,
// client_secret_basic (RFC 6749 §2.3.1), client_secret_post and private_key_jwt
// (RFC 7523), and none of Entra's extras. Like Ory Hydra it enforces each
// client's registered authentication method and picks the key that verifies an
// assertion from the client's JWKS by kid (the first key when there is none).
type genericIssuer struct {
	srv      *httptest.Server
	clientID string
	secret   string
	cert     *proof.Certificate
	methods  []string // token_endpoint_auth_methods_supported
	requests atomic.Int64
	mu       sync.Mutex
	clients  map[string]genericClient
	kids     []string // the kid header of every assertion received ("" when absent)
}

// genericClient is a client registration at the genericIssuer.
type genericClient struct {
	secret  string
	methods []string // token_endpoint_auth_method (Hydra has one; the default client has two)
	jwks    []jwk
}

// jwk is one key of a client's JWKS.
type jwk struct {
	kid string
	key crypto.PublicKey
}

// newGenericIssuer starts the issuer advertising methods (client_secret_basic
// and private_key_jwt when none are given), with one client, g.clientID,
// registered for client_secret_basic with g.secret and for private_key_jwt with
// g.cert under kid x5t.
func newGenericIssuer(t *testing.T, methods ...string) *genericIssuer {
	t.Helper()
	cert, err := proof.NewSelfSigned("CN=generic-client", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if len(methods) == 0 {
		methods = []string{"client_secret_basic", "private_key_jwt"}
	}
	g := &genericIssuer{clientID: "svc:orders", secret: "s3cret/with+odd&chars", cert: cert, methods: methods,
		clients: map[string]genericClient{}}
	g.register(g.clientID, genericClient{secret: g.secret, methods: []string{"client_secret_basic", "private_key_jwt"},
		jwks: []jwk{{proof.X5T(cert.Leaf), cert.Leaf.PublicKey}}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                g.srv.URL,
			"token_endpoint":                        g.srv.URL + "/token",
			"jwks_uri":                              g.srv.URL + "/jwks",
			"token_endpoint_auth_methods_supported": g.methods,
		})
	})
	mux.HandleFunc("POST /token", g.token)
	g.srv = httptest.NewTLSServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *genericIssuer) register(id string, c genericClient) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clients[id] = c
}

func (g *genericIssuer) fail(w http.ResponseWriter, status int, code string, desc ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": strings.Join(desc, " ")})
}

// authenticate returns the client a request authenticates as and the method
// it used, or "" when it carries no client authentication.
func authenticate(r *http.Request) (id, method string) {
	switch user, _, ok := r.BasicAuth(); {
	case ok:
		id, _ = url.QueryUnescape(user)
		return id, "client_secret_basic"
	case r.PostForm.Has("client_secret"):
		return r.PostForm.Get("client_id"), "client_secret_post"
	case r.PostForm.Get("client_assertion_type") == assertionType:
		return r.PostForm.Get("client_id"), "private_key_jwt"
	}
	return "", ""
}

// verify checks the proof of a request that authenticates with method.
func (g *genericIssuer) verify(r *http.Request, id, method string, c genericClient) bool {
	if method != "private_key_jwt" {
		sec := r.PostForm.Get("client_secret")
		if _, pass, ok := r.BasicAuth(); ok {
			sec, _ = url.QueryUnescape(pass)
		}
		return subtle.ConstantTimeCompare([]byte(sec), []byte(c.secret)) == 1
	}
	_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), jwt.MapClaims{},
		func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			g.mu.Lock()
			g.kids = append(g.kids, kid)
			g.mu.Unlock()
			for _, k := range c.jwks {
				if kid == "" || k.kid == kid {
					return k.key, nil
				}
			}
			return nil, fmt.Errorf("no key with kid %q", kid)
		},
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(g.srv.URL+"/token"),
		jwt.WithIssuer(id), jwt.WithSubject(id), jwt.WithExpirationRequired())
	return err == nil
}

func (g *genericIssuer) token(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		g.fail(w, 400, "invalid_request")
		return
	}
	id, method := authenticate(r)
	g.mu.Lock()
	c, known := g.clients[id]
	g.mu.Unlock()
	switch {
	case method == "" || !slices.Contains(g.methods, method) || !known:
		g.fail(w, 401, "invalid_client")
		return
	case !slices.Contains(c.methods, method):
		g.fail(w, 401, "invalid_client", "client supports "+strings.Join(c.methods, ", ")+", but "+method+" was requested")
		return
	case !g.verify(r, id, method, c):
		g.fail(w, 401, "invalid_client")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "opaque-" + r.PostForm.Get("scope"), "token_type": "bearer", "expires_in": 3600,
	})
}

func TestGenericIssuer(t *testing.T) {
	g := newGenericIssuer(t)
	for name, p := range map[string]Proof{
		"client_secret_basic": FromSecret(g.secret),
		"private_key_jwt":     FromCertificate(g.cert, CertificateOptions{}),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(g.srv.URL, g.clientID, p, WithGenericIssuer(), WithHTTPClient(g.srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := g.requests.Load()
			for i := 0; i < 2; i++ {
				tok, err := c.AcquireTokenForClient(context.Background(), []string{"orders.read"})
				if err != nil {
					t.Fatal(err)
				}
				if tok.AccessToken != "opaque-orders.read" || tok.FromCache != (i == 1) {
					t.Fatalf("call %d: %v", i, tok)
				}
			}
			if n := g.requests.Load() - before; n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
			// Scopes are case-sensitive at a generic issuer: "Orders.Read" is another token.
			tok, err := c.AcquireTokenForClient(context.Background(), []string{"Orders.Read"})
			if err != nil || tok.FromCache || tok.AccessToken != "opaque-Orders.Read" {
				t.Fatalf("scope case: from cache %v, err %v", tok.FromCache, err)
			}
		})
	}
	c, _ := New(g.srv.URL, g.clientID, FromSecret("wrong-Zq8v1x"), WithGenericIssuer(), WithHTTPClient(g.srv.Client()))
	_, err := c.AcquireTokenForClient(context.Background(), []string{"orders.read"})
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 401 || re.OAuthError != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-Zq8v1x") {
		t.Fatal("error text contains the secret")
	}
}

// The client retries a 429 with Retry-After and a 503, and gives up at the
// context deadline against a server that never answers.
func TestFaultsThroughClient(t *testing.T) {
	g := newGenericIssuer(t)
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": "https://" + r.Host, "token_endpoint": "https://" + r.Host + "/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		case 2:
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		default:
			g.token(w, r)
		}
	})
	flaky := httptest.NewTLSServer(mux)
	defer flaky.Close()
	c, err := New(flaky.URL, g.clientID, FromSecret(g.secret), WithGenericIssuer(), WithHTTPClient(flaky.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AcquireTokenForClient(context.Background(), []string{"x"}); err != nil {
		t.Fatalf("after 429 and 503: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d attempts, want 3", calls.Load())
	}

	hang := make(chan struct{})
	silent := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": "https://" + r.Host, "token_endpoint": "https://" + r.Host + "/token"})
			return
		}
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(hang)
	c2, err := New(silent.URL, "id", FromSecret("s"), WithGenericIssuer(), WithHTTPClient(silent.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c2.AcquireTokenForClient(ctx, []string{"x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("never-answering server: %v, want the context deadline", err)
	}
	// No deadline on the context: WithTimeout bounds the request.
	c3, err := New(silent.URL, "id", FromSecret("s"), WithGenericIssuer(), WithHTTPClient(silent.Client()),
		WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err = c3.AcquireTokenForClient(context.Background(), []string{"x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WithTimeout against a never-answering server: %v, want a deadline error", err)
	}
}

// Two generic issuers on one host (paths differing, even only in case) with
// the same client id never share a cached token.
func TestGenericIssuersOnOneHostKeepApart(t *testing.T) {
	var requests atomic.Int64
	mux := http.NewServeMux()
	var srv *httptest.Server
	for _, realm := range []string{"prod", "Prod", "dev"} {
		iss := "/realms/" + realm
		mux.HandleFunc("GET "+iss+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL + iss, "token_endpoint": srv.URL + iss + "/token",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post"}})
		})
		mux.HandleFunc("POST "+iss+"/token", func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "token-of-" + realm, "token_type": "Bearer", "expires_in": 3600})
		})
	}
	srv = httptest.NewTLSServer(mux)
	defer srv.Close()
	store := newMemStore()
	for _, realm := range []string{"prod", "Prod", "dev", "prod"} {
		c, err := New(srv.URL+"/realms/"+realm, "same-client", FromSecret("s"), WithGenericIssuer(),
			WithHTTPClient(srv.Client()), WithCacheStore(store))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.AcquireTokenForClient(context.Background(), []string{"read"})
		_ = c.Close()
		if err != nil || tok.AccessToken != "token-of-"+realm {
			t.Fatalf("issuer %s got %q (err %v)", realm, tok.AccessToken, err)
		}
	}
	if n := requests.Load(); n != 3 { // the second "prod" client is served by the shared store
		t.Fatalf("%d token requests, want 3", n)
	}
}
