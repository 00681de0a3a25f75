package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// TestAuthorityUsersConsentAndUserToken: app add --scope/--public-client,
// consent, user add/list/remove and user-token against a running authority;
// the password comes from the environment and never reaches the output.
func TestAuthorityUsersConsentAndUserToken(t *testing.T) {
	state := t.TempDir()
	a, err := sts.Start(context.Background(), sts.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tid := a.Seed().TenantID
	var api, cli struct {
		ClientID string `json:"client_id"`
	}
	runAuthority(t, &api, "app", "add", "--state", state, "--name", "middle", "--identifier-uri", "api://middle",
		"--scope", "access_as_user", "--token-version", "2")
	runAuthority(t, &cli, "app", "add", "--state", state, "--name", "cli", "--public-client")
	runAuthority(t, nil, "consent", "--state", state, "--app", cli.ClientID, "--api", "api://middle", "--scope", "access_as_user")
	const pw = "cli-test-password-5c1e"
	t.Setenv("ALICE_PW", pw)
	var user struct {
		UPN      string `json:"user_principal_name"`
		ObjectID string `json:"object_id"`
	}
	runAuthority(t, &user, "user", "add", "--state", state, "--upn", "alice@contoso.test", "--name", "Alice", "--password-env", "ALICE_PW")
	var users []map[string]any
	runAuthority(t, &users, "user", "list", "--state", state)
	if len(users) != 1 || users[0]["object_id"] != user.ObjectID || users[0]["password_hash"] != nil {
		t.Fatalf("user list %v", users)
	}
	userToken := func() (string, error) {
		cmd := newAuthorityCmd()
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs([]string{"user-token", "--state", state, "--authority", a.URL(), "--tenant", tid,
			"--user", "alice@contoso.test", "--client-id", cli.ClientID, "--scope", "api://middle/access_as_user",
			"--password-env", "ALICE_PW"})
		err := cmd.Execute()
		if strings.Contains(out.String()+errOut.String(), pw) || (err != nil && strings.Contains(err.Error(), pw)) {
			t.Fatal("user-token printed the password")
		}
		return strings.TrimSpace(out.String()), err
	}
	// The running authority rereads directory.json at most every 100 ms.
	poll := func(done func(error) bool) (string, error) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			tok, err := userToken()
			if done(err) || time.Now().After(deadline) {
				return tok, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tok, err := poll(func(err error) bool { return err == nil })
	if err != nil {
		t.Fatal(err)
	}
	claims, err := a.VerifyToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims["scp"] != "access_as_user" || claims["oid"] != user.ObjectID || claims["preferred_username"] != "alice@contoso.test" || claims["aud"] != api.ClientID {
		t.Fatalf("claims %v", claims)
	}
	runAuthority(t, nil, "user", "remove", "--state", state, "alice@contoso.test")
	if _, err := poll(func(err error) bool { return err != nil }); err == nil || !strings.Contains(err.Error(), "AADSTS50126") {
		t.Fatalf("user-token after remove: %v, want AADSTS50126", err)
	}
	t.Setenv("ALICE_PW", "")
	cmd := newAuthorityCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"user", "add", "--state", state, "--upn", "bob@contoso.test", "--password-env", "ALICE_PW"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "ALICE_PW") {
		t.Fatalf("user add without a password: %v", err)
	}
}
