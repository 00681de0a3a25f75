package sts_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// logFile is a log a test's authority writes (an *os.File is safe for
// concurrent writes) and the test reads.
type logFile struct{ f *os.File }

func newLogFile(t *testing.T) *logFile {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &logFile{f: f}
}

func (l *logFile) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l.f, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (l *logFile) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

// pathRecorder records the host and path of every request it passes on.
type pathRecorder struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (p *pathRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.seen = append(p.seen, r.URL.Host+r.URL.Path)
	p.mu.Unlock()
	return p.rt.RoundTrip(r)
}

// proxyTransport sends everything through the authority's intercept proxy,
// trusting its CA; it refuses to dial anything but the proxy, so no request
// can leave the machine even if the proxy setting were lost.
func proxyTransport(a *sts.Authority) *http.Transport {
	addr := a.InterceptAddr()
	return &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr}),
		DialContext: func(ctx context.Context, network, to string) (net.Conn, error) {
			if to != addr {
				return nil, fmt.Errorf("test transport: refusing to dial %s (only the proxy %s)", to, addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, to)
		},
		TLSClientConfig: &tls.Config{RootCAs: a.CAPool(), MinVersion: tls.VersionTLS12},
	}
}

// An unmodified client with the real login.microsoftonline.com authority and
// instance discovery on gets a verified token through the intercept proxy;
// the Resource Manager answers through it too; other hosts are refused.
func TestInterceptProxy(t *testing.T) {
	logs := newLogFile(t)
	f := start(t, sts.Options{Intercept: "127.0.0.1:0", Logger: logs.logger()})
	tr := proxyTransport(f.a)
	defer tr.CloseIdleConnections()
	f.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	const login = "https://login.microsoftonline.com/"
	tenant := f.seed.TenantID

	rec := &pathRecorder{rt: tr}
	c, err := appcred.New(login+tenant, f.seed.ClientID, appcred.FromSecret(f.seed.ClientSecret), appcred.WithTransport(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := c.AcquireTokenForClient(ctx, []string{f.seed.Scope})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rec.seen, "login.microsoftonline.com/common/discovery/instance") {
		t.Errorf("no instance discovery through the proxy; requests: %q", rec.seen)
	}
	_, claims := f.verifyToken(t, tok.AccessToken, login+tenant+"/discovery/v2.0/keys")
	if want := login + tenant + "/v2.0"; claims["iss"] != want || claims["aud"] != f.seed.APIClientID {
		t.Errorf("iss %v aud %v, want iss %s aud %s", claims["iss"], claims["aud"], want, f.seed.APIClientID)
	}

	// The seed's Resource Manager app: a v1 token for management.core.windows.net.
	armTok, err := c.AcquireTokenForClient(ctx, []string{"https://management.core.windows.net//.default"})
	if err != nil {
		t.Fatal(err)
	}
	_, claims = f.verifyToken(t, armTok.AccessToken, login+tenant+"/discovery/keys")
	if claims["aud"] != "https://management.core.windows.net/" || claims["tid"] != tenant {
		t.Errorf("ARM token: aud %v tid %v", claims["aud"], claims["tid"])
	}
	for _, auth := range []string{"", "Bearer " + tok.AccessToken} { // none, and a token for another audience
		if r := armGet(t, f.hc, "https://management.azure.com/subscriptions?api-version=2022-12-01", auth); r.status != http.StatusUnauthorized {
			t.Errorf("subscriptions with %.6q…: status %d: %s", auth, r.status, r.raw)
		}
	}
	r := armGet(t, f.hc, "https://management.azure.com/subscriptions?api-version=2022-12-01", "Bearer "+armTok.AccessToken)
	if v, ok := r.body["value"].([]any); r.status != http.StatusOK || !ok || len(v) != 0 {
		t.Errorf("subscriptions: status %d: %s", r.status, r.raw)
	}

	// A regional host answers as itself; a host two labels below the wildcard is refused by the proxy.
	d := f.get(t, "https://westus.login.microsoft.com/"+tenant+"/v2.0/.well-known/openid-configuration")
	if want := "https://westus.login.microsoft.com/" + tenant + "/v2.0"; d.status != http.StatusOK || d.body["issuer"] != want {
		t.Errorf("regional discovery: status %d issuer %v", d.status, d.body["issuer"])
	}
	// Through the identity tunnel, the Host must still be an identity host: not a Resource Manager host, not a pattern.
	for _, host := range []string{"management.azure.com", "*.login.microsoft.com"} {
		req, err := http.NewRequest(http.MethodGet, login+"common/v2.0/.well-known/openid-configuration", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		wantError(t, f.do(t, req), http.StatusBadRequest, "invalid_instance", 50049)
	}
	if strings.Contains(logs.String(), "no tenant registers Resource Manager") {
		t.Errorf("the seeded state warns that Resource Manager is not registered:\n%s", logs)
	}
	for _, target := range []string{"example.com:443", "a.westus.login.microsoft.com:443", "login.microsoftonline.com:80"} {
		if status := rawConnect(t, f.a.InterceptAddr(), target); status != http.StatusForbidden {
			t.Errorf("CONNECT %s: status %d, want 403", target, status)
		}
		if !strings.Contains(logs.String(), "target="+target) {
			t.Errorf("CONNECT %s: not in the log:\n%s", target, logs.String())
		}
	}
	if strings.Contains(logs.String(), f.seed.ClientSecret) || strings.Contains(logs.String(), tok.AccessToken) {
		t.Error("the log holds a secret or a token")
	}
}

// armGet does a GET with an Authorization header (if any) and decodes the JSON answer.
func armGet(t *testing.T, hc *http.Client, u, auth string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return (&fixture{hc: hc}).do(t, req)
}

// rawConnect sends one CONNECT to the proxy and returns the status.
func rawConnect(t *testing.T, proxy, target string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// Intercept mode lists the config's subscriptions to tokens of their tenant,
// writes a CA bundle holding the local CA, and rejects a bad subscription.
func TestInterceptSubscriptions(t *testing.T) {
	const tenant, sub = "11111111-2222-3333-4444-555555555555", "22222222-0000-0000-0000-000000000001"
	daemon := &directory.App{ClientID: "aaaaaaaa-0000-0000-0000-000000000001", DisplayName: "daemon",
		Secrets: []directory.Secret{{Value: "a-long-random-secret-for-tests"}}}
	armApp := &directory.App{ClientID: sts.ARMAppID, IdentifierURIs: []string{"https://management.azure.com/"}}
	cfg := &directory.Config{
		Tenants:       []*directory.Tenant{{ID: tenant, Apps: []*directory.App{daemon, armApp}}},
		Subscriptions: []directory.Subscription{{ID: sub, DisplayName: "dev", Tenant: tenant}},
	}
	f := start(t, sts.Options{Intercept: "127.0.0.1:0", Config: cfg})
	tr := proxyTransport(f.a)
	defer tr.CloseIdleConnections()
	f.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	c, err := appcred.New("https://login.microsoftonline.com/"+tenant, daemon.ClientID,
		appcred.FromSecret(daemon.Secrets[0].Value), appcred.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.AcquireTokenForClient(context.Background(), []string{"https://management.azure.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	r := armGet(t, f.hc, "https://management.azure.com/subscriptions/"+sub+"?api-version=2022-12-01", "Bearer "+tok.AccessToken)
	if r.status != http.StatusOK || r.body["subscriptionId"] != sub || r.body["tenantId"] != tenant || r.body["displayName"] != "dev" {
		t.Errorf("subscription: status %d: %s", r.status, r.raw)
	}
	bundle, err := os.ReadFile(filepath.Join(f.a.Dir(), sts.CABundleFile))
	if err != nil || !bytes.Contains(bundle, bytes.TrimSpace(f.a.CACertPEM())) {
		t.Errorf("CA bundle: %v; holds the local CA: %v", err, bytes.Contains(bundle, bytes.TrimSpace(f.a.CACertPEM())))
	}
	env := map[string]string{}
	for _, v := range f.a.InterceptEnv() {
		env[v.Name] = v.Value
	}
	if env["HTTPS_PROXY"] != "http://"+f.a.InterceptAddr() || env["REQUESTS_CA_BUNDLE"] != filepath.Join(f.a.Dir(), sts.CABundleFile) {
		t.Errorf("InterceptEnv: %v", env)
	}

	// A state without Resource Manager's app gets a warning.
	logs := newLogFile(t)
	bare := start(t, sts.Options{Intercept: "127.0.0.1:0", NoSeed: true, Logger: logs.logger()})
	if bare.a.InterceptAddr() == "" || !strings.Contains(logs.String(), "no tenant registers Resource Manager") {
		t.Errorf("no warning for a state without Resource Manager: %q", logs)
	}

	cfg.Subscriptions[0].Tenant = "not-a-guid"
	if _, err := sts.Start(context.Background(), sts.Options{StateDir: t.TempDir(), Intercept: "127.0.0.1:0",
		Config: cfg}); err == nil || !strings.Contains(err.Error(), "not-a-guid") {
		t.Errorf("a bad subscription tenant: %v", err)
	}
}
