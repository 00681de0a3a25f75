// Package seal encrypts data at rest with AES-256-GCM, for the token stores
// (cache/filestore, cache/redisstore) on hosts without a keyring.
//
// A sealed blob is the 8-byte magic "ACSEAL1\n", a 4-byte key id (the first
// bytes of the key's SHA-256, so a wrong key is told apart from damaged data),
// a 12-byte random nonce and the GCM ciphertext with its tag. The header is
// authenticated as additional data.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// magic starts every sealed blob.
const magic = "ACSEAL1\n"

const (
	idSize    = 4
	nonceSize = 12
	header    = len(magic) + idSize
)

// ErrWrongKey means a blob was sealed with another key than the one given.
var ErrWrongKey = errors.New("seal: data was encrypted with a different key")

// ErrNoKey means a blob is sealed but no key was configured.
var ErrNoKey = errors.New("seal: data is encrypted and no key is configured")

// Sealer seals and opens blobs with one key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	id   [idSize]byte
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s := &Sealer{aead: aead}
	sum := sha256.Sum256(key)
	copy(s.id[:], sum[:])
	return s, nil
}

// IsSealed reports whether data starts like a sealed blob.
func IsSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(magic)) }

// Seal encrypts plain with a fresh random nonce.
func (s *Sealer) Seal(plain []byte) []byte {
	out := make([]byte, header+nonceSize, header+nonceSize+len(plain)+s.aead.Overhead())
	copy(out, magic)
	copy(out[len(magic):], s.id[:])
	_, _ = rand.Read(out[header : header+nonceSize]) // crypto/rand never fails
	return s.aead.Seal(out, out[header:header+nonceSize], plain, out[:header])
}

// Open decrypts a blob made by Seal. It returns ErrWrongKey when the blob
// names another key, and a plain error when it is not a sealed blob or has
// been damaged. A nil Sealer returns ErrNoKey for a sealed blob.
func (s *Sealer) Open(data []byte) ([]byte, error) {
	if !IsSealed(data) {
		return nil, errors.New("seal: data is not encrypted")
	}
	if s == nil {
		return nil, ErrNoKey
	}
	if len(data) < header+nonceSize+s.aead.Overhead() {
		return nil, errors.New("seal: encrypted data is truncated")
	}
	if !bytes.Equal(data[len(magic):header], s.id[:]) {
		return nil, ErrWrongKey
	}
	plain, err := s.aead.Open(nil, data[header:header+nonceSize], data[header+nonceSize:], data[:header])
	if err != nil {
		return nil, errors.New("seal: encrypted data is damaged (authentication failed)")
	}
	return plain, nil
}

// ParseKey decodes a key written as 64 hex digits or as standard or URL
// base64 (with or without padding) of 32 bytes. Surrounding space is ignored.
// Errors never echo the key.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text) == 2*KeySize {
		if k, err := hex.DecodeString(text); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding,
		base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("seal: key is not %d bytes in hex or base64", KeySize)
}

// KeyFromEnv reads a key (see ParseKey) from the environment variable name.
func KeyFromEnv(name string) ([]byte, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("seal: environment variable %s is not set", name)
	}
	k, err := ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return k, nil
}

// KeyFromFile reads a key (see ParseKey) from path, which must not be
// readable or writable by group or others (on systems with Unix modes).
func KeyFromFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %04o, want 0600 or stricter", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// NewKey returns a fresh random key, base64 encoded, for a key file or
// environment variable.
func NewKey() string {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}
