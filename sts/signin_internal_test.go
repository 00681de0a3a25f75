package sts

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSignInRecord measures what the sign-in log adds to one token
// request (begin, the token's claims, the slog text line, the ring and the
// JSON Lines file), for comparison with one RS256 signature (~1 ms a core):
//
//	go test -run '^$' -bench BenchmarkSignInRecord ./sts/
func BenchmarkSignInRecord(b *testing.B) {
	a, err := Open(Options{StateDir: b.TempDir(), SignInFile: SignInFile,
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	seed := a.Seed()
	r := httptest.NewRequest("POST", "https://localhost/"+seed.TenantID+"/oauth2/v2.0/token", nil)
	r.Header.Set("Client-Request-Id", "0f8fad5b-d9cb-469f-a165-70867728950e")
	r.Header.Set("X-Client-SKU", "MSAL.Go")
	r.Header.Set("X-Client-VER", "1.4.2")
	req := &tokenRequest{grantType: "client_credentials", clientID: seed.ClientID, clientSecret: seed.ClientSecret, scope: seed.Scope}
	// A token's shape: header, v2 claims, signature.
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9hcHBjcmVkLWRlbW8iLCJyb2xlcyI6WyJEZW1vLlJlYWQiXSwidmVyIjoiMi4wIiwiZXhwIjoxNzY0NjI5MDAwLCJ1dGkiOiJBQkNERUZHSElKS0xNTk9QIn0." +
		strings.Repeat("x", 342)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rc := newReqCtx(r)
		p := a.beginSignin(r, rc, seed.TenantID, false)
		p.req = req
		p.issued(tok)
		a.endSignin(p)
	}
}
