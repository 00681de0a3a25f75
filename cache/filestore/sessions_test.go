package filestore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/storetest"
	"github.com/appcred/appcred/internal/seal"
)

const testHash = "q1Wm0PAzNgCvZsIsjFkw4ZSM3M_WyHbGsdnzd1k_O4I="

// TestSessionSchema checks the entries MSAL reads for an on-behalf-of
// session: a RefreshToken entry per environment with user_assertion_hash and
// no expiry, and the user's Account entry; a rotated refresh token replaces
// the old one (which leaves the file) and keeps fields appcred does not
// write; expired access tokens are pruned but refresh tokens are not.
func TestSessionSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.json")
	s := open(t, path, filestore.Options{})
	key := string(cache.MakePrefix("CID", "LocalHost:8443", "TID").AppendKey(nil, cache.KindOBOSession, testHash, nil))
	v := storetest.NewSession()
	if err := s.PutSession(ctx, key, v); err != nil {
		t.Fatal(err)
	}
	top := readJSON(t, path)
	rts := top["RefreshToken"].(map[string]any)
	if len(rts) != 2 {
		t.Fatalf("%d RefreshToken entries, want one per environment: %v", len(rts), keysOf(rts))
	}
	for name, raw := range rts {
		e := raw.(map[string]any)
		env, _ := e["environment"].(string)
		if !strings.HasPrefix(name, strings.ToLower(v.HomeAccountID+"-"+env+"-refreshtoken-cid--")) {
			t.Errorf("entry name %q", name)
		}
		want := map[string]any{"credential_type": "RefreshToken", "secret": v.RefreshToken, "home_account_id": v.HomeAccountID,
			"client_id": "cid", "realm": "tid", "user_assertion_hash": testHash}
		for k, w := range want {
			if e[k] != w {
				t.Errorf("%s: field %s = %v, want %v", env, k, e[k], w)
			}
		}
		if _, has := e["expires_on"]; has {
			t.Errorf("%s: a refresh token entry with expires_on", env)
		}
	}
	accts := top["Account"].(map[string]any)
	for _, env := range []string{"localhost:8443", "localhost"} {
		a, ok := accts[strings.ToLower(v.HomeAccountID+"-"+env+"-"+v.TenantID)].(map[string]any)
		if !ok || a["username"] != v.Username || a["local_account_id"] != v.ObjectID || a["authority_type"] != "MSSTS" ||
			a["realm"] != v.TenantID || a["environment"] != env {
			t.Errorf("Account entry for %s = %v (entries %v)", env, a, keysOf(accts))
		}
	}

	editJSON(t, s, func(top map[string]any) {
		for _, e := range top["RefreshToken"].(map[string]any) {
			e.(map[string]any)["x_unknown"] = "kept"
		}
	})
	rotated := *v
	rotated.RefreshToken = "rt.rotated-" + v.RefreshToken[3:]
	if err := s.PutSession(ctx, key, &rotated); err != nil {
		t.Fatal(err)
	}
	expired := storetest.NewToken(32, time.Hour)
	expired.ExpiresOn = time.Now().Add(-time.Minute)
	_ = s.Put(ctx, storetest.Keys()[0], expired)
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte(`"`+v.RefreshToken+`"`)) || !bytes.Contains(data, []byte(rotated.RefreshToken)) {
		t.Error("the file still holds the old refresh token, or not the rotated one")
	}
	for _, e := range readJSON(t, path)["RefreshToken"].(map[string]any) {
		if e.(map[string]any)["x_unknown"] != "kept" {
			t.Error("an unknown field of a RefreshToken entry was lost on rotation")
		}
	}
	got, err := open(t, path, filestore.Options{}).GetSession(ctx, key)
	if err != nil || got == nil || *got != rotated {
		t.Fatalf("GetSession after reopen: %v, %v", got, err)
	}
	if err := s.DeleteSession(ctx, key); err != nil {
		t.Fatal(err)
	}
	top = readJSON(t, path)
	if n, m := len(top["RefreshToken"].(map[string]any)), len(top["Account"].(map[string]any)); n != 0 || m != 0 {
		t.Errorf("after DeleteSession: %d RefreshToken and %d Account entries left, want none", n, m)
	}
}

// TestSessionForeignEntries: a session written by fields alone (as MSAL Go
// writes an OBO partition's refresh token) is read, under its bare host name
// too; a user's own refresh token (no user_assertion_hash) is not a session,
// and deleting a session keeps the Account a foreign refresh token needs.
func TestSessionForeignEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.json")
	file := `{"RefreshToken": {
	  "u.t-localhost-refreshtoken-cid": {"credential_type": "RefreshToken", "secret": "go-rt", "home_account_id": "u.t",
	    "environment": "localhost", "client_id": "cid", "realm": "tid", "user_assertion_hash": "` + testHash + `"},
	  "u.t-localhost-refreshtoken-cid--api://x": {"credential_type": "RefreshToken", "secret": "py-user-rt",
	    "home_account_id": "u.t", "environment": "localhost", "client_id": "cid", "target": "api://x"}},
	 "Account": {"u.t-localhost-t": {"home_account_id": "u.t", "environment": "localhost", "realm": "t",
	    "local_account_id": "u", "username": "ann@t", "authority_type": "MSSTS"},
	  "u.t-localhost-guest": {"home_account_id": "u.t", "environment": "localhost", "realm": "guest",
	    "local_account_id": "g", "username": "ann@t"}}}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, filestore.Options{})
	key := string(cache.MakePrefix("cid", "localhost:8443", "tid").AppendKey(nil, cache.KindOBOSession, testHash, nil))
	got, err := s.GetSession(ctx, key)
	want := cache.Session{RefreshToken: "go-rt", HomeAccountID: "u.t", Username: "ann@t", ObjectID: "u", TenantID: "t"}
	if err != nil || got == nil || *got != want {
		t.Fatalf("GetSession = %v %+v, %v; want the home tenant's account", got, got, err)
	}
	keys, _ := s.Keys(ctx)
	if len(keys) != 1 {
		t.Errorf("Keys = %q, want only the OBO session", keys)
	}
	bare := string(cache.MakePrefix("cid", "localhost", "tid").AppendKey(nil, cache.KindOBOSession, testHash, nil))
	if err := s.Delete(ctx, bare); err != nil {
		t.Fatal(err)
	}
	top := readJSON(t, path)
	if rts := top["RefreshToken"].(map[string]any); len(rts) != 1 || rts["u.t-localhost-refreshtoken-cid--api://x"] == nil {
		t.Errorf("after Delete: RefreshToken entries %v, want only the user's own", keysOf(rts))
	}
	if n := len(top["Account"].(map[string]any)); n != 2 {
		t.Errorf("after Delete: %d Account entries, want the user's 2 kept for their own refresh token", n)
	}
}

// TestSessionEncrypted: with a key, the refresh token is not in the file's
// bytes, and a reopened store with the key reads the session back.
func TestSessionEncrypted(t *testing.T) {
	key, _ := seal.ParseKey(seal.NewKey())
	path := filepath.Join(t.TempDir(), "c.bin")
	skey := storetest.SessionKeys()[0]
	v := storetest.NewSession()
	if err := open(t, path, filestore.Options{Key: key}).PutSession(context.Background(), skey, v); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte(v.RefreshToken)) || bytes.Contains(data, []byte(v.Username)) {
		t.Fatal("the encrypted file holds the refresh token or the username in clear")
	}
	got, err := open(t, path, filestore.Options{Key: key}).GetSession(context.Background(), skey)
	if err != nil || got == nil || *got != *v {
		t.Fatalf("GetSession after reopen: %v, %v", got, err)
	}
	if _, err := filestore.Open(path, filestore.Options{}); err == nil {
		t.Error("the encrypted file opened with no key")
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
