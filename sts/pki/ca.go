// Package pki is the local authority's PKI: its name-constrained CA, TLS server certificate, and token signing keys with their JWKS.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files and folders of the PKI inside a state directory.
const (
	// CACertFile is the local CA certificate (PEM); clients trust it.
	CACertFile = "ca.pem"
	// CAKeyFile is the local CA's private key (PEM PKCS#8, 0600).
	CAKeyFile = "ca-key.pem"
	// TLSCertFile is the server certificate (PEM).
	TLSCertFile = "tls.pem"
	// TLSKeyFile is the server certificate's private key (PEM PKCS#8, 0600).
	TLSKeyFile = "tls-key.pem"
	// KeysDir holds the token signing keys, one PEM file each (0600).
	KeysDir = "keys"
)

const caLifetime = 10 * 365 * 24 * time.Hour

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// loadOrCreateCA returns the local CA in dir, creating it when there is none.
// The CA is name-constrained (critical NameConstraints) to the server names:
// DNS domains localhost plus every DNS hostname (and their subdomains), IP
// ranges 127.0.0.0/8, ::1/128 plus every IP hostname, so its key, if stolen,
// cannot mint certificates for other sites. When a name falls outside an
// existing CA's constraints (a new --hostname, or a CA made before
// constraints), a new CA is made whose constraints add the new names to the
// old ones; reason then says why, and clients must trust the new ca.pem.
func loadOrCreateCA(dir string, names []string) (*x509.Certificate, crypto.Signer, string, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	var old *x509.Certificate
	reason := ""
	if cert, key, err := readPair(certPath, keyPath); err == nil {
		if reason = caUncovered(cert, names); reason == "" {
			return cert, key, "", nil
		}
		old = cert
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, "", fmt.Errorf("local CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("local CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "appcred local authority CA", Organization: []string{"appcred"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains, tmpl.PermittedIPRanges = caConstraints(names, old)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("local CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, "", err
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, nil, "", err
	}
	return cert, key, reason, nil
}

// caConstraints are the permitted DNS domains and IP ranges for a CA that
// must cover names, plus those of the CA it replaces (old may be nil).
func caConstraints(names []string, old *x509.Certificate) ([]string, []*net.IPNet) {
	dns := []string{"localhost"}
	ips := []*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
	}
	if old != nil {
		for _, d := range old.PermittedDNSDomains {
			if !slices.Contains(dns, d) {
				dns = append(dns, d)
			}
		}
		for _, r := range old.PermittedIPRanges {
			if !ipPermitted(ips, r.IP) {
				ips = append(ips, r)
			}
		}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !ipPermitted(ips, ip) {
				if v4 := ip.To4(); v4 != nil {
					ips = append(ips, &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)})
				} else {
					ips = append(ips, &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)})
				}
			}
			continue
		}
		d := strings.TrimPrefix(n, "*.")
		if !dnsPermitted(dns, d) {
			dns = append(dns, d)
		}
	}
	return dns, ips
}

// caUncovered returns "" when ca's name constraints permit every name, else
// why not.
func caUncovered(ca *x509.Certificate, names []string) string {
	if len(ca.PermittedDNSDomains) == 0 && len(ca.PermittedIPRanges) == 0 {
		return "the CA has no name constraints"
	}
	for _, n := range names {
		ok := false
		if ip := net.ParseIP(n); ip != nil {
			ok = ipPermitted(ca.PermittedIPRanges, ip)
		} else {
			ok = dnsPermitted(ca.PermittedDNSDomains, n)
		}
		if !ok {
			return fmt.Sprintf("hostname %q is outside the CA's name constraints", n)
		}
	}
	return ""
}

func ipPermitted(ranges []*net.IPNet, ip net.IP) bool {
	for _, r := range ranges {
		if r.Contains(ip) { // Contains compares IPv4 with IPv4 ranges only, IPv6 with IPv6
			return true
		}
	}
	return false
}

// dnsPermitted reports whether name is one of domains or below one of them
// (RFC 5280 dNSName constraints).
func dnsPermitted(domains []string, name string) bool {
	name = strings.ToLower(name)
	for _, d := range domains {
		d = strings.ToLower(d)
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}
