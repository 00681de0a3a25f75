package sts

import (
	"net"
	"strings"

	"github.com/appcred/appcred/sts/directory"
)

// canonicalHost is the one spelling of an accepted Host header (hostPolicy)
// the authority uses in issuers and advertised URLs, whatever the client
// wrote: a lower-case name, or an IP address in its canonical form
// (IPv4-mapped IPv6 as IPv4, IPv6 compressed and bracketed), with the port
// as given.
func canonicalHost(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
	}
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	if port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// registeredResource is the resource identifier a v1 token's "aud" (and a
// v1 response's "resource") carries: the identifier as registered on res that
// requested names (case and trailing slashes aside), not the client's
// spelling. A registered URI with a trailing slash is answered without it
// when the request had none (as "{uri}/.default" scopes name it).
func registeredResource(res *directory.App, requested string) string {
	for _, u := range res.IdentifierURIs {
		if directory.SameResource(u, requested) {
			if strings.HasSuffix(u, "/") && !strings.HasSuffix(requested, "/") {
				return strings.TrimRight(u, "/")
			}
			return u
		}
	}
	if directory.SameResource(res.ClientID, requested) {
		return res.ClientID
	}
	return "api://" + res.ClientID
}
