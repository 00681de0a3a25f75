package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
)

// secretToken gets a real token from the local authority through the binary.
func secretToken(t *testing.T) string {
	t.Helper()
	r := mustRun(t, []string{"S=" + seed.ClientSecret}, "", append([]string{"token", "--scope", seed.Scope, "--secret-env", "S", "-o", "raw"},
		authorityFlags()...)...)
	return strings.TrimSpace(r.stdout)
}

// unsigned builds a JWT from a header and claims with the given signature segment.
func unsigned(t *testing.T, header, claims map[string]any, sig string) string {
	t.Helper()
	h, err1 := json.Marshal(header)
	c, err2 := json.Marshal(claims)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func TestDecodeVerifiesSignature(t *testing.T) {
	tok := secretToken(t)
	verify := []string{"--authority", auth.TenantURL(seed.TenantID), "--ca-file", auth.CAFile()}

	r := mustRun(t, nil, "", append([]string{"decode", tok}, verify...)...)
	for _, want := range []string{`"tid": "` + seed.TenantID + `"`, `"alg": "RS256"`, "Times:", "exp  ", "Status:     expires in 5", "Signature:  valid (RS256"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("decode output lacks %q:\n%s", want, r.stdout)
		}
	}

	// JSON output, the token on stdin after "Authorization: Bearer ", keys by --jwks.
	jwks := auth.TenantURL(seed.TenantID) + "/discovery/v2.0/keys"
	r = mustRun(t, nil, "Authorization: Bearer "+tok+"\n", "decode", "-", "--jwks", jwks, "--ca-file", auth.CAFile(), "-o", "json")
	var out struct {
		Header    map[string]any `json:"header"`
		Claims    map[string]any `json:"claims"`
		Times     map[string]struct{ Unix int64 }
		Status    string
		Expired   bool
		Signature struct {
			Checked, Valid bool
			KID            string
			JWKSURI        string `json:"jwks_uri"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, r.stdout)
	}
	want := claims(t, tok)
	if out.Claims["uti"] != want["uti"] || out.Times["exp"].Unix != int64(want["exp"].(float64)) {
		t.Errorf("claims %v times %v, want those of the token %v", out.Claims, out.Times, want)
	}
	if !out.Signature.Checked || !out.Signature.Valid || out.Signature.JWKSURI != jwks || out.Signature.KID != out.Header["kid"] {
		t.Errorf("signature %+v, want valid from %s", out.Signature, jwks)
	}
	if out.Expired || !strings.HasPrefix(out.Status, "expires in ") {
		t.Errorf("status %q expired %v", out.Status, out.Expired)
	}

	// Without --jwks/--authority nothing is checked, from stdin with no argument.
	r = mustRun(t, nil, tok, "decode")
	if !strings.Contains(r.stdout, "Signature:  not checked") {
		t.Errorf("unverified decode:\n%s", r.stdout)
	}
}

func TestDecodeRejectsBadSignatures(t *testing.T) {
	tok := secretToken(t)
	parts := strings.Split(tok, ".")
	verify := []string{"--authority", auth.TenantURL(seed.TenantID), "--ca-file", auth.CAFile()}
	hdr := map[string]any{}
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}

	// Claims changed (a role added), original signature kept.
	c := claims(t, tok)
	c["roles"] = []string{seed.Role, "Admin.All"}
	tampered := unsigned(t, hdr, c, parts[2])
	// Signature bytes changed.
	sig := []byte(parts[2])
	if sig[len(sig)/2] == 'A' {
		sig[len(sig)/2] = 'B'
	} else {
		sig[len(sig)/2] = 'A'
	}
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	// Signed by a key that is not the authority's, under the authority's kid and under another.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(kid string) string {
		j := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(c))
		j.Header["kid"] = kid
		s, err := j.SignedString(other)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, c, "")
	hs := unsigned(t, map[string]any{"alg": "HS256", "kid": hdr["kid"]}, c, parts[2])

	for name, bad := range map[string]string{
		"tampered claims": tampered, "tampered signature": badSig, "foreign key, same kid": sign(hdr["kid"].(string)),
		"unknown kid": sign("not-a-known-kid"), "alg none": none, "alg HS256": hs,
	} {
		t.Run(name, func(t *testing.T) {
			r := mustFail(t, nil, append([]string{"decode", bad}, verify...), "signature is not valid")
			if !strings.Contains(r.stdout, "Signature:  NOT VALID") {
				t.Errorf("stdout does not report the invalid signature:\n%s", r.stdout)
			}
			if strings.Contains(r.stderr, parts[1]) || strings.Contains(r.stderr, parts[2]) {
				t.Errorf("the token appears in the error:\n%s", r.stderr)
			}
		})
	}
	// The untampered token still verifies (the cases above fail for their own reason).
	mustRun(t, nil, "", append([]string{"decode", tok}, verify...)...)
}

func TestDecodeExpiryAndGarbage(t *testing.T) {
	now := time.Now()
	expired := unsigned(t, map[string]any{"alg": "RS256", "typ": "JWT"},
		map[string]any{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-190 * time.Second).Unix(), "sub": "x"}, "c2ln")
	r := mustRun(t, nil, "", "decode", expired)
	if !strings.Contains(r.stdout, "Status:     EXPIRED 3m ago") || !strings.Contains(r.stdout, "(1h ago)") {
		t.Errorf("expired token:\n%s", r.stdout)
	}
	future := unsigned(t, map[string]any{"alg": "RS256"}, map[string]any{"nbf": now.Add(10*time.Minute + 30*time.Second).Unix(),
		"exp": now.Add(time.Hour).Unix()}, "c2ln")
	if r := mustRun(t, nil, "", "decode", future, "-o", "json"); !strings.Contains(r.stdout, `"status":"not valid yet (nbf in 10m)"`) &&
		!strings.Contains(r.stdout, `"status": "not valid yet (nbf in 10m)"`) {
		t.Errorf("future token:\n%s", r.stdout)
	}

	for name, c := range map[string]struct{ in, want string }{
		"not a JWT":       {"garbage", "3 dot-separated parts, got 1"},
		"empty stdin":     {"", "no token"},
		"bad base64":      {"a$b.c.d", "token header: not base64url"},
		"header not JSON": {base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".e30.x", "token header: not a JSON object"},
		"claims not JSON": {"e30." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".x", "token claims: not a JSON object"},
		"JWE":             {"a.b.c.d.e", "encrypted"},
		"exp not a time":  {"e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"soon"}`)) + ".x", `"exp" is not a time`},
		"exp huge":        {"e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1e300}`)) + ".x", `"exp" is not a time`},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, nil, c.in, "decode")
			if r.code != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("want exit 1 and %q, got %s", c.want, r)
			}
		})
	}
	mustFail(t, nil, []string{"decode", expired, "--ca-file", "x.pem"}, "--ca-file", "--jwks")
	mustFail(t, nil, []string{"decode", expired, "--jwks", "https://127.0.0.1:1/keys", "--authority", "https://x"}, "jwks", "authority")
}

// FuzzDecode feeds arbitrary input to the token parser and both printers: errors, never panics.
func FuzzDecode(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2ln")
	f.Add("e30.e30.")
	f.Add("Bearer a.b.c")
	f.Add("e30.eyJleHAiOi0xZTMwMH0.x")
	f.Add("e30.eyJuYmYiOjEuNX0.x")
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := readTokenArg(nil, strings.NewReader(s))
		if err != nil {
			return
		}
		d, err := parseJWT(raw)
		if err != nil {
			if strings.Contains(err.Error(), raw) && len(raw) > 16 {
				t.Fatalf("error repeats the token: %v", err)
			}
			return
		}
		now := time.Unix(1700000000, 0)
		if err := d.print(io.Discard, nil, now); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(d.report(&sigResult{Checked: true}, now)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDecodeV1Token checks a v1 access token (Entra's default for an API) the
// same way: discovery finds the keys from the authority URL.
func TestDecodeV1Token(t *testing.T) {
	api := "api://cli-v1-api-" + strings.ToLower(rand.Text()[:8]) // unique: the authority is shared by the package's tests
	if _, err := auth.AddApp(seed.TenantID, directory.App{DisplayName: "v1 api", IdentifierURIs: []string{api},
		AppRoles: []string{"V1.Read"}, AccessTokenVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if err := auth.Grant(seed.TenantID, seed.ClientID, api, "V1.Read"); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, []string{"S=" + seed.ClientSecret}, "", append([]string{"token", "--scope", api, "--secret-env", "S", "-o", "raw"},
		authorityFlags()...)...)
	tok := strings.TrimSpace(r.stdout)
	if c := claims(t, tok); c["ver"] != "1.0" || c["appid"] != seed.ClientID {
		t.Fatalf("want a v1 token for the seed's daemon, got %v", c)
	}
	r = mustRun(t, nil, "", "decode", tok, "--authority", auth.TenantURL(seed.TenantID), "--ca-file", auth.CAFile(), "-o", "json")
	var out struct{ Signature sigResult }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Signature.Valid || !strings.HasPrefix(out.Signature.JWKSURI, auth.URL()+"/") || !strings.Contains(out.Signature.JWKSURI, "/discovery/") {
		t.Errorf("v1 token signature: %+v", out.Signature)
	}
}
