package sts_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// malleate changes the last base64url character of a JWT's signature to
// another one that decodes to the same bytes under a lenient decoder (the
// trailing bits differ).
func malleate(t *testing.T, jws string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := jws[strings.LastIndexByte(jws, '.')+1:]
	if len(sig)%4 == 0 {
		t.Fatalf("signature of %d characters has no trailing bits", len(sig))
	}
	i := strings.IndexByte(alphabet, jws[len(jws)-1])
	out := jws[:len(jws)-1] + string(alphabet[i|1])
	a, err1 := base64.RawURLEncoding.DecodeString(sig)
	b, err2 := base64.RawURLEncoding.DecodeString(out[strings.LastIndexByte(out, '.')+1:])
	if err1 != nil || err2 != nil || string(a) != string(b) || out == jws {
		t.Fatalf("malleated signature does not decode to the same bytes leniently")
	}
	return out
}

func TestAssertionLimits(t *testing.T) {
	f := start(t, sts.Options{})
	good, _ := certs(t)
	aud := f.tokenURL()
	now := time.Now()
	s256 := sha256.Sum256(good.cert.Raw)
	hdr := map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": aud, "iss": f.certApp, "sub": f.certApp, "jti": uuid.NewString(),
			"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		mod(c)
		return c
	}
	sign := func(h map[string]any, mod func(jwt.MapClaims)) string {
		return signWith(t, jwt.SigningMethodPS256, good.key, h, claims(mod))
	}
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	rows := []struct {
		name      string
		assertion string
		code      int
	}{
		{"valid for two days", sign(hdr, func(c jwt.MapClaims) { c["exp"] = now.Add(48 * time.Hour).Unix() }), 700024},
		{"exp in the year 10000", sign(hdr, func(c jwt.MapClaims) { c["exp"] = year10000 }), 700024},
		{"exp in the year 10000 without nbf or iat", sign(hdr, func(c jwt.MapClaims) {
			delete(c, "nbf")
			delete(c, "iat")
			c["exp"] = year10000
		}), 700024},
		{"iat two days ago", sign(hdr, func(c jwt.MapClaims) { delete(c, "nbf"); c["iat"] = now.Add(-48 * time.Hour).Unix() }), 700024},
		{"nbf absurdly far in the future", sign(hdr, func(c jwt.MapClaims) { c["nbf"] = 1e20 }), 50027},
		{"iat absurdly far in the future", sign(hdr, func(c jwt.MapClaims) { c["iat"] = 1e20 }), 50027},
		{"negative iat", sign(hdr, func(c jwt.MapClaims) { delete(c, "nbf"); c["iat"] = -1 }), 50027},
		{"unknown crit header", sign(map[string]any{"x5t#S256": hdr["x5t#S256"], "crit": []string{"exp"}, "exp": 1},
			func(jwt.MapClaims) {}), 50027},
		{"malleable signature", malleate(t, goAssertion(t, good, f.certApp, aud, now)), 50027},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := f.post(t, aud, assertionForm(f.certApp, row.assertion, f.seed.Scope))
			wantError(t, r, 401, "invalid_client", row.code)
			if d, _ := r.body["error_description"].(string); row.code == 700024 && !strings.Contains(d, "valid for too long") {
				t.Errorf("description %q does not say the assertion is valid for too long", d)
			}
		})
	}
	// The leniencies of DESIGN decision 6 stay: a day-long assertion with float
	// times, nbf only, or neither nbf nor iat, is accepted.
	ok := map[string]string{
		"one day, float times": sign(hdr, func(c jwt.MapClaims) {
			c["iat"], c["nbf"] = float64(now.Unix())+0.25, float64(now.Unix())+0.25
			c["exp"] = float64(now.Add(24*time.Hour).Unix()) + 0.25
		}),
		"nbf only":       sign(hdr, func(c jwt.MapClaims) { delete(c, "iat") }),
		"no nbf, no iat": sign(hdr, func(c jwt.MapClaims) { delete(c, "iat"); delete(c, "nbf") }),
		"canonical msal": goAssertion(t, good, f.certApp, aud, now),
		"typ, no crit":   sign(map[string]any{"x5t#S256": hdr["x5t#S256"], "typ": "JWT"}, func(jwt.MapClaims) {}),
	}
	for name, a := range ok {
		if r := f.post(t, aud, assertionForm(f.certApp, a, f.seed.Scope)); r.status != 200 {
			t.Errorf("%s: status %d, want 200: %s", name, r.status, r.raw)
		}
	}
}

// weakCert is a self-signed certificate with a 1024-bit RSA key.
func weakCert(t *testing.T) *testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "weak"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func TestWeakRSAKeysRefused(t *testing.T) {
	dir := t.TempDir()
	f := start(t, sts.Options{StateDir: dir})
	weak := weakCert(t)
	if _, err := f.a.AddCertificate(f.seed.TenantID, f.certApp, weak.certPEM); err == nil ||
		!strings.Contains(err.Error(), "1024-bit") {
		t.Errorf("AddCertificate of a 1024-bit key: %v, want an error naming the key size", err)
	}
	if _, err := f.a.AddApp(f.seed.TenantID, directory.App{DisplayName: "weak",
		Certificates: []directory.Certificate{{PEM: string(weak.certPEM)}}}); err == nil {
		t.Error("AddApp with a 1024-bit certificate succeeded")
	}
	// A weak certificate already in directory.json (registered before the
	// limit) is not honoured at the token endpoint.
	appendCertificate(t, dir, f.certApp, weak)
	aud := f.tokenURL()
	for range 50 {
		r := f.post(t, aud, assertionForm(f.certApp, goAssertion(t, weak, f.certApp, aud, time.Now()), f.seed.Scope))
		if r.status == 200 {
			t.Fatal("an assertion signed by a 1024-bit key was honoured")
		}
		if strings.Contains(r.raw, "1024-bit") {
			wantError(t, r, 401, "invalid_client", 700027)
			return
		}
		time.Sleep(20 * time.Millisecond) // the server rereads directory.json within ~100 ms
	}
	t.Fatal("the weak certificate was never refused for its key size")
}

// appendCertificate adds c to app clientID in directory.json directly, as a
// file written before the key size limit would hold it.
func appendCertificate(t *testing.T, dir, clientID string, c *testCert) {
	t.Helper()
	path := filepath.Join(dir, directory.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	for _, tn := range d["tenants"].([]any) {
		for _, a := range tn.(map[string]any)["apps"].([]any) {
			app := a.(map[string]any)
			if app["client_id"] == clientID {
				certs, _ := app["certificates"].([]any)
				app["certificates"] = append(certs, map[string]any{"thumbprint": "WEAK", "pem": string(c.certPEM)})
			}
		}
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
