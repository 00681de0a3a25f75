package appcred

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// leakFaults runs a background refresh that the authority refuses and token
// requests through the authority's 503, 429 and reset faults with a retry.
func leakFaults(e *leakEnv) {
	leakBackgroundRefresh(e)
	leakChaos(e)
}

// leakBackgroundRefresh gets a token for an app, removes the app's secret,
// moves the client's clock past the token's refresh time and serves it until
// the cache logs its failed background refresh.
func leakBackgroundRefresh(e *leakEnv) {
	t, a, ctx := e.t, e.f.a, context.Background()
	app, err := a.AddApp(e.f.tenant, directory.App{DisplayName: "leak-refresh"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := a.AddSecret(e.f.tenant, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	e.run.secret("refreshing app's client secret", sec.Value)
	var ahead atomic.Int64
	clock := Option(func(c *config) error {
		c.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		return nil
	})
	c := e.newClient(app.ClientID, FromSecret(sec.Value), clock)
	scopes := []string{a.Seed().Scope}
	_, err = c.AcquireTokenForClient(ctx, scopes)
	e.want("token before the refresh", err)
	if _, err := a.RemoveSecret(e.f.tenant, app.ClientID, sec.ID, ""); err != nil {
		t.Fatal(err)
	}
	// Due 5 minutes before expiry (a 1-hour token), served until 30 s before it.
	ahead.Store(int64(56 * time.Minute))
	for deadline := time.Now().Add(hangGuard); !strings.Contains(e.clientLog.String(), "background refresh failed"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh failure was logged")
		}
		_, err := c.AcquireTokenForClient(ctx, scopes)
		e.want("token while its refresh fails", err)
	}
}

// leakChaos sends requests with a secret and with assertions, one retry
// each, while every token request fails with 503, then 429 (Retry-After 1 s),
// then a dropped connection.
func leakChaos(e *leakEnv) {
	t, a, ctx := e.t, e.f.a, context.Background()
	seed := a.Seed()
	certApp, cert := leakCertApp(t, a, e.f.tenant, e.run)
	clients := map[string]*Client{
		"secret":    e.newClient(seed.ClientID, FromSecret(seed.ClientSecret), WithMaxRetries(1)),
		"assertion": e.newClient(certApp, FromAssertion(e.run.assertions(cert)), WithMaxRetries(1)),
	}
	defer a.SetChaos(sts.Chaos{})
	for _, chaos := range []sts.Chaos{{Unavailable: 1}, {TooMany: 1}, {Reset: 1}} {
		a.SetChaos(chaos)
		for name, c := range clients {
			_, err := c.AcquireTokenForClient(ctx, []string{seed.Scope})
			e.wantFail(name+" under chaos "+chaos.String(), err)
		}
	}
	if n := strings.Count(e.clientLog.String(), "retrying request"); n < 6 {
		t.Fatalf("%d retries logged under chaos, want 6", n)
	}
}
