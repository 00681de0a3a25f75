package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestServeManagedIdentityAndMultiTenantConsent: "app add --multi-tenant"
// and "consent --tenant B --app ID" provision an app in a second tenant with
// its own object id; "serve --managed-identity ID" prints IDENTITY_ENDPOINT
// (loopback http) and IDENTITY_HEADER, a new header on every start; an
// unknown identity stops serve with an error naming it.
func TestServeManagedIdentityAndMultiTenantConsent(t *testing.T) {
	state := t.TempDir()
	type started struct {
		Seed struct {
			TenantID string `json:"tenant_id"`
			ClientID string `json:"client_id"`
		} `json:"seed"`
		MI struct {
			Env map[string]string `json:"env"`
		} `json:"managed_identity"`
	}
	var first started
	line, _ := serveUntilReady(t, "--state", state)
	if err := json.Unmarshal([]byte(line), &first); err != nil || first.Seed.ClientID == "" {
		t.Fatalf("serve --json: %q (%v)", line, err)
	}

	var app, tenant, sp struct {
		ID             string `json:"id"`
		ClientID       string `json:"client_id"`
		ObjectID       string `json:"object_id"`
		SignInAudience string `json:"sign_in_audience"`
		HomeTenant     string `json:"home_tenant"`
	}
	runAuthority(t, &app, "app", "add", "--state", state, "--name", "saas", "--multi-tenant")
	if app.SignInAudience != "AzureADMultipleOrgs" {
		t.Fatalf("app add --multi-tenant: sign_in_audience %q", app.SignInAudience)
	}
	runAuthority(t, &tenant, "tenant", "add", "--state", state)
	runAuthority(t, &sp, "consent", "--state", state, "--tenant", tenant.ID, "--app", app.ClientID)
	if sp.ClientID != app.ClientID || sp.HomeTenant != first.Seed.TenantID || sp.ObjectID == "" || sp.ObjectID == app.ObjectID {
		t.Errorf("consent: %+v, want the app with home tenant %s and its own object id (not %s)", sp, first.Seed.TenantID, app.ObjectID)
	}
	cmd := newAuthorityCmd()
	cmd.SetArgs([]string{"consent", "--state", state, "--tenant", tenant.ID, "--app", first.Seed.ClientID})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "single-tenant") {
		t.Errorf("consent to a single-tenant app: %v", err)
	}

	headers := map[string]bool{}
	for range 2 {
		var s started
		line, _ := serveUntilReady(t, "--state", state, "--managed-identity", first.Seed.ClientID+","+app.ClientID)
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("serve --json: %q (%v)", line, err)
		}
		ep, h := s.MI.Env["IDENTITY_ENDPOINT"], s.MI.Env["IDENTITY_HEADER"]
		if !strings.HasPrefix(ep, "http://127.0.0.1:") || !strings.HasSuffix(ep, "/msi/token") || len(h) < 32 {
			t.Fatalf("managed identity env %v", s.MI.Env)
		}
		headers[h] = true
	}
	if len(headers) != 2 {
		t.Error("IDENTITY_HEADER is the same on two starts")
	}

	cmd = newAuthorityCmd()
	cmd.SetArgs([]string{"serve", "--state", state, "--addr", "127.0.0.1:0", "--managed-identity", "no-such-app"})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no-such-app") {
		t.Errorf("serve --managed-identity no-such-app: %v", err)
	}
}
