package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
)

// fuzzPEMs returns a signing key file written by newSigningKey, the PEM of
// a certificate that matches no key here, and an EC key in PKCS#8.
func fuzzPEMs(f *testing.F) (keyFile, otherCert, ecKey []byte) {
	f.Helper()
	dir := f.TempDir()
	if _, err := EnsureKeys(dir); err != nil {
		f.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(dir, KeysDir, "*.pem"))
	if err != nil || len(names) != 1 {
		f.Fatalf("keys: %v %v", names, err)
	}
	if keyFile, err = os.ReadFile(names[0]); err != nil {
		f.Fatal(err)
	}
	other, err := proof.NewSelfSigned("CN=other", time.Hour, 2048)
	if err != nil {
		f.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		f.Fatal(err)
	}
	return keyFile, other.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// blocks splits a PEM file into its key and certificate parts.
func blocks(data []byte) (key, cert []byte) {
	for b := range proof.PEMBlocks(data) {
		if b.Type == "CERTIFICATE" {
			cert = append(cert, pem.EncodeToMemory(b)...)
		} else {
			key = append(key, pem.EncodeToMemory(b)...)
		}
	}
	return key, cert
}

// matches reports whether the private key belongs to the certificate.
func matches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// FuzzParseSigningKey feeds signing key files (keys/*.pem of a state
// directory) to parseSigningKey: no panic; an accepted key is RSA of at least
// 2048 bits, its kid is its certificate's x5t, and the certificate carries
// the key's public half (else the JWKS would publish a key tokens are not
// signed with).
func FuzzParseSigningKey(f *testing.F) {
	keyFile, otherCert, ecKey := fuzzPEMs(f)
	key, cert := blocks(keyFile)
	for _, s := range [][]byte{
		keyFile, append(append([]byte{}, cert...), key...), key, cert, append(append([]byte{}, key...), otherCert...),
		append(append([]byte{}, ecKey...), cert...), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		nil, []byte("junk"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sk, err := parseSigningKey(data, time.Unix(0, 0))
		if err != nil {
			return
		}
		if sk.Key.N.BitLen() < keyBits || sk.KID != proof.X5T(sk.Cert) || !matches(sk.Key, sk.Cert) {
			t.Fatalf("accepted signing key: %d bits, kid %q, certificate matches key: %v", sk.Key.N.BitLen(),
				sk.KID, matches(sk.Key, sk.Cert))
		}
	})
}

// FuzzReadPair feeds certificate and key files (the local CA's and the TLS
// server's pairs in a state directory) to readPair: no panic, an error names
// the file, and an accepted pair's key belongs to its certificate.
func FuzzReadPair(f *testing.F) {
	keyFile, otherCert, ecKey := fuzzPEMs(f)
	key, cert := blocks(keyFile)
	for _, s := range [][2][]byte{
		{cert, key}, {append(append([]byte{}, cert...), otherCert...), key}, {otherCert, key}, {cert, ecKey},
		{cert, cert}, {key, key}, {nil, nil}, {cert, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
	} {
		f.Add(s[0], s[1])
	}
	dir := f.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		c, k, err := readPair(certPath, keyPath)
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q names neither file", err)
			}
			return
		}
		if c == nil || k == nil || !matches(k, c) {
			t.Fatalf("accepted pair: certificate %v, key %T, but the key does not belong to the certificate", c != nil, k)
		}
	})
}
