package authority

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/appcred/appcred/internal/wire"
)

// answerTransport answers every discovery request in memory (no network):
// instance discovery with inst, any other GET with doc.
type answerTransport struct{ doc, inst []byte }

func (t answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body := t.doc
	if strings.HasSuffix(r.URL.Path, "/discovery/instance") {
		body = t.inst
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

const (
	seedDoc  = `{"issuer":"https://login.contoso.test/{tenantid}/v2.0","token_endpoint":"https://login.contoso.test/t1/oauth2/v2.0/token"}`
	seedInst = `{"api-version":"1.1","metadata":[{"preferred_network":"login.contoso.test","aliases":["login.contoso.test","alias.contoso.test"]}]}`
)

// FuzzResolve feeds OIDC discovery documents and instance-discovery answers
// to the Resolver for an Entra authority (instance discovery on), an AD FS
// server and a generic issuer: no panic, every error is ErrDiscovery, and an
// accepted document's token endpoint is an https URL on the authority's host
// or an alias of it (any host for a generic issuer, whose issuer must match
// the configured one exactly).
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{seedDoc, seedInst},
		{`{"issuer":"https://alias.contoso.test/t1/v2.0","token_endpoint":"https://ALIAS.contoso.test./t1/oauth2/v2.0/token",` +
			`"token_endpoint_auth_methods_supported":["private_key_jwt"]}`,
			`{"metadata":[{"aliases":["login.contoso.test:443","alias.contoso.test"]}]}`},
		{`{"issuer":"https://issuer.test/x","token_endpoint":"https://tokens.elsewhere.test/token"}`, `{}`},
		{`{"issuer":"https://issuer.test/x/","token_endpoint":"http://issuer.test/token"}`, `{"metadata":null}`},
		{`{"issuer":"https://evil.test/","token_endpoint":"https://evil.test/t1/oauth2/v2.0/token"}`, `{"metadata":[{"aliases":["evil.test"]}]}`},
		{`{"token_endpoint":"https://login.contoso.test:8443/adfs/oauth2/token","issuer":"%zz"}`, `[]`},
		{`{"token_endpoint":"/relative"}`, `{"metadata":[{"aliases":[]}]}`}, {`{"token_endpoint":""}`, ``}, {`null`, `null`},
		{`[`, `{"metadata":[{"aliases":[5]}]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	authorities := make([]Info, 0, 3)
	for _, raw := range []string{"https://login.contoso.test/t1", "https://login.contoso.test/adfs"} {
		a, err := Parse(raw, ParseOptions{})
		if err != nil {
			f.Fatal(err)
		}
		authorities = append(authorities, a)
	}
	generic, err := ParseIssuer("https://issuer.test/x", ParseOptions{})
	if err != nil {
		f.Fatal(err)
	}
	authorities = append(authorities, generic)
	// The first seed resolves for Entra and AD FS, or the fuzzer would only ever see errors.
	sane := NewResolver(wire.New(&http.Client{Transport: answerTransport{doc: []byte(seedDoc), inst: []byte(seedInst)}}),
		ResolverOptions{ValidateAuthority: true, InstanceDiscoveryURL: "https://login.contoso.test/common/discovery/instance"})
	defer sane.Close()
	for _, a := range authorities[:2] {
		if _, err := sane.Resolve(context.Background(), a); err != nil {
			f.Fatalf("the first seed does not resolve: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, doc, inst []byte) {
		c := wire.New(&http.Client{Transport: answerTransport{doc: doc, inst: inst}})
		c.MaxRetries = -1 // answers are 200s; never wait
		r := NewResolver(c, ResolverOptions{ValidateAuthority: true,
			InstanceDiscoveryURL: "https://login.contoso.test/common/discovery/instance"})
		defer r.Close()
		for _, a := range authorities {
			ep, err := r.Resolve(context.Background(), a)
			if err != nil {
				if !errors.Is(err, ErrDiscovery) {
					t.Fatalf("%s: error %v is not ErrDiscovery", a.URL(), err)
				}
				continue
			}
			checkResolved(t, a, ep)
		}
	})
}

// checkResolved states what an accepted discovery result must satisfy.
func checkResolved(t *testing.T, a Info, ep Endpoints) {
	t.Helper()
	u, err := url.Parse(ep.TokenEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		t.Fatalf("%s: token endpoint %q is not an absolute https URL", a.URL(), ep.TokenEndpoint)
	}
	if a.Kind == Generic {
		if strings.TrimSuffix(ep.Issuer, "/") != a.Issuer {
			t.Fatalf("generic issuer %q accepted a document of issuer %q", a.Issuer, ep.Issuer)
		}
		return
	}
	hosts := []string{normHost(a.Hostname())}
	for _, alias := range ep.Aliases {
		if h, _, err := net.SplitHostPort(alias); err == nil {
			alias = h
		}
		hosts = append(hosts, normHost(alias))
	}
	if !slices.Contains(hosts, normHost(u.Hostname())) {
		t.Fatalf("%s: token endpoint %q is on none of %v", a.URL(), ep.TokenEndpoint, hosts)
	}
	if len(ep.Aliases) > 0 && !slices.ContainsFunc(hosts[1:], func(h string) bool { return h == hosts[0] }) {
		t.Fatalf("%s: aliases %v do not include the authority's host", a.URL(), ep.Aliases)
	}
}
