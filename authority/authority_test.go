package authority

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEntra(t *testing.T) {
	cases := []struct {
		in   string
		o    ParseOptions
		want Info
		url  string
	}{
		{"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", ParseOptions{},
			Info{Kind: Entra, Scheme: "https", Host: "login.microsoftonline.com", Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
			"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"  HTTPS://Login.MicrosoftOnline.US:443/Contoso.OnMicrosoft.com/ ", ParseOptions{},
			Info{Kind: Entra, Scheme: "https", Host: "login.microsoftonline.us", Tenant: "contoso.onmicrosoft.com"},
			"https://login.microsoftonline.us/contoso.onmicrosoft.com"},
		{"https://127.0.0.1:8443/tenant_1", ParseOptions{},
			Info{Kind: Entra, Scheme: "https", Host: "127.0.0.1:8443", Tenant: "tenant_1"}, "https://127.0.0.1:8443/tenant_1"},
		{"https://sts.contoso.com/adfs", ParseOptions{},
			Info{Kind: ADFS, Scheme: "https", Host: "sts.contoso.com", Tenant: "adfs"}, "https://sts.contoso.com/adfs"},
		{"http://localhost:8080/t1", ParseOptions{AllowInsecureLoopback: true},
			Info{Kind: Entra, Scheme: "http", Host: "localhost:8080", Tenant: "t1"}, "http://localhost:8080/t1"},
		{"http://[::1]:80/t1", ParseOptions{AllowInsecureLoopback: true},
			Info{Kind: Entra, Scheme: "http", Host: "[::1]", Tenant: "t1"}, "http://[::1]/t1"},
		{"https://login.microsoftonline.com/organizations", ParseOptions{AllowMultiTenant: true},
			Info{Kind: Entra, Scheme: "https", Host: "login.microsoftonline.com", Tenant: "organizations"},
			"https://login.microsoftonline.com/organizations"},
	}
	for _, c := range cases {
		got, err := Parse(c.in, c.o)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got != c.want || got.URL() != c.url {
			t.Errorf("Parse(%q) = %+v (%s), want %+v (%s)", c.in, got, got.URL(), c.want, c.url)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		in, reason string
		o          ParseOptions
	}{
		{"", "empty", ParseOptions{}},
		{"login.microsoftonline.com/contoso", "absolute URL", ParseOptions{}},
		{"http://login.microsoftonline.com/contoso", "https", ParseOptions{AllowInsecureLoopback: true}},
		{"http://127.0.0.1:8080/contoso", "AllowInsecureLoopback", ParseOptions{}},
		{"ftp://login.microsoftonline.com/contoso", `not "ftp"`, ParseOptions{}},
		{"https://login.microsoftonline.com", "missing tenant", ParseOptions{}},
		{"https://login.microsoftonline.com/", "missing tenant", ParseOptions{}},
		{"https://login.microsoftonline.com/contoso/oauth2/v2.0/token", "after the tenant", ParseOptions{}},
		{"https://login.microsoftonline.com/con%20toso", "characters outside", ParseOptions{}},
		{"https://login.microsoftonline.com/con$toso", "characters outside", ParseOptions{}},
		{"https://login.microsoftonline.com/.contoso", "characters outside", ParseOptions{}},
		{"https://login.microsoftonline.com/common", "client credentials", ParseOptions{}},
		{"https://login.microsoftonline.com/Organizations", "client credentials", ParseOptions{}},
		{"https://login.microsoftonline.com/consumers", "client credentials", ParseOptions{}},
		{"https://login.microsoftonline.com/contoso?x=1", "query", ParseOptions{}},
		{"https://login.microsoftonline.com/contoso#f", "fragment", ParseOptions{}},
		{"https://host:99999/contoso", "invalid port", ParseOptions{}},
		{"https://:443/contoso", "missing host", ParseOptions{}},
		{"::not a url", "not a URL", ParseOptions{}},
	}
	for _, c := range cases {
		_, err := Parse(c.in, c.o)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", c.in)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrInvalidAuthority) || !strings.Contains(msg, c.reason) {
			t.Errorf("Parse(%q) = %v, want ErrInvalidAuthority mentioning %q", c.in, err, c.reason)
		}
		if in := strings.TrimSpace(c.in); in != "" && !strings.Contains(msg, in) {
			t.Errorf("Parse(%q): error %q does not name the input", c.in, msg)
		}
	}
	_, err := Parse("https://login.microsoftonline.com/common", ParseOptions{})
	if !errors.Is(err, ErrMultiTenant) {
		t.Errorf("common: %v is not ErrMultiTenant", err)
	}
}

func TestParseRedactsPassword(t *testing.T) {
	_, err := Parse("https://user:hunter2-secret@login.microsoftonline.com/contoso", ParseOptions{})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "user info") {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse("https://user:hunter2-secret@login.micro%zzsoft.com/contoso", ParseOptions{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, host := range []string{PublicCloud, USGovernment, China, "login.microsoftonline.com", PublicCloud + "/"} {
		a, err := New(host, "Contoso.com", ParseOptions{})
		if err != nil || a.Kind != Entra || a.Tenant != "contoso.com" || !a.IsMicrosoftHost() || a.IsLoopback() {
			t.Errorf("New(%q): %+v, %v", host, a, err)
		}
	}
	if a, err := New("https://adfs.contoso.com", "ADFS", ParseOptions{}); err != nil || a.Kind != ADFS {
		t.Errorf("adfs: %+v, %v", a, err)
	}
	for _, c := range []struct{ host, tenant, reason string }{
		{PublicCloud, "", "empty tenant"},
		{PublicCloud, "  ", "empty tenant"},
		{PublicCloud, "a/b", "characters outside"},
		{PublicCloud, "common", "client credentials"},
		{PublicCloud + "/contoso", "x", "must not have a path"},
		{"http://login.microsoftonline.com", "x", "https"},
	} {
		_, err := New(c.host, c.tenant, ParseOptions{})
		if err == nil || !errors.Is(err, ErrInvalidAuthority) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("New(%q, %q) = %v, want error mentioning %q", c.host, c.tenant, err, c.reason)
		}
	}
}

func TestParseIssuer(t *testing.T) {
	for in, want := range map[string]string{
		"https://accounts.example.com":         "https://accounts.example.com",
		"https://tenant.auth0.com/":            "https://tenant.auth0.com",
		"https://IdP.example.com:443/realms/x": "https://idp.example.com/realms/x",
	} {
		a, err := ParseIssuer(in, ParseOptions{})
		if err != nil || a.Kind != Generic || a.Issuer != want || a.URL() != want || a.Tenant != "" {
			t.Errorf("ParseIssuer(%q) = %+v, %v; want issuer %q", in, a, err, want)
		}
	}
	for _, in := range []string{"http://idp.example.com", "https://idp.example.com?x", "idp.example.com"} {
		if _, err := ParseIssuer(in, ParseOptions{}); !errors.Is(err, ErrInvalidAuthority) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseIssuer(%q) = %v", in, err)
		}
	}
}

func TestHostClassification(t *testing.T) {
	for h, loop := range map[string]bool{"localhost": true, "a.localhost": true, "127.0.0.2": true, "[::1]": true, "::1": true, "10.0.0.1": false, "example.com": false} {
		if isLoopback(h) != loop {
			t.Errorf("isLoopback(%q) = %v", h, !loop)
		}
	}
	if !IsMicrosoftHost("LOGIN.windows.net") || IsMicrosoftHost("login.microsoftonline.com.evil.com") {
		t.Error("IsMicrosoftHost misclassifies")
	}
	if Kind(9).String() != "unknown(9)" || ADFS.String() != "adfs" {
		t.Error("Kind.String")
	}
}
