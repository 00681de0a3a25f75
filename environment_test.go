package appcred

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestLoadEnvironmentFields(t *testing.T) {
	setEnv(t, map[string]string{EnvTenantID: " t1 ", EnvClientID: "c1", EnvClientSecret: "s3cr3t-env-value",
		EnvClientCertificatePath: "/x.pem", EnvClientCertificatePassword: "pw-env-value", EnvClientSendCertificateChain: " True ",
		EnvFederatedTokenFile: "/token", EnvAuthorityHost: "https://login.example", EnvAdditionallyAllowedTenants: "a;b",
		EnvRegionalAuthorityName: "westus2"})
	c := LoadEnvironment()
	want := EnvironmentConfig{TenantID: "t1", ClientID: "c1", AuthorityHost: "https://login.example", CertificatePath: "/x.pem",
		SendCertificateChain: true, FederatedTokenFile: "/token", AdditionallyAllowedTenants: []string{"a", "b"}, Region: "westus2"}
	got := c
	got.secret, got.password = nil, nil
	if fmt.Sprint(got) != fmt.Sprint(want) || !slices.Equal(got.AdditionallyAllowedTenants, want.AdditionallyAllowedTenants) {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	// Printed in any form, the configuration shows no secret.
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "s3cr3t-env-value") || strings.Contains(s, "pw-env-value") {
			t.Fatalf("printed configuration shows a secret: %s", s)
		}
	}
	// Precedence: secret, certificate, federated token file.
	for _, tc := range []struct {
		change func(*EnvironmentConfig)
		want   string
	}{
		{func(*EnvironmentConfig) {}, MethodClientSecret},
		{func(c *EnvironmentConfig) { c.secret = nil }, MethodClientCertificate},
		{func(c *EnvironmentConfig) { c.secret, c.CertificatePath = nil, "" }, MethodWorkloadIdentity},
		{func(c *EnvironmentConfig) { c.secret, c.CertificatePath, c.FederatedTokenFile = nil, "", "" }, ""},
	} {
		cc := c
		tc.change(&cc)
		if got := cc.Method(); got != tc.want {
			t.Errorf("method %q, want %q", got, tc.want)
		}
	}
	// TryAutoDetect asks for auto-detection.
	setEnv(t, map[string]string{EnvRegionalAuthorityName: "tryAutoDetect"})
	if r := LoadEnvironment().Region; r != AutoDetectRegion {
		t.Errorf("TryAutoDetect: region %q", r)
	}
}

func TestEnvironmentConfigAuthorityURL(t *testing.T) {
	for _, tc := range []struct {
		c       EnvironmentConfig
		want    string
		wantErr string
	}{
		{EnvironmentConfig{TenantID: "Contoso.onmicrosoft.com"}, "https://login.microsoftonline.com/contoso.onmicrosoft.com", ""},
		{EnvironmentConfig{TenantID: "t1", AuthorityHost: "https://127.0.0.1:8443/"}, "https://127.0.0.1:8443/t1", ""},
		{EnvironmentConfig{}, "", "missing environment variable AZURE_TENANT_ID"},
		{EnvironmentConfig{TenantID: "t1", AuthorityHost: "http://login.example"}, "", "must use https"},
		{EnvironmentConfig{TenantID: "common"}, "", `"common"`},
	} {
		got, err := tc.c.AuthorityURL()
		if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: %q, %v; want %q, error with %q", tc.c, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestEnvironmentConfigNewClient gets tokens from the local authority with a
// Client built from the environment: the secret, the PFX whose password is
// replaced by SetCertificatePassword, and the federated token file.
func TestEnvironmentConfigNewClient(t *testing.T) {
	f := newEnvFixture(t)
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		change func(*EnvironmentConfig)
		acr    string
	}{
		{"secret", map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvFederatedTokenFile: f.tokenFile}, nil, "1"},
		{"PFX, password set by the program", map[string]string{EnvClientCertificatePath: f.pfxFile, EnvClientCertificatePassword: "wrong"},
			func(c *EnvironmentConfig) { c.SetCertificatePassword(pfxPassword) }, "2"},
		{"federated token file", map[string]string{EnvFederatedTokenFile: f.tokenFile}, nil, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, f.base(tc.vars))
			env := LoadEnvironment()
			if tc.change != nil {
				tc.change(&env)
			}
			c, err := env.NewClient(WithCACertificates(f.a.CACertPEM()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tok, err := c.AcquireTokenForClient(context.Background(), []string{f.seed.Scope})
			if err != nil {
				t.Fatal(err)
			}
			if cl := claimsOf(t, tok.AccessToken); cl["tid"] != f.seed.TenantID || cl["azpacr"] != tc.acr {
				t.Fatalf("claims %v, want tid %s azpacr %s", cl, f.seed.TenantID, tc.acr)
			}
		})
	}
	// Problems are the credential's: unavailable, naming the variables.
	setEnv(t, map[string]string{EnvClientID: "c"})
	var unavail *CredentialUnavailableError
	if _, err := LoadEnvironment().NewClient(); !errors.As(err, &unavail) || !strings.Contains(err.Error(), EnvTenantID) {
		t.Fatalf("no tenant: %v", err)
	}
	setEnv(t, f.base(nil))
	_, err := LoadEnvironment().NewClient()
	_, credErr := NewEnvironmentCredential(nil)
	if err == nil || credErr == nil || err.Error() != credErr.Error() {
		t.Fatalf("no proof: NewClient says %v, NewEnvironmentCredential %v", err, credErr)
	}
}
