package sts_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// testCert is an RSA-2048 certificate and key for client assertions.
type testCert struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM []byte
	pemBody string // base64 body of the PEM block, with its line breaks (as MSAL Python's x5c)
}

var (
	certOnce          sync.Once
	goodCert, badCert *testCert
	errCertGeneration error
)

func newTestCert(cn string) (*testCert, error) {
	return newTestCertValid(cn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

func newTestCertValid(cn string, notBefore, notAfter time.Time) (*testCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	body := strings.TrimSpace(string(p))
	body = strings.TrimPrefix(body, "-----BEGIN CERTIFICATE-----\n")
	body = strings.TrimSuffix(body, "\n-----END CERTIFICATE-----")
	return &testCert{cert: cert, key: key, certPEM: p, pemBody: body}, nil
}

// certs returns the registered certificate and an unregistered one.
func certs(t testing.TB) (good, bad *testCert) {
	t.Helper()
	certOnce.Do(func() {
		if goodCert, errCertGeneration = newTestCert("daemon"); errCertGeneration != nil {
			return
		}
		badCert, errCertGeneration = newTestCert("rogue")
	})
	if errCertGeneration != nil {
		t.Fatal(errCertGeneration)
	}
	return goodCert, badCert
}

// fixture is a running authority with the seeded dev tenant, plus a
// certificate app and a v1 resource.
type fixture struct {
	a        *sts.Authority
	seed     *sts.Seed
	hc       *http.Client
	certApp  string // client id of the app with goodCert registered
	v1URI    string // identifier URI of a resource with v1 tokens
	v1Client string
}

func start(t testing.TB, opts sts.Options) *fixture {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	a, err := sts.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	f := &fixture{a: a, seed: a.Seed(), hc: a.HTTPClient()}
	t.Cleanup(f.hc.CloseIdleConnections)
	if f.seed == nil {
		return f
	}
	good, _ := certs(t)
	app, err := a.AddApp(f.seed.TenantID, directory.App{DisplayName: "cert-daemon"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddCertificate(f.seed.TenantID, app.ClientID, good.certPEM); err != nil {
		t.Fatal(err)
	}
	if err := a.Grant(f.seed.TenantID, app.ClientID, f.seed.IdentifierURI, "Demo.Write"); err != nil {
		t.Fatal(err)
	}
	f.certApp = app.ClientID
	f.v1URI = "https://orders.example/"
	v1, err := a.AddApp(f.seed.TenantID, directory.App{DisplayName: "orders-v1", IdentifierURIs: []string{f.v1URI}, AppRoles: []string{"Orders.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.v1Client = v1.ClientID
	if err := a.Grant(f.seed.TenantID, f.seed.ClientID, f.v1URI, "Orders.Read"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) tokenURL() string { return f.a.TokenEndpoint(f.seed.TenantID) }

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t testing.TB, req *http.Request) *response {
	t.Helper()
	res, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &response{status: res.StatusCode, header: res.Header, raw: string(b)}
	if err := json.Unmarshal(b, &out.body); err != nil {
		t.Fatalf("%s %s: status %d, body is not a JSON object: %q", req.Method, req.URL, res.StatusCode, b)
	}
	return out
}

func (f *fixture) post(t testing.TB, endpoint string, form url.Values) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(t, req)
}

func (f *fixture) get(t testing.TB, u string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.do(t, req)
}

func (f *fixture) secretForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {f.seed.ClientID},
		"client_secret": {f.seed.ClientSecret},
		"scope":         {f.seed.Scope},
	}
}

func assertionForm(clientID, assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {scope},
		"client_info":           {"1"},
	}
}

// pythonAssertion builds an assertion the way MSAL Python 1.21 does
// (entra-protocol.md §3.2): RS256, "x5t" base64url WITH padding, "x5c" with
// embedded newlines, float exp/iat, no nbf.
func pythonAssertion(t testing.TB, c *testCert, clientID, aud string, now time.Time) string {
	t.Helper()
	sum := sha1.Sum(c.cert.Raw) //nolint:gosec // thumbprint
	n := float64(now.UnixNano()) / 1e9
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": aud, "iss": clientID, "sub": clientID,
		"exp": n + 600, "iat": n, "jti": uuid.NewString(),
	})
	tok.Header["x5t"] = base64.URLEncoding.EncodeToString(sum[:])
	tok.Header["x5c"] = []string{c.pemBody}
	s, err := tok.SignedString(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goAssertion builds an assertion the way MSAL Go 1.10 does (§3.3): PS256,
// "x5t#S256" in padded standard base64, integer exp/nbf, no iat, x5c.
func goAssertion(t testing.TB, c *testCert, clientID, aud string, now time.Time) string {
	t.Helper()
	sum := sha256.Sum256(c.cert.Raw)
	tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{
		"aud": aud, "iss": clientID, "sub": clientID, "jti": uuid.NewString(),
		"exp": json.Number(fmt.Sprint(now.Add(10 * time.Minute).Unix())),
		"nbf": json.Number(fmt.Sprint(now.Unix())),
	})
	tok.Header = map[string]any{
		"alg": "PS256", "typ": "JWT",
		"x5t#S256": base64.StdEncoding.EncodeToString(sum[:]),
		"x5c":      []string{base64.StdEncoding.EncodeToString(c.cert.Raw)},
	}
	s, err := tok.SignedString(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proofAssertion uses appcred's own proof package.
func proofAssertion(t testing.TB, c *testCert, clientID, aud string, alg proof.Alg) string {
	t.Helper()
	pc := &proof.Certificate{Leaf: c.cert, Chain: []*x509.Certificate{c.cert}, Key: c.key}
	s, err := pc.Assertion(clientID, aud, proof.AssertionOptions{Alg: alg})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifyToken checks an access token's signature against the JWKS the
// authority serves at jwksURL and returns its header and claims.
func (f *fixture) verifyToken(t testing.TB, token, jwksURL string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	set := f.get(t, jwksURL)
	if set.status != http.StatusOK {
		t.Fatalf("JWKS: status %d: %s", set.status, set.raw)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.body["keys"].([]any) {
		m := k.(map[string]any)
		n, err1 := base64.RawURLEncoding.DecodeString(m["n"].(string))
		e, err2 := base64.RawURLEncoding.DecodeString(m["e"].(string))
		if err1 != nil || err2 != nil {
			t.Fatalf("JWKS key %v: bad n or e", m["kid"])
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		der, err := base64.StdEncoding.DecodeString(m["x5c"].([]any)[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if !cert.PublicKey.(*rsa.PublicKey).Equal(pub) {
			t.Fatalf("JWKS key %v: x5c certificate does not hold n/e", m["kid"])
		}
		if m["x5t"] != proof.X5T(cert) || m["kid"] != m["x5t"] {
			t.Fatalf("JWKS key: kid %v / x5t %v, want the certificate's x5t %s", m["kid"], m["x5t"], proof.X5T(cert))
		}
		keys[m["kid"].(string)] = pub
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired()).
		ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			if k := keys[kid]; k != nil {
				return k, nil
			}
			return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
		})
	if err != nil {
		t.Fatalf("access token does not verify against the served JWKS: %v", err)
	}
	return tok.Header, claims
}

// wantError checks an Entra-shaped error response (entra-protocol.md §5.2).
func wantError(t testing.TB, r *response, status int, oauth string, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if r.body["error"] != oauth {
		t.Errorf("error %v, want %s", r.body["error"], oauth)
	}
	codes, _ := r.body["error_codes"].([]any)
	if len(codes) == 0 || codes[0] != float64(code) {
		t.Errorf("error_codes %v, want [%d]", r.body["error_codes"], code)
	}
	desc, _ := r.body["error_description"].(string)
	if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", code)) {
		t.Errorf("error_description %q does not start with AADSTS%d", desc, code)
	}
	trace, _ := r.body["trace_id"].(string)
	corr, _ := r.body["correlation_id"].(string)
	ts, _ := r.body["timestamp"].(string)
	if _, err := time.Parse("2006-01-02 15:04:05Z", ts); err != nil {
		t.Errorf("timestamp %q: %v", ts, err)
	}
	tail := "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts
	if trace == "" || corr == "" || !strings.HasSuffix(desc, tail) {
		t.Errorf("error_description %q does not end with the trace/correlation/timestamp lines", desc)
	}
	if u, _ := r.body["error_uri"].(string); !strings.HasSuffix(u, fmt.Sprintf("/error?code=%d", code)) {
		t.Errorf("error_uri %q", u)
	}
	if r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
}
