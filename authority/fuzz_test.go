package authority

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzParse checks that Parse and ParseIssuer never panic, fail only with
// ErrInvalidAuthority, and that an accepted authority's URL parses back to
// the same Info.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"https://login.microsoftonline.com/contoso.com", "https://127.0.0.1:8443/t1/", "http://localhost/t",
		"https://host/adfs", "https://login.microsoftonline.com/common", "https://u:p@h/t", "https://h/a/b",
		"https://[::1]:443/t", "https://h:0/t", "%zz", "https://h/t?x#y", "HTTPS://H/T",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, loopback bool) {
		o := ParseOptions{AllowInsecureLoopback: loopback}
		if a, err := Parse(in, o); err != nil {
			if !errors.Is(err, ErrInvalidAuthority) {
				t.Fatalf("Parse(%q): untyped error %v", in, err)
			}
		} else {
			b, err := Parse(a.URL(), o)
			if err != nil || b != a {
				t.Fatalf("Parse(%q) = %+v, but Parse(URL()=%q) = %+v, %v", in, a, a.URL(), b, err)
			}
		}
		if a, err := ParseIssuer(in, o); err != nil {
			if !errors.Is(err, ErrInvalidAuthority) {
				t.Fatalf("ParseIssuer(%q): untyped error %v", in, err)
			}
		} else if b, err := ParseIssuer(a.URL(), o); err != nil || b != a {
			t.Fatalf("ParseIssuer(%q) = %+v, but reparse = %+v, %v", in, a, b, err)
		}
	})
}

// BenchmarkResolveCached measures the cache-hit path every token request takes.
func BenchmarkResolveCached(b *testing.B) {
	var srv *idp
	srv = newIDP(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.ReplaceAll(`{"token_endpoint":"BASE/t1/oauth2/v2.0/token"}`, "BASE", srv.URL)))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	a, _ := Parse(srv.URL+"/t1", ParseOptions{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, a); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Resolve(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
