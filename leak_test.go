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

// leakSink is one place a secret must never reach: its name (for the report)
// and its text at the end of the run.
type leakSink struct {
	name string
	text func() string
}

// leakRun collects what the leak test must never see again (secrets) and
// where it looks (sinks). To scan a new sink (the sign-in log's JSONL, the
// metrics' labels …), append it to sinks; to guard a new credential, call
// secret.
type leakRun struct {
	mu      sync.Mutex
	secrets map[string]string // value → label
	sinks   []leakSink
	errs    []string // every error the test saw, as %v and %+v
	bodies  []string // every HTTP response body the client side saw
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

// TestNoSecretLeaks runs client credentials (secret, certificate, assertion
// callback), their failures (wrong secret, unknown certificate, bad scope),
// claims requests, the password grant, on-behalf-of and its refresh against
// the real local authority with debug logging on both sides, then scans
// every log line, every error (%v, %+v, %#v) and every HTTP response body for
// the client secrets, the user password, the client assertions, refresh
// tokens and access tokens of the run.
func TestNoSecretLeaks(t *testing.T) {
	var clientLog, authLog syncBuffer
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	run := &leakRun{secrets: map[string]string{}, okBody: map[int]bool{}}
	f := newOBOFixture(t, 1, sts.Options{Logger: slog.New(slog.NewJSONHandler(&authLog, debug))})
	seed := f.a.Seed()
	clog := slog.New(slog.NewTextHandler(&clientLog, debug))
	rt := recordingTransport{next: f.counting, run: run}
	ctx := context.Background()
	newClient := func(clientID string, p Proof, extra ...Option) *Client {
		c, err := New(f.a.TenantURL(f.tenant), clientID, p,
			append([]Option{WithTransport(rt), WithLogger(clog), WithMaxRetries(0)}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	run.secret("client secret", seed.ClientSecret)
	run.secret("middle tier's client secret", f.midSecret)

	// Client credentials: secret, certificate, assertion callback; claims.
	want := func(what string, _ Token, err error) {
		t.Helper()
		run.err(err)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	tok, err := newClient(seed.ClientID, FromSecret(seed.ClientSecret)).AcquireTokenForClient(ctx, []string{seed.Scope})
	want("secret", tok, err)
	certApp, cert := leakCertApp(t, f.a, f.tenant, run)
	tok, err = newClient(certApp, FromCertificate(cert, CertificateOptions{})).AcquireTokenForClient(ctx, []string{seed.Scope})
	want("certificate", tok, err)
	record := func(_ context.Context, req AssertionRequest) (string, error) {
		a, err := cert.Assertion(req.ClientID, req.TokenEndpoint, proof.AssertionOptions{})
		if err == nil {
			run.secret("client assertion", a)
		}
		return a, err
	}
	callback := newClient(certApp, FromAssertion(record), WithClientCapabilities("cp1"))
	tok, err = callback.AcquireTokenForClient(ctx, []string{seed.Scope})
	want("assertion callback", tok, err)
	tok, err = callback.AcquireTokenForClient(ctx, []string{seed.Scope},
		WithClaims(`{"access_token":{"nbf":{"essential":true,"value":"`+fmt.Sprint(time.Now().Unix())+`"}}}`))
	want("claims request", tok, err)

	// Failures of each kind.
	wrong := randomSecret("wrong-secret-")
	run.secret("wrong client secret", wrong)
	other, err := proof.NewSelfSigned("CN=unknown,O=appcred", time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	guardKey(t, run, "unknown certificate's private key", other)
	for name, c := range map[string]*Client{
		"wrong secret":        newClient(seed.ClientID, FromSecret(wrong)),
		"unknown certificate": newClient(certApp, FromCertificate(other, CertificateOptions{})),
		"bad scope":           newClient(seed.ClientID, FromSecret(seed.ClientSecret)),
	} {
		scope := seed.Scope
		if name == "bad scope" {
			scope = "api://no-such-api/.default"
		}
		_, err := c.AcquireTokenForClient(ctx, []string{scope})
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		run.err(err)
	}
	leakOBO(t, f, run, newClient)

	sinks := append([]leakSink{
		{"client log", clientLog.String}, {"authority log", authLog.String},
		{"errors", func() string { return strings.Join(run.errs, "\n") }},
		{"error responses", func() string { return run.bodiesWhere(false) }},
	}, run.sinks...)
	// The authority logs only server-side problems, so its log may be empty.
	if clientLog.String() == "" || len(run.errs) < 9 || len(run.bodies) < 10 {
		t.Fatalf("the run saw too little to judge: %d B client log, %d errors, %d bodies",
			len(clientLog.String()), len(run.errs), len(run.bodies))
	}
	seen := map[string]bool{}
	for _, label := range run.guarded() {
		seen[label] = true
	}
	for _, label := range []string{"access token", "refresh token", "client assertion", "user password"} {
		if !seen[label] {
			t.Fatalf("the run guarded no %s", label)
		}
	}
	for _, l := range run.leaks(sinks) {
		t.Errorf("leak: %s", l)
	}
	// Token responses carry the tokens they issue, but never a credential.
	for v, label := range run.guarded() {
		if !strings.Contains(label, "token") {
			if found := (&leakRun{secrets: map[string]string{v: label}}).leaks([]leakSink{
				{"token responses", func() string { return run.bodiesWhere(true) }}}); len(found) > 0 {
				t.Errorf("leak: %s", found[0])
			}
		}
	}
	// The scanner finds what it is meant to find (else this test could not fail).
	planted := leakSink{"planted", func() string { return "x " + strings.ToUpper(seed.ClientSecret[3:17]) + " y" }}
	if len(run.leaks([]leakSink{planted})) == 0 {
		t.Fatal("the scanner misses a 14-character upper-cased piece of the client secret")
	}
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
// refreshes a long-running session.
func leakOBO(t *testing.T, f *oboFixture, run *leakRun, newClient func(string, Proof, ...Option) *Client) {
	t.Helper()
	upn, password := "leaky@contoso.test", randomSecret("pw-")
	if _, err := f.a.AddUser(f.tenant, directory.User{UPN: upn, Password: password}); err != nil {
		t.Fatal(err)
	}
	run.secret("user password", password)
	hc := &http.Client{Transport: recordingTransport{next: f.counting, run: run}}
	grant := func(pw string) (string, int) {
		form := url.Values{"grant_type": {"password"}, "client_id": {f.spa}, "username": {upn}, "password": {pw},
			"scope": {"api://mid-obo/access_as_user"}}
		resp, err := hc.PostForm(f.a.TokenEndpoint(f.tenant), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return body.AccessToken, resp.StatusCode
	}
	wrongPW := randomSecret("wrong-pw-")
	run.secret("wrong user password", wrongPW)
	if _, status := grant(wrongPW); status == http.StatusOK {
		t.Fatal("a wrong password was accepted")
	}
	user, status := grant(password)
	if user == "" {
		t.Fatalf("password grant: status %d", status)
	}
	ctx := context.Background()
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	mid := newClient(f.mid, FromSecret(f.midSecret))
	_, err := mid.AcquireTokenOnBehalfOf(ctx, user, scope)
	run.err(err)
	if err != nil {
		t.Fatalf("on-behalf-of: %v", err)
	}
	// A token for another audience is refused; its refusal must not echo it.
	down, err := mid.AcquireTokenForClient(ctx, []string{"api://mid-obo/.default"})
	run.err(err)
	if err == nil {
		_, err = mid.AcquireTokenOnBehalfOf(ctx, down.AccessToken, scope)
		run.err(err)
	}
	mid.cache.RemoveFunc(ctx, func(string) bool { return true }) // the session starts with a request
	_, key, err := mid.InitiateLongRunningOnBehalfOf(ctx, user, scope)
	run.err(err)
	if err != nil {
		t.Fatalf("long-running on-behalf-of: %v", err)
	}
	ss := mid.obo.findKey(key)
	ss.mu.Lock()
	ss.expires = time.Now().Add(-time.Minute)
	ss.mu.Unlock()
	mid.cache.RemoveFunc(ctx, func(string) bool { return true })
	_, err = mid.AcquireTokenInLongRunningOnBehalfOf(ctx, key, scope)
	run.err(err)
	if err != nil {
		t.Fatalf("refresh of a long-running session: %v", err)
	}
}

// syncBuffer is a log buffer shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
