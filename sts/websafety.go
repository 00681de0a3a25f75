package sts

import (
	"crypto/tls"
	"net/url"
	"strings"
)

// aeadCipherSuites are the TLS 1.2 cipher suites the authority offers: ECDHE
// with AES-GCM or ChaCha20-Poly1305 only, never CBC or SHA-1 MACs. (TLS 1.3
// suites are all AEAD and not configurable.)
var aeadCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// hasEncodedSlash reports whether the request path holds an encoded slash
// (%2F) or backslash (%5C): routing works on path segments, so such a path is
// not routed as if the escape were a separator.
func hasEncodedSlash(u *url.URL) bool {
	p := strings.ToUpper(u.EscapedPath())
	return strings.Contains(p, "%2F") || strings.Contains(p, "%5C")
}

// discoveryTenant is the tenant segment of an instance-discovery request's
// authorization_endpoint that the answer may name: a tenant of the directory
// (by id or domain name) or common/organizations/consumers; ok is false for
// anything else, which is never reflected.
func (a *Authority) discoveryTenant(seg string) (tenant string, ok bool) {
	if isMultiTenant(seg) {
		return strings.ToLower(seg), true
	}
	if t := a.current().dir.Tenant(seg); t != nil {
		return seg, true
	}
	return "", false
}
