package directory_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/appcred/appcred/sts/directory"
)

// TestRequireMFAConfig: require_mfa is read from a config, stored, dropped
// when a later config no longer sets it, and each app has its own stable
// MFA policy id (a GUID).
func TestRequireMFAConfig(t *testing.T) {
	dir := t.TempDir()
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	const tid = "11111111-2222-3333-4444-555555555555"
	apply := func(mfa string) *directory.TenantIndex {
		t.Helper()
		cfgPath := filepath.Join(dir, "authority.yaml")
		yaml := "tenants:\n  - id: " + tid + "\n    apps:\n      - client_id: orders\n        identifier_uris: [\"api://orders\"]\n" +
			"        scopes: [\"Orders.Read\"]\n" + mfa + "      - client_id: other\n        identifier_uris: [\"api://other\"]\n"
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := directory.LoadConfig(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ApplyConfig(cfg, dir); err != nil {
			t.Fatal(err)
		}
		ix, err := st.Index()
		if err != nil {
			t.Fatal(err)
		}
		return ix.Tenant(tid)
	}
	ti := apply("        require_mfa: true\n")
	orders, other := ti.Resource("api://orders"), ti.Resource("api://other")
	if !orders.RequireMFA || other.RequireMFA {
		t.Fatalf("require_mfa: orders %v, other %v", orders.RequireMFA, other.RequireMFA)
	}
	pol := orders.MFAPolicyID()
	if _, err := uuid.Parse(pol); err != nil || pol == other.MFAPolicyID() {
		t.Fatalf("policy ids %q and %q: not distinct GUIDs (%v)", pol, other.MFAPolicyID(), err)
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range list[0].Apps {
		found = found || (a.ClientID == "orders" && a.RequireMFA)
	}
	if !found {
		t.Fatal("List does not show require_mfa on orders")
	}
	ti = apply("")
	if o := ti.Resource("api://orders"); o.RequireMFA || o.MFAPolicyID() != pol {
		t.Fatalf("after a config without it: require_mfa %v, policy %q (was %q)", o.RequireMFA, o.MFAPolicyID(), pol)
	}
	a, err := st.AddApp(tid, directory.App{ClientID: "payroll", IdentifierURIs: []string{"api://payroll"}, RequireMFA: true})
	if err != nil || !a.RequireMFA {
		t.Fatalf("AddApp with RequireMFA: %+v, %v", a, err)
	}
}
