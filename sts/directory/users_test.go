package directory_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts/directory"
)

const usersConfig = `
tenants:
  - id: 11111111-2222-3333-4444-555555555555
    apps:
      - client_id: orders
        identifier_uris: ["api://orders"]
        scopes: ["Orders.Read", "access_as_user"]
      - client_id: cli
        public_client: true
        delegated_permissions: {"api://orders": ["orders.read"]}
    users:
      - user_principal_name: alice@contoso.test
        display_name: Alice
        password: "pw-alice-123456"
`

// TestUsersConfigAndAdmin: users, scopes, consent and public clients from a
// config and through the admin operations; passwords are stored hashed and
// object ids are stable.
func TestUsersConfigAndAdmin(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "authority.yaml")
	if err := os.WriteFile(cfgPath, []byte(usersConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := directory.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := directory.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var oid string
	for range 2 { // applying again keeps the object id
		if err := st.ApplyConfig(cfg, dir); err != nil {
			t.Fatal(err)
		}
		users, err := st.ListUsers("")
		if err != nil || len(users) != 1 || users[0].UPN != "alice@contoso.test" || users[0].Password != "" || users[0].PasswordHash != "" {
			t.Fatalf("users %#v, %v", users, err)
		}
		if oid != "" && users[0].ObjectID != oid {
			t.Fatalf("object id changed: %s → %s", oid, users[0].ObjectID)
		}
		oid = users[0].ObjectID
	}
	raw, err := os.ReadFile(filepath.Join(dir, "state", directory.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "pw-alice-123456") || !strings.Contains(string(raw), "password_hash") {
		t.Fatal("directory.json holds the password or no hash")
	}
	ix, err := st.Index()
	if err != nil {
		t.Fatal(err)
	}
	ti := ix.Tenant("11111111-2222-3333-4444-555555555555")
	if u := ti.CheckPassword("ALICE@contoso.test", "pw-alice-123456"); u == nil || u.ObjectID != oid {
		t.Fatalf("CheckPassword: %v", u)
	}
	if ti.CheckPassword("alice@contoso.test", "pw-alice-12345") != nil || ti.CheckPassword("bob@contoso.test", "pw-alice-123456") != nil {
		t.Fatal("a wrong password or user passed")
	}
	cli, orders := ti.App("cli"), ti.Resource("api://orders")
	if got := ti.DelegatedScopes(cli, orders); fmt.Sprint(got) != "[Orders.Read]" || !cli.PublicClient {
		t.Fatalf("delegated scopes %v, public %v", got, cli.PublicClient)
	}
	if err := st.Consent("", "cli", "api://orders", "access_as_user"); err != nil {
		t.Fatal(err)
	}
	if err := st.Consent("", "cli", "api://orders", "Orders.Delete"); err == nil {
		t.Fatal("consent to a scope the API does not declare was accepted")
	}
	bob, err := st.AddUser("", directory.User{UPN: "bob@contoso.test", Password: "pw-bob-7890"})
	if err != nil || bob.ObjectID == "" || bob.Password != "" {
		t.Fatalf("AddUser: %#v, %v", bob, err)
	}
	if _, err := st.AddUser("", directory.User{UPN: "bob@contoso.test", Password: "x"}); err == nil {
		t.Fatal("a second bob was added")
	}
	for _, bad := range []directory.User{{UPN: "no-at-sign", Password: "x"}, {UPN: "carol@contoso.test"}} {
		if _, err := st.AddUser("", bad); err == nil {
			t.Errorf("AddUser(%v) succeeded", bad)
		}
	}
	if err := st.RemoveUser("", bob.ObjectID); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveUser("", "bob@contoso.test"); err == nil {
		t.Fatal("removing a removed user succeeded")
	}
	if s := fmt.Sprintf("%v %#v %+v", bob, bob, directory.User{UPN: "x@y", Password: "pw-secret-zz"}); strings.Contains(s, "pw-") {
		t.Fatalf("a user prints its password: %s", s)
	}
}

// TestUsersConfigErrors: bad users and consents name what is wrong.
func TestUsersConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"unknown api", `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"c","delegated_permissions":{"api://nope":["X"]}}]}]}`, "api://nope"},
		{"undeclared scope", `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"a","identifier_uris":["api://a"],"scopes":["A"]},{"client_id":"c","delegated_permissions":{"api://a":["B"]}}]}]}`, `scope "B"`},
		{"user without password", `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[],"users":[{"user_principal_name":"a@b"}]}]}`, "needs a password"},
		{"bad object id", `{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[],"users":[{"user_principal_name":"a@b","password":"p","object_id":"x"}]}]}`, "GUID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "c.json")
			if err := os.WriteFile(p, []byte(tc.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := directory.LoadConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			st, err := directory.Open(filepath.Join(dir, "state"))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.ApplyConfig(cfg, dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyConfig: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
