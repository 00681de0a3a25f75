package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// tokenLen is the length of every canned access token: about the size of a
// real Entra app token, and a Go size class, so a token string costs exactly
// its bytes on the heap.
const tokenLen = 1152

// cannedToken is the access token the filler returns for scope: unique per
// scope, so a client that mixes up entries returns the wrong token.
func cannedToken(scope string) string {
	sum := sha256.Sum256([]byte(scope))
	var b strings.Builder
	b.Grow(tokenLen)
	b.WriteString("canned.")
	b.WriteString(hex.EncodeToString(sum[:]))
	b.WriteByte('.')
	for b.Len() < tokenLen {
		b.WriteByte('x')
	}
	return b.String()
}

// filler answers token POSTs in-process with a canned response in the
// authority's v2 shape (the scope's canned token, one hour lifetime) and
// passes every other request (discovery) to base. It is used only to fill
// caches; the hit benchmarks check that no token POST reaches it while they
// measure.
type filler struct {
	base   http.RoundTripper
	tokens atomic.Int64
}

// RoundTrip serves a canned token for token POSTs.
func (f *filler) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isTokenRequest(r) {
		return f.base.RoundTrip(r)
	}
	f.tokens.Add(1)
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("filler: token request body is not a form: %w", err)
	}
	scope := ""
	for _, s := range strings.Fields(form.Get("scope")) {
		if strings.HasSuffix(s, "/.default") {
			scope = s
		}
	}
	if scope == "" {
		return nil, fmt.Errorf("filler: token request without a {resource}/.default scope")
	}
	resp := `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` +
		cannedToken(scope) + `"}`
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader([]byte(resp))),
		ContentLength: int64(len(resp)),
		Request:       r,
	}, nil
}

// fillScopes returns n scopes "api://fill-{i}/.default", each its own slice
// so a hit passes exactly what an application would.
func fillScopes(n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = []string{"api://fill-" + strconv.Itoa(i) + "/.default"}
	}
	return out
}

// filledClient is a client of one library with n canned tokens cached.
type filledClient struct {
	c      *client
	f      *filler
	scopes [][]string
}

// fill makes a client of lib behind a filler and caches one token for each
// of scopes through the library's public token call.
func fill(tb testing.TB, lib library, e *env, scopes [][]string) *filledClient {
	tb.Helper()
	f := &filler{}
	hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper { f.base = rt; return f })
	c := mustClient(tb, lib, e, hc)
	ctx := context.Background()
	for _, s := range scopes {
		tok, err := c.fill(ctx, s)
		if err != nil {
			tb.Fatalf("%s: fill %s: %v", lib.name, s[0], err)
		}
		if len(tok) != tokenLen {
			tb.Fatalf("%s: fill %s: got a %d-byte token, want the canned %d bytes", lib.name, s[0], len(tok), tokenLen)
		}
	}
	if got := f.tokens.Load(); got != int64(len(scopes)) {
		tb.Fatalf("%s: filling %d scopes sent %d token requests", lib.name, len(scopes), got)
	}
	return &filledClient{c: c, f: f, scopes: scopes}
}

// filledCache keeps filled clients for the whole run, so benchmarks that share
// a size do not fill again for every b.N round (BenchmarkCacheHitSpread drops
// the 100k ones).
var filledCache = map[string]*filledClient{}

// filled returns the shared client of lib with n tokens cached.
func filled(tb testing.TB, lib library, e *env, n int) *filledClient {
	tb.Helper()
	k := lib.name + "/" + strconv.Itoa(n)
	if fc := filledCache[k]; fc != nil {
		return fc
	}
	fc := fill(tb, lib, e, fillScopes(n))
	filledCache[k] = fc
	return fc
}
