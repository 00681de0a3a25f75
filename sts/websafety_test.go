package sts_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/appcred/appcred/sts"
)

func TestTLS12OffersOnlyAEADSuites(t *testing.T) {
	f := start(t, sts.Options{})
	addr := strings.TrimPrefix(f.a.URL(), "https://")
	dial := func(suites []uint16) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.a.CAPool(), ServerName: "localhost",
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites})
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	for _, s := range tls.CipherSuites() {
		aead := strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "CHACHA20_POLY1305")
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		err := dial([]uint16{s.ID})
		if !aead && err == nil {
			t.Errorf("TLS 1.2 handshake with %s succeeded; only AEAD suites may be offered", s.Name)
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		if err := dial([]uint16{s.ID}); err == nil {
			t.Errorf("TLS 1.2 handshake with insecure %s succeeded", s.Name)
		}
	}
	if err := dial([]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}); err != nil {
		t.Errorf("TLS 1.2 with ECDHE-ECDSA-AES128-GCM: %v", err)
	}
}

func TestResponsesCarryNosniff(t *testing.T) {
	f := start(t, sts.Options{})
	tid := f.seed.TenantID
	for name, r := range map[string]*response{
		"token":     f.post(t, f.tokenURL(), f.secretForm()),
		"error":     f.post(t, f.tokenURL(), url.Values{"grant_type": {"client_credentials"}}),
		"discovery": f.get(t, f.a.TenantURL(tid)+"/v2.0/.well-known/openid-configuration"),
		"jwks":      f.get(t, f.a.TenantURL(tid)+"/discovery/v2.0/keys"),
		"not found": f.get(t, f.a.URL()+"/nothing/here"),
	} {
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", name, got)
		}
	}
}

func TestEncodedSlashIsNotASeparator(t *testing.T) {
	f := start(t, sts.Options{})
	tid := f.seed.TenantID
	for _, p := range []string{
		"/" + tid + "%2Fv2.0%2F.well-known%2Fopenid-configuration",
		"/" + tid + "/v2.0%2f.well-known/openid-configuration",
		"/" + tid + "/discovery%2Fv2.0/keys",
		"/common/discovery%5Cinstance",
	} {
		r := f.get(t, f.a.URL()+p)
		wantError(t, r, http.StatusNotFound, "invalid_request", 90056)
	}
	r := f.post(t, f.a.URL()+"/"+tid+"/oauth2%2Fv2.0%2Ftoken", f.secretForm())
	wantError(t, r, http.StatusNotFound, "invalid_request", 90056)
}

func TestInstanceDiscoveryValidatesTenant(t *testing.T) {
	f := start(t, sts.Options{})
	id := uuid.NewString()
	if _, err := f.a.AddTenant(id, "contoso.example"); err != nil {
		t.Fatal(err)
	}
	ask := func(tenant string) *response {
		q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {"https://localhost/" + tenant + "/oauth2/v2.0/authorize"}}
		return f.get(t, f.a.URL()+"/common/discovery/instance?"+q.Encode())
	}
	for _, tenant := range []string{f.seed.TenantID, "contoso.example", "organizations", id} {
		r := ask(tenant)
		want := f.a.URL() + "/" + tenant + "/v2.0/.well-known/openid-configuration"
		if r.status != http.StatusOK || r.body["tenant_discovery_endpoint"] != want {
			t.Errorf("tenant %s: status %d, %s; want tenant_discovery_endpoint %s", tenant, r.status, r.raw, want)
		}
	}
	for _, tenant := range []string{"attacker.example", "x%3Fevil=1", "%22%3E%3Cscript%3Eevil", uuid.NewString()} {
		r := ask(tenant)
		wantError(t, r, http.StatusBadRequest, "invalid_request", 90002)
		if strings.Contains(r.raw, "evil") || strings.Contains(r.raw, "attacker") || strings.Contains(r.raw, "well-known") {
			t.Errorf("tenant %s is reflected: %s", tenant, r.raw)
		}
	}
}
