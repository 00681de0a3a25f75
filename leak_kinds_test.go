package appcred

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// leakKinds runs the azidentity-shaped credentials (workload identity,
// EnvironmentCredential, azcore's GetToken with Claims and EnableCAE,
// OnBehalfOfCredential), the managed-identity endpoint and the refresh_token
// grant, each also failing once.
func leakKinds(e *leakEnv, user string) {
	leakWorkload(e)
	leakEnvironment(e)
	leakAzcore(e)
	leakOBOCredential(e, user)
	leakManagedIdentity(e)
	leakRefreshGrant(e)
}

// credOptions are the run's credential options: the local authority through
// the recording transport, the debug logger and telemetry.
func (e *leakEnv) credOptions() CredentialOptions {
	return CredentialOptions{AuthorityHost: e.f.a.URL(), Logger: e.log,
		ClientOptions:    azcore.ClientOptions{Transport: &http.Client{Transport: e.rt}},
		TelemetryOptions: TelemetryOptions{MeterProvider: e.otel.mp, TracerProvider: e.otel.tp}}
}

// getToken asks cred for a token for scopes (with claims and CAE when given)
// and closes it when the test ends.
func (e *leakEnv) getToken(cred interface {
	GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)
	Close() error
}, claims string, scopes ...string) error {
	e.t.Cleanup(func() { _ = cred.Close() })
	_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: scopes, Claims: claims, EnableCAE: claims != ""})
	return err
}

// leakWorkload authenticates with a federated token file, then with a file
// holding another app's federated token.
func leakWorkload(e *leakEnv) {
	t, run := e.t, e.run
	app, cert := leakCertApp(t, e.f.a, e.f.tenant, run)
	other, err := proof.NewSelfSigned("CN=other-workload,O=appcred", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	guardKey(t, run, "other workload's private key", other)
	for i, c := range []*proof.Certificate{cert, other} {
		tok, err := c.Assertion(app, e.f.a.TokenEndpoint(e.f.tenant), proof.AssertionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		run.secret("federated token", tok)
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cred, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{CredentialOptions: e.credOptions(),
			ClientID: app, TenantID: e.f.tenant, TokenFilePath: file})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.getToken(cred, "", e.f.a.Seed().Scope); i == 0 {
			e.want("workload identity", err)
		} else {
			e.wantFail("workload identity with an unknown key's token", err)
		}
	}
}

// leakEnvironment authenticates an EnvironmentCredential with a PFX file and
// its password, then fails to load it with a wrong password.
func leakEnvironment(e *leakEnv) {
	t, run := e.t, e.run
	app, cert := leakCertApp(t, e.f.a, e.f.tenant, run)
	password, wrong := randomSecret("pfx-"), randomSecret("wpfx-")
	run.secret("certificate password", password)
	run.secret("wrong certificate password", wrong)
	pfx, err := cert.PFX(password)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pfx")
	if err := os.WriteFile(file, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, pw := range []string{password, wrong} {
		setEnv(t, map[string]string{EnvTenantID: e.f.tenant, EnvClientID: app, EnvAuthorityHost: e.f.a.URL(),
			EnvClientCertificatePath: file, EnvClientCertificatePassword: pw})
		cred, err := NewEnvironmentCredential(&EnvironmentCredentialOptions{CredentialOptions: e.credOptions()})
		if i == 1 {
			e.wantFail("EnvironmentCredential with a wrong PFX password", err)
			continue
		}
		e.want("EnvironmentCredential", err)
		e.want("EnvironmentCredential token", e.getToken(cred, "", e.f.a.Seed().Scope))
	}
	setEnv(t, nil)
}

// leakAzcore asks a ClientSecretCredential for plain and CAE tokens with a
// claims challenge, and a credential with a wrong secret for a CAE token.
func leakAzcore(e *leakEnv) {
	t, seed := e.t, e.f.a.Seed()
	wrong := randomSecret("wcae-")
	e.run.secret("wrong client secret", wrong)
	for i, secret := range []string{seed.ClientSecret, wrong} {
		cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, secret,
			&ClientSecretCredentialOptions{CredentialOptions: e.credOptions()})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			e.wantFail("CAE token with a wrong secret", e.getToken(cred, nbfClaims(), seed.Scope))
			continue
		}
		e.want("GetToken", e.getToken(cred, "", seed.Scope))
		e.want("GetToken with claims and CAE", e.getToken(cred, nbfClaims(), seed.Scope))
	}
}

// leakOBOCredential exchanges the user's token with an OnBehalfOfCredential,
// and fails with a made-up user assertion.
func leakOBOCredential(e *leakEnv, user string) {
	t, f := e.t, e.f
	bogus := randomSecret("bua-")
	e.run.secret("on-behalf-of user token", user)
	e.run.secret("bogus user assertion", bogus)
	for i, assertion := range []string{user, bogus} {
		cred, err := NewOnBehalfOfCredentialWithSecret(f.tenant, f.mid, assertion, f.midSecret,
			&OnBehalfOfCredentialOptions{CredentialOptions: e.credOptions()})
		if err != nil {
			t.Fatal(err)
		}
		err = e.getToken(cred, "", f.downstreamAPI+"/Orders.Read")
		if i == 0 {
			e.want("OnBehalfOfCredential", err)
		} else {
			e.wantFail("OnBehalfOfCredential with a made-up assertion", err)
		}
	}
}

// leakManagedIdentity asks the managed-identity endpoint (plain HTTP on
// loopback) for a token with the identity header, with a wrong header and
// for an unknown resource.
func leakManagedIdentity(e *leakEnv) {
	t := e.t
	env := map[string]string{}
	for _, v := range e.f.a.ManagedIdentityEnv() {
		env[v.Name] = v.Value
	}
	endpoint, header := env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"]
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("managed identity endpoint %q is not on loopback", endpoint)
	}
	e.run.secret("identity header", header)
	wrong := randomSecret("wih-")
	e.run.secret("wrong identity header", wrong)
	local := &http.Transport{} // loopback plain HTTP, no proxy
	defer local.CloseIdleConnections()
	hc := &http.Client{Transport: recordingTransport{next: local, run: e.run}}
	resource := strings.TrimSuffix(e.f.a.Seed().Scope, "/.default")
	for _, c := range []struct {
		header, resource string
		status           int
	}{{header, resource, http.StatusOK}, {wrong, resource, http.StatusUnauthorized}, {header, "api://no-such-api", http.StatusBadRequest}} {
		q := url.Values{"api-version": {sts.ManagedIdentityAPIVersion}, "resource": {c.resource}}
		req, err := http.NewRequest(http.MethodGet, endpoint+"?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(sts.IdentityHeader, c.header)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("managed identity (%s): status %d, want %d", c.resource, resp.StatusCode, c.status)
		}
	}
}

// leakRefreshGrant signs a user in with offline_access, redeems the
// refresh token, and fails with a made-up one.
func leakRefreshGrant(e *leakEnv) {
	t, f := e.t, e.f
	upn, password := "refresher@contoso.test", randomSecret("pw-")
	if _, err := f.a.AddUser(f.tenant, directory.User{UPN: upn, Password: password}); err != nil {
		t.Fatal(err)
	}
	e.run.secret("user password", password)
	form := url.Values{"grant_type": {"password"}, "client_id": {f.spa}, "username": {upn},
		"scope": {"api://mid-obo/access_as_user offline_access"}}
	first, status := e.grant(form, "password", password)
	if first.RefreshToken == "" {
		t.Fatalf("password grant with offline_access: status %d, no refresh token", status)
	}
	form = url.Values{"grant_type": {"refresh_token"}, "client_id": {f.spa}, "scope": form["scope"]}
	if next, status := e.grant(form, "refresh_token", first.RefreshToken); next.AccessToken == "" {
		t.Fatalf("refresh_token grant: status %d", status)
	}
	bogus := randomSecret("brt-")
	e.run.secret("wrong refresh token", bogus)
	if _, status := e.grant(form, "refresh_token", bogus); status == http.StatusOK {
		t.Fatal("a made-up refresh token was redeemed")
	}
}
