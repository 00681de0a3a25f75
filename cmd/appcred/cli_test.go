package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// The binary under test and the local authority it talks to, shared by every test.
var (
	binPath string
	auth    *sts.Authority
	seed    *sts.Seed
)

// TestMain builds the appcred binary once and starts a local authority in-process.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "appcred-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "appcred")
	build := exec.Command("go", "build", "-o", binPath, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building appcred: %v\n%s", err, out)
		return 1
	}
	auth, err = sts.Start(context.Background(), sts.Options{StateDir: filepath.Join(dir, "state")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local authority:", err)
		return 1
	}
	defer auth.Close()
	seed = auth.Seed()
	if seed == nil {
		fmt.Fprintln(os.Stderr, "the local authority made no development tenant")
		return 1
	}
	return m.Run()
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run executes the binary with args, the environment without any AZURE_* variable
// plus env, and stdin.
func run(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Each run gets its own empty token cache unless env names one.
	cmd.Env = append(cmd.Env, "XDG_CACHE_HOME="+t.TempDir(), envCache+"=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running appcred %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("appcred %v panicked:\n%s", args, r.stderr)
	}
	return r
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	r := run(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("appcred %v: %s", args, r)
	}
	return r
}

// mustFail runs the binary, wants exit status 1 and a message on stderr
// containing every want, and checks that no secret leaked to either stream.
func mustFail(t *testing.T, env []string, args []string, wants ...string) result {
	t.Helper()
	r := run(t, env, "", args...)
	if r.code != 1 {
		t.Fatalf("appcred %v: want exit 1, got %s", args, r)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("appcred %v: stderr does not mention %q:\n%s", args, w, r.stderr)
		}
	}
	noSecrets(t, r)
	return r
}

// secretsInPlay are values that must never be printed by a failing command.
var secretsInPlay []string

func noSecrets(t *testing.T, r result) {
	t.Helper()
	for _, s := range append([]string{seed.ClientSecret}, secretsInPlay...) {
		if s != "" && (strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s)) {
			t.Errorf("a secret appears in the output of a failing command:\n%s", r)
		}
	}
}

// authorityFlags point "appcred token" at the local authority.
func authorityFlags() []string {
	return []string{"--tenant", seed.TenantID, "--client-id", seed.ClientID,
		"--authority-host", auth.URL(), "--ca-file", auth.CAFile()}
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}

// wantAppToken checks that token is an app token of the seed's daemon for the seed's API.
func wantAppToken(t *testing.T, token, acr string) {
	t.Helper()
	c := claims(t, token)
	if c["tid"] != seed.TenantID {
		t.Errorf("tid = %v, want %s", c["tid"], seed.TenantID)
	}
	app := c["azp"]
	if app == nil {
		app = c["appid"]
	}
	if app != seed.ClientID {
		t.Errorf("azp/appid = %v, want %s", app, seed.ClientID)
	}
	gotACR := c["azpacr"]
	if gotACR == nil {
		gotACR = c["appidacr"]
	}
	if gotACR != acr {
		t.Errorf("azpacr/appidacr = %v, want %s (1: secret, 2: certificate)", gotACR, acr)
	}
	roles, _ := c["roles"].([]any)
	if len(roles) != 1 || roles[0] != seed.Role {
		t.Errorf("roles = %v, want [%s]", c["roles"], seed.Role)
	}
}
