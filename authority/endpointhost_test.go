package authority

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestTokenEndpointTiedToAuthorityHost serves discovery documents whose
// token_endpoint is on another host: Entra and AD FS refuse them (the
// client's proof would be sent there), a generic issuer accepts them with a
// warning.
func TestTokenEndpointTiedToAuthorityHost(t *testing.T) {
	var doc string
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.ReplaceAll(doc, "BASE", srv.URL))
	})
	entra := mustParse(t, srv.URL+"/t1")
	adfs := mustParse(t, srv.URL+"/adfs")
	generic, err := ParseIssuer(srv.URL, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		a    Info
		doc  string
		ok   bool
	}{
		{"entra elsewhere", entra, `{"token_endpoint":"https://thief.example/t1/oauth2/v2.0/token"}`, false},
		{"entra at a Microsoft host", entra, `{"token_endpoint":"https://login.microsoftonline.com/t1/oauth2/v2.0/token"}`, false},
		{"entra same host, other port", entra, `{"token_endpoint":"https://127.0.0.1:1/t1/oauth2/v2.0/token"}`, true},
		{"adfs elsewhere", adfs, `{"issuer":"BASE/adfs","token_endpoint":"https://thief.example/adfs/oauth2/token/"}`, false},
		{"adfs same host", adfs, `{"issuer":"BASE/adfs","token_endpoint":"BASE/adfs/oauth2/token/"}`, true},
		{"generic elsewhere", generic, `{"issuer":"BASE","token_endpoint":"https://tokens.example/token"}`, true},
	}
	for _, c := range cases {
		doc = c.doc
		var logs bytes.Buffer
		r := NewResolver(wireFor(srv.Client()), ResolverOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		_, err := r.Resolve(context.Background(), c.a)
		if c.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok %t", c.name, err, c.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrTokenEndpointHost) || !errors.Is(err, ErrDiscovery) ||
			!strings.Contains(err.Error(), c.a.URL()) || !strings.Contains(err.Error(), "is on host")) {
			t.Errorf("%s: err = %v, want ErrTokenEndpointHost naming the authority and the host", c.name, err)
		}
		if warned := strings.Contains(logs.String(), "tokens.example"); warned != (c.a.Kind == Generic) {
			t.Errorf("%s: warning logged %t, want %t: %s", c.name, warned, c.a.Kind == Generic, logs.String())
		}
	}
}

// TestTokenEndpointOnMicrosoftAliases accepts a Microsoft authority's document
// naming another host of the same cloud or a regional host, and refuses one
// naming another cloud.
func TestTokenEndpointOnMicrosoftAliases(t *testing.T) {
	var host string
	f := newFakeMicrosoft(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"token_endpoint":"https://%s/{tenant}/oauth2/v2.0/token"}`, host)
	})
	a, err := New(PublicCloud, "contoso.onmicrosoft.com", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for h, ok := range map[string]bool{
		"login.windows.net": true, "westus2.login.microsoft.com": true, "LOGIN.MICROSOFT.COM.": true,
		"login.microsoftonline.us": false, "login.microsoft.com.thief.example": false, "westus2.thief.example": false,
	} {
		host = h
		_, err := NewResolver(wireFor(f.client), ResolverOptions{DisableInstanceDiscovery: true}).Resolve(context.Background(), a)
		if ok != (err == nil) || (err != nil && !errors.Is(err, ErrTokenEndpointHost)) {
			t.Errorf("token endpoint on %s: err = %v, want ok %t", h, err, ok)
		}
	}
}
