package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runAuthority runs "appcred authority ARGS..." on a fresh command tree and
// decodes its JSON output into out.
func runAuthority(t *testing.T, out any, args ...string) {
	t.Helper()
	cmd := newAuthorityCmd()
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("authority %s: %v", strings.Join(args, " "), err)
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("authority %s: output is not JSON: %q", strings.Join(args, " "), buf.String())
		}
	}
}

func TestAuthorityServeAndAdminVerbs(t *testing.T) {
	state := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := newAuthorityCmd()
	serve.SetOut(pw)
	serve.SetErr(io.Discard)
	serve.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--state", state, "--json", "--refresh-in", "30m"})
	done := make(chan error, 1)
	go func() { done <- serve.ExecuteContext(ctx); _ = pw.Close() }()

	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var started struct {
		URL    string `json:"url"`
		CAFile string `json:"ca_file"`
		Seed   struct {
			TenantID     string `json:"tenant_id"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			Scope        string `json:"scope"`
		} `json:"seed"`
	}
	if err := json.Unmarshal(line, &started); err != nil {
		t.Fatalf("serve --json printed %q", line)
	}
	if started.CAFile != filepath.Join(state, "ca.pem") || started.Seed.ClientSecret == "" {
		t.Fatalf("serve output: %s", line)
	}
	caPEM, err := os.ReadFile(started.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	token := func(clientID, secret, scope string) map[string]any {
		res, err := hc.PostForm(started.URL+"/"+started.Seed.TenantID+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		body["status"] = res.StatusCode
		return body
	}
	if b := token(started.Seed.ClientID, started.Seed.ClientSecret, started.Seed.Scope); b["status"] != 200 || b["refresh_in"] != float64(1800) {
		t.Fatalf("seeded client: %v", b)
	}

	// Admin verbs while the server runs.
	var app struct {
		ClientID string `json:"client_id"`
	}
	runAuthority(t, &app, "app", "add", "--state", state, "--tenant", started.Seed.TenantID, "--name", "orders",
		"--identifier-uri", "api://orders", "--role", "Orders.Read", "--token-version", "2")
	var grant map[string]any
	runAuthority(t, &grant, "grant", "--state", state, "--app", started.Seed.ClientID, "--api", "api://orders", "--role", "Orders.Read")
	var sec struct {
		Secret string `json:"secret"`
	}
	runAuthority(t, &sec, "secret", "add", "--state", state, "--app", started.Seed.ClientID)
	deadline := time.Now().Add(5 * time.Second)
	var b map[string]any
	for b = token(started.Seed.ClientID, sec.Secret, "api://orders/.default"); b["status"] != 200 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		b = token(started.Seed.ClientID, sec.Secret, "api://orders/.default")
	}
	if b["status"] != 200 {
		t.Fatalf("token with the new secret for the new API: %v", b)
	}

	var key struct {
		KID     string `json:"kid"`
		Current bool   `json:"current"`
	}
	runAuthority(t, &key, "keys", "rotate", "--state", state)
	if key.KID == "" || !key.Current {
		t.Errorf("keys rotate: %+v", key)
	}
	var list struct {
		Tenants []struct {
			Apps []map[string]any `json:"apps"`
		} `json:"tenants"`
	}
	runAuthority(t, &list, "list", "--state", state)
	if len(list.Tenants) != 1 || len(list.Tenants[0].Apps) != 3 {
		t.Errorf("list: %+v", list)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}

func TestAuthorityVerbErrors(t *testing.T) {
	state := t.TempDir()
	for _, args := range [][]string{
		{"secret", "add", "--state", state},
		{"grant", "--state", state, "--app", "x"},
		{"cert", "add", "--state", state, "--app", "x", "--cert", filepath.Join(state, "missing.pem")},
		{"app", "add", "--state", state, "--tenant", "not-a-guid"},
	} {
		cmd := newAuthorityCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err == nil {
			t.Errorf("authority %s: no error", strings.Join(args, " "))
		}
	}
}

// serveUntilReady runs "appcred authority serve ARGS... --json" until it has
// printed its startup line, stops it, and returns that line and its stderr.
func serveUntilReady(t *testing.T, args ...string) (string, string) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	serve := newAuthorityCmd()
	serve.SetOut(pw)
	serve.SetErr(&stderr)
	serve.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--json"}, args...))
	done := make(chan error, 1)
	go func() { done <- serve.ExecuteContext(ctx); _ = pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	return line, stderr.String()
}

func TestServeWarnsWhenTheCAIsReplaced(t *testing.T) {
	state := t.TempDir()
	caFile := filepath.Join(state, "ca.pem")
	if _, stderr := serveUntilReady(t, "--state", state); strings.Contains(stderr, "new local CA") {
		t.Errorf("first start warns of a new CA: %s", stderr)
	}
	first, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	// A hostname outside the CA's name constraints: a new CA, and a warning naming ca.pem and the hostname.
	_, stderr := serveUntilReady(t, "--state", state, "--hostname", "new.test")
	if !strings.Contains(stderr, "new local CA") || !strings.Contains(stderr, caFile) || !strings.Contains(stderr, "new.test") {
		t.Errorf("no warning about the new CA: %q", stderr)
	}
	if second, _ := os.ReadFile(caFile); bytes.Equal(first, second) {
		t.Error("ca.pem did not change")
	}
	// The same hostname again: no new CA, no warning.
	if _, stderr := serveUntilReady(t, "--state", state, "--hostname", "new.test"); strings.Contains(stderr, "new local CA") {
		t.Errorf("restart with the same hostname warns: %s", stderr)
	}
}
