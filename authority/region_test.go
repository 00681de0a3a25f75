package authority

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestValidRegion(t *testing.T) {
	for _, ok := range []string{"westus2", "eastus", "a", "usgovvirginia", "centraluseuap", "x-1", strings.Repeat("a", 63),
		AutoDetectRegion, "tryautodetect"} {
		if err := ValidRegion(ok); err != nil {
			t.Errorf("ValidRegion(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "WestUS2", "west us", "1westus", "westus-", "-westus", "west.us", "west/us",
		strings.Repeat("a", 64), "evil.com#", "TryAutoDetect!"} {
		err := ValidRegion(bad)
		if !errors.Is(err, ErrInvalidRegion) {
			t.Errorf("ValidRegion(%q) = %v, want ErrInvalidRegion", bad, err)
			continue
		}
		if len(bad) < 80 && !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("error %q does not name the input %q", err, bad)
		}
	}
}

func TestRegionalHost(t *testing.T) {
	info := func(host, tenant string) Info {
		a, err := New(host, tenant, ParseOptions{AllowInsecureLoopback: true})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	generic, err := ParseIssuer("https://login.microsoftonline.com/t1/v2.0", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    Info
		want string
	}{
		{info(PublicCloud, "t1"), "westus2.login.microsoft.com"},
		{info("login.windows.net", "t1"), "westus2.login.microsoft.com"},
		{info("sts.windows.net", "t1"), "westus2.login.microsoft.com"},
		{info("login.microsoft.com", "t1"), "westus2.login.microsoft.com"},
		{info("https://login.microsoftonline.com:8443", "t1"), "westus2.login.microsoft.com:8443"},
		{info(USGovernment, "t1"), "westus2.login.microsoftonline.us"},
		{info(China, "t1"), "westus2.login.chinacloudapi.cn"},
		{info("https://127.0.0.1:8443", "t1"), ""},
		{info("http://localhost:8080", "t1"), ""},
		{info("https://sts.example.com", "t1"), ""},
		{info(PublicCloud, "adfs"), ""},
		{generic, ""},
	} {
		got, ok := RegionalHost(c.a, "westus2")
		if got != c.want || ok != (c.want != "") {
			t.Errorf("RegionalHost(%s %s) = %q, %t; want %q", c.a.Kind, c.a.URL(), got, ok, c.want)
		}
	}
	if h, ok := RegionalHost(info(PublicCloud, "t1"), ""); ok || h != "" {
		t.Errorf("empty region gave %q", h)
	}
}

// regionalEntra answers like a regional Entra host: the OIDC document of the
// host it was asked on, naming the central issuer.
func regionalEntra(w http.ResponseWriter, r *http.Request) {
	const suffix = "/v2.0/.well-known/openid-configuration"
	if !strings.HasSuffix(r.URL.Path, suffix) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, `{"token_endpoint":"https://%[1]s/{tenant}/oauth2/v2.0/token","issuer":"https://login.microsoftonline.com/{tenantid}/v2.0",
		"authorization_endpoint":"https://%[1]s/{tenant}/oauth2/v2.0/authorize"}`, r.Host)
}

func TestResolveRegional(t *testing.T) {
	f := newFakeMicrosoft(t, regionalEntra)
	r := NewResolver(wireFor(f.client), ResolverOptions{Region: "westus2"})
	a, err := New(PublicCloud, "contoso.onmicrosoft.com", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := r.Resolve(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if ep.TokenEndpoint != "https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		ep.V1TokenEndpoint != "https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/token" ||
		len(ep.Aliases) != 2 || ep.Aliases[0] != "westus2.login.microsoft.com" || ep.Aliases[1] != "login.microsoftonline.com" {
		t.Fatalf("endpoints %+v", ep)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Host != "westus2.login.microsoft.com" ||
		reqs[0].Path != "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration" {
		t.Fatalf("requests %v: want only the regional OIDC document, no instance discovery", reqs)
	}

	gov, err := New(USGovernment, "t1", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r = NewResolver(wireFor(f.client), ResolverOptions{Region: "usgovvirginia"})
	if ep, err = r.Resolve(context.Background(), gov); err != nil {
		t.Fatal(err)
	}
	if ep.TokenEndpoint != "https://usgovvirginia.login.microsoftonline.us/t1/oauth2/v2.0/token" {
		t.Fatalf("US Government regional endpoint %q", ep.TokenEndpoint)
	}
}

// A region is ignored for hosts that are not Microsoft hosts (appcred's local
// authority, AD FS, generic issuers), and an invalid one fails every Resolve.
func TestResolveRegionIgnoredOrInvalid(t *testing.T) {
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, entraDoc(srv.URL))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{Region: "westus2"})
	ep, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/t1"))
	if err != nil || ep.TokenEndpoint != srv.URL+"/t1/oauth2/v2.0/token" || ep.Aliases != nil {
		t.Fatalf("loopback authority in a region: %+v, %v", ep, err)
	}
	r = NewResolver(wireFor(srv.Client()), ResolverOptions{Region: "West US"})
	_, err = r.Resolve(context.Background(), mustParse(t, srv.URL+"/t2"))
	if !errors.Is(err, ErrInvalidRegion) || !strings.Contains(err.Error(), `"West US"`) {
		t.Fatalf("invalid region: %v", err)
	}
	if n := srv.count("/t2/v2.0/.well-known/openid-configuration"); n != 0 {
		t.Fatalf("%d requests with an invalid region", n)
	}
}
