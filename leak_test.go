package appcred

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// leakSink is one place a secret must never reach: its name (for the
// report), its text at the end of the run, and the fewest non-empty lines it
// must hold for the run to prove anything.
type leakSink struct {
	name string
	text func() string
	min  int
}

// leakRun collects what the leak test must never see again (secrets). To
// scan a new sink, add it in leakSinks; to guard a new credential, call
// secret.
type leakRun struct {
	mu      sync.Mutex
	secrets map[string]string // value → label
	errs    []string          // every error the test saw, as %v and %+v
	bodies  []string          // every HTTP response body the client side saw
	okBody  map[int]bool
}

func (r *leakRun) secret(label, v string) {
	if len(v) < 12 {
		panic("leak test: a guarded value shorter than 12 characters cannot be scanned for: " + label)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[v] = label
}

func (r *leakRun) err(err error) {
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.errs = append(r.errs, fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
}

// leakProbes are the pieces of a value searched for: the value in any case,
// %-escaped, and every 12-character run of it (for JWTs, of the signature,
// whose header and claims are not secret).
func leakProbes(v string) []string {
	probes := []string{v, url.QueryEscape(v)}
	runs := v
	if parts := strings.Split(v, "."); len(parts) == 3 {
		runs = parts[2]
	}
	for i := 0; i+12 <= len(runs); i++ {
		probes = append(probes, runs[i:i+12])
	}
	return probes
}

// leaks returns "sink: label" for every guarded value found in a sink.
func (r *leakRun) leaks(sinks []leakSink) []string {
	var found []string
	for _, s := range sinks {
		text := strings.ToLower(s.text())
		for v, label := range r.guarded() {
			for _, p := range leakProbes(v) {
				if strings.Contains(text, strings.ToLower(p)) {
					found = append(found, s.name+": "+label)
					break
				}
			}
		}
	}
	return found
}

// recordingTransport keeps every response body that passes through it; a
// successful token response legitimately holds the tokens it issues, so
// those bodies are scanned only for the other credentials.
type recordingTransport struct {
	next http.RoundTripper
	run  *leakRun
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.run.mu.Lock()
	defer t.run.mu.Unlock()
	if resp.StatusCode == http.StatusOK {
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if json.Unmarshal(body, &tok) == nil && tok.AccessToken != "" {
			t.run.okBody[len(t.run.bodies)] = true
			for label, v := range map[string]string{"access token": tok.AccessToken, "refresh token": tok.RefreshToken} {
				if v != "" {
					t.run.secrets[v] = label
				}
			}
		}
	}
	t.run.bodies = append(t.run.bodies, string(body))
	return resp, err
}

func randomSecret(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// leakEnv is one leak test run: the authority, the recording transport, the
// debug loggers and telemetry every client and credential of the run uses.
type leakEnv struct {
	t                  *testing.T
	f                  *oboFixture
	run                *leakRun
	rt                 recordingTransport
	clientLog, authLog *logBuffer
	log                *slog.Logger
	otel               *otelHarness
	stateDir           string
	azlog              func() string // azcore's log so far
}

// newClient makes a client of the run for clientID, closed when the test ends.
func (e *leakEnv) newClient(clientID string, p Proof, extra ...Option) *Client {
	e.t.Helper()
	opts := append([]Option{WithTransport(e.rt), WithLogger(e.log), WithMaxRetries(0)}, e.otel.options()...)
	c, err := New(e.f.a.TenantURL(e.f.tenant), clientID, p, append(opts, extra...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// want records err and fails the test when a step that must work did not.
func (e *leakEnv) want(what string, err error) {
	e.t.Helper()
	e.run.err(err)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// wantFail records err and fails the test when a step that must fail did not.
func (e *leakEnv) wantFail(what string, err error) {
	e.t.Helper()
	if err == nil {
		e.t.Fatalf("%s: no error", what)
	}
	e.run.err(err)
}

// TestNoSecretLeaks runs every grant and credential kind against the real
// local authority with debug logging on both sides, metrics and spans, the
// sign-in log (memory and JSON Lines file) and azcore's log on: client
// credentials (secret, certificate, assertion callback, claims), their
// failures, the password and refresh_token grants, on-behalf-of (client,
// long-running session, OnBehalfOfCredential), workload identity,
// EnvironmentCredential (PFX with a password), azcore's GetToken with Claims
// and EnableCAE, managed identity, a failed background refresh and 429 / 503 /
// reset faults with retries. It then reads the web console and the sign-in
// log endpoint, and scans every log line, error (%v, %+v, %#v), metric,
// span, sign-in record, console page and HTTP response body for the client
// secrets, passwords, assertions, federated tokens, the identity header,
// refresh tokens and access tokens of the run.
func TestNoSecretLeaks(t *testing.T) {
	e := newLeakEnv(t)
	leakClientCredentials(e)
	user := leakOBO(e)
	leakKinds(e, user)
	leakFaults(e)
	sinks := leakSinks(e)
	leakCheckGuarded(t, e.run)
	leakCheckSinks(t, e.run, sinks)
	for _, l := range e.run.leaks(sinks) {
		t.Errorf("leak: %s", l)
	}
	// Token responses carry the tokens they issue, but never a credential.
	for v, label := range e.run.guarded() {
		if !strings.Contains(label, "token") {
			if found := (&leakRun{secrets: map[string]string{v: label}}).leaks([]leakSink{
				{name: "token responses", text: func() string { return e.run.bodiesWhere(true) }}}); len(found) > 0 {
				t.Errorf("leak: %s", found[0])
			}
		}
	}
}

// newLeakEnv starts the authority with debug logging, the sign-in log file
// and the managed-identity endpoint, and guards the secrets it hands out.
func newLeakEnv(t *testing.T) *leakEnv {
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	e := &leakEnv{t: t, run: &leakRun{secrets: map[string]string{}, okBody: map[int]bool{}},
		clientLog: &logBuffer{}, authLog: &logBuffer{}, otel: newOtel(t), stateDir: t.TempDir()}
	e.f = newOBOFixture(t, 1, sts.Options{StateDir: e.stateDir, SignInFile: sts.SignInFile,
		Logger: slog.New(slog.NewJSONHandler(e.authLog, debug))})
	if err := e.f.a.StartManagedIdentity("127.0.0.1:0", []string{e.f.a.Seed().ClientID}); err != nil {
		t.Fatal(err)
	}
	e.log = slog.New(slog.NewTextHandler(e.clientLog, debug))
	e.startAzlog()
	e.rt = recordingTransport{next: e.f.counting, run: e.run}
	e.run.secret("client secret", e.f.a.Seed().ClientSecret)
	e.run.secret("middle tier's client secret", e.f.midSecret)
	return e
}

// leakClientCredentials runs client credentials (secret, certificate,
// assertion callback, claims) and their failures (wrong secret, unknown
// certificate, bad scope).
func leakClientCredentials(e *leakEnv) {
	t, run, seed, ctx := e.t, e.run, e.f.a.Seed(), context.Background()
	_, err := e.newClient(seed.ClientID, FromSecret(seed.ClientSecret)).AcquireTokenForClient(ctx, []string{seed.Scope})
	e.want("secret", err)
	certApp, cert := leakCertApp(t, e.f.a, e.f.tenant, run)
	_, err = e.newClient(certApp, FromCertificate(cert, CertificateOptions{})).AcquireTokenForClient(ctx, []string{seed.Scope})
	e.want("certificate", err)
	callback := e.newClient(certApp, FromAssertion(run.assertions(cert)), WithClientCapabilities("cp1"))
	_, err = callback.AcquireTokenForClient(ctx, []string{seed.Scope})
	e.want("assertion callback", err)
	_, err = callback.AcquireTokenForClient(ctx, []string{seed.Scope}, WithClaims(nbfClaims()))
	e.want("claims request", err)

	wrong := randomSecret("wrong-secret-")
	run.secret("wrong client secret", wrong)
	other, err := proof.NewSelfSigned("CN=unknown,O=appcred", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	guardKey(t, run, "unknown certificate's private key", other)
	for name, c := range map[string]*Client{
		"wrong secret":        e.newClient(seed.ClientID, FromSecret(wrong)),
		"unknown certificate": e.newClient(certApp, FromCertificate(other, CertificateOptions{})),
		"bad scope":           e.newClient(seed.ClientID, FromSecret(seed.ClientSecret)),
	} {
		scope := seed.Scope
		if name == "bad scope" {
			scope = "api://no-such-api/.default"
		}
		_, err := c.AcquireTokenForClient(ctx, []string{scope})
		e.wantFail(name, err)
	}
}

// assertions is an assertion callback signing with cert that guards each
// assertion it makes.
func (r *leakRun) assertions(cert *proof.Certificate) func(context.Context, AssertionRequest) (string, error) {
	return func(_ context.Context, req AssertionRequest) (string, error) {
		a, err := cert.Assertion(req.ClientID, req.TokenEndpoint, proof.AssertionOptions{})
		if err == nil {
			r.secret("client assertion", a)
		}
		return a, err
	}
}

// nbfClaims is a claims request as a resource's challenge would ask for it.
func nbfClaims() string {
	return `{"access_token":{"nbf":{"essential":true,"value":"` + fmt.Sprint(time.Now().Unix()) + `"}}}`
}

// guarded is a copy of the guarded values (a background refresh may add one).
func (r *leakRun) guarded() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.secrets)
}

// bodiesWhere joins the recorded response bodies that are (ok) or are not
// successful token responses.
func (r *leakRun) bodiesWhere(ok bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for i, body := range r.bodies {
		if r.okBody[i] == ok {
			b.WriteString(body + "\n")
		}
	}
	return b.String()
}

// leakCertApp registers an app with a new certificate and guards its key.
func leakCertApp(t *testing.T, a *sts.Authority, tenant string, run *leakRun) (string, *proof.Certificate) {
	t.Helper()
	cert, err := proof.NewSelfSigned("CN=leak,O=appcred", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	guardKey(t, run, "certificate's private key", cert)
	app, err := a.AddApp(tenant, directory.App{DisplayName: "leak-cert"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddCertificate(tenant, app.ClientID, cert.CertPEM()); err != nil {
		t.Fatal(err)
	}
	return app.ClientID, cert
}

// guardKey guards the base64 body of a certificate's private key PEM.
func guardKey(t *testing.T, run *leakRun, label string, c *proof.Certificate) {
	t.Helper()
	k, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(k)), "\n")
	run.secret(label, strings.Join(lines[1:len(lines)-1], ""))
}

// leakOBO signs a user in with the password grant (and fails once with a
// wrong password), exchanges the user's token on behalf of the user, and
// refreshes a long-running session; it returns the user's token.
func leakOBO(e *leakEnv) string {
	t, f, run := e.t, e.f, e.run
	upn, password := "leaky@contoso.test", randomSecret("pw-")
	if _, err := f.a.AddUser(f.tenant, directory.User{UPN: upn, Password: password}); err != nil {
		t.Fatal(err)
	}
	run.secret("user password", password)
	wrongPW := randomSecret("wrong-pw-")
	run.secret("wrong user password", wrongPW)
	form := url.Values{"grant_type": {"password"}, "client_id": {f.spa}, "username": {upn},
		"scope": {"api://mid-obo/access_as_user"}}
	if _, status := e.grant(form, "password", wrongPW); status == http.StatusOK {
		t.Fatal("a wrong password was accepted")
	}
	user, status := e.grant(form, "password", password)
	if user.AccessToken == "" {
		t.Fatalf("password grant: status %d", status)
	}
	ctx := context.Background()
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	mid := e.newClient(f.mid, FromSecret(f.midSecret))
	_, err := mid.AcquireTokenOnBehalfOf(ctx, user.AccessToken, scope)
	e.want("on-behalf-of", err)
	// A token for another audience is refused; its refusal must not echo it.
	down, err := mid.AcquireTokenForClient(ctx, []string{"api://mid-obo/.default"})
	run.err(err)
	if err == nil {
		_, err = mid.AcquireTokenOnBehalfOf(ctx, down.AccessToken, scope)
		run.err(err)
	}
	mid.cache.RemoveFunc(ctx, func(string) bool { return true }) // the session starts with a request
	_, key, err := mid.InitiateLongRunningOnBehalfOf(ctx, user.AccessToken, scope)
	e.want("long-running on-behalf-of", err)
	ss := mid.obo.findKey(key)
	ss.mu.Lock()
	ss.expires = time.Now().Add(-time.Minute)
	ss.mu.Unlock()
	mid.cache.RemoveFunc(ctx, func(string) bool { return true })
	_, err = mid.AcquireTokenInLongRunningOnBehalfOf(ctx, key, scope)
	e.want("refresh of a long-running session", err)
	return user.AccessToken
}

// userTokens is a token response of a user grant.
type userTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// grant posts a public client's user grant (form, with param = value added)
// to the tenant's token endpoint through the recording transport.
func (e *leakEnv) grant(form url.Values, param, value string) (userTokens, int) {
	e.t.Helper()
	form = maps.Clone(form)
	form.Set(param, value)
	resp, err := (&http.Client{Transport: e.rt}).PostForm(e.f.a.TokenEndpoint(e.f.tenant), form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body userTokens
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body, resp.StatusCode
}
