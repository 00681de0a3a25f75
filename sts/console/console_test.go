package console_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts/console"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/signin"
)

// env is a directory with one tenant, two apps (a secret and a certificate),
// a user, a grant and a consent, and a ring with a success and a failure.
type env struct {
	h                   *console.Handler
	ring                *signin.Ring
	tenant, api, daemon string
	secret              directory.Secret
	cert                directory.Certificate
}

const password = "pa55-word-never-shown-7f2"

func newEnv(t *testing.T, allow ...netip.Prefix) *env {
	t.Helper()
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ring: signin.NewRing(10)}
	ten, err := st.AddTenant("", "contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = ten.ID
	api, err := st.AddApp(e.tenant, directory.App{DisplayName: "orders-api", IdentifierURIs: []string{"api://orders"},
		AppRoles: []string{"Orders.Read"}, Scopes: []string{"Orders.Write"}})
	if err != nil {
		t.Fatal(err)
	}
	daemon, err := st.AddApp(e.tenant, directory.App{DisplayName: "billing-daemon",
		DelegatedPermissions: map[string][]string{"api://orders": {"Orders.Write"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.api, e.daemon = api.ClientID, daemon.ClientID
	if err := st.Grant(e.tenant, e.daemon, "api://orders", "Orders.Read"); err != nil {
		t.Fatal(err)
	}
	if e.secret, err = st.AddSecretExpiring(e.tenant, e.daemon, time.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e.cert, err = st.AddCertificate(e.tenant, e.api, selfSigned(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser(e.tenant, directory.User{UPN: "alice@contoso.test", DisplayName: "Alice", Password: password}); err != nil {
		t.Fatal(err)
	}
	e.ring.Add(&signin.Record{Time: time.Now(), Tenant: e.tenant, ClientID: e.daemon, AppName: "billing-daemon",
		Grant: "client_credentials", Scope: "api://orders/.default", Status: 200, TraceID: "trace-ok",
		Auth:  signin.Auth{Method: "client_secret_post", SecretHint: e.secret.Hint},
		Token: &signin.Issued{Aud: "api://orders", Roles: []string{"Orders.Read"}, Ver: "1.0", Exp: 1900000000, Uti: "uti-1"}})
	e.ring.Add(&signin.Record{Time: time.Now(), Tenant: e.tenant, ClientID: e.api, Grant: "client_credentials",
		Status: 401, Code: "AADSTS7000215", OAuthError: "invalid_client", TraceID: "trace-bad",
		Description: "Invalid client secret provided.", Hint: "secret ending xyz matches none of the app's secrets"})
	e.h = console.New(st, e.ring, allow)
	return e
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "orders-signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (e *env) get(t *testing.T, target, remote string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func TestPageShowsDirectoryAndLog(t *testing.T) {
	e := newEnv(t)
	w := e.get(t, "/console", "127.0.0.1:5000")
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{e.tenant, "contoso.test", e.api, e.daemon, "billing-daemon", "orders-api",
		e.secret.Hint + "…", e.secret.ID, "expires " + e.secret.Expires.UTC().Format(time.RFC3339),
		e.cert.Thumbprint, e.cert.X5T, e.cert.X5TS256, "orders-signer", "roles: Orders.Read", "scopes: Orders.Write",
		"app roles on <code>api://orders</code>: Orders.Read", "consented scopes on <code>api://orders</code>: Orders.Write",
		"alice@contoso.test", "Alice", `<th scope="col">`, `<label for="f-app">`, `aria-controls="d-trace-ok"`,
		"AADSTS7000215", "matches none of the app", `<code>Orders.Read</code>`, "uti-1"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(body, `data-trace="trace-bad"`) > strings.Index(body, `data-trace="trace-ok"`) {
		t.Error("the log is not newest first")
	}
	if !strings.Contains(body, `data-after="trace-bad"`) {
		t.Error("the page does not name its newest record for the event stream")
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for _, leak := range []string{password, "password_hash", "salt"} {
		if strings.Contains(body, leak) {
			t.Errorf("page shows %q", leak)
		}
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		query     string
		want, not string
	}{
		{"?outcome=failed", "trace-bad", "trace-ok"},
		{"?outcome=success", "trace-ok", "trace-bad"},
		{"?app=" + e.daemon, "trace-ok", "trace-bad"},
		{"?app=" + strings.ToUpper(e.api) + "&outcome=failed", "trace-bad", "trace-ok"},
	} {
		body := e.get(t, "/console"+c.query, "[::1]:5000").Body.String()
		if !strings.Contains(body, `data-trace="`+c.want+`"`) || strings.Contains(body, `data-trace="`+c.not+`"`) {
			t.Errorf("%s: want %s and not %s", c.query, c.want, c.not)
		}
	}
	body := e.get(t, "/console?app="+e.api+"&outcome=success", "127.0.0.1:1").Body.String()
	if !strings.Contains(body, "No sign-ins yet.") || strings.Contains(body, `class="signin`) {
		t.Error("a filter matching nothing shows rows")
	}
	if w := e.get(t, "/console?outcome=maybe", "127.0.0.1:1"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "outcome") {
		t.Errorf("bad outcome: %d %s", w.Code, w.Body.String())
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, netip.MustParsePrefix("10.1.0.0/16"))
	for remote, want := range map[string]int{
		"127.0.0.1:1": 200, "[::1]:1": 200, "[::ffff:127.0.0.1]:1": 200, "10.1.2.3:1": 200,
		"10.2.0.1:1": 403, "192.168.1.5:1": 403, "[2001:db8::1]:1": 403, "garbage": 403,
	} {
		for _, p := range []string{"/console", console.EventsPath, "/console/assets/console.js"} {
			if p == console.EventsPath && want == 200 {
				continue // an allowed stream stays open: TestEvents reads it
			}
			w := e.get(t, p, remote)
			if w.Code != want {
				t.Errorf("%s from %s: %d, want %d", p, remote, w.Code, want)
			}
			if want == 403 && strings.Contains(w.Body.String(), e.daemon) {
				t.Errorf("%s from %s: refused but shows the directory", p, remote)
			}
		}
	}
	if w := e.get(t, "/console/nothing", "127.0.0.1:1"); w.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", w.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/console", nil)
	req.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	head := httptest.NewRequest(http.MethodHead, console.EventsPath, nil)
	head.RemoteAddr = "127.0.0.1:1"
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, head) // returns: a HEAD does not stream
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD events: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	js := e.get(t, "/console/assets/console.js", "127.0.0.1:1")
	if js.Code != 200 || !strings.Contains(js.Body.String(), "EventSource") {
		t.Errorf("script: %d", js.Code)
	}
}

// TestEvents reads the stream over a real listener: the stored records after
// ?after=, then one added later, filtered.
func TestEvents(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+console.EventsPath+"?outcome=failed", nil)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	next := func() (id string, data string) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data += line[6:] + "\n"
			case line == "" && id != "":
				return id, data
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	if id, data := next(); id != "trace-bad" || !strings.Contains(data, "AADSTS7000215") || !strings.Contains(data, `<tr class="detail"`) {
		t.Fatalf("backlog event %q: %s", id, data)
	}
	e.ring.Add(&signin.Record{ClientID: e.daemon, Status: 200, TraceID: "later-ok", Token: &signin.Issued{}})
	e.ring.Add(&signin.Record{ClientID: e.daemon, Status: 400, Code: "AADSTS700016", TraceID: "later-bad"})
	if id, data := next(); id != "later-bad" || !strings.Contains(data, "AADSTS700016") {
		t.Fatalf("live event %q: %s", id, data)
	}
	// after= skips what the page already shows.
	req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+console.EventsPath+"?after=trace-bad", nil)
	res2, err := srv.Client().Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	sc = bufio.NewScanner(res2.Body)
	if id, _ := next(); id != "later-ok" {
		t.Fatalf("after=trace-bad: first event %q", id)
	}
}
