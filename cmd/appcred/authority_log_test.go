package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/signin"
)

// postToken asks a for a token with the form and a client-request-id, and returns the HTTP status.
func postToken(t *testing.T, a *sts.Authority, tenant string, form url.Values, requestID string) int {
	t.Helper()
	hc := a.HTTPClient()
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, a.TokenEndpoint(tenant), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Client-Request-Id", requestID)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func seedForm(s *sts.Seed, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {secret},
		"scope": {s.Scope}}
}

// TestAuthorityLogFollow: "authority log --follow" against a running
// server prints a request made after it started.
func TestAuthorityLogFollow(t *testing.T) {
	if code := postToken(t, auth, seed.TenantID, seedForm(seed, seed.ClientSecret), "before-follow"); code != 200 {
		t.Fatalf("token request: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "authority", "log", "--follow", "--json", "--state", auth.Dir(), "--url", auth.URL())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("log --follow after an interrupt: %v; stderr: %s", err, stderr.String())
		}
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The backlog comes first, after the server subscribed the follower.
	if l, ok := <-lines; !ok || !strings.Contains(l, seed.ClientID) {
		t.Fatalf("first line %q (open %v); stderr: %s", l, ok, stderr.String())
	}
	id := fmt.Sprintf("after-follow-%d", time.Now().UnixNano())
	if code := postToken(t, auth, seed.TenantID, seedForm(seed, "not-the-secret-value"), id); code != 401 {
		t.Fatalf("token request with a wrong secret: %d", code)
	}
	for l := range lines {
		if !strings.Contains(l, id) {
			continue
		}
		var rec signin.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if rec.Code != "AADSTS7000215" || !strings.Contains(rec.Hint, "does not match") || strings.Contains(l, "not-the-secret-value") {
			t.Errorf("followed record: %s", l)
		}
		return
	}
	t.Fatalf("the follower never printed the request; stderr: %s", stderr.String())
}

// TestAuthorityLogFromFileAndServer: with no server answering, "authority
// log" reads STATE/signin.jsonl; --failed and --app filter; text shows the hint.
func TestAuthorityLogFromFileAndServer(t *testing.T) {
	dir := t.TempDir()
	a, err := sts.Start(context.Background(), sts.Options{StateDir: dir, SignInFile: sts.SignInFile})
	if err != nil {
		t.Fatal(err)
	}
	s := a.Seed()
	secretsInPlay = append(secretsInPlay, s.ClientSecret)
	postToken(t, a, s.TenantID, seedForm(s, s.ClientSecret), "file-ok")
	postToken(t, a, s.TenantID, seedForm(s, "Wrong"+s.ClientSecret), "file-bad")
	// From the running server: text, with the hint on its own line.
	r := mustRun(t, nil, "", "authority", "log", "--state", dir, "--url", a.URL(), "--app", s.ClientID)
	if !strings.Contains(r.stdout, "200 success") || !strings.Contains(r.stdout, "hint: secret beginning Wro…") {
		t.Errorf("log from the server:\n%s", r.stdout)
	}
	noSecrets(t, r)
	_ = a.Close()

	// No server: the file.
	r = mustRun(t, nil, "", "authority", "log", "--state", dir, "--url", "https://127.0.0.1:1", "--failed", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"code":"AADSTS7000215"`) || !strings.Contains(lines[0], "file-bad") {
		t.Errorf("log --failed from the file:\n%s", r.stdout)
	}
	noSecrets(t, r)
	if r := mustRun(t, nil, "", "authority", "log", "--state", dir, "--url", "https://127.0.0.1:1", "--app", "someone-else"); r.stdout != "" {
		t.Errorf("--app of another client printed:\n%s", r.stdout)
	}
	mustFail(t, nil, []string{"authority", "log", "--state", t.TempDir(), "--url", "https://127.0.0.1:1"},
		"no authority answers at https://127.0.0.1:1", "no sign-in log file")
	mustFail(t, nil, []string{"authority", "log", "--state", dir, "--url", "https://127.0.0.1:1", "--follow"},
		"no authority answers")
}

// TestServeLogsSignIns: serve --log-file --log-format json writes one JSON
// line per sign-in on stderr and to STATE/signin.jsonl, never the secret.
func TestServeLogsSignIns(t *testing.T) {
	state := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	serve := newAuthorityCmd()
	serve.SetOut(pw)
	serve.SetErr(&stderr)
	serve.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--state", state, "--json", "--log-file", "--log-format", "json"})
	done := make(chan error, 1)
	go func() { done <- serve.ExecuteContext(ctx); _ = pw.Close() }()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var started struct {
		URL    string    `json:"url"`
		CAFile string    `json:"ca_file"`
		Seed   *sts.Seed `json:"seed"`
	}
	if err := json.Unmarshal(line, &started); err != nil || started.Seed == nil {
		t.Fatalf("serve --json printed %q", line)
	}
	caPEM, err := os.ReadFile(started.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := wire.DefaultHTTPClient(caPEM)
	s := started.Seed
	for _, secret := range []string{s.ClientSecret, "Wrong" + s.ClientSecret} {
		res, err := hc.PostForm(started.URL+"/"+s.TenantID+"/oauth2/v2.0/token", seedForm(s, secret))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
	}
	hc.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("--log-format json wrote %q", l)
		}
		if m["client_id"] == s.ClientID {
			msgs = append(msgs, fmt.Sprint(m["msg"], " ", m["outcome"]))
		}
	}
	if fmt.Sprint(msgs) != "[sign-in success sign-in failed AADSTS7000215]" {
		t.Errorf("sign-in lines on stderr: %v\n%s", msgs, stderr.String())
	}
	file, err := os.ReadFile(filepath.Join(state, sts.SignInFile))
	if err != nil || strings.Count(string(file), "\n") != 2 {
		t.Errorf("sign-in log file: %v\n%s", err, file)
	}
	for _, out := range []string{stderr.String(), string(file)} {
		if strings.Contains(out, s.ClientSecret) {
			t.Error("the secret is in the server's log")
		}
	}
}

func TestServeRejectsUnknownLogFormat(t *testing.T) {
	serve := newAuthorityCmd()
	serve.SetOut(io.Discard)
	serve.SetErr(io.Discard)
	serve.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--state", t.TempDir(), "--log-format", "xml"})
	if err := serve.Execute(); err == nil || !strings.Contains(err.Error(), `--log-format "xml"`) {
		t.Errorf("serve --log-format xml: %v", err)
	}
}
