package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseTokenResponse checks that any body either parses into a token that
// passes Validate or fails with a typed error that does not quote the token.
func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"abc"}`,
		`{"token_type":"Bearer","expires_in":"3599","expires_on":"1388452167","not_before":"1388448267","resource":"r","access_token":"abc"}`,
		`{"access_token":"abc","expires_in":1e3,"refresh_in":"7"}`,
		`{"access_token":"abc","expires_in":{}}`,
		`{"access_token":"abc`, `Too Many Requests`, ``, `null`, `[]`, `{"error":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := ParseTokenResponse(body)
		if err != nil {
			if tok != nil {
				t.Fatal("token and error both returned")
			}
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if tok.Validate() != nil || strings.TrimSpace(tok.AccessToken) == "" {
			t.Fatalf("accepted an invalid token: %+v", tok)
		}
		_ = tok.ExpiresAt(time.Now())
		_ = tok.RefreshIn()
	})
}

// FuzzParseError checks that any body either parses as an OAuth error or fails
// with a typed error, and that Error() never panics.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		entraExample,
		`{"error":"invalid_grant","suberror":"token_expired","error_codes":["50013",500133],"claims":"{}"}`,
		`{"error":"x","claims":{"a":[1,2]}}`, `{"error_codes":[1.5e9]}`, `Too Many Requests`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := &Error{Op: "token request", Endpoint: "https://h/t/oauth2/v2.0/token", StatusCode: 400}
		if err := ParseError(body, e); err != nil {
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("untyped error %v", err)
			}
			e.Err = err
		}
		msg := e.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("multi-line error text %q", msg)
		}
		_ = HasCode(e, 70011)
	})
}
