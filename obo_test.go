package appcred

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// oboFixture is a middle-tier API (confidential, secret) that a public
// client calls with users' tokens, and a downstream API it calls on their
// behalf, in the real local authority.
type oboFixture struct {
	a              *sts.Authority
	tenant         string
	spa, mid       string // client ids
	midSecret      string
	users          []string // UPNs; every password is "pw-" + UPN
	counting       *countingTransport
	downstreamAPI  string
	downstreamName string
}

func newOBOFixture(t testing.TB, users int, opts sts.Options) *oboFixture {
	t.Helper()
	a := startAuthority(t, opts)
	f := &oboFixture{a: a, tenant: a.Seed().TenantID, downstreamAPI: "api://orders-obo", counting: newCounting(a)}
	add := func(app directory.App) string {
		got, err := a.AddApp(f.tenant, app)
		if err != nil {
			t.Fatal(err)
		}
		return got.ClientID
	}
	add(directory.App{DisplayName: "orders", IdentifierURIs: []string{f.downstreamAPI}, Scopes: []string{"Orders.Read", "Orders.Write"},
		AccessTokenVersion: 2})
	f.mid = add(directory.App{DisplayName: "mid", IdentifierURIs: []string{"api://mid-obo"}, Scopes: []string{"access_as_user"},
		AccessTokenVersion: 2, DelegatedPermissions: map[string][]string{f.downstreamAPI: {"Orders.Read"}}})
	f.spa = add(directory.App{DisplayName: "spa", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://mid-obo": {"access_as_user"}}})
	sec, err := a.AddSecret(f.tenant, f.mid)
	if err != nil {
		t.Fatal(err)
	}
	f.midSecret = sec.Value
	for i := range users {
		upn := fmt.Sprintf("user%d@contoso.test", i)
		if _, err := a.AddUser(f.tenant, directory.User{UPN: upn, DisplayName: fmt.Sprintf("User %d", i), Password: "pw-" + upn}); err != nil {
			t.Fatal(err)
		}
		f.users = append(f.users, upn)
	}
	return f
}

// userToken signs a user in to the middle tier with the password grant, as
// the public client would.
func (f *oboFixture) userToken(t testing.TB, upn string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {f.spa}, "username": {upn}, "password": {"pw-" + upn},
		"scope": {"api://mid-obo/access_as_user"}}
	resp, err := f.a.HTTPClient().PostForm(f.a.TokenEndpoint(f.tenant), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("password grant for %s: status %d %v %s", upn, resp.StatusCode, err, body.Error)
	}
	return body.AccessToken
}

func (f *oboFixture) midClient(t testing.TB, extra ...Option) *Client {
	t.Helper()
	opts := append([]Option{WithTransport(f.counting), WithInstanceDiscovery(false)}, extra...)
	c, err := New(f.a.TenantURL(f.tenant), f.mid, FromSecret(f.midSecret), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The whole flow: a user's token for the middle tier becomes a downstream
// token with the user's claims; the same call again comes from the cache.
func TestOnBehalfOfEndToEnd(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	c := f.midClient(t)
	user := f.userToken(t, f.users[0])
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	tok, err := c.AcquireTokenOnBehalfOf(context.Background(), user, scope)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := f.a.VerifyToken(tok.AccessToken)
	if err != nil {
		t.Fatalf("downstream token does not verify: %v", err)
	}
	userClaims := claimsOf(t, user)
	for k, want := range map[string]any{"scp": "Orders.Read", "azp": f.mid, "oid": userClaims["oid"],
		"preferred_username": f.users[0], "tid": f.tenant} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if tok.Account == nil || tok.Account.Username != f.users[0] || tok.Account.HomeAccountID != fmt.Sprint(userClaims["oid"], ".", f.tenant) {
		t.Fatalf("account %+v", tok.Account)
	}
	posts := f.counting.posts.Load()
	again, err := c.AcquireTokenOnBehalfOf(context.Background(), user, scope)
	if err != nil || !again.FromCache || again.AccessToken != tok.AccessToken || f.counting.posts.Load() != posts {
		t.Fatalf("second call: from cache %t, %d new requests, err %v", again.FromCache, f.counting.posts.Load()-posts, err)
	}
	if again.Account == nil || *again.Account != *tok.Account {
		t.Fatalf("cached account %+v", again.Account)
	}
}

// After the user's token expires, the refresh token keeps the partition
// alive; a long-running session continues with no assertion at all.
func TestOnBehalfOfRefreshAndLongRunning(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	c := f.midClient(t)
	user := f.userToken(t, f.users[0])
	tok, key, err := c.InitiateLongRunningOnBehalfOf(context.Background(), user, []string{f.downstreamAPI + "/Orders.Read"})
	if err != nil {
		t.Fatal(err)
	}
	if key != AssertionHash(user) || tok.Account == nil {
		t.Fatalf("session key %q, account %+v", key, tok.Account)
	}
	// Pretend the user's token expired: only the refresh token can help now.
	ss := c.obo.findKey(key)
	ss.mu.Lock()
	ss.expires = time.Now().Add(-time.Minute)
	rt := ss.refresh
	ss.mu.Unlock()
	if rt == "" {
		t.Fatal("no refresh token kept from the on-behalf-of response")
	}
	c.cache.RemoveFunc(context.Background(), func(string) bool { return true }) // force a new request
	posts := f.counting.posts.Load()
	next, err := c.AcquireTokenInLongRunningOnBehalfOf(context.Background(), key, []string{f.downstreamAPI + "/Orders.Read"})
	if err != nil {
		t.Fatalf("long-running session after the user's token expired: %v", err)
	}
	if f.counting.posts.Load() != posts+1 || next.AccessToken == tok.AccessToken {
		t.Fatalf("want one refresh-token request and a new token (%d requests)", f.counting.posts.Load()-posts)
	}
	ss.mu.Lock()
	rotated := ss.refresh
	ss.mu.Unlock()
	if rotated == "" || rotated == rt {
		t.Fatal("refresh token not rotated on use")
	}
	if _, err := c.AcquireTokenInLongRunningOnBehalfOf(context.Background(), "no-such-key", []string{f.downstreamAPI + "/Orders.Read"}); !errors.Is(err, ErrUserTokenRequired) {
		t.Fatalf("unknown session key: %v", err)
	}
}

// 1,000 concurrent callers for 100 users: each gets its own user's token,
// with exactly one request per user.
func TestOnBehalfOfManyUsersNeverMix(t *testing.T) {
	const users, callers = 100, 1000
	f := newOBOFixture(t, users, sts.Options{})
	c := f.midClient(t)
	assertions := make([]string, users)
	oids := make([]any, users)
	for i, upn := range f.users {
		assertions[i] = f.userToken(t, upn)
		oids[i] = claimsOf(t, assertions[i])["oid"]
	}
	before := f.counting.posts.Load()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func(u int) {
			defer wg.Done()
			tok, err := c.AcquireTokenOnBehalfOf(context.Background(), assertions[u], []string{f.downstreamAPI + "/Orders.Read"})
			if err != nil {
				errs <- err
				return
			}
			if got := claimsOf(t, tok.AccessToken)["oid"]; got != oids[u] {
				errs <- fmt.Errorf("caller for user %d got user %v's token", u, got)
			}
		}(i % users)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.counting.posts.Load() - before; n != users {
		t.Fatalf("%d token requests for %d users, want one each", n, users)
	}
}

// Bad user assertions are refused before or by the authority with errors
// that say a fresh user token is needed.
func TestOnBehalfOfBadAssertions(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	c := f.midClient(t)
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	for _, bad := range []string{"", "not-a-jwt", "a.b"} {
		if _, err := c.AcquireTokenOnBehalfOf(context.Background(), bad, scope); err == nil || !strings.Contains(err.Error(), "user assertion") {
			t.Errorf("assertion %q: %v", bad, err)
		}
	}
	appOnly, err := f.midClient(t).AcquireTokenForClient(context.Background(), []string{"api://mid-obo/.default"})
	if err == nil {
		_, err = c.AcquireTokenOnBehalfOf(context.Background(), appOnly.AccessToken, scope)
		var re *ResponseError
		if !errors.Is(err, ErrUserTokenRequired) || !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
			t.Errorf("app-only token as assertion: %v", err)
		}
	}
	_, err = c.AcquireTokenOnBehalfOf(context.Background(), f.userToken(t, f.users[0]), []string{"api://nowhere/Read"})
	if err == nil {
		t.Error("a scope on an unknown API was granted")
	}
}

// RemoveAccount drops the user's partitions: the next call asks again.
func TestOnBehalfOfRemoveAccount(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	c := f.midClient(t)
	user := f.userToken(t, f.users[0])
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	tok, err := c.AcquireTokenOnBehalfOf(context.Background(), user, scope)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveAccount(context.Background(), tok.Account.HomeAccountID); err != nil {
		t.Fatal(err)
	}
	posts := f.counting.posts.Load()
	again, err := c.AcquireTokenOnBehalfOf(context.Background(), user, scope)
	if err != nil || again.FromCache || f.counting.posts.Load() != posts+1 {
		t.Fatalf("after RemoveAccount: from cache %t, requests %d, %v", again.FromCache, f.counting.posts.Load()-posts, err)
	}
}

// OnBehalfOfCredential with a secret, a certificate and an assertion
// callback: each yields the user's downstream token, the second call cached.
func TestOnBehalfOfCredentialKinds(t *testing.T) {
	f := newOBOFixture(t, 1, sts.Options{})
	cert := registerCert(t, f.a, f.tenant, f.mid)
	user := f.userToken(t, f.users[0])
	o := &OnBehalfOfCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: f.a.URL(),
		CACertificates: f.a.CACertPEM(), DisableInstanceDiscovery: true}}
	assertion := func(context.Context) (string, error) {
		return cert.Assertion(f.mid, f.a.TokenEndpoint(f.tenant), proof.AssertionOptions{Alg: proof.PS256})
	}
	kinds := map[string]func() (*OnBehalfOfCredential, error){
		"secret": func() (*OnBehalfOfCredential, error) {
			return NewOnBehalfOfCredentialWithSecret(f.tenant, f.mid, user, f.midSecret, o)
		},
		"certificate": func() (*OnBehalfOfCredential, error) {
			return NewOnBehalfOfCredentialWithCertificate(f.tenant, f.mid, user, cert.Chain, cert.Key, o)
		},
		"assertion": func() (*OnBehalfOfCredential, error) {
			return NewOnBehalfOfCredentialWithClientAssertions(f.tenant, f.mid, user, assertion, o)
		},
	}
	oid := claimsOf(t, user)["oid"]
	for name, mk := range kinds {
		cred, err := mk()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tro := policy.TokenRequestOptions{Scopes: []string{f.downstreamAPI + "/Orders.Read"}}
		tok, err := cred.GetTokenInfo(context.Background(), tro)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		claims, err := f.a.VerifyToken(tok.AccessToken)
		if err != nil || claims["oid"] != oid || claims["scp"] != "Orders.Read" {
			t.Fatalf("%s: claims %v, %v", name, claims, err)
		}
		if again, err := cred.GetTokenInfo(context.Background(), tro); err != nil || !again.FromCache {
			t.Fatalf("%s: second call from cache %t, %v", name, again.FromCache, err)
		}
		_ = cred.Close()
	}
	if _, err := NewOnBehalfOfCredentialWithSecret(f.tenant, f.mid, "", f.midSecret, o); err == nil ||
		!strings.Contains(err.Error(), "user assertion") {
		t.Fatalf("no user assertion: %v", err)
	}
}

// BenchmarkOnBehalfOfHit is a cached on-behalf-of token with 10,000 users'
// partitions cached (target: ≤ 150 ns, 0 allocs).
func BenchmarkOnBehalfOfHit(b *testing.B) {
	const users = 10000
	f := newOBOFixture(b, 1, sts.Options{})
	c := f.midClient(b)
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	user := f.userToken(b, f.users[0])
	if _, err := c.AcquireTokenOnBehalfOf(context.Background(), user, scope); err != nil {
		b.Fatal(err)
	}
	// Fill other partitions directly in the cache (the authority would take
	// minutes to sign 10k user tokens): same key layout, other assertions.
	for i := range users - 1 {
		ss, err := c.obo.open(fakeUserAssertion(i), c.extra, c.prefix)
		if err != nil {
			b.Fatal(err)
		}
		key := string(c.prefix.AppendKey(nil, cache.KindOBO, ss.extra, scope))
		if _, err := c.cache.Put(context.Background(), key, &cache.Token{AccessToken: "x", TokenType: "Bearer",
			ExpiresOn: time.Now().Add(time.Hour)}, nil); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if t, err := c.AcquireTokenOnBehalfOf(ctx, user, scope); err != nil || !t.FromCache {
			b.Fatal("miss", err)
		}
	}
}

// fakeUserAssertion is a JWT-shaped stand-in of a typical user token's size.
func fakeUserAssertion(i int) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"oid":"%08d","exp":%d}`, i, time.Now().Add(time.Hour).Unix())))
	return "eyJhbGciOiJSUzI1NiJ9." + payload + "." + strings.Repeat("s", 342)
}
