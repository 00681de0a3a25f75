package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/sts/directory"
)

// oboUsers is how many users' partitions are cached before the hits are timed.
const oboUsers = 10000

// oboFixture holds a middle tier registered for on-behalf-of and oboUsers
// users' access tokens for it, obtained with the password grant.
type oboFixture struct {
	mid, secret, scope string
	assertions         []string
}

var (
	oboOnce sync.Once
	oboFix  *oboFixture
	oboErr  error
)

func getOBO(tb testing.TB, e *env) *oboFixture {
	tb.Helper()
	oboOnce.Do(func() { oboFix, oboErr = newOBOFixture(e) })
	if oboErr != nil {
		tb.Fatal(oboErr)
	}
	return oboFix
}

func newOBOFixture(e *env) (*oboFixture, error) {
	t := e.seed.TenantID
	if _, err := e.a.AddApp(t, directory.App{DisplayName: "obo-down", IdentifierURIs: []string{"api://obo-down"},
		Scopes: []string{"Read"}, AccessTokenVersion: 2}); err != nil {
		return nil, err
	}
	mid, err := e.a.AddApp(t, directory.App{DisplayName: "obo-mid", IdentifierURIs: []string{"api://obo-mid"},
		Scopes: []string{"access_as_user"}, AccessTokenVersion: 2,
		DelegatedPermissions: map[string][]string{"api://obo-down": {"Read"}}})
	if err != nil {
		return nil, err
	}
	spa, err := e.a.AddApp(t, directory.App{DisplayName: "obo-spa", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://obo-mid": {"access_as_user"}}})
	if err != nil {
		return nil, err
	}
	sec, err := e.a.AddSecret(t, mid.ClientID)
	if err != nil {
		return nil, err
	}
	if _, err := e.a.AddUser(t, directory.User{UPN: "bench@contoso.test", Password: "bench-user-password"}); err != nil {
		return nil, err
	}
	f := &oboFixture{mid: mid.ClientID, secret: sec.Value, scope: "api://obo-down/Read", assertions: make([]string, oboUsers)}
	// Every password grant gives a distinct token (own uti and iat), so one
	// user stands in for oboUsers users: each assertion is its own partition.
	hc := e.a.HTTPClient()
	form := url.Values{"grant_type": {"password"}, "client_id": {spa.ClientID}, "username": {"bench@contoso.test"},
		"password": {"bench-user-password"}, "scope": {"api://obo-mid/access_as_user"}}
	for i := range f.assertions {
		resp, err := hc.PostForm(e.a.TokenEndpoint(t), form)
		if err != nil {
			return nil, err
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil || body.AccessToken == "" {
			return nil, fmt.Errorf("user token %d: %v", i, err)
		}
		f.assertions[i] = body.AccessToken
	}
	return f, nil
}

// BenchmarkOnBehalfOfHit: a cached on-behalf-of token with oboUsers users'
// partitions cached, appcred beside MSAL Go (target: ≤ 150 ns, 0 allocs).
func BenchmarkOnBehalfOfHit(b *testing.B) {
	e := getEnv(b)
	f := getOBO(b, e)
	scopes := []string{f.scope}
	ctx := context.Background()

	b.Run("appcred", func(b *testing.B) {
		c, err := appcred.New(e.a.TenantURL(e.seed.TenantID), f.mid, appcred.FromSecret(f.secret),
			appcred.WithHTTPClient(e.a.HTTPClient()), appcred.WithInstanceDiscovery(false))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for _, a := range f.assertions {
			if _, err := c.AcquireTokenOnBehalfOf(ctx, a, scopes); err != nil {
				b.Fatal(err)
			}
		}
		user := f.assertions[len(f.assertions)/2]
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if t, err := c.AcquireTokenOnBehalfOf(ctx, user, scopes); err != nil || !t.FromCache {
				b.Fatal("miss", err)
			}
		}
	})
	b.Run("msalgo", func(b *testing.B) {
		cred, err := confidential.NewCredFromSecret(f.secret)
		if err != nil {
			b.Fatal(err)
		}
		c, err := confidential.New(e.a.TenantURL(e.seed.TenantID), f.mid, cred,
			confidential.WithHTTPClient(e.a.HTTPClient()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range f.assertions {
			if _, err := c.AcquireTokenOnBehalfOf(ctx, a, scopes); err != nil {
				b.Fatal(err)
			}
		}
		user := f.assertions[len(f.assertions)/2]
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r, err := c.AcquireTokenOnBehalfOf(ctx, user, scopes)
			if err != nil || r.Metadata.TokenSource != 1 { // base.TokenSourceCache
				b.Fatal("miss", err, r.Metadata.TokenSource)
			}
		}
	})
}
