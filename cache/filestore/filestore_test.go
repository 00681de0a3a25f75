package filestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/storetest"
	"github.com/appcred/appcred/internal/seal"
)

func open(t *testing.T, path string, opts filestore.Options) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// editJSON rewrites the store's file through edit, as another program would.
func editJSON(t *testing.T, s cache.Store, edit func(top map[string]any)) {
	t.Helper()
	path := s.(*filestore.Store).Path()
	top := readJSON(t, path)
	edit(top)
	data, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("cache file is not JSON: %v", err)
	}
	return top
}

// entryFor returns the AccessToken entry holding key's token.
func entryFor(t *testing.T, top map[string]any, key string) map[string]any {
	t.Helper()
	p, err := cache.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ats, _ := top["AccessToken"].(map[string]any)
	for _, v := range ats {
		e, _ := v.(map[string]any)
		if e["client_id"] == p.ClientID && e["environment"] == p.Host && (e["appcred_key"] == nil || e["appcred_key"] == key) {
			return e
		}
	}
	t.Fatalf("no AccessToken entry for %q", key)
	return nil
}

var harness = storetest.Harness{
	Corrupt: func(t *testing.T, s cache.Store, _ string) {
		path := s.(*filestore.Store).Path()
		if err := os.WriteFile(path, []byte(`{"AccessToken": {"x": `), 0o600); err != nil {
			t.Fatal(err)
		}
	},
	AddUnknown: func(t *testing.T, s cache.Store, key string) {
		editJSON(t, s, func(top map[string]any) {
			entryFor(t, top, key)["x_unknown_field"] = 12345678901234567
			top["XUnknownSection"] = map[string]any{"k": "v"}
		})
	},
	HasUnknown: func(t *testing.T, s cache.Store, key string) bool {
		path := s.(*filestore.Store).Path()
		top := readJSON(t, path)
		raw, _ := os.ReadFile(path)
		return top["XUnknownSection"] != nil && entryFor(t, top, key)["x_unknown_field"] != nil &&
			bytes.Contains(raw, []byte("12345678901234567"))
	},
	Reopen: func(t *testing.T, s cache.Store) cache.Store {
		return open(t, s.(*filestore.Store).Path(), filestore.Options{})
	},
}

func TestConformance(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T) cache.Store {
		return open(t, filepath.Join(t.TempDir(), "msal.cache.json"), filestore.Options{})
	}, harness)
}

func TestConformanceEncrypted(t *testing.T) {
	key, _ := seal.ParseKey(seal.NewKey())
	h := harness
	h.AddUnknown, h.HasUnknown = nil, nil // the encrypted file is opaque to other programs
	h.Reopen = func(t *testing.T, s cache.Store) cache.Store {
		return open(t, s.(*filestore.Store).Path(), filestore.Options{Key: key})
	}
	storetest.RunWith(t, func(t *testing.T) cache.Store {
		return open(t, filepath.Join(t.TempDir(), "c.bin"), filestore.Options{Key: key})
	}, h)
}

// TestSchema checks the entry MSAL reads: lower-case key, epoch-second
// strings, null home_account_id, both environments for a host with a port,
// AppMetadata, the empty sections, and mode 0600.
func TestSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	s := open(t, path, filestore.Options{})
	key := string(cache.AppendKey(nil, cache.KeyParts{ClientID: "CID", Host: "LocalHost:8443", Tenant: "TID",
		Scopes: []string{"api://Res/.default"}}))
	tok := storetest.NewToken(32, time.Hour)
	if err := s.Put(context.Background(), key, tok); err != nil {
		t.Fatal(err)
	}
	top := readJSON(t, path)
	for _, sec := range []string{"AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"} {
		if _, ok := top[sec].(map[string]any); !ok {
			t.Errorf("section %s missing or not an object", sec)
		}
	}
	ats := top["AccessToken"].(map[string]any)
	for _, env := range []string{"localhost:8443", "localhost"} {
		name := "-" + env + "-accesstoken-cid-tid-api://res/.default"
		e, ok := ats[name].(map[string]any)
		if env == "localhost" { // the alias carries the exact key, under a suffixed name
			for n, v := range ats {
				if strings.HasPrefix(n, name+"-appcred-") {
					e, ok = v.(map[string]any), true
				}
			}
		}
		if !ok {
			t.Fatalf("no entry for environment %s in %v", env, ats)
		}
		want := map[string]any{"credential_type": "AccessToken", "secret": tok.AccessToken, "home_account_id": nil,
			"environment": env, "client_id": "cid", "realm": "tid", "target": "api://res/.default", "token_type": "Bearer",
			"expires_on": jsonEpoch(tok.ExpiresOn), "refresh_on": jsonEpoch(tok.RefreshOn)}
		for k, v := range want {
			if got, has := e[k]; !has || got != v {
				t.Errorf("%s: field %s = %v, want %v", env, k, got, v)
			}
		}
		if _, err := jsonNumber(e["cached_at"]); err != nil {
			t.Errorf("%s: cached_at %v: %v", env, e["cached_at"], err)
		}
	}
	if m := top["AppMetadata"].(map[string]any); m["appmetadata-localhost-cid"] == nil || m["appmetadata-localhost:8443-cid"] == nil {
		t.Errorf("AppMetadata = %v, want entries for both environments", m)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", fi.Mode().Perm())
	}
}

func jsonEpoch(t time.Time) string { return time.Unix(t.Unix(), 0).Format("") + itoa(t.Unix()) }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func jsonNumber(v any) (json.Number, error) {
	s, _ := v.(string)
	n := json.Number(s)
	_, err := n.Int64()
	return n, err
}

// TestReadsForeignEntries reads entries MSAL Python and MSAL Go write (by
// field, not by name; numbers or strings for times; the bare host for a key
// with a port) and ignores a user's token and a PoP token.
func TestReadsForeignEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	exp := time.Now().Add(time.Hour).Unix()
	file := `{"AccessToken": {
	  "-localhost-accesstoken-cid-tid-api://r/.default": {"credential_type": "AccessToken", "secret": "py-token",
	    "home_account_id": null, "environment": "localhost", "client_id": "cid", "target": "api://r/.default",
	    "realm": "tid", "token_type": "Bearer", "cached_at": "1", "expires_on": "` + itoa(exp) + `"},
	  "-go:8443-accesstoken-cid-tid-api://r/.default": {"credential_type": "AccessToken", "secret": "go-token",
	    "environment": "go:8443", "client_id": "cid", "target": "API://r/.default", "realm": "tid",
	    "expires_on": ` + itoa(exp) + `},
	  "uid.utid-localhost-accesstoken-cid-tid-api://user/.default": {"credential_type": "AccessToken", "secret": "user",
	    "home_account_id": "uid.utid", "environment": "localhost", "client_id": "cid", "target": "api://user/.default",
	    "realm": "tid", "expires_on": "` + itoa(exp) + `"},
	  "-localhost-accesstoken-cid-tid-api://pop/.default-pop": {"credential_type": "AccessToken", "secret": "pop",
	    "environment": "localhost", "client_id": "cid", "target": "api://pop/.default", "realm": "tid",
	    "token_type": "pop", "expires_on": "` + itoa(exp) + `"}},
	"RefreshToken": {"rt": {"secret": "keep"}}}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, filestore.Options{})
	key := func(host, scope string) string {
		return string(cache.AppendKey(nil, cache.KeyParts{ClientID: "cid", Host: host, Tenant: "tid", Scopes: []string{scope}}))
	}
	for _, c := range []struct{ key, want string }{
		{key("localhost", "api://r/.default"), "py-token"},
		{key("localhost:9999", "api://r/.default"), "py-token"},
		{key("go:8443", "api://r/.default"), "go-token"},
		{key("localhost", "api://user/.default"), ""},
		{key("localhost", "api://pop/.default"), ""},
	} {
		got, err := s.Get(context.Background(), c.key)
		if err != nil {
			t.Fatalf("Get(%q): %v", c.key, err)
		}
		if (got == nil) != (c.want == "") || got != nil && got.AccessToken != c.want {
			t.Errorf("Get(%q) = %v, want %q", c.key, got, c.want)
		}
	}
}

// TestDamagedFileMovedAside checks that a file that does not parse is
// answered as empty with one warning, then moved aside and rebuilt by the
// next write.
func TestDamagedFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := open(t, path, filestore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	key := storetest.Keys()[0]
	if got, err := s.Get(context.Background(), key); got != nil || err != nil {
		t.Fatalf("Get on a damaged file = %v, %v; want a miss", got, err)
	}
	if err := s.Put(context.Background(), key, storetest.NewToken(32, time.Hour)); err != nil {
		t.Fatalf("Put over a damaged file: %v", err)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file not moved aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "{not json" {
		t.Errorf("moved-aside file holds %q", b)
	}
	if !strings.Contains(logs.String(), "damaged") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	readJSON(t, path)
}

// TestEncryptionKeyErrors checks that an encrypted file is refused, with an
// error naming the cause, without a key and with a wrong key, and that the
// file is then left alone.
func TestEncryptionKeyErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.bin")
	key, _ := seal.ParseKey(seal.NewKey())
	other, _ := seal.ParseKey(seal.NewKey())
	tok := storetest.NewToken(32, time.Hour)
	s := open(t, path, filestore.Options{Key: key})
	if err := s.Put(context.Background(), storetest.Keys()[0], tok); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(tok.AccessToken)) || !seal.IsSealed(raw) {
		t.Fatal("encrypted file holds the token in clear or is not sealed")
	}
	for name, c := range map[string]struct {
		key  []byte
		want error
	}{"no key": {nil, seal.ErrNoKey}, "wrong key": {other, seal.ErrWrongKey}} {
		_, err := filestore.Open(path, filestore.Options{Key: c.key})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Open error %v, want %v naming the file", name, err, c.want)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, raw) {
		t.Error("the encrypted file changed")
	}
}
