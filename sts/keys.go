package sts

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/appcred/appcred/proof"
)

// signingKey is one RSA-2048 token signing key with its self-signed
// certificate, as Entra publishes them (kid = x5t = base64url SHA-1 of the
// certificate).
type signingKey struct {
	kid      string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	created  time.Time
	headerV2 string // base64url JSON header for v2 tokens: alg, kid, typ
	headerV1 string // v1 tokens also carry x5t
}

// keySet holds the signing keys, oldest first; the newest one signs.
type keySet struct {
	keys []*signingKey
}

func (s *keySet) current() *signingKey { return s.keys[len(s.keys)-1] }

// KeyInfo describes a token signing key.
type KeyInfo struct {
	// KID is the key id in token headers and the JWKS ("kid", equal to "x5t").
	KID string `json:"kid"`
	// Created is when the key was made.
	Created time.Time `json:"created"`
	// Current is true for the key that signs new tokens.
	Current bool `json:"current"`
}

const keyBits = 2048

// newSigningKey makes an RSA-2048 key and a self-signed certificate for it.
func newSigningKey(now time.Time) (*signingKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "appcred local authority token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing key certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	sk, err := parseSigningKey(data, now)
	return sk, data, err
}

func parseSigningKey(data []byte, created time.Time) (*signingKey, error) {
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	for b := range proof.PEMBlocks(data) {
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("signing key is %T, want RSA", k)
			}
			key = rk
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			cert = c
		}
	}
	if key == nil || cert == nil {
		return nil, errors.New("signing key file needs a PRIVATE KEY and a CERTIFICATE block")
	}
	if key.N.BitLen() < keyBits {
		return nil, fmt.Errorf("signing key has %d bits, want at least %d", key.N.BitLen(), keyBits)
	}
	key.Precompute()
	kid := proof.X5T(cert)
	sk := &signingKey{kid: kid, key: key, cert: cert, created: created}
	sk.headerV2 = b64Header(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	sk.headerV1 = b64Header(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT", "x5t": kid})
	return sk, nil
}

func b64Header(h map[string]string) string {
	b, _ := json.Marshal(h) // a map of strings always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyFileName sorts by creation time: 20-digit Unix nanoseconds, then the kid.
func keyFileName(created time.Time, kid string) string {
	return fmt.Sprintf("%020d-%s.pem", created.UnixNano(), kid)
}

// loadKeys reads every signing key in dir/keys, oldest first, creating the
// first one (under the state lock) when there is none.
func loadKeys(dir string) (*keySet, error) {
	kdir := filepath.Join(dir, keysDir)
	if set, err := readKeys(kdir); err == nil && len(set.keys) > 0 {
		return set, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	unlock, err := lockState(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return loadKeysLocked(dir)
}

// loadKeysLocked is loadKeys for a caller that holds the state lock.
func loadKeysLocked(dir string) (*keySet, error) {
	kdir := filepath.Join(dir, keysDir)
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	set, err := readKeys(kdir)
	if err != nil || len(set.keys) > 0 {
		return set, err
	}
	if _, err := rotateKey(dir); err != nil {
		return nil, err
	}
	return readKeys(kdir)
}

func readKeys(kdir string) (*keySet, error) {
	entries, err := os.ReadDir(kdir)
	if err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".pem") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	set := &keySet{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(kdir, n))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", n, err)
		}
		var created time.Time
		if ns, _, ok := strings.Cut(n, "-"); ok {
			if v, ok := new(big.Int).SetString(ns, 10); ok && v.IsInt64() {
				created = time.Unix(0, v.Int64())
			}
		}
		sk, err := parseSigningKey(data, created)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", n, err)
		}
		set.keys = append(set.keys, sk)
	}
	return set, nil
}

// rotateKey writes a new signing key into dir/keys; it signs from now on and
// the older keys stay published in the JWKS.
func rotateKey(dir string) (*signingKey, error) {
	kdir := filepath.Join(dir, keysDir)
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	now := time.Now()
	sk, data, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(kdir, keyFileName(now, sk.kid)), data, 0o600); err != nil {
		return nil, err
	}
	return sk, nil
}

// jwk is one entry of a JSON Web Key Set, in Entra's shape.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KID    string   `json:"kid"`
	X5T    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5C    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

// jwks renders the key set; issuer is the v2 issuer to publish with each key
// (may hold "{tenantid}").
func (s *keySet) jwks(issuer string) []byte {
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(s.keys))}
	for i := len(s.keys) - 1; i >= 0; i-- { // newest first
		k := s.keys[i]
		out.Keys = append(out.Keys, jwk{
			Kty:    "RSA",
			Use:    "sig",
			KID:    k.kid,
			X5T:    k.kid,
			N:      base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
			X5C:    []string{base64.StdEncoding.EncodeToString(k.cert.Raw)},
			Issuer: issuer,
		})
	}
	b, _ := json.Marshal(out) // strings only
	return b
}

func (s *keySet) info() []KeyInfo {
	out := make([]KeyInfo, len(s.keys))
	for i, k := range s.keys {
		out[i] = KeyInfo{KID: k.kid, Created: k.created, Current: i == len(s.keys)-1}
	}
	return out
}
