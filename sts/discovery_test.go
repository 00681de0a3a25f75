package sts_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts"
)

func TestOpenIDConfiguration(t *testing.T) {
	f := start(t, sts.Options{})
	tid := f.seed.TenantID
	base := f.a.URL() + "/" + tid
	// MSAL Go sends a trailing empty query.
	r := f.get(t, base+"/v2.0/.well-known/openid-configuration?")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := map[string]string{
		"issuer":                        base + "/v2.0",
		"token_endpoint":                base + "/oauth2/v2.0/token",
		"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                      base + "/discovery/v2.0/keys",
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %s", k, r.body[k], v)
		}
	}
	methods, _ := r.body["token_endpoint_auth_methods_supported"].([]any)
	if len(methods) != 3 {
		t.Errorf("token_endpoint_auth_methods_supported %v", methods)
	}
	if r.header.Get("Cache-Control") != "max-age=86400, private" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}

	// MSAL Go lower-cases the authority URL; a domain name works too.
	r = f.get(t, f.a.URL()+"/"+strings.ToUpper(tid)+"/v2.0/.well-known/openid-configuration?x=1")
	if r.body["issuer"] != base+"/v2.0" {
		t.Errorf("upper-case tenant: issuer %v", r.body["issuer"])
	}

	v1 := f.get(t, base+"/.well-known/openid-configuration")
	if v1.body["issuer"] != "https://sts.windows.net/"+tid+"/" || v1.body["token_endpoint"] != base+"/oauth2/token" ||
		v1.body["jwks_uri"] != f.a.URL()+"/common/discovery/keys" {
		t.Errorf("v1 document: %s", v1.raw)
	}

	common := f.get(t, f.a.URL()+"/common/v2.0/.well-known/openid-configuration")
	if common.body["issuer"] != f.a.URL()+"/{tenantid}/v2.0" {
		t.Errorf("common issuer %v", common.body["issuer"])
	}
	keys := f.get(t, f.a.URL()+"/common/discovery/keys")
	if ks, _ := keys.body["keys"].([]any); len(ks) != 1 {
		t.Errorf("common keys: %s", keys.raw)
	}
	tk := f.get(t, base+"/discovery/v2.0/keys")
	if k := tk.body["keys"].([]any)[0].(map[string]any); k["issuer"] != base+"/v2.0" || k["kty"] != "RSA" || k["use"] != "sig" {
		t.Errorf("tenant keys: %s", tk.raw)
	}
}

func TestInstanceDiscovery(t *testing.T) {
	f := start(t, sts.Options{})
	host := strings.TrimPrefix(f.a.URL(), "https://")
	port := host[strings.LastIndex(host, ":"):]
	// MSAL Python (api-version 1.0; hostname without the port).
	q := url.Values{"api-version": {"1.0"}, "authorization_endpoint": {"https://localhost/" + f.seed.TenantID + "/oauth2/v2.0/authorize"}}
	r := f.get(t, f.a.URL()+"/common/discovery/instance?"+q.Encode())
	if r.body["tenant_discovery_endpoint"] != f.a.URL()+"/"+f.seed.TenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("1.0: %s", r.raw)
	}
	if _, has := r.body["metadata"]; has {
		t.Errorf("1.0 answer has metadata: %s", r.raw)
	}
	// MSAL Go (api-version 1.1; host with port).
	q = url.Values{"api-version": {"1.1"}, "authorization_endpoint": {"https://localhost" + port + "/" + f.seed.TenantID + "/oauth2/v2.0/authorize"}}
	r = f.get(t, f.a.URL()+"/common/discovery/instance?"+q.Encode())
	md, _ := r.body["metadata"].([]any)
	if r.body["api-version"] != "1.1" || len(md) != 1 {
		t.Fatalf("1.1: %s", r.raw)
	}
	aliases, _ := md[0].(map[string]any)["aliases"].([]any)
	if len(aliases) != 2 || aliases[0] != host || aliases[1] != "localhost"+port {
		t.Errorf("aliases %v", aliases)
	}
	// Another host is an invalid instance (MSAL Go treats it as fatal).
	q.Set("authorization_endpoint", "https://login.example.com/common/oauth2/v2.0/authorize")
	wantError(t, f.get(t, f.a.URL()+"/common/discovery/instance?"+q.Encode()), 400, "invalid_instance", 50049)
}
