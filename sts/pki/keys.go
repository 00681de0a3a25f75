package pki

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

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
)

// SigningKey is one RSA-2048 token signing key with its self-signed
// certificate, as Entra publishes them (kid = x5t = base64url SHA-1 of the
// certificate). Its fields are read-only.
type SigningKey struct {
	// KID is the key id ("kid" and "x5t" of token headers and the JWKS).
	KID string
	// Key is the private key.
	Key *rsa.PrivateKey
	// Cert is the key's self-signed certificate (the JWKS "x5c").
	Cert *x509.Certificate
	// Created is when the key was made.
	Created time.Time
	// HeaderV2 is the base64url JSON header of v2 tokens: alg, kid, typ.
	HeaderV2 string
	// HeaderV1 is the header of v1 tokens, which also carry x5t.
	HeaderV1 string
}

// KeySet holds the signing keys, oldest first; the newest one signs.
type KeySet struct {
	// Keys are the signing keys, oldest first.
	Keys []*SigningKey
}

// Current is the key that signs new tokens: the newest.
func (s *KeySet) Current() *SigningKey { return s.Keys[len(s.Keys)-1] }

// ByKID returns the key with id kid, or nil.
func (s *KeySet) ByKID(kid string) *SigningKey {
	for _, k := range s.Keys {
		if k.KID == kid {
			return k
		}
	}
	return nil
}

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
func newSigningKey(now time.Time) (*SigningKey, []byte, error) {
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
	data = append(data, pemCert(der)...)
	sk, err := parseSigningKey(data, now)
	return sk, data, err
}

func parseSigningKey(data []byte, created time.Time) (*SigningKey, error) {
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
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("signing key file's CERTIFICATE is not for its PRIVATE KEY")
	}
	if key.N.BitLen() < keyBits {
		return nil, fmt.Errorf("signing key has %d bits, want at least %d", key.N.BitLen(), keyBits)
	}
	key.Precompute()
	kid := proof.X5T(cert)
	return &SigningKey{
		KID: kid, Key: key, Cert: cert, Created: created,
		HeaderV2: b64Header(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"}),
		HeaderV1: b64Header(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT", "x5t": kid}),
	}, nil
}

func b64Header(h map[string]string) string {
	b, _ := json.Marshal(h) // a map of strings always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyFileName sorts by creation time: 20-digit Unix nanoseconds, then the kid.
func keyFileName(created time.Time, kid string) string {
	return fmt.Sprintf("%020d-%s.pem", created.UnixNano(), kid)
}

// ReadKeys reads every signing key in dir/keys (dir is a state directory),
// oldest first. A missing keys folder is an error wrapping os.ErrNotExist.
func ReadKeys(dir string) (*KeySet, error) {
	kdir := filepath.Join(dir, KeysDir)
	if err := checkKeysDir(kdir); err != nil {
		return nil, err
	}
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
	set := &KeySet{}
	for _, n := range names {
		data, err := fsutil.ReadPrivateFile(filepath.Join(kdir, n))
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
		set.Keys = append(set.Keys, sk)
	}
	return set, nil
}

// checkKeysDir refuses a keys folder that is a symbolic link, not a folder,
// or not private (fsutil.CheckPrivate). A missing folder is not an error here.
func checkKeysDir(kdir string) error {
	if err := fsutil.CheckPrivateEntry(kdir); err != nil {
		return fmt.Errorf("keys directory: %w", err)
	}
	if fi, err := os.Lstat(kdir); err == nil && !fi.IsDir() {
		return fmt.Errorf("keys directory %s is not a directory", kdir)
	}
	return nil
}

// EnsureKeys is ReadKeys that first makes the keys folder and, when it holds
// no key, the first key. The caller holds the state directory's lock.
func EnsureKeys(dir string) (*KeySet, error) {
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o700); err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	set, err := ReadKeys(dir)
	if err != nil || len(set.Keys) > 0 {
		return set, err
	}
	if _, err := RotateKey(dir); err != nil {
		return nil, err
	}
	return ReadKeys(dir)
}

// RotateKey writes a new signing key into dir/keys; it signs from now on and
// the older keys stay published in the JWKS. The caller holds the state
// directory's lock.
func RotateKey(dir string) (KeyInfo, error) {
	kdir := filepath.Join(dir, KeysDir)
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return KeyInfo{}, fmt.Errorf("keys directory: %w", err)
	}
	if err := checkKeysDir(kdir); err != nil {
		return KeyInfo{}, err
	}
	now := time.Now()
	sk, data, err := newSigningKey(now)
	if err != nil {
		return KeyInfo{}, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(kdir, keyFileName(now, sk.KID)), data, 0o600); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{KID: sk.KID, Created: sk.Created, Current: true}, nil
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

// JWKS renders the key set as a JSON Web Key Set in Entra's shape, newest
// key first; issuer is the v2 issuer to publish with each key (may hold
// "{tenantid}"; "" leaves it out).
func (s *KeySet) JWKS(issuer string) []byte {
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(s.Keys))}
	for i := len(s.Keys) - 1; i >= 0; i-- { // newest first
		k := s.Keys[i]
		out.Keys = append(out.Keys, jwk{
			Kty:    "RSA",
			Use:    "sig",
			KID:    k.KID,
			X5T:    k.KID,
			N:      base64.RawURLEncoding.EncodeToString(k.Key.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Key.E)).Bytes()),
			X5C:    []string{base64.StdEncoding.EncodeToString(k.Cert.Raw)},
			Issuer: issuer,
		})
	}
	b, _ := json.Marshal(out) // strings only
	return b
}

// Info describes the keys, oldest first; the last one is current.
func (s *KeySet) Info() []KeyInfo {
	out := make([]KeyInfo, len(s.Keys))
	for i, k := range s.Keys {
		out[i] = KeyInfo{KID: k.KID, Created: k.Created, Current: i == len(s.Keys)-1}
	}
	return out
}
