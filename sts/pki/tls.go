package pki

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
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
)

const (
	serverLifetime = 825 * 24 * time.Hour // the most browsers and macOS accept
	renewBefore    = 30 * 24 * time.Hour
)

// TLS is the server's TLS identity and, when the authority made its own, the
// local CA that issued it.
type TLS struct {
	// Cert is the server certificate and key.
	Cert tls.Certificate
	// CAPEM is the local CA certificate in PEM; nil with a caller-supplied certificate.
	CAPEM []byte
	// CAPool holds the local CA certificate; nil with a caller-supplied certificate.
	CAPool *x509.CertPool
	// CAFile is the path of CAPEM (StateDir/ca.pem); "" with a caller-supplied certificate.
	CAFile string
	// ReissueReason is set when an existing CA was replaced because a server
	// name fell outside its name constraints, and says which.
	ReissueReason string
}

// LoadTLS returns the caller's certificate (certFile/keyFile) or the local CA
// and server certificate in dir, creating or renewing them as needed. The
// caller holds the state directory's lock.
func LoadTLS(dir, certFile, keyFile string, hostnames []string) (*TLS, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("TLS: give both a certificate file and a key file")
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
		}
		return &TLS{Cert: c}, nil
	}
	names := ServerNames(hostnames)
	for _, n := range names {
		if err := validHostname(n); err != nil {
			return nil, err
		}
	}
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
	return &TLS{
		Cert:          cert,
		CAPEM:         pemCert(caCert.Raw),
		CAPool:        pool,
		CAFile:        filepath.Join(dir, CACertFile),
		ReissueReason: reason,
	}, nil
}

// ServerNames is localhost, 127.0.0.1, ::1 and the extra hostnames, lower-cased
// and without duplicates: the names on the server certificate.
func ServerNames(extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range extra {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names
}

// validHostname reports why name cannot be a server name of the local CA,
// or nil: an IP address, or a DNS name of letters, digits, hyphens and
// underscores in non-empty labels, optionally "*." followed by a name of at
// least two labels (a wildcard covers one label). The name becomes a
// permitted domain of the CA's name constraints, so an empty label, a bare
// "*." or "*.com" would let the CA vouch for far more than meant.
func validHostname(name string) error {
	if net.ParseIP(name) != nil {
		return nil
	}
	base, wildcard := strings.CutPrefix(name, "*.")
	labels := strings.Split(base, ".")
	bad := len(name) > 253 || wildcard && len(labels) < 2
	for _, l := range labels {
		bad = bad || l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" ||
			l[0] == '-' || l[len(l)-1] == '-'
	}
	if bad {
		return fmt.Errorf("hostname %q: want an IP address or a DNS name (a wildcard only as \"*.\" before "+
			"a name of at least two labels)", name)
	}
	return nil
}

func loadOrCreateServerCert(dir string, ca *x509.Certificate, caKey crypto.Signer, names []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, TLSCertFile), filepath.Join(dir, TLSKeyFile)
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

// readPair reads a PEM certificate (the first CERTIFICATE block) and a PEM
// PKCS#8 private key (the first block), which must be the certificate's key.
func readPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := fsutil.ReadPrivateFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := fsutil.ReadPrivateFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	certs, err := proof.ParsePEMCertificates(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	var kb *pem.Block
	for b := range proof.PEMBlocks(keyPEM) {
		kb = b
		break
	}
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
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, nil, fmt.Errorf("%s is not the key of the certificate in %s", keyPath, certPath)
	}
	return certs[0], signer, nil
}

// writePair writes the key first (0600) then the certificate (0644), both atomically.
func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", keyPath, err)
	}
	if err := fsutil.WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(certPath, pemCert(der), 0o644)
}

// pemCert encodes a DER certificate as a PEM CERTIFICATE block.
func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
