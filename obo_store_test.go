package appcred

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/appcred/appcred/sts"
)

// TestOnBehalfOfPersistsInFile: an on-behalf-of token one Client wrote to a
// cache file (an MSAL AccessToken entry with user_assertion_hash) is served
// to another Client on the same file, as a new process would be, for the
// same user assertion with no token request; another user's assertion is
// not served from it.
func TestOnBehalfOfPersistsInFile(t *testing.T) {
	f := newOBOFixture(t, 2, sts.Options{})
	path := filepath.Join(t.TempDir(), "tokens.json")
	client := func() (*Client, *countingTransport) {
		ct := newCounting(f.a)
		c, err := New(f.a.TenantURL(f.tenant), f.mid, FromSecret(f.midSecret),
			WithTransport(ct), WithInstanceDiscovery(false), WithCacheStore(openFile(t, path)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, ct
	}
	ctx := context.Background()
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	user0, user1 := f.userToken(t, f.users[0]), f.userToken(t, f.users[1])

	writer, wct := client()
	tok, err := writer.AcquireTokenOnBehalfOf(ctx, user0, scope)
	if err != nil || wct.posts.Load() != 1 {
		t.Fatalf("writer: %v, %d token requests (want 1)", err, wct.posts.Load())
	}
	checkOBOEntry(t, path, AssertionHash(user0), tok.AccessToken)

	reader, rct := client()
	got, err := reader.AcquireTokenOnBehalfOf(ctx, user0, scope)
	if err != nil || rct.posts.Load() != 0 || got.AccessToken != tok.AccessToken {
		t.Fatalf("second client, same user: %v, %d token requests, same token %t; want the file's token with no request",
			err, rct.posts.Load(), got.AccessToken == tok.AccessToken)
	}
	other, err := reader.AcquireTokenOnBehalfOf(ctx, user1, scope)
	if err != nil || rct.posts.Load() != 1 || other.AccessToken == tok.AccessToken {
		t.Fatalf("second client, other user: %v, %d token requests, same token %t; want a new token from 1 request",
			err, rct.posts.Load(), other.AccessToken == tok.AccessToken)
	}
}

// checkOBOEntry checks that the cache file at path holds secret in an MSAL
// AccessToken entry partitioned by the user assertion hash.
func checkOBOEntry(t *testing.T, path, hash, secret string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessToken map[string]struct {
			Secret            string `json:"secret"`
			UserAssertionHash string `json:"user_assertion_hash"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("cache file: %v", err)
	}
	for _, e := range doc.AccessToken {
		if e.Secret == secret {
			if e.UserAssertionHash != hash {
				t.Fatalf("the OBO token's entry has user_assertion_hash %q, want the assertion's hash %q", e.UserAssertionHash, hash)
			}
			return
		}
	}
	t.Fatalf("the OBO token is not in the cache file (%d AccessToken entries)", len(doc.AccessToken))
}
