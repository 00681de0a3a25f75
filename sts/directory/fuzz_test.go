package directory_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts/directory"
)

// FuzzLoadConfig feeds YAML and JSON config files to LoadConfig: no panic, an
// error names the file, and an accepted config written back as JSON loads to
// the same Config.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		usersConfig,
		`{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"daemon","secrets":["s-1"]}]}]}`,
		"tenants:\n  - id: x\n    apps: [{client_id: a, app_roles: [r], certificates: [one.pem]}]\n",
		"subscriptions:\n  - {id: 22222222-0000-0000-0000-000000000001, display_name: dev, tenant: t}\n",
		"tenants:\n  - id: x\n    apps:\n      - client_id: a\n        nope: 1\n", "tenants: 5\n", "tenants:\n  - apps: {a: b}\n",
		"a: &a [*a]\n", "\t- :\n", "{", "", "---\n---\n", "tenants: [{users: [{password: 12}]}]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "authority.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := directory.LoadConfig(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if cfg.BaseDir != dir {
			t.Fatalf("BaseDir = %q, want %q", cfg.BaseDir, dir)
		}
		back, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("an accepted config does not encode: %v", err)
		}
		if err := os.WriteFile(path, back, 0o600); err != nil {
			t.Fatal(err)
		}
		// Shorthands (a secret's value, a certificate's file name) load to their
		// full form, so the JSON is compared, not the Configs.
		again, err := directory.LoadConfig(path)
		if err != nil {
			t.Fatalf("an accepted config written back as JSON fails to load: %v\n%s", err, back)
		}
		if b2, err := json.Marshal(again); err != nil || !bytes.Equal(b2, back) {
			t.Fatalf("config round trip: %s\nbecame %s (%v)", back, b2, err)
		}
	})
}

// fuzzDirectoryJSON makes a directory.json with a tenant, an API, a client
// with a secret and a grant, and a user.
func fuzzDirectoryJSON(f *testing.F) []byte {
	f.Helper()
	dir := f.TempDir()
	st, err := directory.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	tn, err := st.AddTenant("11111111-2222-3333-4444-555555555555", "contoso.test")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.AddApp(tn.ID, directory.App{ClientID: "orders", IdentifierURIs: []string{"api://orders"},
		AppRoles: []string{"Orders.Read"}, Scopes: []string{"access_as_user"}}); err != nil {
		f.Fatal(err)
	}
	if _, err := st.AddApp(tn.ID, directory.App{ClientID: "daemon"}); err != nil {
		f.Fatal(err)
	}
	if _, err := st.AddSecretExpiring(tn.ID, "daemon", time.Now().Add(time.Hour)); err != nil {
		f.Fatal(err)
	}
	if err := st.Grant(tn.ID, "daemon", "api://orders", "Orders.Read"); err != nil {
		f.Fatal(err)
	}
	if _, err := st.AddUser(tn.ID, directory.User{UPN: "alice@contoso.test", Password: "pw-alice-123456"}); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, directory.FileName))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzDirectoryFile feeds directory.json files to a state directory's Index
// and looks up arbitrary names in it: no panic, an error names the file or
// the tenant and app at fault, and every tenant and app of an accepted file
// can be found by its id.
func FuzzDirectoryFile(f *testing.F) {
	good := fuzzDirectoryJSON(f)
	for _, s := range [][2]string{
		{string(good), "daemon"}, {string(good), "CONTOSO.TEST"}, {`{"version":1,"tenants":[]}`, ""},
		{`{"tenants":[{"id":"not-a-guid"}]}`, "x"}, {`{"tenants":[null]}`, ""}, {`{"tenants":[{"apps":[null]}]}`, ""},
		{`{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"a"},{"client_id":"A"}]}]}`, "a"},
		{`{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","apps":[{"client_id":"a","secrets":[{"salt":"zz","hash":"!"}]}]}]}`, "s"},
		{`{"tenants":[{"id":"11111111-2222-3333-4444-555555555555","users":[{"user_principal_name":"u@x","password_salt":"%","password_hash":""}]}]}`, "u@x"},
		{"", ""}, {"[", ""}, {`{"tenants":{}}`, ""},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	dir := f.TempDir()
	st, err := directory.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, directory.FileName)
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte, lookup string) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ix, err := st.Index()
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, path) && !strings.Contains(msg, "tenant") {
				t.Fatalf("error %q names neither the file nor a tenant", msg)
			}
			return
		}
		var d struct {
			Tenants []struct {
				ID   string
				Apps []struct {
					ClientID string `json:"client_id"`
				}
			}
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("an accepted directory is not JSON: %v", err)
		}
		_ = ix.Tenant(lookup)
		for _, tn := range d.Tenants {
			ti := ix.Tenant(tn.ID)
			if ti == nil {
				t.Fatalf("tenant %q of an accepted directory is not found", tn.ID)
			}
			_, _ = ti.User(lookup), ti.CheckPassword(lookup, lookup)
			for _, a := range tn.Apps {
				app := ti.App(a.ClientID)
				if app == nil {
					t.Fatalf("app %q of tenant %q is not found", a.ClientID, tn.ID)
				}
				_, _ = ti.MatchSecret(app, lookup, now), ti.Resource(lookup)
			}
		}
	})
}
