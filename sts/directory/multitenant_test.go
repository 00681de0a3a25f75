package directory_test

import (
	"strings"
	"testing"

	"github.com/appcred/appcred/sts/directory"
)

// TestMultiTenantDirectory: the sign-in audience is validated; a config may
// declare a consented app (home_tenant) in another tenant, which the index
// resolves to the home app's credentials and identifiers with its own object
// id and grants; a consented entry may not carry credentials; removing the
// home app leaves the consented entry unknown to the token endpoint.
func TestMultiTenantDirectory(t *testing.T) {
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const home, other = "11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002"
	if _, err := st.AddApp(home, directory.App{SignInAudience: "Everyone"}); err == nil || !strings.Contains(err.Error(), "Everyone") {
		t.Errorf("unknown sign-in audience: %v", err)
	}
	const id = "aaaaaaaa-0000-0000-0000-00000000000a"
	cfg := &directory.Config{Tenants: []*directory.Tenant{
		{ID: home, Apps: []*directory.App{{ClientID: id, SignInAudience: directory.AudienceMultipleOrgs,
			IdentifierURIs: []string{"api://saas"}, AppRoles: []string{"Saas.Read"}, Secrets: []directory.Secret{{Value: "home-secret-value"}}}}},
		{ID: other, Apps: []*directory.App{
			{ClientID: id, HomeTenant: home},
			{ClientID: "bbbbbbbb-0000-0000-0000-00000000000b", APIPermissions: map[string][]string{"api://saas": {"Saas.Read"}}},
		}},
	}}
	if err := st.ApplyConfig(cfg, ""); err != nil {
		t.Fatal(err)
	}
	ix, err := st.Index()
	if err != nil {
		t.Fatal(err)
	}
	h, o := ix.Tenant(home).App(id), ix.Tenant(other).App(id)
	if h == nil || o == nil || h.ObjectID == o.ObjectID || o.HomeTenant != home {
		t.Fatalf("home %+v, consented %+v: want both, with different object ids", h, o)
	}
	if ix.Tenant(other).MatchSecret(o, "home-secret-value", h.Secrets[0].Created) != directory.SecretValid {
		t.Error("the consented app does not accept its home secret")
	}
	if res := ix.Tenant(other).Resource("api://saas"); res != o {
		t.Errorf("api://saas in the other tenant is %v, want the consented app", res)
	}

	cfg.Tenants[1].Apps[0].Secrets = []directory.Secret{{Value: "own-secret-value"}}
	if err := st.ApplyConfig(cfg, ""); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("a consented app with its own secret: %v", err)
	}

	// Without the grant on it, the home app can go; the consented entry then answers as unknown.
	if _, err := st.RemoveApp(other, "bbbbbbbb-0000-0000-0000-00000000000b"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RemoveApp(home, id); err != nil {
		t.Fatal(err)
	}
	if ix, err = st.Index(); err != nil {
		t.Fatal(err)
	}
	if ix.Tenant(other).App(id) != nil {
		t.Error("a consented app whose home app is gone is still known")
	}
}
