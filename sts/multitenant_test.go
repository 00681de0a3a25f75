package sts_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// TestMultiTenantAppAfterConsent: a multi-tenant app registered in tenant A
// gets tokens in tenant B only once B consents to it (AADSTS700016 before);
// B's tokens carry tid B, B's issuer and the app's own object id in B, and
// are signed with the served keys. A single-tenant app cannot be consented to.
func TestMultiTenantAppAfterConsent(t *testing.T) {
	f := start(t, sts.Options{})
	home := f.seed.TenantID
	b, err := f.a.AddTenant("", "fabrikam.test")
	if err != nil {
		t.Fatal(err)
	}
	app, err := f.a.AddApp(home, directory.App{DisplayName: "saas", SignInAudience: directory.AudienceMultipleOrgs})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := f.a.AddSecret(home, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID},
		"client_secret": {sec.Value}, "scope": {"api://" + app.ClientID + "/.default"}}

	wantError(t, f.post(t, f.a.TokenEndpoint(b.ID), form), http.StatusBadRequest, "unauthorized_client", 700016)
	if _, err := f.a.Provision(home, app.ClientID); err == nil {
		t.Error("Provision in the app's own tenant: no error")
	}
	if _, err := f.a.Provision(b.ID, f.seed.ClientID); err == nil || !strings.Contains(err.Error(), "single-tenant") {
		t.Errorf("Provision of a single-tenant app: %v, want a single-tenant error", err)
	}

	sp, err := f.a.Provision("fabrikam.test", app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if sp.ObjectID == "" || sp.ObjectID == app.ObjectID || sp.HomeTenant != home {
		t.Fatalf("provisioned app: object id %q (home %q), home tenant %q", sp.ObjectID, app.ObjectID, sp.HomeTenant)
	}
	if _, err := f.a.Provision(b.ID, app.ClientID); err != nil {
		t.Errorf("provisioning again: %v", err)
	}

	for _, tc := range []struct{ tenant, oid string }{{home, app.ObjectID}, {b.ID, sp.ObjectID}} {
		r := f.post(t, f.a.TokenEndpoint(tc.tenant), form)
		if r.status != http.StatusOK {
			t.Fatalf("tenant %s: status %d: %s", tc.tenant, r.status, r.raw)
		}
		_, claims := f.verifyToken(t, r.body["access_token"].(string), f.a.TenantURL(tc.tenant)+"/discovery/v2.0/keys")
		if claims["tid"] != tc.tenant || claims["oid"] != tc.oid || claims["appid"] != app.ClientID {
			t.Errorf("tenant %s: tid %v oid %v appid %v, want %s %s %s", tc.tenant, claims["tid"], claims["oid"],
				claims["appid"], tc.tenant, tc.oid, app.ClientID)
		}
		if iss := "https://sts.windows.net/" + tc.tenant + "/"; claims["iss"] != iss {
			t.Errorf("tenant %s: iss %v, want %s", tc.tenant, claims["iss"], iss)
		}
	}

	// The home app's credentials are the ones that count in B: a wrong secret is refused there too.
	form.Set("client_secret", "not-"+sec.Value)
	wantError(t, f.post(t, f.a.TokenEndpoint(b.ID), form), http.StatusUnauthorized, "invalid_client", 7000215)
}
