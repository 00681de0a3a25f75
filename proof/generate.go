package proof

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// NewSelfSigned creates an RSA key of keyBits (2048 when zero) and a
// self-signed client-authentication certificate for subject, valid from now
// for the given duration (365 days when zero). The subject is either a plain
// common name or an "CN=…,O=…" string.
func NewSelfSigned(subject string, validFor time.Duration, keyBits int) (*Certificate, error) {
	if keyBits == 0 {
		keyBits = 2048
	}
	if keyBits < 2048 || keyBits > 8192 {
		return nil, fmt.Errorf("key size %d is out of range (2048 to 8192 bits)", keyBits)
	}
	if validFor == 0 {
		validFor = 365 * 24 * time.Hour
	}
	if validFor < 0 {
		return nil, fmt.Errorf("validity %s is negative", validFor)
	}
	name, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Minute)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             now,
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Certificate{Leaf: leaf, Chain: []*x509.Certificate{leaf}, Key: key}, nil
}

// ParseSubject reads "CN=name,O=org,OU=unit,C=country,L=city,ST=state" (or a
// bare common name) into a pkix.Name.
func ParseSubject(s string) (pkix.Name, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return pkix.Name{}, errors.New("subject is empty (want e.g. \"CN=my-daemon\")")
	}
	if !strings.Contains(s, "=") {
		return pkix.Name{CommonName: s}, nil
	}
	parts, err := splitRDNs(s)
	if err != nil {
		return pkix.Name{}, fmt.Errorf("subject %q: %w", s, err)
	}
	var n pkix.Name
	for _, part := range parts {
		k, v := part[0], part[1]
		if k == "" || v == "" {
			return pkix.Name{}, fmt.Errorf("subject %q: part %q is not KEY=value", s, k+"="+v)
		}
		switch strings.ToUpper(k) {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "ST":
			n.Province = append(n.Province, v)
		default:
			return pkix.Name{}, fmt.Errorf("subject %q: unknown attribute %q (want CN, O, OU, C, L or ST)", s, k)
		}
	}
	if n.CommonName == "" {
		return pkix.Name{}, fmt.Errorf("subject %q has no CN", s)
	}
	return n, nil
}

// splitRDNs splits an RFC 4514 distinguished name into KEY, value pairs at
// unescaped commas (or semicolons), undoing the escapes: a backslash before a
// special character (\, \+ \" \\ \< \> \; \= \# and space) or two hex digits
// (\2C), and double-quoted values (RFC 2253). Keys and values are trimmed.
func splitRDNs(s string) ([][2]string, error) {
	var out [][2]string
	var key, cur strings.Builder
	inKey, quoted := true, false
	flush := func() {
		out = append(out, [2]string{strings.TrimSpace(key.String()), strings.TrimSpace(cur.String())})
		key.Reset()
		cur.Reset()
		inKey = true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		w := &cur
		if inKey {
			w = &key
		}
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("ends with a lone backslash")
			}
			if i+2 < len(s) && isHex(s[i+1:i+3]) {
				b, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				w.WriteByte(byte(b))
				i += 2
			} else {
				w.WriteByte(s[i+1])
				i++
			}
		case c == '"' && !inKey && (quoted || strings.TrimSpace(cur.String()) == ""):
			quoted = !quoted // a quoted value (RFC 2253)
		case quoted:
			w.WriteByte(c)
		case c == '=' && inKey:
			inKey = false
		case c == ',' || c == ';':
			flush()
		default:
			w.WriteByte(c)
		}
	}
	if quoted {
		return nil, errors.New("a quoted value is not closed")
	}
	flush()
	return out, nil
}

// CertPEM returns the chain as PEM CERTIFICATE blocks, leaf first.
func (c *Certificate) CertPEM() []byte {
	var out []byte
	for _, cert := range c.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return out
}

// KeyPEM returns the private key as an unencrypted PKCS#8 PEM block. Write it with mode 0600.
func (c *Certificate) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PFX returns the key and chain as a modern PKCS#12 file (AES-256 and a
// SHA-256 MAC) protected by password.
func (c *Certificate) PFX(password string) ([]byte, error) {
	return pkcs12.Modern.Encode(c.Key, c.Leaf, c.cas(), password)
}

// PFXLegacy returns the key and chain as a legacy PKCS#12 file (3DES and a
// SHA-1 MAC), for readers that know no other format: azidentity and
// golang.org/x/crypto/pkcs12, older Windows and Java. Prefer PFX where the
// reader supports it.
func (c *Certificate) PFXLegacy(password string) ([]byte, error) {
	return pkcs12.LegacyDES.Encode(c.Key, c.Leaf, c.cas(), password)
}

func (c *Certificate) cas() []*x509.Certificate {
	if len(c.Chain) > 1 {
		return c.Chain[1:]
	}
	return nil
}
