package interop_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// v1Resource is the identifier URI of the fixture's resource that gets v1 tokens.
const (
	v1Resource = "api://interop-v1"
	v1Role     = "Legacy.Read"
)

// fixture is a running authority with the seeded development tenant (a v2
// API, a daemon app with a secret), plus a certificate app and a v1 resource
// that both daemons may call.
type fixture struct {
	a    *sts.Authority
	seed *sts.Seed

	certClientID string // app with the shared test certificate registered
	cert         *proof.Certificate
	v1ClientID   string // client id of the v1 resource

	mu   sync.Mutex
	jwks map[string]*rsa.PublicKey // kid → key, fetched once
}

var (
	certOnce sync.Once
	testCert *proof.Certificate
	certErr  error
)

// sharedCert returns one RSA-2048 client certificate for the whole package
// (key generation is the slow part).
func sharedCert(t testing.TB) *proof.Certificate {
	t.Helper()
	certOnce.Do(func() {
		testCert, certErr = proof.NewSelfSigned("CN=appcred-interop,O=appcred", 24*time.Hour, 2048)
	})
	if certErr != nil {
		t.Fatalf("make test certificate: %v", certErr)
	}
	return testCert
}

// startAuthority starts a fresh authority on 127.0.0.1:0 with a temporary
// state directory and registers the certificate app and the v1 resource.
func startAuthority(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := sts.Start(ctx, sts.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start authority: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	seed := a.Seed()
	if seed == nil {
		t.Fatal("authority made no development tenant")
	}
	f := &fixture{a: a, seed: seed, cert: sharedCert(t)}

	v1, err := a.AddApp(seed.TenantID, directory.App{
		DisplayName: "interop-v1-api", IdentifierURIs: []string{v1Resource},
		AppRoles: []string{v1Role}, AccessTokenVersion: 1,
	})
	if err != nil {
		t.Fatalf("add v1 resource: %v", err)
	}
	f.v1ClientID = v1.ClientID
	app, err := a.AddApp(seed.TenantID, directory.App{DisplayName: "interop-cert-daemon"})
	if err != nil {
		t.Fatalf("add certificate app: %v", err)
	}
	f.certClientID = app.ClientID
	if _, err := a.AddCertificate(seed.TenantID, app.ClientID, f.cert.CertPEM()); err != nil {
		t.Fatalf("add certificate: %v", err)
	}
	for _, g := range []struct{ client, api, role string }{
		{app.ClientID, seed.IdentifierURI, seed.Role},
		{app.ClientID, v1Resource, v1Role},
		{seed.ClientID, v1Resource, v1Role},
	} {
		if err := a.Grant(seed.TenantID, g.client, g.api, g.role); err != nil {
			t.Fatalf("grant %s on %s: %v", g.role, g.api, err)
		}
	}
	return f
}

// countingTransport counts token requests (POSTs to a token endpoint) that
// go through it, so a test can tell a cache hit from a network call, and
// keeps the last token request's form to check what the client sent.
type countingTransport struct {
	base   http.RoundTripper
	tokens atomic.Int64

	mu   sync.Mutex
	form url.Values
}

// RoundTrip counts and records token POSTs and passes every request on.
func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
		c.tokens.Add(1)
		if r.Body != nil {
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				return nil, err
			}
			r = r.Clone(r.Context())
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			c.mu.Lock()
			c.form = form
			c.mu.Unlock()
		}
	}
	return c.base.RoundTrip(r)
}

// lastForm is the form of the last token request.
func (c *countingTransport) lastForm() url.Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.form
}

// checkSent checks how the last token request authenticated: a client
// secret, or a client assertion signed PS256 with "x5t#S256" (as MSAL Go and
// azidentity sign for Entra) carrying "x5c" exactly when x5c is true.
func checkSent(t *testing.T, form url.Values, secret, x5c bool) {
	t.Helper()
	if form == nil {
		t.Fatal("no token request recorded")
	}
	if secret {
		if form.Get("client_secret") == "" || form.Has("client_assertion") {
			t.Errorf("want client_secret and no client_assertion in the form, got fields %v", slices.Sorted(maps.Keys(form)))
		}
		return
	}
	raw := form.Get("client_assertion")
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("client_assertion: %v", err)
	}
	_, hasX5C := tok.Header["x5c"]
	if tok.Header["alg"] != "PS256" || tok.Header["x5t#S256"] == nil || hasX5C != x5c {
		t.Errorf("assertion header alg %v, x5t#S256 %v, x5c present %v; want PS256, a thumbprint, x5c %v",
			tok.Header["alg"], tok.Header["x5t#S256"] != nil, hasX5C, x5c)
	}
}

// countingClient returns an HTTP client trusting the authority's CA whose
// token requests are counted.
func (f *fixture) countingClient(t *testing.T) (*http.Client, *countingTransport) {
	t.Helper()
	hc := f.a.HTTPClient()
	ct := &countingTransport{base: hc.Transport}
	hc.Transport = ct
	t.Cleanup(hc.CloseIdleConnections)
	return hc, ct
}

// want describes the app-only token a client should have received.
type want struct {
	clientID string // the calling app
	resource string // "v2" (the seed API) or "v1" (v1Resource)
	acr      string // "1" secret, "2" certificate
}

// checkToken fails the test unless raw verifies (see verifyToken).
func (f *fixture) checkToken(t *testing.T, raw string, w want) jwt.MapClaims {
	t.Helper()
	claims, err := f.verifyToken(raw, w)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	return claims
}

// verifyToken verifies raw's RS256 signature against the authority's JWKS,
// its issuer, audience and lifetime, and the app-only claims in w.
func (f *fixture) verifyToken(raw string, w want) (jwt.MapClaims, error) {
	if raw == "" {
		return nil, errors.New("empty access token")
	}
	keyfunc, err := f.keyfunc()
	if err != nil {
		return nil, err
	}
	tid := f.seed.TenantID
	iss, aud, role, ver := f.a.URL()+"/"+tid+"/v2.0", f.seed.APIClientID, f.seed.Role, "2.0"
	if w.resource == "v1" {
		iss, aud, role, ver = "https://sts.windows.net/"+tid+"/", v1Resource, v1Role, "1.0"
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, keyfunc,
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(iss), jwt.WithAudience(aud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("does not verify against the JWKS (want iss %s, aud %s): %w", iss, aud, err)
	}
	str := func(k string) string { s, _ := claims[k].(string); return s }
	checks := map[string]string{"tid": tid, "ver": ver, "idtyp": "app"}
	if ver == "2.0" {
		checks["azp"], checks["azpacr"] = w.clientID, w.acr
	} else {
		checks["appid"], checks["appidacr"] = w.clientID, w.acr
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(checks)) {
		if got := str(k); got != checks[k] {
			errs = append(errs, fmt.Errorf("claim %s = %q, want %q", k, got, checks[k]))
		}
	}
	if str("oid") == "" || str("sub") != str("oid") || str("uti") == "" {
		errs = append(errs, fmt.Errorf("want non-empty oid = sub and uti, got oid %q sub %q uti %q",
			str("oid"), str("sub"), str("uti")))
	}
	if roles, _ := claims["roles"].([]any); !slices.Contains(roles, any(role)) {
		errs = append(errs, fmt.Errorf("roles = %v, want %q among them", claims["roles"], role))
	}
	if _, ok := claims["scp"]; ok {
		errs = append(errs, fmt.Errorf("app-only token carries scp %v", claims["scp"]))
	}
	return claims, errors.Join(errs...)
}

// keyfunc returns a golang-jwt key function over the authority's JWKS,
// fetched once per fixture from /{tenant}/discovery/v2.0/keys.
func (f *fixture) keyfunc() (jwt.Keyfunc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jwks == nil {
		keys, err := fetchJWKS(f.a.HTTPClient(), f.a.TenantURL(f.seed.TenantID)+"/discovery/v2.0/keys")
		if err != nil {
			return nil, fmt.Errorf("JWKS: %w", err)
		}
		f.jwks = keys
	}
	keys := f.jwks
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q not in the JWKS", kid)
	}, nil
}

// fetchJWKS reads a JWKS and returns its RSA keys by kid, checking that each
// key's x5c certificate holds the same public key.
func fetchJWKS(hc *http.Client, url string) (map[string]*rsa.PublicKey, error) {
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var set struct {
		Keys []struct {
			Kty, KID, N, E string
			X5C            []string
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("JWKS key %q: bad n or e", k.KID)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if len(k.X5C) > 0 {
			der, err := base64.StdEncoding.DecodeString(k.X5C[0])
			if err != nil {
				return nil, fmt.Errorf("JWKS key %q: x5c: %w", k.KID, err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("JWKS key %q: x5c: %w", k.KID, err)
			}
			if cp, ok := c.PublicKey.(*rsa.PublicKey); !ok || !cp.Equal(pub) {
				return nil, fmt.Errorf("JWKS key %q: x5c certificate holds another key than n/e", k.KID)
			}
		}
		keys[k.KID] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS at %s has no RSA keys", url)
	}
	return keys, nil
}

// certFiles are the test certificate written for clients that read files.
type certFiles struct {
	cert, key, combined string // PEM certificate, PKCS#8 key, key + certificate
}

// writeCertFiles writes the fixture's certificate and key (mode 0600).
func (f *fixture) writeCertFiles(t *testing.T) *certFiles {
	t.Helper()
	keyPEM, err := f.cert.KeyPEM()
	if err != nil {
		t.Fatalf("key PEM: %v", err)
	}
	dir := t.TempDir()
	cf := &certFiles{
		cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		combined: filepath.Join(dir, "combined.pem"),
	}
	for path, data := range map[string][]byte{
		cf.cert: f.cert.CertPEM(), cf.key: keyPEM, cf.combined: append(append([]byte{}, keyPEM...), f.cert.CertPEM()...),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cf
}

// scopeFor returns the .default scope of the fixture's "v1" or "v2" resource.
func (f *fixture) scopeFor(resource string) string {
	if resource == "v1" {
		return v1Resource + "/.default"
	}
	return f.seed.Scope
}

// inCI reports whether a missing peer must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// missing skips the test, or fails it under CI=true, because a peer is absent.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip(msg)
}
