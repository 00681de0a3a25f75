package proof

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
)

// fuzzCert makes the one certificate the fuzz seeds are built from.
func fuzzCert(f *testing.F) *Certificate {
	f.Helper()
	c, err := NewSelfSigned("CN=fuzz,O=appcred", time.Hour, 2048)
	if err != nil {
		f.Fatal(err)
	}
	return c
}

// FuzzLoadCertificate feeds PEM (PKCS#1, PKCS#8, encrypted PKCS#8, legacy
// encrypted PEM) and PFX shapes, valid and broken, to LoadCertificate. It must
// never panic; an accepted certificate has a leaf first in its chain whose
// public key matches the private key, and it survives a PEM round trip; an
// error never quotes the password.
func FuzzLoadCertificate(f *testing.F) {
	c := fuzzCert(f)
	key := c.Key.(*rsa.PrivateKey)
	keyPEM, err := c.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// One PBKDF2 iteration keeps each execution cheap; the fuzzer can still change the count.
	enc, err := pkcs8.MarshalPrivateKey(key, []byte("pw-fuzz-123"), &pkcs8.Opts{
		Cipher: pkcs8.AES128CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 1, HMACHash: crypto.SHA256},
	})
	if err != nil {
		f.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc})
	//lint:ignore SA1019 legacy encrypted PEM keys are what openssl 1.x writes
	legacy, err := x509.EncryptPEMBlock(strings.NewReader(strings.Repeat("r", 64)), "RSA PRIVATE KEY", //nolint:staticcheck
		x509.MarshalPKCS1PrivateKey(key), []byte("pw-fuzz-123"), x509.PEMCipherAES128)
	if err != nil {
		f.Fatal(err)
	}
	pfx, err := c.PFXLegacy("pw-fuzz-123")
	if err != nil {
		f.Fatal(err)
	}
	cert := c.CertPEM()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, s := range []struct {
		data []byte
		pw   string
	}{
		{cat(cert, keyPEM), ""}, {cat(pkcs1, cert), ""}, {cat(cert, encPEM), "pw-fuzz-123"},
		{cat(cert, pem.EncodeToMemory(legacy)), "pw-fuzz-123"}, {pfx, "pw-fuzz-123"},
		{cat(cert, encPEM), "wrong-password"}, {cat(cert, encPEM), ""}, {pfx, ""}, {pfx[:len(pfx)/2], "x"},
		{cert, ""}, {keyPEM, ""}, {cat(keyPEM, keyPEM, cert), ""}, {[]byte("-----BEGIN CERTIFICATE-----\n!!\n"), ""},
		{[]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), ""}, {[]byte("garbage"), ""},
		{nil, ""}, {[]byte{0x30, 0x82, 0xff, 0xff}, "p"},
	} {
		f.Add(s.data, []byte(s.pw))
	}
	f.Fuzz(func(t *testing.T, data, pw []byte) {
		got, err := LoadCertificate(data, pw)
		if err != nil {
			if len(pw) >= 8 && !bytes.Contains(data, pw) && strings.Contains(err.Error(), string(pw)) {
				t.Fatalf("error %q quotes the password", err)
			}
			return
		}
		if got == nil || got.Leaf == nil || got.Key == nil || len(got.Chain) == 0 || got.Chain[0] != got.Leaf {
			t.Fatalf("accepted certificate is incomplete: %+v", got)
		}
		pub, ok := got.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(got.Leaf.PublicKey) {
			t.Fatal("the leaf does not match the private key")
		}
		k, err := got.KeyPEM()
		if err != nil {
			t.Fatalf("KeyPEM of an accepted key: %v", err)
		}
		again, err := LoadCertificate(cat(got.CertPEM(), k), nil)
		if err != nil || !again.Leaf.Equal(got.Leaf) {
			t.Fatalf("PEM round trip: %v", err)
		}
	})
}

// FuzzParseX5C checks the x5c header parser: no panic, and an accepted chain
// re-encodes (X5C) to entries that parse to the same certificates.
func FuzzParseX5C(f *testing.F) {
	c := fuzzCert(f)
	der := base64.StdEncoding.EncodeToString(c.Leaf.Raw)
	for _, s := range []string{
		der, der[:64] + "\n" + der[64:], strings.TrimRight(der, "="), der + "," + der, "", "!!!", "AAAA",
		base64.StdEncoding.EncodeToString([]byte{0x30, 0x03, 0x02, 0x01, 0x01}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var entries []string
		if in != "" {
			entries = strings.Split(in, ",")
		}
		certs, err := ParseX5C(entries)
		if err != nil {
			return
		}
		if len(certs) != len(entries) {
			t.Fatalf("%d entries gave %d certificates", len(entries), len(certs))
		}
		back, err := ParseX5C((&Certificate{Chain: certs}).X5C())
		if err != nil || len(back) != len(certs) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range certs {
			if !back[i].Equal(certs[i]) {
				t.Fatalf("round trip changed certificate %d", i)
			}
		}
	})
}

// FuzzDecodeThumbprint checks thumbprint decoding (base64url, base64, padded or
// not, hex): no panic, an accepted thumbprint is 20 or 32 bytes, and its
// canonical spellings (x5t base64url, hex) decode to the same bytes.
func FuzzDecodeThumbprint(f *testing.F) {
	c := fuzzCert(f)
	for _, s := range []string{
		X5T(c.Leaf), X5TS256(c.Leaf), SHA1Hex(c.Leaf), strings.ToLower(SHA1Hex(c.Leaf)), X5T(c.Leaf) + "=",
		base64.StdEncoding.EncodeToString(c.Leaf.Raw[:32]), "", " ", "zz", strings.Repeat("g", 40), "a+b/c==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		b, err := DecodeThumbprint(in)
		if err != nil {
			return
		}
		if len(b) != 20 && len(b) != 32 {
			t.Fatalf("DecodeThumbprint(%q) = %d bytes", in, len(b))
		}
		for _, s := range []string{base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b)} {
			if again, err := DecodeThumbprint(s); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("DecodeThumbprint(%q) = %x, %v; want %x", s, again, err, b)
			}
		}
	})
}
