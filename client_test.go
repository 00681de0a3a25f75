package appcred

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"math/big"

	"github.com/youmark/pkcs8"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

func TestSecretTokenAndCache(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	ct := newCounting(a)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithTransport(ct),
		WithCACertificates(a.CACertPEM()))
	if err == nil {
		t.Fatal("WithTransport + WithCACertificates must be refused")
	}
	c, err = New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithTransport(ct))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	tok, err := c.AcquireTokenForClient(ctx, []string{seed.Scope})
	if err != nil {
		t.Fatal(err)
	}
	if tok.FromCache || tok.TokenType != "Bearer" || time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Fatalf("first token: %v", tok)
	}
	claims := claimsOf(t, tok.AccessToken)
	if claims["tid"] != seed.TenantID || claims["appidacr"] != "1" && claims["azpacr"] != "1" {
		t.Fatalf("claims = %v", claims)
	}
	// Scope order/case/spacing do not matter for the cache key.
	again, err := c.AcquireTokenForClient(ctx, []string{" " + strings.ToUpper(seed.Scope)})
	if err != nil || !again.FromCache || again.AccessToken != tok.AccessToken {
		t.Fatalf("second call: from cache %v, err %v", again.FromCache, err)
	}
	if n := ct.posts.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if err := c.RemoveTokensForClient(ctx); err != nil {
		t.Fatal(err)
	}
	third, err := c.AcquireTokenForClient(ctx, []string{seed.Scope})
	if err != nil || third.FromCache || ct.posts.Load() != 2 {
		t.Fatalf("after RemoveTokensForClient: from cache %v, posts %d, err %v", third.FromCache, ct.posts.Load(), err)
	}
	// A claims request skips the cache and replaces the token.
	fourth, err := c.AcquireTokenForClient(ctx, []string{seed.Scope},
		WithClaims(`{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`))
	if err != nil || fourth.FromCache || ct.posts.Load() != 3 {
		t.Fatalf("claims request: from cache %v, posts %d, err %v", fourth.FromCache, ct.posts.Load(), err)
	}
	if fifth, _ := c.AcquireTokenForClient(ctx, []string{seed.Scope}); fifth.AccessToken != fourth.AccessToken {
		t.Fatal("the claims token did not replace the cached one")
	}
}

func certificateVariants(t *testing.T, cert *proof.Certificate) map[string]Proof {
	t.Helper()
	keyPEM, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	encDER, err := pkcs8.MarshalPrivateKey(cert.Key, []byte("pfx-pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: encDER})
	pfx, err := cert.PFX("pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Proof{
		"pem":           FromCertificateData(append(cert.CertPEM(), keyPEM...), nil, CertificateOptions{}),
		"encrypted pem": FromCertificateData(append(cert.CertPEM(), encPEM...), []byte("pfx-pass"), CertificateOptions{}),
		"pfx":           FromCertificateData(pfx, []byte("pfx-pass"), CertificateOptions{}),
		"pfx x5c":       FromCertificateData(pfx, []byte("pfx-pass"), CertificateOptions{SendX5C: true}),
		"rs256":         FromCertificate(cert, CertificateOptions{Alg: proof.RS256}),
	}
}

func TestCertificateProofs(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	for name, p := range certificateVariants(t, cert) {
		t.Run(name, func(t *testing.T) {
			c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, p, WithCACertificates(a.CACertPEM()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tok, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
			if err != nil {
				t.Fatal(err)
			}
			claims := claimsOf(t, tok.AccessToken)
			if claims["appidacr"] != "2" && claims["azpacr"] != "2" {
				t.Fatalf("a certificate token must say appidacr/azpacr 2: %v", claims)
			}
		})
	}
}

func TestAssertionCallback(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	var mu sync.Mutex
	var seen []AssertionRequest
	cb := func(_ context.Context, r AssertionRequest) (string, error) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		return cert.Assertion(r.ClientID, r.TokenEndpoint, proof.AssertionOptions{})
	}
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromAssertion(cb), WithCACertificates(a.CACertPEM()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].ClientID != seed.ClientID || seen[0].TokenEndpoint != a.TokenEndpoint(seed.TenantID) {
		t.Fatalf("callback saw %+v", seen)
	}
	static, err := cert.Assertion(seed.ClientID, a.TokenEndpoint(seed.TenantID), proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromAssertionString(static), WithCACertificates(a.CACertPEM()))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if tok, err := sc.AcquireTokenForClient(context.Background(), []string{seed.Scope}); err != nil ||
		claimsOf(t, tok.AccessToken)["azpacr"] != "2" && claimsOf(t, tok.AccessToken)["appidacr"] != "2" {
		t.Fatalf("static assertion: %v", err)
	}
	if _, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromAssertionString(" ")); err == nil {
		t.Fatal("empty static assertion accepted")
	}
	failing, _ := New(a.TenantURL(seed.TenantID), seed.ClientID,
		FromAssertion(func(context.Context, AssertionRequest) (string, error) { return "", errors.New("no token file") }),
		WithCACertificates(a.CACertPEM()))
	if _, err := failing.AcquireTokenForClient(context.Background(), []string{seed.Scope}); err == nil ||
		!strings.Contains(err.Error(), "no token file") {
		t.Fatalf("callback error not surfaced: %v", err)
	}
}

func TestAuthorityErrors(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	logs := &logBuffer{}
	secret := seed.ClientSecret
	wrongSecret := "wrong-" + secret
	cases := []struct {
		name   string
		tenant string
		client string
		secret string
		scope  string
		code   aadsts.Code
		status int
	}{
		{"bad secret", seed.TenantID, seed.ClientID, wrongSecret, seed.Scope, 7000215, 401},
		{"unknown app", seed.TenantID, "99999999-0000-0000-0000-000000000009", secret, seed.Scope, 700016, 400},
		{"unknown tenant", "99999999-9999-9999-9999-999999999999", seed.ClientID, secret, seed.Scope, 90002, 400},
		{"not .default", seed.TenantID, seed.ClientID, secret, "api://appcred-demo/Orders.Read", 1002012, 400},
		{"unknown resource", seed.TenantID, seed.ClientID, secret, "api://nothing-here/.default", 500011, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(a.TenantURL(tc.tenant), tc.client, FromSecret(tc.secret),
				WithCACertificates(a.CACertPEM()), WithLogger(logs.logger()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.AcquireTokenForClient(context.Background(), []string{tc.scope})
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *ResponseError", err)
			}
			if !HasCode(err, tc.code) || re.StatusCode != tc.status {
				t.Fatalf("got status %d codes %v, want %d AADSTS%d: %v", re.StatusCode, re.Codes, tc.status, tc.code, err)
			}
			if re.TraceID == "" || re.CorrelationID == "" || re.Description == "" {
				t.Fatalf("error fields missing: %+v", re)
			}
			for _, s := range []string{secret, wrongSecret} {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, re), s) {
					t.Fatal("error text contains the client secret")
				}
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatal("logs contain the client secret")
	}
}

func TestNoSecretsInLogsOrFormatting(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	logs := &logBuffer{}
	p := FromSecret(seed.ClientSecret)
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, p, WithCACertificates(a.CACertPEM()), WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	logs.logger().Info("formatting", "token", tok, "proof", p, "client", c, "credential", cred)
	logs.logger().Info("values", "proof_value", p)
	printed := fmt.Sprintf("%v %+v %#v %s %v %#v %v %+v %#v %v %+v %#v %+v", tok, tok, tok, p, p, p, c, c, c, cred, cred, cred, []any{c, p}) +
		logs.String()
	if !strings.Contains(logs.String(), "token acquired") {
		t.Fatal("debug log did not record the request; the scan below would prove nothing")
	}
	for _, s := range []string{seed.ClientSecret, tok.AccessToken} {
		if strings.Contains(printed, s) {
			t.Fatalf("secret or token leaked into formatted output or logs")
		}
	}
}

func TestBadInput(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	good := a.TenantURL(seed.TenantID)
	cert, err := proof.NewSelfSigned("CN=x", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := proof.NewSelfSigned("CN=y", 0, 2048)
	keyPEM, _ := cert.KeyPEM()
	pfx, _ := cert.PFX("right")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecTmpl := &x509.Certificate{SerialNumber: cert.Leaf.SerialNumber, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	ecDER, _ := x509.CreateCertificate(rand.Reader, ecTmpl, ecTmpl, &ecKey.PublicKey, ecKey)
	ecLeaf, _ := x509.ParseCertificate(ecDER)
	cases := []struct {
		name, authority, clientID string
		p                         Proof
		want                      string
	}{
		{"empty secret", good, seed.ClientID, FromSecret("  "), "client secret is empty"},
		{"empty client id", good, " ", FromSecret("s"), "client id is empty"},
		{"unreadable pem", good, seed.ClientID, FromCertificateData([]byte("-----BEGIN CERTIFICATE-----\nnope\n"), nil, CertificateOptions{}), "PEM data holds no private key"},
		{"missing file", good, seed.ClientID, FromCertificateFile("/nonexistent/cert.pem", nil, CertificateOptions{}), "/nonexistent/cert.pem"},
		{"wrong password", good, seed.ClientID, FromCertificateData(pfx, []byte("wrong"), CertificateOptions{}), "wrong password"},
		{"key matches no cert", good, seed.ClientID, FromCertificateData(append(other.CertPEM(), keyPEM...), nil, CertificateOptions{}), "matches none"},
		{"ec key with entra", good, seed.ClientID, FromCertificate(&proof.Certificate{Leaf: ecLeaf, Chain: []*x509.Certificate{ecLeaf}, Key: ecKey}, CertificateOptions{}), "EC key"},
		{"http authority", "http://login.example.com/" + seed.TenantID, seed.ClientID, FromSecret("s"), "https"},
		{"illegal tenant", a.URL() + "/bad%20tenant!", seed.ClientID, FromSecret("s"), "tenant"},
		{"common", a.URL() + "/common", seed.ClientID, FromSecret("s"), "common"},
		{"organizations", a.URL() + "/organizations", seed.ClientID, FromSecret("s"), "organizations"},
		{"nil callback", good, seed.ClientID, FromAssertion(nil), "nil"},
		{"no proof", good, seed.ClientID, Proof{}, "no proof"},
	}
	for _, tc := range cases {
		_, err := New(tc.authority, tc.clientID, tc.p, WithCACertificates(a.CACertPEM()))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "right") {
			t.Errorf("%s: error leaks a password", tc.name)
		}
	}
	c, err := New(good, seed.ClientID, FromSecret("s"), WithCACertificates(a.CACertPEM()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireTokenForClient(context.Background(), nil); err == nil {
		t.Error("no scopes accepted")
	}
	if _, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope}, WithTenant("bad tenant!")); err == nil {
		t.Error("illegal per-request tenant accepted")
	}
}

func TestExpiredCertificateWarnsAndTries(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-48 * time.Hour),
		NotAfter: time.Now().Add(-24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	leaf, _ := x509.ParseCertificate(der)
	logs := &logBuffer{}
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID,
		FromCertificate(&proof.Certificate{Leaf: leaf, Chain: []*x509.Certificate{leaf}, Key: key}, CertificateOptions{}),
		WithCACertificates(a.CACertPEM()), WithLogger(logs.logger()))
	if err != nil {
		t.Fatalf("an expired certificate must only warn: %v", err)
	}
	defer c.Close()
	if !strings.Contains(logs.String(), "expired") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
	if _, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope}); !HasCode(err, 700027) {
		t.Fatalf("unregistered certificate: %v, want AADSTS700027", err)
	}
}

func TestCloseAndOptionsEdges(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{}, WithMaxRetries(0))
	seed := a.Seed()
	ctx := context.Background()
	if _, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{""}, {seed.Scope, "  "}} {
		if _, err := c.AcquireTokenForClient(ctx, bad); err == nil || !strings.Contains(err.Error(), "blank") {
			t.Errorf("scopes %q: %v", bad, err)
		}
	}
	if _, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, WithTenant("adfs")); err == nil || !strings.Contains(err.Error(), "adfs") {
		t.Errorf("WithTenant(adfs): %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	before := ct.posts.Load()
	for _, opts := range [][]AcquireOption{nil, {WithClaims(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`)}} {
		if _, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}, opts...); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
	if ct.posts.Load() != before {
		t.Error("a closed client still sent a token request")
	}

	// WithMaxRetries(0) means no retry: one attempt against a failing authority.
	fail := &countingTransport{next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost {
			return &http.Response{StatusCode: 503, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
		}
		return ct.next.RoundTrip(r)
	})}
	nr, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithTransport(fail), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nr.Close()
	if _, err := nr.AcquireTokenForClient(ctx, []string{seed.Scope}); err == nil || fail.posts.Load() != 1 {
		t.Fatalf("WithMaxRetries(0): %d attempts, err %v", fail.posts.Load(), err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Close while a request is held open: the caller gets ErrClosed, and a
// credential does not report an authentication failure.
func TestCloseRacesInFlightRequest(t *testing.T) {
	a, c, ct := seedClient(t, sts.Options{})
	seed := a.Seed()
	ct.hold = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
		done <- err
	}()
	for ct.posts.Load() == 0 {
		runtime.Gosched()
	}
	if err := c.Close(); err != nil { // cancels the held request
		t.Fatal(err)
	}
	err := <-done
	close(ct.hold)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("request in flight during Close: %v, want ErrClosed", err)
	}
}

// A caller's *http.Client that would follow redirects never carries the
// secret to a redirect target.
func TestNoRedirectWithSecret(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	var leaked atomic.Bool
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), seed.ClientSecret) {
			leaked.Store(true)
		}
		http.Error(w, "nope", http.StatusBadRequest)
	}))
	defer target.Close()
	base := a.HTTPClient().Transport
	redirecting := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && r.URL.Host != strings.TrimPrefix(target.URL, "https://") {
			h := http.Header{"Location": {target.URL + "/token"}}
			return &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: h, Body: http.NoBody, Request: r}, nil
		}
		if r.URL.Host == strings.TrimPrefix(target.URL, "https://") {
			return target.Client().Transport.RoundTrip(r)
		}
		return base.RoundTrip(r)
	})
	hc := &http.Client{Transport: redirecting} // follows redirects by default
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret), WithHTTPClient(hc), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AcquireTokenForClient(context.Background(), []string{seed.Scope})
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusTemporaryRedirect || leaked.Load() {
		t.Fatalf("err %v (leaked to redirect target: %v), want the 307 itself", err, leaked.Load())
	}
	if hc.CheckRedirect != nil {
		t.Fatal("WithHTTPClient changed the caller's client")
	}
}

// WithAppName sends x-app-name / x-app-ver; WithClientClaims adds claims to
// every assertion but cannot override the standard ones.
func TestAppNameAndClientClaims(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	base := a.HTTPClient().Transport
	var mu sync.Mutex
	var headers []http.Header
	var assertions []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			mu.Lock()
			headers = append(headers, r.Header.Clone())
			assertions = append(assertions, form.Get("client_assertion"))
			mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		return base.RoundTrip(r)
	})
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromCertificate(cert, CertificateOptions{}), WithTransport(rt),
		WithAppName("orders-daemon", "1.2.3"), WithClientClaims(map[string]any{"xms_extra": "v", "iss": "attacker"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AcquireTokenForClient(context.Background(), []string{seed.Scope}); err != nil {
		t.Fatal(err)
	}
	if len(headers) != 1 || headers[0].Get("x-app-name") != "orders-daemon" || headers[0].Get("x-app-ver") != "1.2.3" ||
		headers[0].Get("x-client-SKU") == "" || headers[0].Get("client-request-id") == "" {
		t.Fatalf("headers: %v", headers)
	}
	claims := claimsOf(t, assertions[0])
	if claims["xms_extra"] != "v" || claims["iss"] != seed.ClientID || claims["sub"] != seed.ClientID {
		t.Fatalf("assertion claims: %v", claims)
	}
}
