package proof

import (
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint (RFC 7515 §4.1.7)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SHA1Hex returns the certificate's SHA-1 thumbprint in upper-case hex, as the
// Azure portal shows it.
func SHA1Hex(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // thumbprint, not a security hash
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// X5T returns the certificate's SHA-1 thumbprint as base64url without padding,
// the value of a JWS "x5t" header.
func X5T(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // thumbprint, not a security hash
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// X5TS256 returns the certificate's SHA-256 thumbprint as base64url without
// padding, the value of a JWS "x5t#S256" header.
func X5TS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// DecodeThumbprint decodes a thumbprint written the way any real client writes
// it: base64url or standard base64, with or without padding (MSAL Python pads
// base64url; MSAL Go uses padded standard base64), or hex as the portal shows it.
func DecodeThumbprint(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("thumbprint is empty")
	}
	if (len(s) == 40 || len(s) == 64) && isHex(s) {
		return hex.DecodeString(s)
	}
	t := strings.TrimRight(s, "=")
	t = strings.NewReplacer("+", "-", "/", "_").Replace(t)
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("thumbprint %q is not base64 or hex", s)
	}
	if len(b) != sha1.Size && len(b) != sha256.Size {
		return nil, fmt.Errorf("thumbprint %q has %d bytes; want 20 (SHA-1) or 32 (SHA-256)", s, len(b))
	}
	return b, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Thumbprints returns the raw SHA-1 and SHA-256 thumbprints of a certificate,
// for indexing certificates by whichever one a client sends.
func Thumbprints(cert *x509.Certificate) (sha1Sum [20]byte, sha256Sum [32]byte) {
	return sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw) //nolint:gosec // thumbprint
}
