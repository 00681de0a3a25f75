package bearer

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// bigClaims is valid claims JSON of n bytes.
func bigClaims(n int) string {
	head, tail := `{"access_token":{"x":{"value":"`, `"}}}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// TestOversizedClaimsChallengeIsNotForwarded answers with challenges of
// 16 KiB + 1 and 2 MiB of claims: the credential gets no claims request, and
// the caller an error naming the size; claims of exactly 16 KiB still go.
func TestOversizedClaimsChallengeIsNotForwarded(t *testing.T) {
	for _, n := range []int{MaxClaimsBytes + 1, 2 << 20} {
		cred, _, srv, hc := setup(t, map[string]string{"tok-1": caeHeader(bigClaims(n))})
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%d bytes of claims: status %d, want an error", n, resp.StatusCode)
		}
		size := strconv.Itoa(n)
		if n > 2*MaxClaimsBytes {
			size = size[:4] // not decoded: the size is given from the base64 length, within 2 bytes
		}
		if !errors.Is(err, ErrClaimsTooLarge) || !strings.Contains(err.Error(), strconv.Itoa(MaxClaimsBytes)) ||
			!strings.Contains(err.Error(), size+" bytes") && !strings.Contains(err.Error(), size) {
			t.Fatalf("%d bytes of claims: err = %v, want ErrClaimsTooLarge naming the size and the limit", n, err)
		}
		if len(cred.reqs) != 1 {
			t.Fatalf("%d bytes of claims: %d token requests, want 1 (no claims request)", n, len(cred.reqs))
		}
		h := http.Header{"Www-Authenticate": {caeHeader(bigClaims(n))}}
		if _, ok := ClaimsChallenge(h); ok {
			t.Fatalf("ClaimsChallenge accepted %d bytes of claims", n)
		}
	}
	at := bigClaims(MaxClaimsBytes)
	cred, _, srv, hc := setup(t, map[string]string{"tok-1": caeHeader(at)})
	if code, _ := (tb{t}).read(hc.Get(srv.URL)); code != 200 || len(cred.reqs) != 2 || cred.reqs[1].Claims != at {
		t.Fatalf("claims of exactly %d bytes: status %d, %d token requests", MaxClaimsBytes, code, len(cred.reqs))
	}
	if _, ok := ClaimsChallenge(http.Header{"Www-Authenticate": {caeHeader(at)}}); !ok {
		t.Fatal("ClaimsChallenge refused claims at the limit")
	}
}

// FuzzClaimsChallenge checks that any WWW-Authenticate value either yields no
// challenge or claims of 1 to MaxClaimsBytes bytes, never a panic.
func FuzzClaimsChallenge(f *testing.F) {
	f.Add(caeHeader(claims))
	f.Add(`Bearer realm="", error="insufficient_claims", claims="e30="`)
	f.Add(`Bearer error="insufficient_claims", claims=e30`)
	f.Add(`Basic realm="x", Bearer error="insufficient_claims", claims="\"e30=\""`)
	f.Add(`Bearer error="insufficient_claims", claims="` + strings.Repeat("QUFB", 6000) + `"`)
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := ClaimsChallenge(http.Header{"Www-Authenticate": {v}})
		if ok && (got == "" || len(got) > MaxClaimsBytes) {
			t.Fatalf("ok with %d bytes of claims", len(got))
		}
		if !ok && got != "" {
			t.Fatal("claims returned without ok")
		}
	})
}
