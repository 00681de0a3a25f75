package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts/directory"
)

// appcred token --on-behalf-of-env: a middle tier's token for a downstream
// API on the user's behalf; the second run comes from the token cache.
func TestTokenOnBehalfOf(t *testing.T) {
	tenant := seed.TenantID
	add := func(app directory.App) string {
		got, err := auth.AddApp(tenant, app)
		if err != nil {
			t.Fatal(err)
		}
		return got.ClientID
	}
	add(directory.App{DisplayName: "cli-orders", IdentifierURIs: []string{"api://cli-orders"}, Scopes: []string{"Orders.Read"},
		AccessTokenVersion: 2})
	mid := add(directory.App{DisplayName: "cli-mid", IdentifierURIs: []string{"api://cli-mid"}, Scopes: []string{"access_as_user"},
		AccessTokenVersion: 2, DelegatedPermissions: map[string][]string{"api://cli-orders": {"Orders.Read"}}})
	spa := add(directory.App{DisplayName: "cli-spa", PublicClient: true,
		DelegatedPermissions: map[string][]string{"api://cli-mid": {"access_as_user"}}})
	sec, err := auth.AddSecret(tenant, mid)
	if err != nil {
		t.Fatal(err)
	}
	const upn, pw = "obo-cli@contoso.test", "obo-cli-password-77"
	u, err := auth.AddUser(tenant, directory.User{UPN: upn, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := auth.HTTPClient().PostForm(auth.TokenEndpoint(tenant), url.Values{"grant_type": {"password"},
		"client_id": {spa}, "username": {upn}, "password": {pw}, "scope": {"api://cli-mid/access_as_user"}})
	if err != nil {
		t.Fatal(err)
	}
	var ut struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ut)
	_ = resp.Body.Close()
	if err != nil || ut.AccessToken == "" {
		t.Fatalf("user token: %v", err)
	}
	cacheDir := t.TempDir()
	env := []string{"MID_SECRET=" + sec.Value, "USER_TOKEN=" + ut.AccessToken, "XDG_CACHE_HOME=" + cacheDir}
	args := []string{"token", "--authority", auth.TenantURL(tenant), "--client-id", mid, "--secret-env", "MID_SECRET",
		"--on-behalf-of-env", "USER_TOKEN", "--scope", "api://cli-orders/Orders.Read", "--ca-file", auth.CAFile(), "-o", "raw"}
	first := mustRun(t, env, "", args...)
	claims, err := auth.VerifyToken(strings.TrimSpace(first.stdout))
	if err != nil {
		t.Fatalf("downstream token: %v", err)
	}
	if claims["oid"] != u.ObjectID || claims["scp"] != "Orders.Read" || claims["azp"] != mid {
		t.Fatalf("claims %v", claims)
	}
	if second := mustRun(t, env, "", args...); second.stdout != first.stdout {
		t.Fatal("the second run did not come from the token cache")
	}
	if strings.Contains(first.stderr, ut.AccessToken) {
		t.Fatal("the user's token was printed")
	}
	mustFail(t, []string{"MID_SECRET=" + sec.Value}, append(args[:len(args):len(args)], "--on-behalf-of-env", "NO_SUCH_VAR"),
		"--on-behalf-of-env", "NO_SUCH_VAR")
}
