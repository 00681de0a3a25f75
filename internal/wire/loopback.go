package wire

import (
	"errors"
	"net"
	"net/http"
	"strings"
)

// PinLoopback wraps rt (http.DefaultTransport when nil) so that a plain-http
// request to a loopback name — "localhost" or any "*.localhost" — connects to
// 127.0.0.1 (or, when nothing listens there, ::1) directly, with the name
// kept in the Host header. Go resolves such names through /etc/hosts and DNS,
// which may answer with any address, and a plain-http request carries the
// client's secret in clear. HTTPS requests are left alone: TLS verifies the
// server whatever the name resolves to.
func PinLoopback(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if _, ok := rt.(loopbackPin); ok {
		return rt
	}
	return loopbackPin{next: rt}
}

type loopbackPin struct{ next http.RoundTripper }

// RoundTrip sends req to the loopback address when its host is a loopback name.
func (p loopbackPin) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || !IsLoopbackName(req.URL.Hostname()) {
		return p.next.RoundTrip(req)
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	var resp *http.Response
	var err error
	for i, ip := range []string{"127.0.0.1", "::1"} {
		r := req.Clone(req.Context())
		r.URL.Host = net.JoinHostPort(ip, port)
		r.Host = req.Host
		if r.Host == "" {
			r.Host = req.URL.Host
		}
		if i > 0 && req.Body != nil {
			if req.GetBody == nil {
				break // the body cannot be sent twice
			}
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		resp, err = p.next.RoundTrip(r)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" {
			break // only a refused connection (nothing sent) is tried on ::1
		}
	}
	return resp, err
}

// IsLoopbackName reports whether host (without port) is "localhost" or a
// name under ".localhost" (RFC 6761), in any case, with or without a final dot.
func IsLoopbackName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// CloseIdleConnections closes the wrapped transport's idle connections.
func (p loopbackPin) CloseIdleConnections() {
	if c, ok := p.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
