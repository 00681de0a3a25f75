package sts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// getHost GETs u with the Host header set to host.
func (f *fixture) getHost(t *testing.T, u, host string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return f.do(t, req)
}

func portOf(t *testing.T, a *sts.Authority) string {
	t.Helper()
	u, err := url.Parse(a.URL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func TestHostHeaderMustNameTheAuthority(t *testing.T) {
	f := start(t, sts.Options{Hostnames: []string{"authority.test", "192.0.2.7"}})
	port := portOf(t, f.a)
	tid := f.seed.TenantID
	doc := f.a.URL() + "/" + tid + "/v2.0/.well-known/openid-configuration"
	// Every name on the certificate works with the server's port, each its own issuer.
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]", "authority.test", "AUTHORITY.test", "192.0.2.7"} {
		hp := host + ":" + port
		r := f.getHost(t, doc, hp)
		if r.status != http.StatusOK {
			t.Errorf("Host %s: status %d: %s", hp, r.status, r.raw)
			continue
		}
		if want := "https://" + strings.ToLower(hp) + "/" + tid + "/v2.0"; r.body["issuer"] != want { // issue 13 item 8: canonical host
			t.Errorf("Host %s: issuer %v, want %s", hp, r.body["issuer"], want)
		}
	}
	// Anything else is an unknown instance, and the body does not echo it.
	for _, host := range []string{"evil.example:" + port, "localhost:1", "localhost", "authority.test",
		"evil.authority.test:" + port, "127.0.0.2:" + port, "localhost:0" + port, "::1", "[fe80::1%25eth0]:" + port} {
		r := f.getHost(t, doc, host)
		wantError(t, r, http.StatusBadRequest, "invalid_instance", 50049)
		if strings.Contains(r.raw, "evil") || strings.Contains(r.raw, ":"+port+"/"+tid) {
			t.Errorf("Host %q: the error echoes it: %s", host, r.raw)
		}
		if !strings.Contains(r.body["error_uri"].(string), f.a.URL()+"/error") {
			t.Errorf("Host %q: error_uri %v does not use the authority's own URL", host, r.body["error_uri"])
		}
	}
	// A token cannot be had through a foreign Host either: its issuer would be foreign.
	req, err := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(f.secretForm().Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "login.example.com:" + port
	wantError(t, f.do(t, req), http.StatusBadRequest, "invalid_instance", 50049)
	// Through a hostname of the certificate, the token's issuer is that host.
	req, _ = http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(f.secretForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "authority.test:" + port
	tok := checkV2Response(t, f.do(t, req), 3599)
	if _, c := f.verifyToken(t, tok, f.a.TenantURL(tid)+"/discovery/v2.0/keys"); c["iss"] != "https://authority.test:"+port+"/"+tid+"/v2.0" {
		t.Errorf("iss %v, want the authority.test issuer", c["iss"])
	}
}

func TestHostHeaderListenAddress(t *testing.T) {
	// 127.0.0.2 is not on the certificate, but it is the listen address.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("cannot listen on 127.0.0.2:", err)
	}
	a, err := sts.Open(sts.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Serve(ln) }()
	t.Cleanup(func() { _ = a.Close() })
	eventually(t, "Serve sets the URL", func() bool { return a.URL() != "" })
	f := &fixture{a: a, seed: a.Seed(), hc: a.HTTPClient()}
	f.hc.Transport.(*http.Transport).TLSClientConfig.ServerName = "localhost"
	t.Cleanup(f.hc.CloseIdleConnections)
	r := f.get(t, a.URL()+"/"+f.seed.TenantID+"/v2.0/.well-known/openid-configuration")
	if r.status != http.StatusOK || r.body["issuer"] != a.URL()+"/"+f.seed.TenantID+"/v2.0" {
		t.Fatalf("listen address %s: status %d, %s", a.URL(), r.status, r.raw)
	}
	if !strings.HasPrefix(a.URL(), "https://127.0.0.2:") {
		t.Fatalf("URL %s", a.URL())
	}
}

func TestHostHeaderCallerCertificate(t *testing.T) {
	// A caller-supplied certificate for *.svc.test: its names are accepted, wildcards included.
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"*.svc.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := sts.Start(context.Background(), sts.Options{StateDir: t.TempDir(), TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	f := &fixture{a: a, seed: a.Seed(), hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	t.Cleanup(f.hc.CloseIdleConnections)
	port := portOf(t, a)
	doc := a.URL() + "/" + f.seed.TenantID + "/v2.0/.well-known/openid-configuration"
	for _, host := range []string{"api.svc.test", "localhost", "127.0.0.1"} {
		if r := f.getHost(t, doc, host+":"+port); r.status != http.StatusOK {
			t.Errorf("Host %s: status %d: %s", host, r.status, r.raw)
		}
	}
	for _, host := range []string{"svc.test", "a.b.svc.test", "other.test"} {
		wantError(t, f.getHost(t, doc, host+":"+port), http.StatusBadRequest, "invalid_instance", 50049)
	}
}

func TestHostHeaderMissing(t *testing.T) {
	// Called directly (no listener), the handler wants a known name on port 443.
	a, err := sts.Open(sts.Options{StateDir: t.TempDir(), Hostnames: []string{"authority.test"}})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	path := "/" + a.Seed().TenantID + "/v2.0/.well-known/openid-configuration"
	for host, want := range map[string]int{"": 400, "authority.test": 200, "authority.test:443": 200,
		"authority.test:8443": 400, "[::1]": 200, "other.test": 400} {
		req := httptest.NewRequest(http.MethodGet, "https://authority.test"+path, nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: status %d, want %d: %s", host, rec.Code, want, rec.Body.String())
		}
	}
}
