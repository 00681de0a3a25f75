package interop_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// managedIdentityEnv starts f's managed-identity endpoint for the seed
// daemon (system-assigned) and the certificate app (user-assigned) and sets
// only IDENTITY_ENDPOINT and IDENTITY_HEADER for this test, unsetting the
// variables that would make a client pick another managed-identity source
// or identity. It returns the header value.
func managedIdentityEnv(t *testing.T, f *fixture) string {
	t.Helper()
	if err := f.a.StartManagedIdentity("127.0.0.1:0", []string{f.seed.ClientID, f.certClientID}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
		"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_POD_IDENTITY_AUTHORITY_HOST"} {
		t.Setenv(name, "") // restored after the test
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
	header := ""
	for _, v := range f.a.ManagedIdentityEnv() {
		t.Setenv(v.Name, v.Value)
		if v.Name == "IDENTITY_HEADER" {
			header = v.Value
		}
	}
	if header == "" {
		t.Fatal("no IDENTITY_HEADER")
	}
	return header
}

// TestAzidentityManagedIdentity: azidentity v1.15.0's ManagedIdentityCredential
// (MSAL Go's App Service source inside) and DefaultAzureCredential, with only
// IDENTITY_ENDPOINT and IDENTITY_HEADER set, get verified tokens for the
// system-assigned identity and a user-assigned one (by client id), for v2 and
// v1 resources; with a wrong header the endpoint refuses them. Not parallel:
// it sets process environment variables.
func TestAzidentityManagedIdentity(t *testing.T) {
	f := startAuthority(t)
	header := managedIdentityEnv(t, f)
	type newCred func() (azcore.TokenCredential, error)
	system := func() (azcore.TokenCredential, error) { return azidentity.NewManagedIdentityCredential(nil) }
	user := func() (azcore.TokenCredential, error) {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(f.certClientID)})
	}
	dac := func() (azcore.TokenCredential, error) { return azidentity.NewDefaultAzureCredential(nil) }
	for _, tc := range []struct {
		name, clientID, resource string
		cred                     newCred
	}{
		{"system-assigned/v2", f.seed.ClientID, "v2", system},
		{"system-assigned/v1", f.seed.ClientID, "v1", system},
		{"user-assigned/v2", f.certClientID, "v2", user},
		{"default-credential/v1", f.seed.ClientID, "v1", dac},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := tc.cred()
			if err != nil {
				t.Fatalf("credential: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{f.scopeFor(tc.resource)}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			f.checkToken(t, tok.Token, want{clientID: tc.clientID, resource: tc.resource, acr: "2"})
			if d := time.Until(tok.ExpiresOn); d < 3500*time.Second || d > 3600*time.Second {
				t.Errorf("ExpiresOn in %s, want about 3599 s", d)
			}
		})
	}

	t.Run("wrong-header", func(t *testing.T) {
		t.Setenv("IDENTITY_HEADER", header+"-wrong")
		// A client id no earlier case used: MSAL Go's managed-identity token cache is process-wide.
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(f.v1ClientID)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{f.scopeFor("v2")}})
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("GetToken with a wrong header: %v, want a 401 refusal", err)
		}
	})
}

// TestAzureIdentityPythonManagedIdentity: azure-identity's (Debian
// python3-azure) ManagedIdentityCredential, with only IDENTITY_ENDPOINT and
// IDENTITY_HEADER set, gets verified tokens for the system-assigned and a
// user-assigned identity, the second call from its cache. Not parallel: it
// sets process environment variables, which the script inherits.
func TestAzureIdentityPythonManagedIdentity(t *testing.T) {
	py := pythonInterpreter(t)
	f := startAuthority(t)
	header := managedIdentityEnv(t, f)
	cases := []pyCase{
		{Name: "system-assigned/v2", ManagedIdentity: "system", ClientID: f.seed.ClientID, Scope: f.scopeFor("v2"), resource: "v2", acr: "2"},
		{Name: "system-assigned/v1", ManagedIdentity: "system", ClientID: f.seed.ClientID, Scope: f.scopeFor("v1"), resource: "v1", acr: "2"},
		{Name: "user-assigned/v2", ManagedIdentity: "user", ClientID: f.certClientID, Scope: f.scopeFor("v2"), resource: "v2", acr: "2"},
	}
	results := runPython(t, py, "azure_identity_client.py", "", map[string]any{"cases": cases}, header)
	checkPython(t, f, cases, results, func(t *testing.T, r pyResult) {
		if r.ExpiresOn == nil || r.Now == nil || *r.ExpiresOn-*r.Now < 3500 || *r.ExpiresOn-*r.Now > 3601 {
			t.Errorf("expires_on = %v at %v, want about 3599 s later", r.ExpiresOn, r.Now)
		}
	})
}
