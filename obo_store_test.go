package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
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

// grantLog records the grant of each token request (and whether it carried
// a user assertion) on its way to the authority.
type grantLog struct {
	next   http.RoundTripper
	mu     sync.Mutex
	grants []string
}

func (g *grantLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.GetBody != nil {
		if body, err := r.GetBody(); err == nil {
			b, _ := io.ReadAll(body)
			form, _ := url.ParseQuery(string(b))
			grant := form.Get("grant_type")
			if form.Has("assertion") {
				grant += "+assertion"
			}
			g.mu.Lock()
			g.grants = append(g.grants, grant)
			g.mu.Unlock()
		}
	}
	return g.next.RoundTrip(r)
}

func (g *grantLog) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.grants
	g.grants = nil
	return out
}

// fileClient is a middle tier on the cache file at path, as one process
// would be.
func (f *oboFixture) fileClient(t *testing.T, path string, extra ...Option) (*Client, *grantLog) {
	t.Helper()
	g := &grantLog{next: newCounting(f.a)}
	c, err := New(f.a.TenantURL(f.tenant), f.mid, FromSecret(f.midSecret), append([]Option{
		WithTransport(g), WithInstanceDiscovery(false), WithCacheStore(openFile(t, path))}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, g
}

// sessionEntries returns the secrets of the file's RefreshToken entries
// partitioned by hash, and how many Account entries name home.
func sessionEntries(t *testing.T, path, hash, home string) (rts []string, accounts int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RefreshToken map[string]struct {
			Secret            string `json:"secret"`
			UserAssertionHash string `json:"user_assertion_hash"`
			CredentialType    string `json:"credential_type"`
		}
		Account map[string]struct {
			HomeAccountID string `json:"home_account_id"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("cache file: %v", err)
	}
	for _, e := range doc.RefreshToken {
		if e.UserAssertionHash == hash && e.CredentialType == "RefreshToken" && !slices.Contains(rts, e.Secret) {
			rts = append(rts, e.Secret)
		}
	}
	for _, a := range doc.Account {
		if a.HomeAccountID == home {
			accounts++
		}
	}
	return rts, accounts
}

// dropFileTokens deletes every access token from the cache file at path,
// leaving its sessions, so the next call must make a request.
func dropFileTokens(t *testing.T, path string) {
	t.Helper()
	st := openFile(t, path)
	keys, err := st.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if p, err := cache.ParseKey(k); err == nil && p.Kind == cache.KindOBO {
			if err := st.Delete(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// refreshOf returns the refresh token c holds for session key.
func refreshOf(t *testing.T, c *Client, key string) string {
	t.Helper()
	ss := c.obo.findKey(key)
	if ss == nil {
		t.Fatal("no session for the key")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.refresh
}

// TestLongRunningOnBehalfOfResumesFromFile: a long-running session started
// in one process continues in a new one on the same cache file with the
// session key alone: a cached token from the file with no request, and a
// token for other scopes from the persisted refresh token with one request
// and no user assertion. The rotated refresh token replaces the old one in
// the file, and the first process, whose refresh token is now spent, picks
// up the rotated one from the file.
func TestLongRunningOnBehalfOfResumesFromFile(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	path := filepath.Join(t.TempDir(), "tokens.json")
	ctx := context.Background()
	read, all := []string{f.downstreamAPI + "/Orders.Read"}, []string{f.downstreamAPI + "/.default"}
	first, firstGrants := f.fileClient(t, path)
	tok, key, err := first.InitiateLongRunningOnBehalfOf(ctx, f.userToken(t, f.users[0]), read)
	if err != nil {
		t.Fatal(err)
	}
	rt := refreshOf(t, first, key)
	if got, accts := sessionEntries(t, path, key, tok.Account.HomeAccountID); len(got) != 1 || got[0] != rt || accts == 0 {
		t.Fatalf("the file holds %d refresh token(s) for the session (the client's: %t) and %d account entries; "+
			"want the client's and the account", len(got), slices.Contains(got, rt), accts)
	}

	second, g := f.fileClient(t, path)
	cached, err := second.AcquireTokenInLongRunningOnBehalfOf(ctx, key, read)
	if err != nil || cached.AccessToken != tok.AccessToken || len(g.take()) != 0 {
		t.Fatalf("new process, same scopes: %v, same token %t; want the file's token with no request", err, cached.AccessToken == tok.AccessToken)
	}
	next, err := second.AcquireTokenInLongRunningOnBehalfOf(ctx, key, all)
	if grants := g.take(); err != nil || !slices.Equal(grants, []string{"refresh_token"}) {
		t.Fatalf("new process, other scopes: %v, requests %q; want one refresh_token request with no assertion", err, grants)
	}
	if next.Account == nil || *next.Account != *tok.Account {
		t.Errorf("resumed session's account %+v, want %+v", next.Account, tok.Account)
	}
	rotated := refreshOf(t, second, key)
	if got, _ := sessionEntries(t, path, key, ""); rotated == rt || len(got) != 1 || got[0] != rotated {
		t.Fatalf("after rotation the file holds %d refresh token(s) (the old one: %t, the new one: %t)",
			len(got), slices.Contains(got, rt), slices.Contains(got, rotated))
	}

	first.cache.RemoveFunc(ctx, func(string) bool { return true })
	dropFileTokens(t, path)
	firstGrants.take()
	_, err = first.AcquireTokenInLongRunningOnBehalfOf(ctx, key, all)
	if grants := firstGrants.take(); err != nil || !slices.Equal(grants, []string{"refresh_token", "refresh_token"}) {
		t.Fatalf("the first process, whose refresh token the second rotated: %v, requests %q; want its own refresh "+
			"token refused, then the rotated one from the file", err, grants)
	}
}

// TestOnBehalfOfRestartAfterUserTokenExpired: after the user's token has
// expired, a new process on the same file still serves the user, on the
// persisted refresh token (a process without the file cannot), by the
// assertion or by the session key.
func TestOnBehalfOfRestartAfterUserTokenExpired(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{TokenLifetime: 2 * time.Second})
	path := filepath.Join(t.TempDir(), "tokens.json")
	ctx := context.Background()
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	user := f.userToken(t, f.users[0])
	first, _ := f.fileClient(t, path)
	if _, err := first.AcquireTokenOnBehalfOf(ctx, user, scope); err != nil {
		t.Fatal(err)
	}
	exp, err := userAssertionExpiry(user)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(exp) + 1100*time.Millisecond) // the user's token and the cached one have expired

	if _, err := f.midClient(t).AcquireTokenOnBehalfOf(ctx, user, scope); !errors.Is(err, ErrUserTokenRequired) {
		t.Fatalf("a process without the file, expired user token: %v, want ErrUserTokenRequired", err)
	}
	second, g := f.fileClient(t, path)
	tok, err := second.AcquireTokenOnBehalfOf(ctx, user, scope)
	if grants := g.take(); err != nil || !slices.Equal(grants, []string{"refresh_token"}) || tok.Account == nil {
		t.Fatalf("new process, expired user token: %v, requests %q, account %v; want one refresh_token request", err, grants, tok.Account)
	}
	third, g := f.fileClient(t, path)
	third.cache.RemoveFunc(ctx, func(string) bool { return true })
	time.Sleep(time.Until(tok.ExpiresOn) + 100*time.Millisecond)
	if _, err := third.AcquireTokenInLongRunningOnBehalfOf(ctx, AssertionHash(user), scope); err != nil {
		t.Fatalf("another process by session key: %v (requests %q)", err, g.take())
	}
}

// TestOnBehalfOfRefusedRefreshTokenLeavesFile: a persisted refresh token the
// authority refuses (spent elsewhere) is deleted from the file, and the
// session asks for a fresh user token.
func TestOnBehalfOfRefusedRefreshTokenLeavesFile(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	path := filepath.Join(t.TempDir(), "tokens.json")
	ctx := context.Background()
	first, _ := f.fileClient(t, path)
	_, key, err := first.InitiateLongRunningOnBehalfOf(ctx, f.userToken(t, f.users[0]), []string{f.downstreamAPI + "/Orders.Read"})
	if err != nil {
		t.Fatal(err)
	}
	spent := refreshOf(t, first, key)
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {f.mid}, "client_secret": {f.midSecret},
		"refresh_token": {spent}, "scope": {f.downstreamAPI + "/.default offline_access"}}
	resp, err := f.a.HTTPClient().PostForm(f.a.TokenEndpoint(f.tenant), form)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("spending the refresh token elsewhere: %v %v", resp, err)
	}
	_ = resp.Body.Close()

	var logs logBuffer
	second, g := f.fileClient(t, path, WithLogger(logs.logger()))
	_, err = second.AcquireTokenInLongRunningOnBehalfOf(ctx, key, []string{f.downstreamAPI + "/.default"})
	if grants := g.take(); !errors.Is(err, ErrUserTokenRequired) || len(grants) != 1 {
		t.Fatalf("spent refresh token: %v after requests %q; want ErrUserTokenRequired after one request", err, grants)
	}
	if strings.Contains(err.Error(), spent) || strings.Contains(logs.String(), spent) {
		t.Fatalf("the refused refresh token is in the error or the debug log (%d bytes)", len(logs.String()))
	}
	if got, _ := sessionEntries(t, path, key, ""); len(got) != 0 {
		t.Fatalf("the refused refresh token is still in the file (%d entries)", len(got))
	}
}

// TestRemoveAccountReachesFile: RemoveAccount in a new process, which has
// none of the user's sessions in memory, removes the user's persisted
// sessions (refresh tokens, account) and on-behalf-of tokens from the file,
// and leaves another user's alone.
func TestRemoveAccountReachesFile(t *testing.T) {
	f := newOBOFixture(t, 2, sts.Options{})
	path := filepath.Join(t.TempDir(), "tokens.json")
	ctx := context.Background()
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	first, _ := f.fileClient(t, path)
	user0, user1 := f.userToken(t, f.users[0]), f.userToken(t, f.users[1])
	tok0, key0, err := first.InitiateLongRunningOnBehalfOf(ctx, user0, scope)
	if err != nil {
		t.Fatal(err)
	}
	tok1, key1, err := first.InitiateLongRunningOnBehalfOf(ctx, user1, scope)
	if err != nil {
		t.Fatal(err)
	}
	home0 := tok0.Account.HomeAccountID

	second, _ := f.fileClient(t, path)
	if err := second.RemoveAccount(ctx, home0); err != nil {
		t.Fatal(err)
	}
	if rts, accts := sessionEntries(t, path, key0, home0); len(rts) != 0 || accts != 0 {
		t.Errorf("after RemoveAccount the file holds %d refresh token(s) and %d account(s) of the user", len(rts), accts)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), tok0.AccessToken) || strings.Contains(string(data), key0) {
		t.Error("after RemoveAccount the file still holds the user's access token or partition")
	}
	checkOBOEntry(t, path, key1, tok1.AccessToken)
	if rts, _ := sessionEntries(t, path, key1, ""); len(rts) != 1 {
		t.Errorf("the other user's session: %d refresh token(s) in the file, want 1", len(rts))
	}
	third, g := f.fileClient(t, path)
	if _, err := third.AcquireTokenInLongRunningOnBehalfOf(ctx, key0, scope); !errors.Is(err, ErrUserTokenRequired) || len(g.take()) != 0 {
		t.Fatalf("removed user's session key in a new process: %v, want ErrUserTokenRequired with no request", err)
	}
	if _, err := third.AcquireTokenInLongRunningOnBehalfOf(ctx, key1, scope); err != nil {
		t.Fatalf("the other user's session: %v", err)
	}
}
