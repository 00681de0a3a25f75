package proof

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestCertificateNeverPrintsItsKey formats and logs a certificate (RSA and
// ECDSA, by value, by pointer and nested) with fmt's verbs, slog's JSON and
// text handlers and encoding/json, and scans the output for the key's private
// numbers.
func TestCertificateNeverPrintsItsKey(t *testing.T) {
	rsaCert := newCert(t, "redact")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := &Certificate{Leaf: rsaCert.Leaf, Key: ecKey}
	for _, c := range []*Certificate{rsaCert, ecCert} {
		var private []string
		switch k := c.Key.(type) {
		case *rsa.PrivateKey:
			private = []string{k.D.String(), k.Primes[0].String(), k.D.Text(16)}
		case *ecdsa.PrivateKey:
			d, _ := k.Bytes()
			private = []string{fmt.Sprint(d), fmt.Sprintf("%x", d)}
		}
		nested := struct{ Cert *Certificate }{c}
		var out []string
		for _, v := range []any{c, *c, nested} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				out = append(out, fmt.Sprintf(verb, v))
			}
			var jsonLog, textLog bytes.Buffer
			slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("loaded", "cert", v)
			slog.New(slog.NewTextHandler(&textLog, nil)).Info("loaded", "cert", v)
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, jsonLog.String(), textLog.String(), string(b))
		}
		for _, text := range out {
			for _, p := range private {
				if strings.Contains(text, p) {
					t.Fatalf("private key material leaked: %s", text)
				}
			}
		}
		if s := fmt.Sprint(c); !strings.Contains(s, "CN=redact") || !strings.Contains(s, "[redacted]") {
			t.Fatalf("String() = %q, want the subject and a redaction mark", s)
		}
	}
}
