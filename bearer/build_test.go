package bearer_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/appcred/appcred/bearer"
)

// TestInsufficientClaimsChallenge: the header a middle tier relays parses
// back to the same claims and authorization_uri (escaped quotes and all),
// matches the documented shape, and carries padded standard base64.
func TestInsufficientClaimsChallenge(t *testing.T) {
	for _, tc := range []struct{ uri, claims string }{
		{"https://login.microsoftonline.com/common/oauth2/authorize", `{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}`},
		{"", `{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`},
		{`https://x.test/a"b\c` + "\n", `{"a":1}`},
	} {
		v := bearer.InsufficientClaimsChallenge(tc.uri, tc.claims)
		got, ok := bearer.ClaimsChallenge(http.Header{"Www-Authenticate": {v}})
		if !ok || got != tc.claims {
			t.Fatalf("%s: parsed back %q, %v; want %q", v, got, ok, tc.claims)
		}
		cs := bearer.ParseChallenges(v)
		if len(cs) != 1 || cs[0].Scheme != "Bearer" || cs[0].Params["error"] != "insufficient_claims" {
			t.Fatalf("%s: challenges %+v", v, cs)
		}
		wantURI := strings.TrimSuffix(tc.uri, "\n")
		if cs[0].Params["authorization_uri"] != wantURI {
			t.Errorf("authorization_uri %q, want %q", cs[0].Params["authorization_uri"], wantURI)
		}
		if _, has := cs[0].Params["authorization_uri"]; has == (tc.uri == "") || strings.ContainsAny(v, "\r\n") {
			t.Errorf("%q: authorization_uri present %v, or a line break", v, has)
		}
	}
	const doc = `Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", ` +
		`claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiY3AxIn19fQ=="`
	if v := bearer.InsufficientClaimsChallenge("https://login.microsoftonline.com/common/oauth2/authorize",
		`{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}`); v != doc {
		t.Errorf("got  %s\nwant %s (claims-challenge.md)", v, doc)
	}
}
