package sts

import (
	"crypto/x509"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/appcred/appcred/sts/pki"
)

// hostPolicy is the set of Host header values the authority answers to. The
// Host decides the token issuer, the URLs in discovery documents and the
// audience client assertions must carry, so it must name this authority:
// a name on its server certificate or its listen address, with the port the
// request came in on.
type hostPolicy struct {
	names []string          // lower-case DNS names and canonical IP strings
	leaf  *x509.Certificate // a caller-supplied certificate, for its names (wildcards included); nil with the local CA
	ports []int             // ports of the authority's listeners
}

// newHostPolicy allows localhost, 127.0.0.1, ::1, every hostname and, with
// a caller-supplied certificate, the names on it.
func newHostPolicy(hostnames []string, tm *pki.TLS) *hostPolicy {
	p := &hostPolicy{}
	for _, n := range pki.ServerNames(hostnames) {
		p.addName(n)
	}
	if tm != nil && tm.CAPEM == nil && len(tm.Cert.Certificate) > 0 {
		leaf := tm.Cert.Leaf
		if leaf == nil {
			leaf, _ = x509.ParseCertificate(tm.Cert.Certificate[0])
		}
		p.leaf = leaf
	}
	return p
}

func (p *hostPolicy) addName(n string) {
	n = strings.ToLower(strings.Trim(n, "[]"))
	if ip := net.ParseIP(n); ip != nil {
		n = ip.String()
	}
	if n != "" && !slices.Contains(p.names, n) {
		p.names = append(p.names, n)
	}
}

// withListener returns a copy of p that also allows the listen address's
// host (unless unspecified, as 0.0.0.0) and port.
func (p *hostPolicy) withListener(addr net.Addr) *hostPolicy {
	q := &hostPolicy{names: slices.Clone(p.names), leaf: p.leaf, ports: slices.Clone(p.ports)}
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ta.IP != nil && !ta.IP.IsUnspecified() {
			q.addName(ta.IP.String())
		}
		if !slices.Contains(q.ports, ta.Port) {
			q.ports = append(q.ports, ta.Port)
		}
	}
	return q
}

// nameAllowed reports whether host (no port) names this authority: one of
// its names, or one label below a wildcard name.
func (p *hostPolicy) nameAllowed(host string) bool {
	h := strings.ToLower(host)
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	} else if strings.ContainsAny(h, ":%[]*") || h == "" {
		return false
	}
	if slices.Contains(p.names, h) {
		return true
	}
	// A wildcard name ("*.login.microsoft.com") matches one more label.
	if label, parent, ok := strings.Cut(h, "."); ok && label != "" && slices.Contains(p.names, "*."+parent) {
		return true
	}
	return p.leaf != nil && p.leaf.VerifyHostname(h) == nil
}

// allowed reports whether the Host header hostport is acceptable for a
// request that arrived on localPort (0 when unknown, as when the handler is
// called directly: then a listener's port or the default 443 must be used).
// A Host without a port means 443, as clients omit the default port.
func (p *hostPolicy) allowed(hostport string, localPort int) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "443"
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		} else if strings.Contains(host, ":") {
			return false
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || strconv.Itoa(n) != port {
		return false
	}
	if localPort > 0 {
		if n != localPort {
			return false
		}
	} else if n != 443 && !slices.Contains(p.ports, n) {
		return false
	}
	return p.nameAllowed(host)
}

// localPort is the port of the local address the request arrived on, or 0.
func localPort(r *http.Request) int {
	if ta, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}

// codeUnknownHost answers a request whose Host is not a name of this
// authority: HTTP 400, invalid_instance, AADSTS50049 ("Unknown or invalid
// instance"), as Entra answers for a host it does not know.
const codeUnknownHost = codeUnknownInstance

func unknownHost() *Error {
	return newErr(http.StatusBadRequest, "invalid_instance", codeUnknownHost,
		"Unknown or invalid instance. The request's host is not a name of this authority: use a name on its "+
			"server certificate (localhost, 127.0.0.1, ::1, a --hostname) or its listen address, with its port.")
}
