package sts_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

func TestIssuerIgnoresHostSpelling(t *testing.T) {
	f := start(t, sts.Options{})
	port := portOf(t, f.a)
	tid := f.seed.TenantID
	doc := f.a.URL() + "/" + tid + "/v2.0/.well-known/openid-configuration"
	for host, want := range map[string]string{
		"LoCaLhOsT:" + port:          "localhost:" + port,
		"[::ffff:7f00:1]:" + port:    "127.0.0.1:" + port,
		"[::FFFF:127.0.0.1]:" + port: "127.0.0.1:" + port,
		"[0:0::1]:" + port:           "[::1]:" + port,
	} {
		r := f.getHost(t, doc, host)
		if r.status != http.StatusOK {
			t.Errorf("Host %s: status %d: %s", host, r.status, r.raw)
			continue
		}
		if iss := "https://" + want + "/" + tid + "/v2.0"; r.body["issuer"] != iss {
			t.Errorf("Host %s: issuer %v, want %s", host, r.body["issuer"], iss)
		}
		if te, _ := r.body["token_endpoint"].(string); !strings.HasPrefix(te, "https://"+want+"/") {
			t.Errorf("Host %s: token_endpoint %s, want host %s", host, te, want)
		}
	}
	// The token's issuer is the canonical one too.
	req, err := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(f.secretForm().Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "LOCALHOST:" + port
	tok := checkV2Response(t, f.do(t, req), 3599)
	if _, c := f.verifyToken(t, tok, f.a.TenantURL(tid)+"/discovery/v2.0/keys"); c["iss"] != "https://localhost:"+port+"/"+tid+"/v2.0" {
		t.Errorf("iss %v, want the lower-case localhost issuer", c["iss"])
	}
}

func TestV1AudienceIsTheRegisteredIdentifier(t *testing.T) {
	f := start(t, sts.Options{})
	tid := f.seed.TenantID
	app, err := f.a.AddApp(tid, directory.App{DisplayName: "orders", IdentifierURIs: []string{"api://orders"}, AppRoles: []string{"Orders.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Grant(tid, f.seed.ClientID, "api://orders", "Orders.Read"); err != nil {
		t.Fatal(err)
	}
	v1URL := f.a.TenantURL(tid) + "/oauth2/token"
	for requested, want := range map[string]string{
		"API://ORDERS":                           "api://orders",
		"api://orders//":                         "api://orders",
		"Api://Orders/":                          "api://orders",
		strings.ToUpper(app.ClientID):            app.ClientID,
		"API://" + strings.ToUpper(app.ClientID): "api://" + app.ClientID,
		"HTTPS://ORDERS.EXAMPLE/":                f.v1URI,
		"https://Orders.Example":                 strings.TrimSuffix(f.v1URI, "/"),
	} {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.seed.ClientID},
			"client_secret": {f.seed.ClientSecret}, "resource": {requested}}
		r := f.post(t, v1URL, form)
		if r.status != http.StatusOK {
			t.Errorf("resource %s: status %d: %s", requested, r.status, r.raw)
			continue
		}
		_, c := f.verifyToken(t, r.body["access_token"].(string), f.a.URL()+"/common/discovery/keys")
		if c["aud"] != want || r.body["resource"] != want {
			t.Errorf("resource %s: aud %v, response resource %v, want %s", requested, c["aud"], r.body["resource"], want)
		}
	}
	// The v2 endpoint's scope gives the same answer for a v1 resource.
	form := f.secretForm()
	form.Set("scope", "API://ORDERS//.default")
	_, c := f.verifyToken(t, checkV2Response(t, f.post(t, f.tokenURL(), form), 3599), f.a.URL()+"/common/discovery/keys")
	if c["aud"] != "api://orders" {
		t.Errorf("scope API://ORDERS//.default: aud %v, want api://orders", c["aud"])
	}
}
