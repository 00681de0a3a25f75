package authority

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/appcred/appcred/internal/fakehost"
)

// fakeMicrosoft serves login.microsoftonline.com over real TLS on 127.0.0.1:
// a certificate for the Microsoft host names, and an *http.Client that trusts
// it and dials the test server whatever host it is asked for.
type fakeMicrosoft struct {
	srv    *httptest.Server
	client *http.Client
	mu     sync.Mutex
	reqs   []*url.URL
}

func newFakeMicrosoft(t *testing.T, h http.HandlerFunc) *fakeMicrosoft {
	t.Helper()
	f := &fakeMicrosoft{}
	var tr *http.Transport
	f.srv, tr = fakehost.Start(t, []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
		"*.login.microsoft.com", "*.login.microsoftonline.us"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		u := *r.URL
		u.Host = r.Host
		f.reqs = append(f.reqs, &u)
		f.mu.Unlock()
		h(w, r)
	}))
	f.client = &http.Client{Transport: tr}
	return f
}

func (f *fakeMicrosoft) requests() []*url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

const instanceMetadataJSON = `{"tenant_discovery_endpoint":"https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration","api-version":"1.1",
 "metadata":[{"preferred_network":"login.microsoftonline.com","preferred_cache":"login.windows.net","aliases":["login.microsoftonline.com","login.windows.net","login.microsoft.com","sts.windows.net"]},
  {"preferred_network":"login.microsoftonline.us","preferred_cache":"login.microsoftonline.us","aliases":["login.microsoftonline.us","login.usgovcloudapi.net"]}]}`

func TestResolveMicrosoftHostRunsInstanceDiscovery(t *testing.T) {
	f := newFakeMicrosoft(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/common/discovery/instance":
			fmt.Fprint(w, instanceMetadataJSON)
		case "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration":
			// Real Entra names the tenant GUID in the issuer; here the issuer is on an alias host.
			fmt.Fprint(w, `{"token_endpoint":"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
				"issuer":"https://login.windows.net/{tenantid}/v2.0","authorization_endpoint":"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
				"token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	a, err := New(PublicCloud, "contoso.onmicrosoft.com", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := NewResolver(wireFor(f.client), ResolverOptions{}).Resolve(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if ep.TokenEndpoint != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		!slices.Contains(ep.Aliases, "login.windows.net") || ep.V1TokenEndpoint != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token" {
		t.Fatalf("endpoints %+v", ep)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Path != "/common/discovery/instance" || reqs[0].Host != "login.microsoftonline.com" {
		t.Fatalf("requests %v", reqs)
	}
	q := reqs[0].Query()
	if q.Get("api-version") != "1.1" || q.Get("authorization_endpoint") != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize" {
		t.Fatalf("instance discovery query %v", q)
	}
}

func TestResolveMicrosoftHostWithoutInstanceDiscovery(t *testing.T) {
	f := newFakeMicrosoft(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"token_endpoint":"https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token","issuer":"https://login.microsoftonline.us/{tenantid}/v2.0"}`)
	})
	a, err := New(USGovernment, "72f988bf-86f1-41af-91ab-2d7cd011db47", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := NewResolver(wireFor(f.client), ResolverOptions{DisableInstanceDiscovery: true}).Resolve(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Aliases != nil || ep.TokenEndpoint != "https://login.microsoftonline.us/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" {
		t.Fatalf("endpoints %+v", ep)
	}
	if reqs := f.requests(); len(reqs) != 1 || reqs[0].Path != "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0/.well-known/openid-configuration" {
		t.Fatalf("requests %v", reqs)
	}
}
