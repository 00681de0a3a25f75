package sts

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseClaims feeds arbitrary claims requests to parseClaims: it must
// never panic, fail only with an Entra invalid_request (AADSTS90100), and
// return lower-cased, distinct capabilities and distinct, bounded contexts.
//
//	go test -run '^$' -fuzz FuzzParseClaims -fuzztime 20s ./sts/
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{"access_token":{"xms_cc":{"values":["CP1"]}}}`,
		`{"access_token": {"xms_cc": {"values": ["CP1"]}}}`,
		`{"access_token":{"acrs":{"essential":true,"value":"c1","values":["c1","c2"]}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":99999999999}}}`,
		`{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`,
		`{"access_token":{"polids":{"values":"x"}}}`, `{"access_token":{"polids":{"value":"x"}}}`,
		`{"access_token":null}`, `[]`, `null`, ``, `{"id_token":{}}`,
	} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		cr, e := parseClaims(s, now)
		if e != nil {
			if cr != nil || e.StatusCode != http.StatusBadRequest || e.OAuthError != "invalid_request" || e.Code() != codeInvalidParameter {
				t.Fatalf("claims %q: result %v, error %+v", s, cr, e)
			}
			return
		}
		for i, v := range cr.xmsCC {
			if v != strings.ToLower(v) || slices.Contains(cr.xmsCC[:i], v) {
				t.Fatalf("claims %q: xms_cc %q", s, cr.xmsCC)
			}
		}
		for i, v := range cr.acrs {
			if v == "" || len(v) > maxClaimValueLen || slices.Contains(cr.acrs[:i], v) {
				t.Fatalf("claims %q: acrs %q", s, cr.acrs)
			}
		}
		for _, v := range cr.polids {
			if v == "" || len(v) > maxClaimValueLen {
				t.Fatalf("claims %q: polids %q", s, cr.polids)
			}
		}
		if len(cr.acrs) > maxClaimValues || len(cr.xmsCC) > maxClaimValues || len(cr.polids) > maxClaimValues {
			t.Fatalf("claims %q: %d acrs, %d xms_cc, %d polids values", s, len(cr.acrs), len(cr.xmsCC), len(cr.polids))
		}
	})
}

// BenchmarkParseClaims measures parsing azcore's CAE claims request (CP1
// merged with an nbf challenge), the cost a claims request adds to a token request.
func BenchmarkParseClaims(b *testing.B) {
	const s = `{"access_token":{"nbf":{"essential":true,"value":"1604106651"},"xms_cc":{"values":["CP1"]}}}`
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := parseClaims(s, now); e != nil {
			b.Fatal(e)
		}
	}
}
