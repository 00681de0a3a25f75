package proof

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

func newCert(t *testing.T, cn string) *Certificate {
	t.Helper()
	c, err := NewSelfSigned("CN="+cn+",O=appcred", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestThumbprintsAndDecode(t *testing.T) {
	c := newCert(t, "thumb")
	s1 := sha1.Sum(c.Leaf.Raw) //nolint:gosec
	s256 := sha256.Sum256(c.Leaf.Raw)
	if got := SHA1Hex(c.Leaf); got != strings.ToUpper(hex.EncodeToString(s1[:])) {
		t.Fatalf("SHA1Hex = %s", got)
	}
	if X5T(c.Leaf) != base64.RawURLEncoding.EncodeToString(s1[:]) || X5TS256(c.Leaf) != base64.RawURLEncoding.EncodeToString(s256[:]) {
		t.Fatal("x5t values are not unpadded base64url")
	}
	for _, enc := range []string{
		base64.RawURLEncoding.EncodeToString(s256[:]),
		base64.URLEncoding.EncodeToString(s256[:]),
		base64.StdEncoding.EncodeToString(s256[:]),
		base64.RawStdEncoding.EncodeToString(s256[:]),
		hex.EncodeToString(s256[:]),
	} {
		b, err := DecodeThumbprint(enc)
		if err != nil || string(b) != string(s256[:]) {
			t.Fatalf("DecodeThumbprint(%q) = %x, %v", enc, b, err)
		}
	}
	if b, err := DecodeThumbprint(base64.URLEncoding.EncodeToString(s1[:])); err != nil || string(b) != string(s1[:]) {
		t.Fatalf("padded base64url SHA-1 (MSAL Python): %x %v", b, err)
	}
	for _, bad := range []string{"", "  ", "!!!notbase64", base64.RawURLEncoding.EncodeToString([]byte("short"))} {
		if _, err := DecodeThumbprint(bad); err == nil {
			t.Errorf("DecodeThumbprint(%q) succeeded", bad)
		}
	}
}

func TestLoadCertificateFormats(t *testing.T) {
	c := newCert(t, "load")
	other := newCert(t, "other")
	rsaKey := c.Key.(*rsa.PrivateKey)
	pkcs8PEM, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	encDER, err := pkcs8.MarshalPrivateKey(rsaKey, []byte("pw-123"), nil)
	if err != nil {
		t.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: encDER})
	modern, err := c.PFX("pw-123")
	if err != nil {
		t.Fatal(err)
	}
	legacyDES, err := c.PFXLegacy("pw-123")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := pkcs12.LegacyRC2.Encode(rsaKey, c.Leaf, []*x509.Certificate{other.Leaf}, "pw-123")
	if err != nil {
		t.Fatal(err)
	}
	// The matching certificate comes second in the PEM: it must still become the leaf.
	cases := map[string]struct {
		data []byte
		pw   string
	}{
		"pkcs8":           {append(append(other.CertPEM(), c.CertPEM()...), pkcs8PEM...), ""},
		"pkcs1":           {append(pkcs1PEM, c.CertPEM()...), ""},
		"encrypted pkcs8": {append(c.CertPEM(), encPEM...), "pw-123"},
		"pfx modern":      {modern, "pw-123"},
		"pfx legacy":      {legacy, "pw-123"},
		"pfx legacy des":  {legacyDES, "pw-123"},
	}
	for name, tc := range cases {
		got, err := LoadCertificate(tc.data, []byte(tc.pw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Leaf.Equal(c.Leaf) {
			t.Fatalf("%s: leaf is %s, want %s", name, got.Leaf.Subject, c.Leaf.Subject)
		}
		if !got.Key.Public().(*rsa.PublicKey).Equal(&rsaKey.PublicKey) {
			t.Fatalf("%s: wrong key", name)
		}
	}
	if got, _ := LoadCertificate(cases["pfx legacy"].data, []byte("pw-123")); len(got.Chain) != 2 {
		t.Fatalf("legacy PFX chain has %d certificates, want 2", len(got.Chain))
	}

	bad := map[string]struct {
		data []byte
		pw   string
		want string
	}{
		"empty":          {nil, "", "empty"},
		"garbage":        {[]byte("not a certificate"), "", "PFX"},
		"no key":         {c.CertPEM(), "", "no private key"},
		"no cert":        {pkcs8PEM, "", "no CERTIFICATE"},
		"mismatch":       {append(other.CertPEM(), pkcs8PEM...), "", "matches none"},
		"wrong pw pfx":   {modern, "nope", "wrong password"},
		"wrong pw pem":   {append(c.CertPEM(), encPEM...), "nope", "wrong password"},
		"missing pw pem": {append(c.CertPEM(), encPEM...), "", "password is required"},
	}
	for name, tc := range bad {
		_, err := LoadCertificate(tc.data, []byte(tc.pw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
		if err != nil && tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("%s: error leaks the password", name)
		}
	}
	if _, err := LoadCertificate(modern, []byte("nope")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong PFX password: %v is not ErrWrongPassword", err)
	}
}

func TestAssertion(t *testing.T) {
	c := newCert(t, "assert")
	now := time.Now()
	for _, tc := range []struct {
		alg    Alg
		header string
		want   string
	}{{PS256, "x5t#S256", X5TS256(c.Leaf)}, {RS256, "x5t", X5T(c.Leaf)}, {"", "x5t#S256", X5TS256(c.Leaf)}} {
		s, err := c.Assertion("client-1", "https://login.example/t/oauth2/v2.0/token", AssertionOptions{
			Alg: tc.alg, SendX5C: true, Claims: map[string]any{"extra": "x", "aud": "ignored"}, Now: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		tok, err := jwt.ParseWithClaims(s, claims, func(*jwt.Token) (any, error) { return c.Leaf.PublicKey, nil },
			jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience("https://login.example/t/oauth2/v2.0/token"))
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		if tok.Header[tc.header] != tc.want {
			t.Fatalf("%s: header %s = %v", tc.alg, tc.header, tok.Header[tc.header])
		}
		x5c, _ := tok.Header["x5c"].([]any)
		if len(x5c) != 1 {
			t.Fatalf("x5c = %v", tok.Header["x5c"])
		}
		if parsed, err := ParseX5C([]string{x5c[0].(string)}); err != nil || !parsed[0].Equal(c.Leaf) {
			t.Fatalf("x5c does not round-trip: %v", err)
		}
		if claims["iss"] != "client-1" || claims["sub"] != "client-1" || claims["extra"] != "x" || claims["jti"] == "" {
			t.Fatalf("claims = %v", claims)
		}
		if exp, nbf := claims["exp"].(float64), claims["nbf"].(float64); exp-nbf != MaxAssertionLifetime.Seconds() {
			t.Fatalf("lifetime = %v", exp-nbf)
		}
	}
	a1, _ := c.Assertion("c", "aud", AssertionOptions{})
	a2, _ := c.Assertion("c", "aud", AssertionOptions{})
	if a1 == a2 {
		t.Fatal("two assertions are identical: jti must be fresh")
	}
	if _, err := c.Assertion("c", "aud", AssertionOptions{Alg: ES256}); err == nil {
		t.Fatal("ES256 with an RSA key succeeded")
	}
	if _, err := c.Assertion("", "aud", AssertionOptions{}); err == nil {
		t.Fatal("empty client id accepted")
	}
}

func TestParseX5CWithNewlines(t *testing.T) {
	c := newCert(t, "x5c")
	b64 := base64.StdEncoding.EncodeToString(c.Leaf.Raw)
	withNL := b64[:64] + "\n" + b64[64:128] + "\r\n" + b64[128:]
	got, err := ParseX5C([]string{withNL})
	if err != nil || !got[0].Equal(c.Leaf) {
		t.Fatalf("ParseX5C with newlines: %v", err)
	}
	if _, err := ParseX5C([]string{"%%%"}); err == nil {
		t.Fatal("garbage x5c accepted")
	}
}

func TestParseSubject(t *testing.T) {
	n, err := ParseSubject("CN=daemon, O=Contoso, C=US")
	if err != nil || n.CommonName != "daemon" || n.Organization[0] != "Contoso" || n.Country[0] != "US" {
		t.Fatalf("%+v %v", n, err)
	}
	for _, bad := range []string{"", "O=NoCN", "CN=x,Z=1", "CN="} {
		if _, err := ParseSubject(bad); err == nil {
			t.Errorf("ParseSubject(%q) succeeded", bad)
		}
	}
}

func TestParseSubjectRFC4514(t *testing.T) {
	cases := map[string]string{
		`CN=Doe\, John`:              "Doe, John",
		`CN=a\2Cb`:                   "a,b",
		`CN="Doe, John"`:             "Doe, John",
		`CN=x\+y\=z\\w`:              `x+y=z\w`,
		` CN = spaced ; O = ignored`: "spaced",
	}
	for in, cn := range cases {
		n, err := ParseSubject(in)
		if err != nil || n.CommonName != cn {
			t.Errorf("ParseSubject(%q) = %q, %v; want CN %q", in, n.CommonName, err, cn)
		}
	}
	for _, bad := range []string{`CN=x\`, `CN="open`, `CN=x,O`, `XX=y`} {
		if _, err := ParseSubject(bad); err == nil {
			t.Errorf("ParseSubject(%q) accepted", bad)
		}
	}
}

// A "kid" header is sent exactly when AssertionOptions.KeyID is set.
func TestAssertionKeyID(t *testing.T) {
	c := newCert(t, "kid")
	for _, kid := range []string{"", "rollover-2", X5T(c.Leaf)} {
		s, err := c.Assertion("c", "aud", AssertionOptions{Alg: RS256, KeyID: kid})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		got, has := tok.Header["kid"]
		if has != (kid != "") || (has && got != kid) {
			t.Fatalf("KeyID %q: header kid = %v (present %t)", kid, got, has)
		}
	}
}
