package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// TestUserTokenClaimsMFA: app add --require-mfa makes user-token for the API
// fail with AADSTS50079 and name the claims to send; user-token --claims
// with them signs the user in with (simulated) MFA.
func TestUserTokenClaimsMFA(t *testing.T) {
	state := t.TempDir()
	a, err := sts.Start(context.Background(), sts.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var api, cli struct {
		ClientID   string `json:"client_id"`
		RequireMFA bool   `json:"require_mfa"`
	}
	runAuthority(t, &api, "app", "add", "--state", state, "--name", "payroll", "--identifier-uri", "api://payroll",
		"--scope", "Payroll.Read", "--require-mfa")
	if !api.RequireMFA {
		t.Fatal("app add --require-mfa: the app does not show require_mfa")
	}
	runAuthority(t, &cli, "app", "add", "--state", state, "--name", "cli", "--public-client")
	runAuthority(t, nil, "consent", "--state", state, "--app", cli.ClientID, "--api", "api://payroll", "--scope", "Payroll.Read")
	t.Setenv("ALICE_PW", "cli-mfa-password-77a1")
	runAuthority(t, nil, "user", "add", "--state", state, "--upn", "alice@contoso.test", "--password-env", "ALICE_PW")
	userToken := func(extra ...string) (string, error) {
		cmd := newAuthorityCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"user-token", "--state", state, "--authority", a.URL(), "--tenant", a.Seed().TenantID,
			"--user", "alice@contoso.test", "--client-id", cli.ClientID, "--scope", "api://payroll/Payroll.Read",
			"--password-env", "ALICE_PW"}, extra...))
		err := cmd.Execute()
		return strings.TrimSpace(out.String()), err
	}
	var err1 error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err1 = userToken(); err1 != nil && strings.Contains(err1.Error(), "AADSTS50079") {
			break // the running authority rereads directory.json at most every 100 ms
		}
	}
	if err1 == nil || !strings.Contains(err1.Error(), "AADSTS50079") {
		t.Fatalf("user-token for an API with require_mfa: %v, want AADSTS50079", err1)
	}
	m := regexp.MustCompile(`--claims '([^']+)'`).FindStringSubmatch(err1.Error())
	if m == nil || !strings.Contains(m[1], `"polids"`) {
		t.Fatalf("the error does not name the claims to send: %v", err1)
	}
	tok, err := userToken("--claims", m[1])
	if err != nil {
		t.Fatalf("user-token --claims: %v", err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Amr []string `json:"amr"`
		Scp string   `json:"scp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || strings.Join(c.Amr, " ") != "pwd mfa" || c.Scp != "Payroll.Read" {
		t.Fatalf("token claims %s (%v)", payload, err)
	}
	if _, err := userToken("--claims", "{not json"); err == nil || !strings.Contains(err.Error(), "--claims") {
		t.Fatalf("user-token with bad --claims JSON: %v", err)
	}
}
