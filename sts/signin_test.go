package sts_test

import (
	"bufio"
	"bytes"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/signin"
)

// lastSignIn returns the newest record with the correlation id. (The
// record is complete before the response leaves; the wait covers a response
// flushed early.)
func lastSignIn(t *testing.T, f *fixture, corr string) *signin.Record {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		recs := f.a.SignIns("", false)
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].CorrelationID == corr {
				return recs[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sign-in record with correlation id %s among %d", corr, len(recs))
		}
	}
}

// postWithID posts a token request with a client-request-id and SKU headers
// and returns the response and the id.
func postWithID(t *testing.T, f *fixture, endpoint string, form url.Values) (*response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.ReplaceAll(fmt.Sprintf("%d", time.Now().UnixNano()), "-", "")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Client-Request-Id", id)
	req.Header.Set("X-Client-SKU", "test.sku")
	req.Header.Set("X-Client-VER", "1.2.3")
	req.Header.Set("X-Client-OS", "plan9")
	return f.do(t, req), id
}

func TestSignInRecordsSuccesses(t *testing.T) {
	f := start(t, sts.Options{})
	good, _ := certs(t)
	v1 := f.a.TenantURL(f.seed.TenantID) + "/oauth2/token"
	v1Form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.seed.ClientID},
		"client_secret": {f.seed.ClientSecret}, "resource": {f.v1URI}}
	cases := []struct {
		name, endpoint, auth, ver, thumb string
		form                             url.Values
	}{
		{"secret v2", f.tokenURL(), "client_secret_post", "2.0", "", f.secretForm()},
		{"secret v1", v1, "client_secret_post", "1.0", "", v1Form},
		{"certificate", f.tokenURL(), "private_key_jwt", "2.0", "",
			assertionForm(f.certApp, goAssertion(t, good, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope)},
	}
	s256 := sha256.Sum256(good.cert.Raw)
	cases[2].thumb = strings.ToUpper(hex.EncodeToString(s256[:]))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, id := postWithID(t, f, c.endpoint, c.form)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			rec := lastSignIn(t, f, id)
			claims, err := f.a.VerifyToken(res.body["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			tok := rec.Token
			if rec.Status != 200 || rec.Failed() || tok == nil || rec.Code != "" || rec.Hint != "" {
				t.Fatalf("record of a success: %+v", rec)
			}
			if tok.Aud != claims["aud"] || tok.Ver != c.ver || tok.Ver != claims["ver"] || tok.Uti != claims["uti"] ||
				float64(tok.Exp) != claims["exp"] || len(tok.Roles) == 0 || fmt.Sprint(tok.Roles) != fmt.Sprint(claims["roles"]) {
				t.Errorf("record's token %+v does not describe the token %v", tok, claims)
			}
			if rec.Tenant != f.seed.TenantID || rec.ClientID != c.form.Get("client_id") || rec.AppName == "" ||
				rec.Grant != "client_credentials" || rec.Scope != c.form.Get("scope") || rec.Resource != c.form.Get("resource") {
				t.Errorf("record's request fields: %+v", rec)
			}
			if rec.Auth.Method != c.auth || rec.Auth.Thumbprint != c.thumb {
				t.Errorf("auth %+v, want %s with thumbprint %q", rec.Auth, c.auth, c.thumb)
			}
			if c.thumb != "" && (rec.Auth.ThumbprintAlg != "SHA-256" || rec.Auth.Alg != "PS256" || rec.Auth.Issuer != f.certApp) {
				t.Errorf("assertion auth %+v", rec.Auth)
			}
			if c.thumb == "" && rec.Auth.SecretHint != f.seed.ClientSecret[:3] {
				t.Errorf("secret hint %q, want %q", rec.Auth.SecretHint, f.seed.ClientSecret[:3])
			}
			if rec.CorrelationID != id || rec.ClientRequestID != id || rec.TraceID != res.header.Get("X-Ms-Request-Id") ||
				rec.SKU != "test.sku" || rec.SKUVersion != "1.2.3" || rec.OS != "plan9" || rec.Duration <= 0 {
				t.Errorf("record's ids, SKU or duration: %+v", rec)
			}
		})
	}
}

// failureCase is a refused token request and what its record must say.
type failureCase struct {
	name     string
	endpoint string
	form     url.Values
	code     string
	hints    []string // each must be in the hint
}

func failureCases(t *testing.T, f *fixture) []failureCase {
	good, bad := certs(t)
	wrong := "Wrong" + f.seed.ClientSecret[5:]
	badS256 := sha256.Sum256(bad.cert.Raw)
	goodS256 := sha256.Sum256(good.cert.Raw)
	badSHA1 := sha1.Sum(bad.cert.Raw) //nolint:gosec // thumbprint
	hexUp := func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
	form := func(kv ...string) url.Values {
		v := f.secretForm()
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	other := f.a.TenantURL("00000000-0000-0000-0000-00000000dead") + "/oauth2/v2.0/token"
	return []failureCase{
		{"wrong secret", f.tokenURL(), form("client_secret", wrong), "AADSTS7000215",
			[]string{"secret beginning Wro…", "does not match any of the 1 secret(s) of app", f.seed.ClientSecret[:3] + "…"}},
		{"unregistered certificate (SHA-256)", f.tokenURL(),
			assertionForm(f.certApp, goAssertion(t, bad, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope), "AADSTS700027",
			[]string{"thumbprint " + hexUp(badS256[:]) + " (SHA-256 hex) is not registered on app", hexUp(goodS256[:])}},
		{"unregistered certificate (SHA-1)", f.tokenURL(),
			assertionForm(f.certApp, pythonAssertion(t, bad, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope), "AADSTS700027",
			[]string{"thumbprint " + hexUp(badSHA1[:]) + " (SHA-1 hex)", "registered: "}},
		{"unknown resource", f.tokenURL(), form("scope", "api://nope/.default"), "AADSTS500011",
			[]string{"no app in tenant " + f.seed.TenantID + ` has identifier URI "api://nope"`, f.seed.IdentifierURI, f.v1URI}},
		{"unknown client", f.tokenURL(), form("client_id", "11111111-2222-3333-4444-555555555555"), "AADSTS700016",
			[]string{`no app with client id "11111111-2222-3333-4444-555555555555"`, f.seed.ClientID, f.certApp}},
		{"unknown tenant", other, f.secretForm(), "AADSTS90002",
			[]string{`"00000000-0000-0000-0000-00000000dead"`, f.seed.TenantID}},
		{"unsupported grant", f.tokenURL(), form("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), "AADSTS70003", []string{"grant_type", "discovery"}},
		{"wrong audience", f.tokenURL(),
			assertionForm(f.certApp, goAssertion(t, good, f.certApp, "https://elsewhere.example/token", time.Now()), f.seed.Scope),
			"AADSTS50012", []string{`"https://elsewhere.example/token"`, f.tokenURL()}},
		{"no credential", f.tokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {f.seed.ClientID},
			"scope": {f.seed.Scope}}, "AADSTS7000218", []string{"client_secret"}},
		{"scope not .default", f.tokenURL(), form("scope", "api://appcred-demo/Demo.Read"), "AADSTS1002012", []string{"/.default"}},
	}
}

func TestSignInFailureHints(t *testing.T) {
	f := start(t, sts.Options{})
	for _, c := range failureCases(t, f) {
		t.Run(c.name, func(t *testing.T) {
			res, id := postWithID(t, f, c.endpoint, c.form)
			if res.status < 400 {
				t.Fatalf("status %d, want a failure", res.status)
			}
			rec := lastSignIn(t, f, id)
			if !rec.Failed() || rec.Status != res.status || rec.Code != c.code || rec.OAuthError != res.body["error"] ||
				rec.Description == "" || rec.Token != nil {
				t.Errorf("record %+v, want status %d and %s", rec, res.status, c.code)
			}
			t.Logf("%s hint: %s", rec.Code, rec.Hint)
			for _, h := range c.hints {
				if !strings.Contains(rec.Hint, h) {
					t.Errorf("hint %q does not contain %q", rec.Hint, h)
				}
			}
		})
	}
}

// TestSignInUnknownHost: a token request with a Host that is not the
// authority's is refused before it is read, and still recorded.
func TestSignInUnknownHost(t *testing.T) {
	f := start(t, sts.Options{})
	req := httptest.NewRequest(http.MethodPost, "https://evil.example/"+f.seed.TenantID+"/oauth2/v2.0/token",
		strings.NewReader(f.secretForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Client-Request-Id", "unknown-host-1")
	w := httptest.NewRecorder()
	f.a.Handler().ServeHTTP(w, req)
	rec := lastSignIn(t, f, "unknown-host-1")
	if w.Code != http.StatusBadRequest || rec.Code != "AADSTS50049" || rec.Tenant != f.seed.TenantID ||
		!strings.Contains(rec.Hint, "listen address") {
		t.Errorf("status %d, record %+v", w.Code, rec)
	}
}

func TestSignInExpiredSecretHint(t *testing.T) {
	f := start(t, sts.Options{})
	s, err := f.a.AddSecretExpiring(f.seed.TenantID, f.seed.ClientID, time.Now().Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1600 * time.Millisecond) // the expiry must pass; the authority has no clock to move
	form := f.secretForm()
	form.Set("client_secret", s.Value)
	res, id := postWithID(t, f, f.tokenURL(), form)
	rec := lastSignIn(t, f, id)
	if res.status != http.StatusUnauthorized || rec.Code != "AADSTS7000222" ||
		!strings.Contains(rec.Hint, "secret beginning "+s.Value[:3]+"… of app") || !strings.Contains(rec.Hint, "expired") {
		t.Errorf("status %d, record %s: %q", res.status, rec.Code, rec.Hint)
	}
}

// TestSignInLogNeverLeaks makes successes and failures with secrets and
// assertions, then scans the text log, the JSON log, the JSONL file and the
// admin endpoint for every secret, assertion and token in play.
func TestSignInLogNeverLeaks(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			var logBuf syncBuffer
			var h slog.Handler = slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo})
			if asJSON {
				h = slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo})
			}
			dir := t.TempDir()
			f := start(t, sts.Options{StateDir: dir, Logger: slog.New(h), SignInFile: sts.SignInFile})
			good, bad := certs(t)
			wrong := "Wrong" + f.seed.ClientSecret[5:]
			secrets := []string{f.seed.ClientSecret, wrong}
			forms := []url.Values{f.secretForm()}
			bad1 := f.secretForm()
			bad1.Set("client_secret", wrong)
			forms = append(forms, bad1)
			for _, c := range []*testCert{good, bad} {
				as := goAssertion(t, c, f.certApp, f.tokenURL(), time.Now())
				secrets = append(secrets, as, as[strings.LastIndexByte(as, '.')+1:])
				forms = append(forms, assertionForm(f.certApp, as, f.seed.Scope))
			}
			for _, form := range forms {
				res := f.post(t, f.tokenURL(), form)
				if tok, ok := res.body["access_token"].(string); ok {
					secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
				}
			}
			basic, _ := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(url.Values{
				"grant_type": {"client_credentials"}, "scope": {f.seed.Scope}}.Encode()))
			basic.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			basic.SetBasicAuth(f.seed.ClientID, wrong)
			f.do(t, basic)
			if n := len(f.a.SignIns("", false)); n != len(forms)+1 {
				t.Fatalf("%d records for %d requests", n, len(forms)+1)
			}
			file, err := os.ReadFile(filepath.Join(dir, sts.SignInFile))
			if err != nil {
				t.Fatal(err)
			}
			for name, text := range map[string]string{"slog": logBuf.String(), "file": string(file), "admin": adminText(t, f)} {
				if strings.Count(text, f.seed.ClientID) < 2 {
					t.Errorf("%s output does not hold the records: %q", name, text)
				}
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s output contains a secret, assertion or token (%d chars)", name, len(s))
					}
				}
			}
		})
	}
}

// adminText is the body of the admin log endpoint.
func adminText(t *testing.T, f *fixture) string {
	t.Helper()
	res, err := f.hc.Get(f.a.URL() + sts.SignInLogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("admin log: status %d, %s: %s", res.StatusCode, res.Header.Get("Content-Type"), b.String())
	}
	return b.String()
}

func TestSignInAdminEndpoint(t *testing.T) {
	f := start(t, sts.Options{})
	f.post(t, f.tokenURL(), f.secretForm())
	bad := f.secretForm()
	bad.Set("client_secret", "nope-nope-nope")
	f.post(t, f.tokenURL(), bad)

	res, err := f.hc.Get(f.a.URL() + sts.SignInLogPath + "?failed=1&app=" + strings.ToUpper(f.seed.ClientID))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	var got []signin.Record
	for sc.Scan() {
		var r signin.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	_ = res.Body.Close()
	if len(got) != 1 || got[0].Code != "AADSTS7000215" {
		t.Errorf("?failed=1&app=: %+v", got)
	}

	// From a non-loopback address: refused, even with a good Host.
	req := httptest.NewRequest(http.MethodGet, "https://localhost"+sts.SignInLogPath, nil)
	req.RemoteAddr = "192.0.2.7:5555"
	w := httptest.NewRecorder()
	f.a.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), f.seed.ClientID) {
		t.Errorf("non-loopback client: status %d, body %s", w.Code, w.Body.String())
	}
}

func TestSignInFollowSeesLaterRequests(t *testing.T) {
	f := start(t, sts.Options{})
	res, err := f.hc.Get(f.a.URL() + sts.SignInLogPath + "?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	_, id := postWithID(t, f, f.tokenURL(), f.secretForm())
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the follow stream ended")
			}
			if strings.Contains(l, id) {
				// Close ends followers promptly (they count as requests in flight).
				start := time.Now()
				_ = f.a.Close()
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("Close took %s with a follower", d)
				}
				return
			}
		case <-deadline:
			t.Fatal("the follower did not see the request made after it started")
		}
	}
}

// TestSignInUserGrants: the password and on-behalf-of grants are recorded
// with their grant, scp and hint, and never with the password, the user's
// assertion or a token.
func TestSignInUserGrants(t *testing.T) {
	dir := t.TempDir()
	f := startOBO(t, sts.Options{StateDir: dir, SignInFile: sts.SignInFile})
	secrets := []string{alicePassword, f.middleSecret}
	pw, pwID := postWithID(t, f.fixture, f.tokenURL(), f.passwordForm(f.cli, f.middleScope+" offline_access"))
	if pw.status != http.StatusOK {
		t.Fatalf("password grant: %d %s", pw.status, pw.raw)
	}
	user := pw.body["access_token"].(string)
	secrets = append(secrets, user, pw.body["refresh_token"].(string))
	rec := lastSignIn(t, f.fixture, pwID)
	if rec.Grant != "password" || rec.Token == nil || rec.Token.Scp != "access_as_user" || rec.Auth.Method != "none" {
		t.Errorf("password grant record: %+v %+v", rec, rec.Token)
	}
	obo, oboID := postWithID(t, f.fixture, f.tokenURL(), f.oboForm(user, f.ordersScope))
	if obo.status != http.StatusOK {
		t.Fatalf("on-behalf-of: %d %s", obo.status, obo.raw)
	}
	secrets = append(secrets, obo.body["access_token"].(string))
	if rec := lastSignIn(t, f.fixture, oboID); rec.Grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
		rec.Token == nil || rec.Token.Aud != f.orders || rec.Token.Scp != "Orders.Read" || rec.ClientID != f.middle {
		t.Errorf("on-behalf-of record: %+v %+v", rec, rec.Token)
	}
	bad := f.passwordForm(f.cli, f.middleScope)
	bad.Set("password", "Wrong-"+alicePassword)
	_, badID := postWithID(t, f.fixture, f.tokenURL(), bad)
	if rec := lastSignIn(t, f.fixture, badID); rec.Code != "AADSTS50126" || !strings.Contains(rec.Hint, "user list") {
		t.Errorf("wrong password record: %s %q", rec.Code, rec.Hint)
	}
	file, err := os.ReadFile(filepath.Join(dir, sts.SignInFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"slog": f.logs.String(), "file": string(file), "admin": adminText(t, f.fixture)} {
		if !strings.Contains(text, pwID) || !strings.Contains(text, oboID) {
			t.Errorf("%s output lacks the records", name)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s output contains a password, assertion or token (%d chars)", name, len(s))
			}
		}
	}
}
