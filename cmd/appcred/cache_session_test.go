package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/storetest"
)

// "cache list" shows an on-behalf-of session (its refresh token) with kind
// obo-rt and no expiry, never its value; "cache purge" removes it.
func TestCacheListShowsSessions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	st, err := filestore.Open(file, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := storetest.SessionKeys()[0]
	v := storetest.NewSession()
	if err := st.PutSession(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
	p, _ := cache.ParseKey(key)
	entries := listJSON(t, nil, "--cache", file)
	if len(entries) != 1 || entries[0].Kind != "obo-rt" || entries[0].Extra != p.Extra || entries[0].ClientID != p.ClientID ||
		!entries[0].ExpiresOn.IsZero() || entries[0].Source != file {
		t.Fatalf("cache list -o json = %+v, want the session (kind obo-rt, no expiry)", entries)
	}
	text := mustRun(t, nil, "", "cache", "list", "--cache", file)
	if !strings.Contains(text.stdout, "obo-rt "+p.Extra) || strings.Contains(text.stdout+text.stderr, v.RefreshToken) {
		t.Errorf("cache list does not show the session's kind, or shows its refresh token:\n%s", text.stdout)
	}
	if r := mustRun(t, nil, "", "cache", "purge", "--cache", file); !strings.Contains(r.stdout, "removed 1 ") {
		t.Errorf("purge: %s", r)
	}
	if got, err := st.GetSession(context.Background(), key); err != nil || got != nil {
		t.Errorf("the session after purge: %v, %v", got, err)
	}
}
