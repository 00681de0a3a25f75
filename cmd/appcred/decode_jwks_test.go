package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/internal/wire"
)

// ecIssuer is a test-local OpenID Connect issuer over TLS on 127.0.0.1 whose
// JWKS holds an EC P-256 key, a symmetric key (never to be used) and a key of
// a type go-jose does not read.
type ecIssuer struct {
	srv        *httptest.Server
	key        *ecdsa.PrivateKey
	issuer     string
	caFile     string
	jwksHits   atomic.Int64
	discovered atomic.Int64
}

func newECIssuer(t *testing.T) *ecIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &ecIssuer{key: key}
	pub, err := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	jwks := `{"keys":[{"kty":"oct","kid":"sym-1","k":"c2VjcmV0LXN5bW1ldHJpYy1rZXk"},{"kty":"XYZ","kid":"odd-1"},` + string(pub) + `]}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/test/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		e.discovered.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": e.issuer, "token_endpoint": e.issuer + "/token",
			"jwks_uri": e.issuer + "/keys"})
	})
	mux.HandleFunc("GET /realms/test/keys", func(w http.ResponseWriter, _ *http.Request) {
		e.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks))
	})
	e.srv = httptest.NewTLSServer(mux) // listens on 127.0.0.1
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL + "/realms/test"
	e.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(e.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// sign makes an ES256 token naming kid.
func (e *ecIssuer) sign(t *testing.T, kid string) string {
	t.Helper()
	j := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": e.issuer, "sub": "svc", "aud": "api://ec",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	j.Header["kid"] = kid
	s, err := j.SignedString(e.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDecodeECTokenThroughJWKS checks an ES256 token with the binary: keys
// found by discovery of a generic issuer, or given with --jwks.
func TestDecodeECTokenThroughJWKS(t *testing.T) {
	e := newECIssuer(t)
	tok := e.sign(t, "ec-1")
	for _, flags := range [][]string{{"--authority", e.issuer}, {"--jwks", e.issuer + "/keys"}} {
		r := mustRun(t, nil, "", append([]string{"decode", tok, "--ca-file", e.caFile, "-o", "json"}, flags...)...)
		var out struct{ Signature sigResult }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if s := out.Signature; !s.Valid || s.Alg != "ES256" || s.KID != "ec-1" || s.JWKSURI != e.issuer+"/keys" {
			t.Errorf("%v: signature %+v", flags, s)
		}
	}
	if e.discovered.Load() != 1 {
		t.Errorf("%d discovery requests, want 1", e.discovered.Load())
	}

	// Refused: a tampered signature, another EC key under the same kid, a kid
	// not in the JWKS, and an HMAC token naming the JWKS's symmetric key.
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	other := &ecIssuer{issuer: e.issuer}
	var err error
	if other.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "svc"})
	hs.Header["kid"] = "sym-1"
	hsTok, err := hs.SignedString([]byte("secret-symmetric-key"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ tok, want string }{
		"tampered signature": {parts[0] + "." + parts[1] + "." + string(sig), "does not match"},
		"foreign key":        {other.sign(t, "ec-1"), "does not match"},
		"unknown kid":        {e.sign(t, "ec-9"), `kid "ec-9" is not in the JWKS`},
		"HMAC":               {hsTok, `"HS256" is not accepted`},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustFail(t, nil, []string{"decode", c.tok, "--authority", e.issuer, "--ca-file", e.caFile}, "signature is not valid", c.want)
			if !strings.Contains(r.stdout, "Signature:  NOT VALID") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
		})
	}
}

// TestVerifyCachesKeysPerJWKS checks, in process, that a JWKS is fetched once
// per URL (the RSA keys of the real local authority, the EC keys of the test
// issuer) and fetched again only for a kid it lacks.
func TestVerifyCachesKeysPerJWKS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := newECIssuer(t)
	ecCA, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int64
	hc := wire.DefaultHTTPClient(auth.CACertPEM(), ecCA)
	hc.Transport = countGets{hc.Transport, &gets}
	decode := func(tok string) *decodedJWT {
		d, err := parseJWT(tok)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	rsaTok := decode(secretToken(t))
	for i := range 3 {
		before := gets.Load()
		if s := verifyJWT(ctx, hc, rsaTok, "", auth.TenantURL(seed.TenantID)); !s.Valid || s.Alg != "RS256" {
			t.Fatalf("RSA token from the local authority: %+v", s)
		}
		// The first check discovers and fetches the JWKS; later ones fetch nothing new but discovery
		// (each verifyJWT has its own resolver), never the keys again.
		if n := gets.Load() - before; (i == 0 && n != 2) || (i > 0 && n != 1) {
			t.Fatalf("check %d: %d GETs", i, n)
		}
	}
	ecTok := decode(e.sign(t, "ec-1"))
	for range 2 {
		if s := verifyJWT(ctx, hc, ecTok, e.issuer+"/keys", ""); !s.Valid || s.Alg != "ES256" {
			t.Fatalf("EC token: %+v", s)
		}
	}
	if n := e.jwksHits.Load(); n != 1 {
		t.Fatalf("EC JWKS fetched %d times, want 1", n)
	}
	// A kid the cached set lacks makes one more fetch (a rotated key), and is still refused.
	if s := verifyJWT(ctx, hc, decode(e.sign(t, "ec-new")), e.issuer+"/keys", ""); s.Valid || e.jwksHits.Load() != 2 {
		t.Fatalf("unknown kid: %+v after %d fetches", s, e.jwksHits.Load())
	}
}

// countGets counts the GET requests that go through it.
type countGets struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}
