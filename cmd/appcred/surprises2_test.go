package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// startServe runs "appcred authority serve ARGS..." (text output) until it
// has printed its ready-to-paste "appcred token" line and returns what it
// printed and a function that stops it (also called at cleanup).
func startServe(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	serve := newAuthorityCmd()
	serve.SetOut(pw)
	serve.SetErr(io.Discard)
	serve.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
	done := make(chan error, 1)
	go func() { done <- serve.ExecuteContext(ctx); _ = pw.Close() }()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "  appcred token ") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v\n%s", err, out.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop after its context ended")
		}
	}
	t.Cleanup(stop)
	return out.String(), stop
}

// serveText runs serve until it is ready, stops it and returns what it printed.
func serveText(t *testing.T, args ...string) string {
	t.Helper()
	out, stop := startServe(t, args...)
	stop()
	return out
}

// tokenLine returns the arguments of the "appcred token" line serve printed.
func tokenLine(t *testing.T, out string) []string {
	t.Helper()
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "  appcred token "); ok {
			return append([]string{"token"}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("serve printed no ready-to-paste appcred token line:\n%s", out)
	return nil
}

// Item 2: serve prints a ready-to-paste "appcred token" line with --authority
// (the https://…/<tenant> URL it prints) and --ca-file, which works as printed;
// it does not suggest SSL_CERT_FILE.
func TestServePrintsTokenCommand(t *testing.T) {
	state := t.TempDir()
	out, _ := startServe(t, "--state", state)
	if strings.Contains(out, "SSL_CERT_FILE") {
		t.Errorf("serve suggests SSL_CERT_FILE:\n%s", out)
	}
	var secret, authority string
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "  export "+secretVar+"="); ok {
			secret = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "  authority:"); ok {
			authority = strings.TrimSpace(v)
		}
	}
	args := tokenLine(t, out)
	joined := strings.Join(args, " ")
	for _, want := range []string{"--authority " + authority, "--ca-file " + filepath.Join(state, "ca.pem"), "--client-id ", "--scope "} {
		if !strings.Contains(joined, want) {
			t.Errorf("token line lacks %q: %s", want, joined)
		}
	}
	if secret == "" {
		t.Fatalf("no export line for the secret:\n%s", out)
	}
	secretsInPlay = append(secretsInPlay, secret)
	r := mustRun(t, []string{secretVar + "=" + secret}, "", append(args, "-o", "raw")...)
	if c := claims(t, r.stdout); c["roles"] == nil || !strings.HasPrefix(authority, "https://127.0.0.1:") {
		t.Errorf("token from the printed line: %v (authority %s)", c, authority)
	}

	// --authority takes the printed URL; --authority-host with it says to use --authority.
	mustFail(t, []string{"S=x"}, []string{"token", "--authority-host", authority, "--tenant", seed.TenantID,
		"--client-id", seed.ClientID, "--secret-env", "S", "--scope", seed.Scope}, "--authority "+authority)
	mustFail(t, []string{"S=x"}, []string{"token", "--authority", authority, "--tenant", seed.TenantID,
		"--client-id", seed.ClientID, "--secret-env", "S", "--scope", seed.Scope}, "--tenant", "differs")
}

// Item 3: a restart prints the tenant and client ids and a token line, never a secret.
func TestServeRestartPrintsDetails(t *testing.T) {
	state := t.TempDir()
	first := serveText(t, "--state", state)
	var secret, clientID, tenantID string
	for line := range strings.Lines(first) {
		if v, ok := strings.CutPrefix(line, "  client secret: "); ok {
			secret = strings.Fields(v)[0]
		}
		if v, ok := strings.CutPrefix(line, "  client id:     "); ok {
			clientID = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "  tenant id:     "); ok {
			tenantID = strings.TrimSpace(v)
		}
	}
	if secret == "" || clientID == "" || tenantID == "" {
		t.Fatalf("first start:\n%s", first)
	}
	second := serveText(t, "--state", state)
	if strings.Contains(second, secret) {
		t.Errorf("a restart prints the secret again:\n%s", second)
	}
	for _, want := range []string{tenantID, clientID, "api://appcred-demo", "secret add"} {
		if !strings.Contains(second, want) {
			t.Errorf("restart output lacks %q:\n%s", want, second)
		}
	}
	if args := strings.Join(tokenLine(t, second), " "); !strings.Contains(args, "--client-id "+clientID) {
		t.Errorf("restart token line: %s", args)
	}
}

// Item 4: --insecure-loopback lets "token" use a plain-http authority on a
// loopback address; without it the error names the flag; https or a
// non-loopback host are refused with it.
func TestTokenInsecureLoopback(t *testing.T) {
	var hits atomic.Int64
	h := auth.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		// The authority names its endpoints with https: point them at this plain-http listener.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := bytes.ReplaceAll(rec.Body.Bytes(), []byte("https://"+r.Host), []byte("http://"+r.Host))
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	env := []string{"S=" + seed.ClientSecret}
	base := []string{"token", "--tenant", seed.TenantID, "--client-id", seed.ClientID, "--secret-env", "S",
		"--scope", seed.Scope, "--authority-host", srv.URL}
	mustFail(t, env, base, "--insecure-loopback")
	if hits.Load() != 0 {
		t.Fatalf("a refused plain-http authority got %d requests", hits.Load())
	}
	r := mustRun(t, env, "", append(base, "--insecure-loopback", "-o", "raw")...)
	wantAppToken(t, r.stdout, "1")
	if hits.Load() == 0 {
		t.Error("the plain-http authority got no request")
	}
	mustFail(t, env, []string{"token", "--authority-host", "http://appcred.invalid:8080", "--tenant", seed.TenantID,
		"--client-id", seed.ClientID, "--secret-env", "S", "--scope", seed.Scope, "--insecure-loopback"}, "loopback")
	mustFail(t, env, append([]string{"token", "--secret-env", "S", "--scope", seed.Scope, "--insecure-loopback"}, authorityFlags()...),
		"--insecure-loopback", "https")
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Item 5: an unreachable authority is one short line naming where and why,
// with no correlation id for a request that never arrived.
func TestTokenUnreachableAuthority(t *testing.T) {
	addr := closedPort(t)
	r := mustFail(t, []string{"S=x"}, []string{"token", "--authority", "https://" + addr + "/" + seed.TenantID,
		"--client-id", seed.ClientID, "--secret-env", "S", "--scope", seed.Scope},
		"cannot connect to the authority at https://"+addr, "connection refused")
	if strings.Contains(r.stderr, "correlation") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || len(r.stderr) > 200 {
		t.Errorf("want one short line without a correlation id:\n%s", r.stderr)
	}
}

// Item 6: an unregistered certificate's error shows its thumbprints in the
// forms "cert thumbprint" prints.
func TestTokenUnregisteredCertificateThumbprint(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "", "cert", "new", "--subject", "CN=unregistered", "--out", dir)
	c := decodeCert(t, mustRun(t, nil, "", "cert", "thumbprint", filepath.Join(dir, "cert.pem"), "-o", "json"))
	mustFail(t, nil, append([]string{"token", "--scope", seed.Scope, "--certificate", filepath.Join(dir, "combined.pem")}, authorityFlags()...),
		"AADSTS700027", c.Thumbprint, c.X5TS256, "cert add")
}

// Item 16: --secret-env with --certificate is a sentence, not cobra's flag-group text.
func TestTokenSecretAndCertificate(t *testing.T) {
	r := mustFail(t, []string{"S=x"}, append([]string{"token", "--scope", seed.Scope, "--secret-env", "S",
		"--certificate", "cert.pem"}, authorityFlags()...), "--secret-env and --certificate", "one")
	if strings.Contains(r.stderr, "group") || strings.Contains(r.stderr, "none of the others") {
		t.Errorf("cobra's flag-group text:\n%s", r.stderr)
	}
}

// seededState makes a state directory with the development tenant (as a
// first "serve" does) and returns it with the seed.
func seededState(t *testing.T) (string, *sts.Seed) {
	t.Helper()
	dir := t.TempDir()
	a, err := sts.Open(sts.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if a.Seed() == nil {
		t.Fatal("no development tenant")
	}
	return dir, a.Seed()
}

// Item 7: an admin verb without --state does not create the default state
// directory; it says there is none and names --state.
func TestAdminVerbWithoutState(t *testing.T) {
	home := t.TempDir()
	xdg := filepath.Join(home, "xdg")
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_STATE_HOME=" + xdg}
	r := mustFail(t, env, []string{"authority", "cert", "add", "--app", seed.ClientID, "--cert", certFile},
		"no authority state", filepath.Join(xdg, "appcred", "authority"), "--state", "authority serve")
	if strings.Contains(r.stderr, certFile) {
		t.Errorf("blames the certificate file:\n%s", r.stderr)
	}
	if _, err := os.Stat(xdg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the default state directory was created (%v)", err)
	}
}

// Item 8: with several tenants and no --tenant, the error names the flag and the tenants.
func TestAdminVerbNamesTenants(t *testing.T) {
	state, s := seededState(t)
	other := mustRun(t, nil, "", "authority", "tenant", "add", "--state", state, "--domain", "contoso.test")
	var tenant struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(other.stdout), &tenant); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"authority", "secret", "add", "--state", state, "--app", s.ClientID},
		{"authority", "grant", "--state", state, "--app", s.ClientID, "--api", s.IdentifierURI, "--role", s.Role},
		{"authority", "app", "add", "--state", state, "--name", "x"},
	} {
		mustFail(t, nil, args, "2 tenants", "--tenant", s.TenantID, tenant.ID, "contoso.test")
	}
	// Naming it works.
	mustRun(t, nil, "", "authority", "secret", "add", "--state", state, "--app", s.ClientID, "--tenant", s.TenantID)
}

// Item 9: app add --tenant with a tenant the directory lacks needs --create-tenant.
func TestAppAddUnknownTenant(t *testing.T) {
	state, s := seededState(t)
	typo := "0" + s.TenantID[1:]
	if typo == s.TenantID {
		typo = "1" + s.TenantID[1:]
	}
	mustFail(t, nil, []string{"authority", "app", "add", "--state", state, "--tenant", typo, "--name", "x"},
		"--tenant "+typo, "no such tenant", s.TenantID, "--create-tenant")
	list := mustRun(t, nil, "", "authority", "list", "--state", state)
	if strings.Contains(list.stdout, typo) {
		t.Fatalf("the mistyped tenant was created:\n%s", list.stdout)
	}
	mustRun(t, nil, "", "authority", "app", "add", "--state", state, "--tenant", typo, "--name", "x", "--create-tenant")
	if list := mustRun(t, nil, "", "authority", "list", "--state", state); !strings.Contains(list.stdout, typo) {
		t.Fatalf("--create-tenant did not create it:\n%s", list.stdout)
	}
}

// Item 10: app add's default token version is the seeded API's, and --help says it.
func TestAppAddTokenVersionDefault(t *testing.T) {
	state, s := seededState(t)
	var list struct {
		Tenants []struct {
			Apps []struct {
				ClientID string `json:"client_id"`
				Version  int    `json:"access_token_version"`
			} `json:"apps"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "", "authority", "list", "--state", state).stdout), &list); err != nil {
		t.Fatal(err)
	}
	seedVersion := 0
	for _, a := range list.Tenants[0].Apps {
		if a.ClientID == s.APIClientID {
			seedVersion = a.Version
		}
	}
	var app struct {
		Version int `json:"access_token_version"`
	}
	r := mustRun(t, nil, "", "authority", "app", "add", "--state", state, "--name", "api2", "--identifier-uri", "api://two")
	if err := json.Unmarshal([]byte(r.stdout), &app); err != nil {
		t.Fatal(err)
	}
	if seedVersion == 0 || app.Version != seedVersion {
		t.Errorf("app add made version %d, the seeded API has %d", app.Version, seedVersion)
	}
	help := mustRun(t, nil, "", "authority", "app", "add", "--help").stdout
	if !strings.Contains(help, fmt.Sprintf("(default %d)", seedVersion)) {
		t.Errorf("--help does not give the default token version %d:\n%s", seedVersion, help)
	}
}

// Item 17: required flags say so in --help.
func TestRequiredFlagsInHelp(t *testing.T) {
	for verb, flags := range map[string][]string{
		"authority secret add": {"--app"},
		"authority cert add":   {"--app", "--cert"},
		"authority grant":      {"--app", "--api", "--role"},
		"token":                {"--scope"},
	} {
		help := mustRun(t, nil, "", append(strings.Fields(verb), "--help")...).stdout
		for _, flag := range flags {
			found := false
			for line := range strings.Lines(help) {
				if strings.Contains(line, flag+" ") && strings.Contains(line, "(required)") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s --help does not mark %s required:\n%s", verb, flag, help)
			}
		}
	}
}

// Item 11: "appcred token | appcred decode" takes the default JSON output.
func TestDecodeTokenJSON(t *testing.T) {
	env := []string{"S=" + seed.ClientSecret}
	tok := mustRun(t, env, "", append([]string{"token", "--secret-env", "S", "--scope", seed.Scope}, authorityFlags()...)...)
	if !strings.HasPrefix(strings.TrimSpace(tok.stdout), "{") {
		t.Fatalf("token's default output is not JSON:\n%s", tok.stdout)
	}
	r := mustRun(t, nil, tok.stdout, "decode", "--authority", auth.TenantURL(seed.TenantID), "--ca-file", auth.CAFile())
	if !strings.Contains(r.stdout, seed.ClientID) || !strings.Contains(r.stdout, "Signature:  valid") {
		t.Errorf("decode of token's JSON:\n%s", r.stdout)
	}
	mustFail(t, nil, []string{"decode", `{"tokenType": "Bearer"}`}, "accessToken")
}

// Item 12: decode --authority without --ca-file reports a TLS failure as
// such, once, and not as an invalid signature.
func TestDecodeUntrustedAuthority(t *testing.T) {
	env := []string{"S=" + seed.ClientSecret}
	tok := mustRun(t, env, "", append([]string{"token", "--secret-env", "S", "--scope", seed.Scope, "-o", "raw"}, authorityFlags()...)...)
	r := mustFail(t, nil, []string{"decode", strings.TrimSpace(tok.stdout), "--authority", auth.TenantURL(seed.TenantID)},
		"signature not checked", "unknown authority", "--ca-file")
	if strings.Contains(r.stdout+r.stderr, "NOT VALID") || strings.Contains(r.stderr, "not valid") {
		t.Errorf("a TLS failure is reported as an invalid signature:\n%s", r)
	}
	if !strings.Contains(r.stdout, "Signature:  NOT CHECKED") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout+r.stderr, "unknown authority"); n != 1 {
		t.Errorf("the TLS error appears %d times, want once:\n%s", n, r)
	}
}

// Item 18: a typo in a YAML config is reported with its line.
func TestConfigTypoLine(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ yaml, want string }{
		"unknown field": {"    apps:\n      - client_id: aaaaaaaa-0000-0000-0000-000000000001\n        display_nmae: daemon\n", `unknown field "display_nmae"`},
		"wrong type":    {"    apps:\n      - client_id: aaaaaaaa-0000-0000-0000-000000000001\n        access_token_version: two\n", `"access_token_version"`},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		cfg := "# a config\ntenants:\n  - id: 11111111-2222-3333-4444-555555555555\n" + c.yaml
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := mustFail(t, nil, []string{"authority", "serve", "--addr", "127.0.0.1:0", "--state", filepath.Join(dir, name), "--config", file},
			file, "line 6", c.want)
		if strings.Contains(r.stderr, "unmarshaling JSON") {
			t.Errorf("%s: the YAML-to-JSON conversion shows through:\n%s", name, r.stderr)
		}
	}
}

// Item 19: demo registers the API serve seeds, aligns its "Next:" columns and
// gives a token line with concrete flags.
func TestDemoMatchesSeedAndNext(t *testing.T) {
	out := mustRun(t, nil, "", "demo").stdout
	for _, want := range []string{"identifier URI " + seed.IdentifierURI, `"` + seed.Role + `"`, `scope "` + seed.Scope + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q (the seeded API):\n%s", want, out)
		}
	}
	_, next, ok := strings.Cut(out, "Next:\n")
	if !ok {
		t.Fatalf("no Next:\n%s", out)
	}
	gap := regexp.MustCompile(`^  appcred \S.*?\S {2,}\S`)
	col := -1
	rows := 0
	for line := range strings.Lines(next) {
		m := gap.FindStringIndex(line)
		if m == nil {
			continue
		}
		rows++
		if col == -1 {
			col = m[1]
		} else if m[1] != col {
			t.Errorf("Next: column starts at %d, want %d: %q", m[1], col, line)
		}
	}
	if rows < 3 {
		t.Errorf("Next: has %d aligned rows:\n%s", rows, next)
	}
	for _, want := range []string{"appcred token --authority https://127.0.0.1:8443/", "--client-id ", "--secret-env " + secretVar,
		"--scope " + seed.Scope, "--ca-file "} {
		if !strings.Contains(next, want) {
			t.Errorf("Next: token hint lacks %q:\n%s", want, next)
		}
	}
}
