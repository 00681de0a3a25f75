package interop_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts"
)

// startIntercept starts an authority in intercept mode (seeded) and returns
// it with an HTTP client that reaches everything through its proxy and can
// dial nothing else.
func startIntercept(t *testing.T) (*sts.Authority, *http.Client) {
	t.Helper()
	a, err := sts.Start(context.Background(), sts.Options{StateDir: t.TempDir(), Intercept: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start authority: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	proxy := a.InterceptAddr()
	tr := &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxy}),
		DialContext: func(ctx context.Context, network, to string) (net.Conn, error) {
			if to != proxy {
				return nil, fmt.Errorf("refusing to dial %s: only the proxy %s", to, proxy)
			}
			return (&net.Dialer{}).DialContext(ctx, network, to)
		},
		TLSClientConfig: &tls.Config{RootCAs: a.CAPool(), MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return a, &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// verifyViaProxy checks a token against the JWKS the real authority URL
// names, fetched through the proxy, and its issuer and tenant.
func verifyViaProxy(t *testing.T, hc *http.Client, tenant, raw string) {
	t.Helper()
	login := "https://login.microsoftonline.com/" + tenant
	keys, err := fetchJWKS(hc, login+"/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer(login+"/v2.0")).
		ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
			if k := keys[fmt.Sprint(tok.Header["kid"])]; k != nil {
				return k, nil
			}
			return nil, errors.New("kid not in the JWKS")
		})
	if err != nil || claims["tid"] != tenant {
		t.Fatalf("token does not verify against %s/discovery/v2.0/keys: %v (tid %v)", login, err, claims["tid"])
	}
}

// MSAL Go, configured with the real login.microsoftonline.com authority and
// instance discovery on, gets a verified token through the intercept proxy.
func TestMSALGoThroughIntercept(t *testing.T) {
	a, hc := startIntercept(t)
	seed := a.Seed()
	counter := &countingTransport{base: hc.Transport}
	cred, err := confidential.NewCredFromSecret(seed.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New("https://login.microsoftonline.com/"+seed.TenantID, seed.ClientID, cred,
		confidential.WithHTTPClient(&http.Client{Transport: counter, Timeout: 30 * time.Second}),
		confidential.WithInstanceDiscovery(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.AcquireTokenByCredential(ctx, []string{seed.Scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	if n := counter.tokens.Load(); n != 1 {
		t.Errorf("%d token requests through the proxy, want 1", n)
	}
	verifyViaProxy(t, hc, seed.TenantID, res.AccessToken)
}

// MSAL Python (Debian python3-msal), configured with the real
// login.microsoftonline.com authority, with only HTTPS_PROXY and
// REQUESTS_CA_BUNDLE set, gets a verified token.
func TestMSALPythonThroughIntercept(t *testing.T) {
	py := pythonInterpreter(t)
	a, hc := startIntercept(t)
	seed := a.Seed()
	in, err := json.Marshal(map[string]string{"authority": "https://login.microsoftonline.com/" + seed.TenantID,
		"client_id": seed.ClientID, "secret": seed.ClientSecret, "scope": seed.Scope})
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "msal_intercept.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pythonTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.Contains(strings.ToUpper(k), "PROXY") && k != "CURL_CA_BUNDLE" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for _, v := range a.InterceptEnv() {
		cmd.Env = append(cmd.Env, v.Name+"="+v.Value)
	}
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		missing(t, "MSAL Python: %s", strings.TrimSpace(stderr.String()))
	}
	var out struct{ AccessToken, Error string }
	if err == nil {
		err = json.Unmarshal(stdout.Bytes(), &struct {
			A *string `json:"access_token"`
			E *string `json:"error"`
		}{&out.AccessToken, &out.Error})
	}
	if err != nil || out.AccessToken == "" {
		t.Fatalf("MSAL Python: %v %s\nstderr: %s", err, out.Error, stderr.String())
	}
	for _, s := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(s, seed.ClientSecret) {
			t.Error("the script printed the secret")
		}
	}
	verifyViaProxy(t, hc, seed.TenantID, out.AccessToken)
}
