package appcred

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

var allEnv = []string{EnvTenantID, EnvClientID, EnvClientSecret, EnvClientCertificatePath,
	EnvClientCertificatePassword, EnvClientSendCertificateChain, EnvAuthorityHost, EnvFederatedTokenFile,
	EnvAdditionallyAllowedTenants, EnvRegionalAuthorityName, EnvUsername, EnvPassword}

// setEnv unsets every AZURE_* variable the credentials read, then sets vars
// (restored when the test ends).
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range allEnv {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// envFixture is a local authority with the seed app's secret, a registered
// certificate (PEM and PFX files) and a federated token file.
type envFixture struct {
	a                         *sts.Authority
	seed                      *sts.Seed
	cert                      *proof.Certificate
	pemFile, pfxFile, encFile string
	tokenFile                 string
}

const pfxPassword = "pfx-pass-0451"

func newEnvFixture(t *testing.T) *envFixture {
	t.Helper()
	a := startAuthority(t, sts.Options{})
	f := &envFixture{a: a, seed: a.Seed()}
	f.cert = registerCert(t, a, f.seed.TenantID, f.seed.ClientID)
	dir := t.TempDir()
	keyPEM, err := f.cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := f.cert.PFX(pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := f.cert.Assertion(f.seed.ClientID, a.TokenEndpoint(f.seed.TenantID), proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.pemFile, f.pfxFile, f.tokenFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.pfx"), filepath.Join(dir, "token")
	for file, data := range map[string][]byte{f.pemFile: append(f.cert.CertPEM(), keyPEM...), f.pfxFile: pfx,
		f.tokenFile: []byte(assertion + "\n")} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// base returns the variables every working configuration needs.
func (f *envFixture) base(extra map[string]string) map[string]string {
	m := map[string]string{EnvTenantID: f.seed.TenantID, EnvClientID: f.seed.ClientID, EnvAuthorityHost: f.a.URL()}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// newEnvCred builds an EnvironmentCredential whose requests are recorded.
func (f *envFixture) newEnvCred(t *testing.T) (*EnvironmentCredential, *formRecorder, error) {
	t.Helper()
	rec := newRecorder(f.a)
	c, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: CredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: rec}}}})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, rec, err
}

func TestEnvironmentCredentialMethods(t *testing.T) {
	f := newEnvFixture(t)
	ctx := context.Background()
	tro := policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}}
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		method string
		x5c    bool
		check  func(t *testing.T, rec *formRecorder)
	}{
		{name: "secret wins over certificate and token file", method: "client secret",
			vars: map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvClientCertificatePath: f.pfxFile,
				EnvFederatedTokenFile: f.tokenFile, EnvUsername: "user@example.com", EnvPassword: "pw"}},
		{name: "PEM certificate", method: "client certificate",
			vars: map[string]string{EnvClientCertificatePath: f.pemFile, EnvFederatedTokenFile: f.tokenFile}},
		{name: "PFX certificate with password, chain", method: "client certificate", x5c: true,
			vars: map[string]string{EnvClientCertificatePath: f.pfxFile, EnvClientCertificatePassword: pfxPassword,
				EnvClientSendCertificateChain: "TRUE"}},
		{name: "chain 1", method: "client certificate", x5c: true,
			vars: map[string]string{EnvClientCertificatePath: f.pemFile, EnvClientSendCertificateChain: "1"}},
		{name: "chain false", method: "client certificate",
			vars: map[string]string{EnvClientCertificatePath: f.pemFile, EnvClientSendCertificateChain: "false"}},
		{name: "federated token file", method: "workload identity",
			vars: map[string]string{EnvFederatedTokenFile: f.tokenFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, f.base(tc.vars))
			cred, rec, err := f.newEnvCred(t)
			if err != nil {
				t.Fatal(err)
			}
			if cred.Method() != tc.method {
				t.Fatalf("method %q, want %q", cred.Method(), tc.method)
			}
			at, err := cred.GetToken(ctx, tro)
			if err != nil {
				t.Fatal(err)
			}
			if claimsOf(t, at.Token)["tid"] != f.seed.TenantID {
				t.Fatal("token for the wrong tenant")
			}
			form := rec.form(t, 0)
			switch tc.method {
			case "client secret":
				if form.Get("client_secret") != f.seed.ClientSecret || form.Get("client_assertion") != "" {
					t.Fatal("did not authenticate with the secret")
				}
			default:
				if form.Get("client_secret") != "" || form.Get("client_assertion") == "" {
					t.Fatal("did not authenticate with an assertion")
				}
				if _, has := jwtHeader(t, form.Get("client_assertion"))["x5c"]; has != tc.x5c {
					t.Fatalf("x5c present %t, want %t", has, tc.x5c)
				}
			}
		})
	}
}

func TestEnvironmentCredentialMisconfiguration(t *testing.T) {
	f := newEnvFixture(t)
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string // substrings of the error
	}{
		{"nothing", map[string]string{}, []string{"missing environment variables AZURE_TENANT_ID and AZURE_CLIENT_ID"}},
		{"no tenant", map[string]string{EnvClientID: "c", EnvClientSecret: "s"}, []string{"missing environment variable AZURE_TENANT_ID"}},
		{"no client", map[string]string{EnvTenantID: "t", EnvClientSecret: "s"}, []string{"missing environment variable AZURE_CLIENT_ID"}},
		{"ids only", f.base(nil), []string{"incomplete environment variable configuration. Only AZURE_TENANT_ID and AZURE_CLIENT_ID are set",
			EnvClientSecret, EnvClientCertificatePath, EnvFederatedTokenFile}},
		{"password only", f.base(map[string]string{EnvPassword: "pw-value-77"}), []string{"incomplete environment variable configuration"}},
		{"username/password", f.base(map[string]string{EnvUsername: "u@example.com", EnvPassword: "pw-value-77"}),
			[]string{"AZURE_USERNAME is set, but username/password authentication is not supported", EnvClientSecret}},
		{"certificate file missing", f.base(map[string]string{EnvClientCertificatePath: f.pemFile + ".missing"}),
			[]string{"failed to read certificate file", f.pemFile + ".missing", EnvClientCertificatePath}},
		{"certificate wrong password", f.base(map[string]string{EnvClientCertificatePath: f.pfxFile, EnvClientCertificatePassword: "pw-value-77"}),
			[]string{"failed to parse certificate file", f.pfxFile}},
		{"certificate password missing", f.base(map[string]string{EnvClientCertificatePath: f.pfxFile}),
			[]string{"failed to parse certificate file", "is AZURE_CLIENT_CERTIFICATE_PASSWORD missing?"}},
		{"not a certificate", f.base(map[string]string{EnvClientCertificatePath: f.tokenFile}),
			[]string{"failed to parse certificate file", f.tokenFile}},
		{"bad chain flag", f.base(map[string]string{EnvClientCertificatePath: f.pemFile, EnvClientSendCertificateChain: "yes please"}),
			[]string{EnvClientSendCertificateChain, `"yes please"`, "want true, false, 1 or 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.vars)
			_, _, err := f.newEnvCred(t)
			var unavail *CredentialUnavailableError
			if !errors.As(err, &unavail) {
				t.Fatalf("got %T %v, want *CredentialUnavailableError", err, err)
			}
			if !strings.HasPrefix(err.Error(), "EnvironmentCredential: ") {
				t.Errorf("%q does not name the credential", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw-value-77") || strings.Contains(err.Error(), pfxPassword) {
				t.Errorf("%q shows a password", err)
			}
		})
	}
	// A wrong secret is not a configuration problem: authentication fails.
	setEnv(t, f.base(map[string]string{EnvClientSecret: "not-the-secret-4242"}))
	cred, _, err := f.newEnvCred(t)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}})
	var failed *AuthenticationFailedError
	var resp *ResponseError
	if !errors.As(err, &failed) || !errors.As(err, &resp) || strings.Contains(err.Error(), "not-the-secret-4242") {
		t.Fatalf("wrong secret: %T %v", err, err)
	}
}

func TestEnvironmentCredentialAuthorityHost(t *testing.T) {
	f := newEnvFixture(t)
	ctx := context.Background()
	tro := policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}}
	// AZURE_AUTHORITY_HOST is where requests go (every other test relies on
	// it too); an http host is refused.
	setEnv(t, f.base(map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvAuthorityHost: "http://127.0.0.1:1"}))
	if _, _, err := f.newEnvCred(t); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http authority host: %v", err)
	}
	// ClientOptions.Cloud wins over AZURE_AUTHORITY_HOST, as in azidentity.
	setEnv(t, f.base(map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvAuthorityHost: "https://127.0.0.1:1"}))
	cred, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: CredentialOptions{CACertificates: f.a.CACertPEM(),
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.a.URL() + "/"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	if _, err := cred.GetToken(ctx, tro); err != nil {
		t.Fatal(err)
	}
	// Without the cloud option, the unreachable host from the environment is used.
	cred2, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: CredentialOptions{CACertificates: f.a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred2.Close()
	cctx, cancel := context.WithTimeout(ctx, 5e9)
	defer cancel()
	if _, err := cred2.GetToken(cctx, tro); !errors.As(err, new(*AuthenticationFailedError)) ||
		!strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable env host: %v", err)
	}
}

func TestEnvironmentCredentialTenantsAndRegion(t *testing.T) {
	f := newEnvFixture(t)
	ctx := context.Background()
	const other = "44444444-4444-4444-4444-444444444444"
	if _, err := f.a.AddTenant(other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddApp(other, directory.App{ClientID: f.seed.ClientID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddApp(other, directory.App{IdentifierURIs: []string{f.seed.IdentifierURI}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddCertificate(other, f.seed.ClientID, f.cert.CertPEM()); err != nil {
		t.Fatal(err)
	}
	tro := policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}, TenantID: other}
	for allowed, ok := range map[string]bool{"": false, "55555555-5555-5555-5555-555555555555": false,
		"x;" + other: true, "*": true, " * ;y": true} {
		setEnv(t, f.base(map[string]string{EnvClientCertificatePath: f.pemFile, EnvAdditionallyAllowedTenants: allowed}))
		cred, rec, err := f.newEnvCred(t)
		if err != nil {
			t.Fatal(err)
		}
		at, err := cred.GetToken(ctx, tro)
		switch {
		case ok && err != nil:
			t.Fatalf("%s=%q: %v", EnvAdditionallyAllowedTenants, allowed, err)
		case ok && claimsOf(t, at.Token)["tid"] != other:
			t.Fatalf("%s=%q: token for the wrong tenant", EnvAdditionallyAllowedTenants, allowed)
		case !ok && (err == nil || !strings.Contains(err.Error(), "AdditionallyAllowedTenants") || rec.count() != 0):
			t.Fatalf("%s=%q: err %v, %d requests", EnvAdditionallyAllowedTenants, allowed, err, rec.count())
		}
	}

	// The options' AdditionallyAllowedTenants add to the variable's.
	setEnv(t, f.base(map[string]string{EnvClientCertificatePath: f.pemFile, EnvAdditionallyAllowedTenants: "x"}))
	both, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: CredentialOptions{
		AdditionallyAllowedTenants: []string{other}, CACertificates: f.a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	if at, err := both.GetToken(ctx, tro); err != nil || claimsOf(t, at.Token)["tid"] != other {
		t.Fatalf("options' allowed tenant: %v", err)
	}

	// AZURE_REGIONAL_AUTHORITY_NAME reaches every credential; a region applies to
	// Microsoft hosts only, so the local authority is still asked directly.
	setEnv(t, f.base(map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvRegionalAuthorityName: "westus2"}))
	var logs logBuffer
	rec := newRecorder(f.a)
	cred, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: CredentialOptions{Logger: logs.logger(),
		ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: rec}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	if cred.RegionalAuthorityName() != "westus2" {
		t.Fatalf("region %q", cred.RegionalAuthorityName())
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}}); err != nil {
		t.Fatal(err)
	}
	if p := rec.paths[0]; p != "/"+f.seed.TenantID+"/oauth2/v2.0/token" {
		t.Fatalf("token request to %s", p)
	}
	if strings.Contains(logs.String(), f.seed.ClientSecret) {
		t.Fatal("log shows the secret")
	}
	// An invalid region is a configuration error that names it.
	setEnv(t, f.base(map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvRegionalAuthorityName: "west us 2!"}))
	if _, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{}); err == nil || !strings.Contains(err.Error(), "west us 2!") {
		t.Fatalf("invalid region: %v", err)
	}
}

func TestWorkloadIdentityCredentialRotation(t *testing.T) {
	f := newEnvFixture(t)
	ctx := context.Background()
	// Missing settings are listed together.
	setEnv(t, nil)
	_, err := NewWorkloadIdentityCredential(nil)
	var unavail *CredentialUnavailableError
	if !errors.As(err, &unavail) {
		t.Fatalf("no settings: %T %v", err, err)
	}
	for _, w := range []string{EnvTenantID, EnvClientID, EnvFederatedTokenFile} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not mention %s", err, w)
		}
	}

	setEnv(t, f.base(map[string]string{EnvFederatedTokenFile: f.tokenFile}))
	rec := newRecorder(f.a)
	cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{CredentialOptions: CredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: rec}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	tro := policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}}
	first, err := cred.GetToken(ctx, tro)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(f.tokenFile)
	if got := rec.form(t, 0).Get("client_assertion"); got != strings.TrimSpace(string(orig)) {
		t.Fatal("the first request did not carry the file's token")
	}
	// The kubelet rotates the file: the next request that reaches the
	// authority carries the new token; cached tokens do not read the file.
	rotated, err := f.cert.Assertion(f.seed.ClientID, f.a.TokenEndpoint(f.seed.TenantID), proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := f.tokenFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.tokenFile); err != nil {
		t.Fatal(err)
	}
	cached, err := cred.GetToken(ctx, tro)
	if err != nil || cached.Token != first.Token || rec.count() != 1 {
		t.Fatalf("cached token: %v, %d requests", err, rec.count())
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes, EnableCAE: true}); err != nil {
		t.Fatal(err)
	}
	if got := rec.form(t, 1).Get("client_assertion"); got != rotated {
		t.Fatal("the request after rotation did not carry the rotated token")
	}
	// The file disappears: unavailable, naming the file.
	if err := os.Remove(f.tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes, Claims: "{}"})
	if !errors.As(err, &unavail) || !strings.Contains(err.Error(), f.tokenFile) || rec.count() != 2 {
		t.Fatalf("missing token file: %T %v (%d requests)", err, err, rec.count())
	}
}

// AZURE_REGIONAL_AUTHORITY_NAME=TryAutoDetect (MSAL's and azidentity's value,
// any case) asks for auto-detection, quietly (detection itself warns when it
// finds nothing; see region_detect_test.go).
func TestRegionTryAutoDetect(t *testing.T) {
	const tenant, client = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
	for value, want := range map[string]string{"TryAutoDetect": AutoDetectRegion, "tryautodetect": AutoDetectRegion,
		" TRYAUTODETECT ": AutoDetectRegion, "westus2": "westus2"} {
		setEnv(t, map[string]string{EnvRegionalAuthorityName: value})
		var logs logBuffer
		// The public cloud, where a region applies; construction sends nothing.
		cred, err := NewClientSecretCredential(tenant, client, "s3cr3t-value",
			&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{Logger: logs.logger()}})
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvRegionalAuthorityName, value, err)
		}
		if got := cred.plain.cfg.region; got != want || logs.String() != "" {
			t.Errorf("%s=%q: region %q (want %q), logged %q", EnvRegionalAuthorityName, value, got, want, logs.String())
		}
		_ = cred.Close()
	}
	// The local authority is not a Microsoft host: no detection, and the credential works.
	f := newEnvFixture(t)
	setEnv(t, f.base(map[string]string{EnvClientSecret: f.seed.ClientSecret, EnvRegionalAuthorityName: "TryAutoDetect"}))
	cred, rec, err := f.newEnvCred(t)
	if err != nil {
		t.Fatal(err)
	}
	if cred.RegionalAuthorityName() != AutoDetectRegion {
		t.Fatalf("region %q", cred.RegionalAuthorityName())
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{f.seed.Scope}}); err != nil || rec.count() != 1 {
		t.Fatalf("%d requests: %v", rec.count(), err)
	}
}
