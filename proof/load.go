package proof

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is a client certificate: the leaf certificate, the chain to send
// as "x5c" (leaf first), and the private key that matches the leaf.
type Certificate struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// ErrWrongPassword is returned when a PFX file or an encrypted PEM key cannot be
// decrypted with the password given.
var ErrWrongPassword = errors.New("wrong password for the certificate's private key")

// ErrPasswordRequired is returned when a PFX file or an encrypted PEM key is
// password-protected and no password was given.
var ErrPasswordRequired = errors.New("the certificate's private key is password-protected; a password is required")

// LoadCertificate reads a certificate and its private key from PEM (PKCS#1,
// PKCS#8, encrypted PKCS#8 or legacy encrypted PEM keys, plus one or more
// CERTIFICATE blocks) or from a PFX / PKCS#12 file (legacy RC2/3DES and modern
// AES/SHA-256-MAC files). The password may be empty. Of several certificates, the
// one whose public key matches the private key becomes Leaf.
func LoadCertificate(data, password []byte) (*Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("certificate data is empty")
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return loadPEM(data, password)
	}
	return loadPFX(data, password)
}

func loadPFX(data, password []byte) (*Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, string(password))
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword) && len(password) == 0:
			return nil, ErrPasswordRequired
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, ErrWrongPassword
		}
		// The decoder's own text dumps ASN.1 structures: say what was expected.
		return nil, errors.New("not a certificate file: neither PEM (-----BEGIN CERTIFICATE-----) nor PFX/PKCS#12")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("PFX private key of type %T cannot sign", key)
	}
	return assemble(signer, append([]*x509.Certificate{leaf}, cas...))
}

func loadPEM(data, password []byte) (*Certificate, error) {
	var certs []*x509.Certificate
	var key crypto.Signer
	for block := range PEMBlocks(data) {
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM CERTIFICATE block %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if key != nil {
				return nil, errors.New("PEM data holds more than one private key")
			}
			k, err := parsePEMKey(block, password)
			if err != nil {
				return nil, err
			}
			key = k
		}
	}
	if key == nil {
		return nil, errors.New("PEM data holds no private key (want a PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY block)")
	}
	if len(certs) == 0 {
		return nil, errors.New("PEM data holds no CERTIFICATE block")
	}
	return assemble(key, certs)
}

func parsePEMKey(block *pem.Block, password []byte) (crypto.Signer, error) {
	der := block.Bytes
	//lint:ignore SA1019 legacy encrypted PEM keys are still written by openssl 1.x
	if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
		if len(password) == 0 {
			return nil, fmt.Errorf("PEM %s block: %w", block.Type, ErrPasswordRequired)
		}
		d, err := x509.DecryptPEMBlock(block, password) //nolint:staticcheck
		if err != nil {
			return nil, ErrWrongPassword
		}
		der = d
	}
	var key any
	var err error
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if len(password) == 0 {
			return nil, fmt.Errorf("PEM ENCRYPTED PRIVATE KEY block: %w", ErrPasswordRequired)
		}
		key, err = pkcs8.ParsePKCS8PrivateKey(der, password)
		if err != nil {
			return nil, ErrWrongPassword
		}
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM %s block: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}

// assemble puts the certificate matching key first and keeps the rest in order.
func assemble(key crypto.Signer, certs []*x509.Certificate) (*Certificate, error) {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("private key of type %T is not supported (want RSA or ECDSA)", key)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot be compared with a certificate", key)
	}
	for i, c := range certs {
		if c != nil && pub.Equal(c.PublicKey) {
			chain := make([]*x509.Certificate, 0, len(certs))
			chain = append(chain, c)
			for j, o := range certs {
				if j != i && o != nil {
					chain = append(chain, o)
				}
			}
			return &Certificate{Leaf: c, Chain: chain, Key: key}, nil
		}
	}
	return nil, fmt.Errorf("the private key matches none of the %d certificate(s)", len(certs))
}

// HasPEMCertificate reports whether data holds a PEM CERTIFICATE block,
// without parsing it (a CA file is parsed on the first TLS handshake).
func HasPEMCertificate(data []byte) bool {
	for b := range PEMBlocks(data) {
		if b.Type == "CERTIFICATE" {
			return true
		}
	}
	return false
}

// PEMBlocks yields the PEM blocks of data in order, skipping text around
// them, and stops at the first byte that does not begin a block.
func PEMBlocks(data []byte) iter.Seq[*pem.Block] {
	return func(yield func(*pem.Block) bool) {
		for rest := data; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil || !yield(block) {
				return
			}
		}
	}
}

// ParsePEMCertificates returns every CERTIFICATE block in PEM data, in order.
// Private key blocks are ignored.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for block := range PEMBlocks(data) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM CERTIFICATE block %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// ParseX5C parses the entries of a JWS "x5c" header: standard base64 DER
// certificates, leaf first. Whitespace and line breaks inside an entry are
// ignored, as MSAL Python sends them.
func ParseX5C(entries []string) ([]*x509.Certificate, error) {
	if len(entries) == 0 {
		return nil, errors.New("x5c is empty")
	}
	out := make([]*x509.Certificate, 0, len(entries))
	for i, e := range entries {
		clean := strings.Join(strings.Fields(e), "")
		der, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			if der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "=")); err != nil {
				return nil, fmt.Errorf("x5c entry %d is not base64", i)
			}
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c entry %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// X5C returns the chain as a JWS "x5c" header value: standard base64 DER, leaf first.
func (c *Certificate) X5C() []string {
	out := make([]string, len(c.Chain))
	for i, cert := range c.Chain {
		out[i] = base64.StdEncoding.EncodeToString(cert.Raw)
	}
	return out
}
