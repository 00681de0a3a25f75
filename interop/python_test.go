package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
)

const (
	// pythonTimeout bounds one script run (it runs every case of one library).
	pythonTimeout = 60 * time.Second
	// wrongSecret is a client secret the authority must refuse (AADSTS7000215).
	wrongSecret = "interop-wrong-secret-value"
)

// pyCase is one client run by a script; the fields are the scripts' config.
type pyCase struct {
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Secret   string `json:"secret,omitempty"`
	// MSAL Python certificate credential.
	KeyPath    string `json:"key_path,omitempty"`
	CertPath   string `json:"cert_path,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
	PublicCert bool   `json:"public_certificate,omitempty"`
	// azure-identity CertificateCredential.
	CertificatePath string `json:"certificate_path,omitempty"`
	Password        string `json:"password,omitempty"`
	SendChain       bool   `json:"send_certificate_chain,omitempty"`
	// azure-identity OnBehalfOfCredential: the user's token for the app.
	UserAssertion string `json:"user_assertion,omitempty"`
	// azure-identity ManagedIdentityCredential: "system" or "user" (by ClientID).
	ManagedIdentity string `json:"managed_identity,omitempty"`

	resource, acr string // expectations, not sent
	wantErr       string // the client must fail with this in its error
}

// pyResult is one case's outcome as a script prints it.
type pyResult struct {
	Name                string   `json:"name"`
	Error               string   `json:"error"`
	AccessToken         string   `json:"access_token"`
	ExpiresIn           *float64 `json:"expires_in"`
	ExpiresOn           *float64 `json:"expires_on"`
	Now                 *float64 `json:"now"`
	TokenRequests       int      `json:"token_requests"`
	SilentTokenRequests int      `json:"silent_token_requests"`
	SilentSameToken     bool     `json:"silent_same_token"`
}

// TestMSALPython runs MSAL Python (Debian python3-msal, 1.21) against the
// local authority with a secret and with a certificate (x5t only, and with
// the public certificate sent as x5c, which MSAL Python writes with line
// breaks), for v2 and v1 resources, and reads the authority's error for a
// wrong secret.
func TestMSALPython(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	f := startAuthority(t)
	cf := f.writeCertFiles(t)
	cert := func(name, resource string, x5c bool) pyCase {
		return pyCase{
			Name: name, ClientID: f.certClientID, Scope: f.scopeFor(resource), KeyPath: cf.key,
			CertPath: cf.cert, Thumbprint: proof.SHA1Hex(f.cert.Leaf), PublicCert: x5c, resource: resource, acr: "2",
		}
	}
	cases := []pyCase{
		{Name: "secret/v2", ClientID: f.seed.ClientID, Scope: f.scopeFor("v2"), Secret: f.seed.ClientSecret, resource: "v2", acr: "1"},
		{Name: "secret/v1", ClientID: f.seed.ClientID, Scope: f.scopeFor("v1"), Secret: f.seed.ClientSecret, resource: "v1", acr: "1"},
		cert("cert/v2", "v2", false),
		cert("cert-x5c/v2", "v2", true),
		cert("cert-x5c/v1", "v1", true),
		{Name: "wrong-secret", ClientID: f.seed.ClientID, Scope: f.scopeFor("v2"), Secret: wrongSecret, wantErr: "AADSTS7000215"},
	}
	results := runPython(t, py, "msal_client.py", f.a.CAFile(), map[string]any{
		"authority": f.a.URL(), "tenant": f.seed.TenantID, "cases": cases,
	}, f.seed.ClientSecret, wrongSecret)
	checkPython(t, f, cases, results, func(t *testing.T, r pyResult) {
		if r.ExpiresIn == nil || *r.ExpiresIn < 3500 || *r.ExpiresIn > 3600 {
			t.Errorf("expires_in = %v, want about 3599", r.ExpiresIn)
		}
	})
}

// TestAzureIdentityPython runs azure-identity (Debian python3-azure,
// 1.13.0b2) ClientSecretCredential and CertificateCredential (PEM with key and
// certificate, with and without the chain; and appcred's PKCS#12 file)
// against the local authority, and reads its error for a wrong secret.
func TestAzureIdentityPython(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	f := startAuthority(t)
	cf := f.writeCertFiles(t)
	const pfxPassword = "interop-pfx-password"
	pfx, err := f.cert.PFX(pfxPassword)
	if err != nil {
		t.Fatalf("PFX: %v", err)
	}
	pfxPath := filepath.Join(filepath.Dir(cf.cert), "cert.pfx")
	if err := os.WriteFile(pfxPath, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	cert := func(name, resource, path, password string, chain bool) pyCase {
		return pyCase{
			Name: name, ClientID: f.certClientID, Scope: f.scopeFor(resource), CertificatePath: path,
			Password: password, SendChain: chain, resource: resource, acr: "2",
		}
	}
	cases := []pyCase{
		{Name: "secret/v2", ClientID: f.seed.ClientID, Scope: f.scopeFor("v2"), Secret: f.seed.ClientSecret, resource: "v2", acr: "1"},
		{Name: "secret/v1", ClientID: f.seed.ClientID, Scope: f.scopeFor("v1"), Secret: f.seed.ClientSecret, resource: "v1", acr: "1"},
		cert("cert-pem/v2", "v2", cf.combined, "", false),
		cert("cert-pem-chain/v2", "v2", cf.combined, "", true),
		cert("cert-pfx/v1", "v1", pfxPath, pfxPassword, false),
		{Name: "wrong-secret", ClientID: f.seed.ClientID, Scope: f.scopeFor("v2"), Secret: wrongSecret, wantErr: "AADSTS7000215"},
	}
	results := runPython(t, py, "azure_identity_client.py", f.a.CAFile(), map[string]any{
		"authority": f.a.URL(), "tenant": f.seed.TenantID, "ca_file": f.a.CAFile(), "cases": cases,
	}, f.seed.ClientSecret, wrongSecret, pfxPassword)
	checkPython(t, f, cases, results, func(t *testing.T, r pyResult) {
		if r.ExpiresOn == nil || r.Now == nil || *r.ExpiresOn-*r.Now < 3500 || *r.ExpiresOn-*r.Now > 3601 {
			t.Errorf("expires_on = %v at %v, want about 3599 s later", r.ExpiresOn, r.Now)
		}
	})
}

// checkPython checks every case's result: no error, one token request, a
// valid token, and a cache hit for the second call.
func checkPython(t *testing.T, f *fixture, cases []pyCase, results []pyResult, extra func(*testing.T, pyResult)) {
	t.Helper()
	if len(results) != len(cases) {
		t.Fatalf("script returned %d results for %d cases", len(results), len(cases))
	}
	for i, tc := range cases {
		r := results[i]
		t.Run(tc.Name, func(t *testing.T) {
			if r.Name != tc.Name {
				t.Fatalf("result %d is for %q", i, r.Name)
			}
			if tc.wantErr != "" {
				if !strings.Contains(r.Error, tc.wantErr) || r.AccessToken != "" {
					t.Errorf("error %q, token %v; want an error with %s and no token", r.Error, r.AccessToken != "", tc.wantErr)
				}
				return
			}
			if r.Error != "" {
				t.Fatalf("client error: %s", r.Error)
			}
			if r.TokenRequests != 1 {
				t.Errorf("first call made %d token requests, want 1", r.TokenRequests)
			}
			f.checkToken(t, r.AccessToken, want{clientID: tc.ClientID, resource: tc.resource, acr: tc.acr})
			extra(t, r)
			if r.SilentTokenRequests != r.TokenRequests || !r.SilentSameToken {
				t.Errorf("second call: %d token requests in all, same token %v; want a cache hit",
					r.SilentTokenRequests, r.SilentSameToken)
			}
		})
	}
}

// pythonInterpreter returns Debian's system python3 ($APPCRED_PYTHON, else
// /usr/bin/python3, not a pyenv python3 first on PATH), skipping the test
// (failing it under CI=true) when there is none.
func pythonInterpreter(t *testing.T) string {
	t.Helper()
	py := os.Getenv("APPCRED_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	path, err := exec.LookPath(py)
	if err != nil {
		missing(t, "no Python interpreter %s (set APPCRED_PYTHON): %v", py, err)
	}
	return path
}

// runPython runs testdata/script with cfg as JSON on stdin and returns the
// results it prints. The environment trusts caFile through
// REQUESTS_CA_BUNDLE, with CURL_CA_BUNDLE and proxies unset. Exit status 3
// means a module is missing: skip, or fail under CI=true. The script must not
// print any of secrets, on stdout or stderr.
func runPython(t *testing.T, py, script, caFile string, cfg any, secrets ...string) []pyResult {
	t.Helper()
	var out struct {
		Versions map[string]string `json:"versions"`
		Results  []pyResult        `json:"results"`
	}
	runPythonJSON(t, py, script, caFile, cfg, &out, secrets...)
	t.Logf("%s: %v", script, out.Versions)
	return out.Results
}

// runPythonJSON is runPython for any output shape: it decodes the script's
// JSON output into out.
func runPythonJSON(t *testing.T, py, script, caFile string, cfg, out any, secrets ...string) {
	t.Helper()
	in, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pythonTimeout)
	defer cancel()
	// -I: isolated mode, so PYTHONPATH, PYTHONHOME and user site-packages
	// cannot swap the Debian modules under test.
	cmd := exec.CommandContext(ctx, py, "-I", path)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = pythonEnv(caFile)
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	for _, s := range secrets {
		if s != "" && (bytes.Contains(stdout.Bytes(), []byte(s)) || bytes.Contains(stderr.Bytes(), []byte(s))) {
			t.Fatalf("%s printed a secret or password it was given", script)
		}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		var m struct{ Missing, Detail string }
		_ = json.Unmarshal(stdout.Bytes(), &m)
		missing(t, "%s: Python module %q not installed (%s); install python3-msal and python3-azure", py, m.Missing, m.Detail)
	}
	if err != nil {
		t.Fatalf("%s %s: %v (timeout %v)\nstderr:\n%s", py, script, err, pythonTimeout, tail(stderr.String(), 4000))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("%s printed no JSON result: %v\nstderr:\n%s", script, err, tail(stderr.String(), 4000))
	}
}

// pythonEnv is the current environment without variables that would change
// which CA requests trusts or route loopback through a proxy, with
// REQUESTS_CA_BUNDLE set to caFile.
func pythonEnv(caFile string) []string {
	drop := []string{
		"REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE=", "SSL_CERT_FILE=", "SSL_CERT_DIR=",
		"HTTP_PROXY=", "HTTPS_PROXY=", "ALL_PROXY=", "NO_PROXY=", "AZURE_",
	}
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(strings.ToUpper(kv), d) {
				keep = false
				break
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	env = append(env, "NO_PROXY=127.0.0.1,localhost,::1")
	if caFile != "" {
		env = append(env, "REQUESTS_CA_BUNDLE="+caFile)
	}
	return env
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
