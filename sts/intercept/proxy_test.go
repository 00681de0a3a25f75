package intercept

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/internal/fakehost"
)

// backend is a real TLS server on 127.0.0.1 answering for every name of
// CertificateHosts with "<name>|<Host>|<path>".
type backend struct {
	addr  string
	roots *x509.CertPool
}

func startBackend(t *testing.T, name string) backend {
	t.Helper()
	srv, tr := fakehost.Start(t, CertificateHosts(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+"|"+r.Host+"|"+r.URL.Path)
	}))
	return backend{addr: srv.Listener.Addr().String(), roots: tr.TLSClientConfig.RootCAs}
}

// refusals collects what a Proxy reports.
type refusals struct {
	mu  sync.Mutex
	got []Refusal
}

func (r *refusals) add(x Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, x)
}

func (r *refusals) list() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refusal(nil), r.got...)
}

// serve starts p on an ephemeral loopback port and returns its address.
func serve(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(ln) }()
	t.Cleanup(func() {
		_ = p.Close()
		if err := <-errc; err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	})
	return ln.Addr().String()
}

// client is Go's HTTP client sending through the proxy and trusting roots.
func client(t *testing.T, proxyAddr string, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		Proxy:           http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}),
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (string, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTunnelsIdentityAndARMHosts(t *testing.T) {
	id, arm := startBackend(t, "identity"), startBackend(t, "arm")
	var rs refusals
	p := &Proxy{Identity: TCP(id.addr), ARM: TCP(arm.addr), OnRefuse: rs.add}
	addr := serve(t, p)
	for _, tc := range []struct{ url, want string }{
		{"https://login.microsoftonline.com/common/discovery/instance", "identity|login.microsoftonline.com|/common/discovery/instance"},
		{"https://login.microsoft.com/t/v2.0/.well-known/openid-configuration", "identity|login.microsoft.com|/t/v2.0/.well-known/openid-configuration"},
		{"https://sts.windows.net/t/", "identity|sts.windows.net|/t/"},
		{"https://westus2.login.microsoft.com/t/oauth2/v2.0/token", "identity|westus2.login.microsoft.com|/t/oauth2/v2.0/token"},
		{"https://login.microsoftonline.us/t/", "identity|login.microsoftonline.us|/t/"},
		{"https://login.chinacloudapi.cn/t/", "identity|login.chinacloudapi.cn|/t/"},
		{"https://management.azure.com/subscriptions", "arm|management.azure.com|/subscriptions"},
		{"https://management.core.windows.net/", "arm|management.core.windows.net|/"},
		{"https://management.usgovcloudapi.net/tenants", "arm|management.usgovcloudapi.net|/tenants"},
	} {
		var c *http.Client
		if strings.Contains(tc.want, "arm|") {
			c = client(t, addr, arm.roots)
		} else {
			c = client(t, addr, id.roots)
		}
		got, err := get(t, c, tc.url)
		if err != nil || got != tc.want {
			t.Errorf("GET %s through the proxy = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
	if r := rs.list(); len(r) != 0 {
		t.Errorf("refusals for allowed hosts: %+v", r)
	}
}

func TestARMDefaultsToIdentity(t *testing.T) {
	id := startBackend(t, "identity")
	addr := serve(t, &Proxy{Identity: TCP(id.addr)})
	got, err := get(t, client(t, addr, id.roots), "https://management.azure.com/subscriptions")
	if err != nil || got != "identity|management.azure.com|/subscriptions" {
		t.Errorf("ARM host without an ARM dialer = %q, %v; want the identity backend", got, err)
	}
}

func TestRefusesOtherDestinations(t *testing.T) {
	var dials atomic.Int32
	never := func(context.Context, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("must not dial")
	}
	var rs refusals
	addr := serve(t, &Proxy{Identity: never, ARM: never, OnRefuse: rs.add})
	c := client(t, addr, nil)
	for _, u := range []string{
		"https://example.com/", "https://graph.microsoft.com/v1.0/me", "https://login.microsoftonline.com:8443/x",
		"https://login.microsoftonline.com.evil.test/", "https://20.190.128.1/", "https://a.b.login.microsoft.com/",
	} {
		if _, err := get(t, c, u); err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("GET %s through the proxy: err = %v, want a 403 Forbidden from the proxy", u, err)
		}
	}
	// A plain-HTTP proxy request is refused too, and its path and query are never reported.
	resp, err := c.Get("http://user:pw@example.com/path?secret=hunter2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "hunter2") {
		t.Errorf("plain HTTP: %d %q; want 403 without the query", resp.StatusCode, body)
	}
	got := rs.list()
	if len(got) != 7 {
		t.Fatalf("refusals = %d (%+v), want 7", len(got), got)
	}
	want := []string{"example.com:443", "graph.microsoft.com:443", "login.microsoftonline.com:8443",
		"login.microsoftonline.com.evil.test:443", "20.190.128.1:443", "a.b.login.microsoft.com:443", "example.com"}
	for i, r := range got {
		if r.Target != want[i] || r.Status != http.StatusForbidden || r.Client == "" || r.Time.IsZero() {
			t.Errorf("refusal %d = %+v, want target %q, status 403", i, r, want[i])
		}
		for _, secret := range []string{"hunter2", "pw", "/path"} {
			if strings.Contains(r.Target+r.Reason, secret) {
				t.Errorf("refusal %d reports %q: %+v", i, secret, r)
			}
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("refused requests dialed %d times", n)
	}
}

// raw sends req on a new connection to the proxy and returns the status line.
func raw(t *testing.T, addr, req string) (string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%q: reading the status line: %v", req, err)
	}
	return strings.TrimSpace(line), c
}

func TestBadRequestsAreBounded(t *testing.T) {
	id := startBackend(t, "identity")
	var rs refusals
	addr := serve(t, &Proxy{Identity: TCP(id.addr), OnRefuse: rs.add, MaxHeaderBytes: 1024,
		HeaderTimeout: 300 * time.Millisecond})
	for _, tc := range []struct{ req, want string }{
		{"GARBAGE\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT login.microsoftonline.com HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT /login.microsoftonline.com:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT login.microsoftonline.com:0443 HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT login.microsoftonline.com:443/x HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT login.microsoftonline.com:443 HTTP/2.0\r\n\r\n", "HTTP/1.1 400"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
		{"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n", "HTTP/1.1 431"},
		{"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n", "HTTP/1.1 408"}, // never finishes the head
		{"", "HTTP/1.1 408"}, // sends nothing
		{"CONNECT LOGIN.MicrosoftOnline.COM.:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 200"},
	} {
		start := time.Now()
		if got, _ := raw(t, addr, tc.req); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%.60q: status line %q, want %s", tc.req, got, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%.60q took %v", tc.req, d)
		}
	}
	if n := len(rs.list()); n != 10 {
		t.Errorf("%d refusals reported, want 10", n)
	}
}

func TestMaxTunnels(t *testing.T) {
	id := startBackend(t, "identity")
	addr := serve(t, &Proxy{Identity: TCP(id.addr), MaxTunnels: 2})
	const connect = "CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nHost: login.microsoftonline.com:443\r\n\r\n"
	_, first := raw(t, addr, connect)
	if got, _ := raw(t, addr, connect); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("second tunnel: %q", got)
	}
	if got, _ := raw(t, addr, connect); !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("third tunnel with MaxTunnels 2: %q, want 503", got)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := raw(t, addr, connect)
		if strings.HasPrefix(got, "HTTP/1.1 200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a slot never came free after closing a tunnel: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdleTunnelCloses(t *testing.T) {
	id := startBackend(t, "identity")
	addr := serve(t, &Proxy{Identity: TCP(id.addr), IdleTimeout: 200 * time.Millisecond})
	got, c := raw(t, addr, "CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatal(got)
	}
	start := time.Now()
	_, err := io.ReadAll(c) // the bufio in raw may hold the blank line; the rest must end
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("idle tunnel: read ended after %v with %v; want EOF after about 200ms", time.Since(start), err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:0", "127.0.0.1"} {
		if ln, err := Listen(a); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded; want a refusal", a)
		}
	}
	p := &Proxy{Identity: TCP("127.0.0.1:1")}
	if err := p.Serve(fakeListener{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("Serve on a non-loopback listener: %v", err)
	}
	for _, a := range []string{"192.0.2.1:443", "example.com:443", "bad"} {
		if c, err := TCP(a)(context.Background(), "login.microsoftonline.com"); err == nil {
			c.Close()
			t.Errorf("TCP(%q) dialed", a)
		}
	}
	if err := (&Proxy{}).Serve(mustListen(t)); err == nil {
		t.Error("Serve without Identity succeeded")
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type fakeListener struct{ addr net.Addr }

func (fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr          { return l.addr }

func TestInProcessListener(t *testing.T) {
	// A real TLS server on the in-process Listener: it sees port 443 and the Host the client named.
	fh, tr := fakehost.Start(t, CertificateHosts(), http.NotFoundHandler()) // for its certificate and CA
	roots, cert := tr.TLSClientConfig.RootCAs, fh.TLS.Certificates[0]
	ln := NewListener()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			_, _ = io.WriteString(w, r.Host+"|"+la.String())
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := serve(t, &Proxy{Identity: ln.Dial})
	got, err := get(t, client(t, addr, roots), "https://login.microsoftonline.com/x")
	if err != nil || got != "login.microsoftonline.com|127.0.0.1:443" {
		t.Errorf("through the in-process listener: %q, %v", got, err)
	}
	ln.Close()
	if _, err := ln.Dial(context.Background(), "x"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}
