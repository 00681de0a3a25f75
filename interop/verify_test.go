package interop_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyTokenRejects shows that the token check the interop tests rely on
// can fail: a token from a plain form POST passes, and the same token with a
// wrong expectation, a damaged signature, a forged signature or alg none
// does not.
func TestVerifyTokenRejects(t *testing.T) {
	f := startAuthority(t)
	hc := f.a.HTTPClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.PostForm(f.a.TokenEndpoint(f.seed.TenantID), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {f.seed.ClientID},
		"client_secret": {f.seed.ClientSecret}, "scope": {f.seed.Scope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: HTTP %d, %v", resp.StatusCode, err)
	}
	good := want{clientID: f.seed.ClientID, resource: "v2", acr: "1"}
	claims, err := f.verifyToken(body.AccessToken, good)
	if err != nil {
		t.Fatalf("a genuine token fails verification: %v", err)
	}

	parts := strings.Split(body.AccessToken, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 0x01
	damaged := parts[0] + "." + parts[1] + "." + string(sig)

	forgery := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	forgery.Header["kid"] = mustHeader(t, body.AccessToken)["kid"]
	forged, err := forgery.SignedString(f.cert.Key)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		raw string
		w   want
	}{
		"certificate acr":  {body.AccessToken, want{clientID: f.seed.ClientID, resource: "v2", acr: "2"}},
		"other client":     {body.AccessToken, want{clientID: f.certClientID, resource: "v2", acr: "1"}},
		"v1 resource":      {body.AccessToken, want{clientID: f.seed.ClientID, resource: "v1", acr: "1"}},
		"damaged":          {damaged, good},
		"forged signature": {forged, good},
		"alg none":         {none, good},
		"empty":            {"", good},
	} {
		if _, err := f.verifyToken(tc.raw, tc.w); err == nil {
			t.Errorf("%s: verification passed, want an error", name)
		}
	}
}

// mustHeader decodes a JWT's header without verifying it.
func mustHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header
}
