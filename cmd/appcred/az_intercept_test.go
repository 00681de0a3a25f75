package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

// interceptServe is a running "appcred authority serve --intercept" process.
type interceptServe struct {
	URL       string `json:"url"`
	Intercept struct {
		Addr string            `json:"addr"`
		Env  map[string]string `json:"env"`
	} `json:"intercept"`
}

// startInterceptServe runs the binary's "authority serve --intercept" with
// args until the test ends and returns its startup details.
func startInterceptServe(t *testing.T, args ...string) (*interceptServe, func() string) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"authority", "serve", "--addr", "127.0.0.1:0",
		"--intercept", "127.0.0.1:0", "--json"}, args...)...)
	stderrFile, err := os.Create(filepath.Join(t.TempDir(), "serve-stderr.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stderrFile.Close() })
	cmd.Stderr = stderrFile
	stderr := func() string { b, _ := os.ReadFile(stderrFile.Name()); return string(b) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, done := make(chan string, 1), make(chan error, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("serve did not stop on SIGINT")
		}
	})
	var s interceptServe
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Intercept.Addr == "" {
			t.Fatalf("serve's startup line %q: %v\nstderr: %s", line, err, stderr())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve printed nothing in 60 s; stderr: %s", stderr())
	}
	return &s, stderr
}

// The Azure CLI (Debian azure-cli 2.45), unmodified and on the default
// AzureCloud, signs in through the intercept proxy: a service principal with
// a secret in a tenant without subscriptions (--allow-no-subscriptions) and
// one with a PEM certificate in a tenant with one subscription; then
// "az account get-access-token" by --resource and by --scope. Every token is
// verified against the JWKS by "appcred decode --authority
// https://login.microsoftonline.com/TENANT", through the same proxy.
func TestAzureCLIThroughIntercept(t *testing.T) {
	az, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Azure CLI is required under CI=true (apt-get install azure-cli): %v", err)
		}
		t.Skip("az not found (apt-get install azure-cli); under CI=true this is a failure")
	}
	dir := t.TempDir()
	cert, err := proof.NewSelfSigned("CN=az-cert-daemon", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, azPEM := filepath.Join(dir, "daemon-cert.pem"), filepath.Join(dir, "az-login.pem")
	if err := os.WriteFile(certFile, cert.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(azPEM, append(keyPEM, cert.CertPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	tenantA, tenantB, sub := uuid.NewString(), uuid.NewString(), uuid.NewString()
	certApp, secretApp, secret := uuid.NewString(), uuid.NewString(), "az-"+uuid.NewString()
	secretsInPlay = append(secretsInPlay, secret)
	armApp := map[string]any{"client_id": sts.ARMAppID, "display_name": "Windows Azure Service Management API",
		"identifier_uris": []string{"https://management.core.windows.net/", "https://management.azure.com/"}}
	cfg, err := json.Marshal(map[string]any{
		"tenants": []any{
			map[string]any{"id": tenantA, "apps": []any{armApp,
				map[string]any{"client_id": certApp, "display_name": "az-cert-daemon", "certificates": []string{certFile}}}},
			map[string]any{"id": tenantB, "apps": []any{armApp,
				map[string]any{"client_id": secretApp, "display_name": "az-secret-daemon", "secrets": []string{secret}}}},
		},
		"subscriptions": []any{map[string]any{"id": sub, "display_name": "appcred-dev", "tenant": tenantA}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, serveLog := startInterceptServe(t, "--state", filepath.Join(dir, "state"), "--config", cfgFile)
	var env []string
	for k, v := range srv.Intercept.Env {
		env = append(env, k+"="+v)
	}
	runAz := func(configDir string, out any, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, az, append(args, "--output", "json")...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AZURE_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(append(cmd.Env, env...), "AZURE_CONFIG_DIR="+configDir, "AZURE_CORE_COLLECT_TELEMETRY=no",
			"AZURE_CORE_NO_COLOR=true")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil {
			err = json.Unmarshal(stdout.Bytes(), out)
		}
		if err != nil { // args[:2] only: the rest may hold the secret
			t.Fatalf("az %s: %v\nstdout: %s\nstderr: %s\nserve's log: %s", strings.Join(args[:2], " "), err,
				stdout.String(), stderr.String(), serveLog())
		}
	}
	verify := func(tenant, token, aud string) {
		t.Helper()
		r := mustRun(t, env, "", "decode", token, "--authority", "https://login.microsoftonline.com/"+tenant, "--output", "json")
		var d struct {
			Claims    map[string]any        `json:"claims"`
			Signature *struct{ Valid bool } `json:"signature"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Signature == nil || !d.Signature.Valid {
			t.Fatalf("decode: %v: %s", err, r)
		}
		if d.Claims["aud"] != aud || d.Claims["tid"] != tenant {
			t.Errorf("token: aud %v tid %v, want %s in %s", d.Claims["aud"], d.Claims["tid"], aud, tenant)
		}
	}
	type account struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		TenantID string `json:"tenantId"`
		User     struct{ Name, Type string }
	}
	type accessToken struct {
		AccessToken string `json:"accessToken"`
		Tenant      string `json:"tenant"`
	}

	// A secret, in the tenant without subscriptions.
	secretDir := filepath.Join(dir, "az-secret")
	var accounts []account
	runAz(secretDir, &accounts, "login", "--service-principal", "-u", secretApp, "-p", secret, "--tenant", tenantB,
		"--allow-no-subscriptions")
	if len(accounts) != 1 || accounts[0].TenantID != tenantB || accounts[0].User.Name != secretApp {
		t.Errorf("az login with a secret: %+v", accounts)
	}
	var at accessToken
	runAz(secretDir, &at, "account", "get-access-token", "--resource", "https://management.core.windows.net/")
	verify(tenantB, at.AccessToken, "https://management.core.windows.net/")

	// A PEM certificate, in the tenant with one subscription: no --allow-no-subscriptions.
	certDir := filepath.Join(dir, "az-cert")
	accounts = nil
	runAz(certDir, &accounts, "login", "--service-principal", "-u", certApp, "-p", azPEM, "--tenant", tenantA)
	if len(accounts) != 1 || accounts[0].ID != sub || accounts[0].Name != "appcred-dev" || accounts[0].TenantID != tenantA {
		t.Errorf("az login with a certificate: %+v", accounts)
	}
	at = accessToken{}
	runAz(certDir, &at, "account", "get-access-token", "--scope", "https://management.azure.com//.default")
	verify(tenantA, at.AccessToken, "https://management.azure.com/")
	if strings.Contains(serveLog(), secret) {
		t.Error("serve's log holds the secret")
	}
}

// serve --intercept prints shell export lines naming the proxy and the CA
// bundle; a non-loopback intercept address is refused with a clear error.
func TestServeInterceptExportLines(t *testing.T) {
	state := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := newAuthorityCmd()
	serve.SetOut(pw)
	serve.SetErr(io.Discard)
	serve.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--intercept", "127.0.0.1:0", "--state", state})
	done := make(chan error, 1)
	go func() { done <- serve.ExecuteContext(ctx); _ = pw.Close() }()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "export NODE_EXTRA_CA_CERTS=") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	bundle := filepath.Join(state, sts.CABundleFile)
	for _, want := range []string{"export HTTPS_PROXY='http://127.0.0.1:", "export NO_PROXY='localhost,127.0.0.1,::1'",
		"export REQUESTS_CA_BUNDLE='" + bundle + "'", "export SSL_CERT_FILE='" + bundle + "'"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve's output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(bundle); err != nil {
		t.Errorf("CA bundle: %v", err)
	}

	bad := newAuthorityCmd()
	bad.SetOut(io.Discard)
	bad.SetErr(io.Discard)
	bad.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--intercept", "0.0.0.0:0", "--state", t.TempDir()})
	if err := bad.Execute(); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("--intercept 0.0.0.0:0: %v", err)
	}
}
