package sts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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

const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 825 * 24 * time.Hour // the most browsers and macOS accept
	renewBefore    = 30 * 24 * time.Hour
)

// tlsMaterial is the server's TLS identity and, when the authority made its
// own, the local CA that issued it.
type tlsMaterial struct {
	cert   tls.Certificate
	caPEM  []byte // nil with a caller-supplied certificate
	caPool *x509.CertPool
	caFile string
	// reissuedCA is set when an existing CA was replaced because a server
	// name fell outside its name constraints; reissueReason says which.
	reissuedCA    bool
	reissueReason string
}

// loadTLS returns the caller's certificate (certFile/keyFile) or the local CA
// and server certificate in dir, creating or renewing them as needed.
func loadTLS(dir, certFile, keyFile string, hostnames []string) (*tlsMaterial, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("TLS: give both a certificate file and a key file")
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
		}
		return &tlsMaterial{cert: c}, nil
	}
	names := serverNames(hostnames)
	caCert, caKey, reason, err := loadOrCreateCA(dir, names)
	if err != nil {
		return nil, err
	}
	cert, err := loadOrCreateServerCert(dir, caCert, caKey, names)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tlsMaterial{
		cert:          cert,
		caPEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}),
		caPool:        pool,
		caFile:        filepath.Join(dir, caCertFile),
		reissuedCA:    reason != "",
		reissueReason: reason,
	}, nil
}

// serverNames is localhost, 127.0.0.1, ::1 and the extra hostnames, lower-cased
// and without duplicates.
func serverNames(extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range extra {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names
}

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
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
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

func loadOrCreateServerCert(dir string, ca *x509.Certificate, caKey crypto.Signer, names []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile)
	if cert, key, err := readPair(certPath, keyPath); err == nil {
		if serverCertFits(cert, ca, names) {
			return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"appcred"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, nil
}

// serverCertFits reports whether cert was issued by ca, covers every name and
// is valid for at least another renewBefore.
func serverCertFits(cert, ca *x509.Certificate, names []string) bool {
	if cert.CheckSignatureFrom(ca) != nil || time.Until(cert.NotAfter) < renewBefore {
		return false
	}
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// readPair reads a PEM certificate and a PEM PKCS#8 private key.
func readPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: unsupported key type %T", keyPath, k)
	}
	return cert, signer, nil
}

// writePair writes the key first (0600) then the certificate (0644), both atomically.
func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", keyPath, err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
