package sts_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/console"
)

// consoleText fetches a console page or asset over TLS from loopback.
func consoleText(t *testing.T, f *fixture, path string) string {
	t.Helper()
	res, err := f.hc.Get(f.a.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d (%v): %s", path, res.StatusCode, err, b)
	}
	return string(b)
}

// consoleEvents reads the console's event stream up to the end of its backlog.
func consoleEvents(t *testing.T, f *fixture) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.a.URL()+console.EventsPath, nil)
	res, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if sc.Text() == ": live" {
			return out.String()
		}
		out.WriteString(sc.Text() + "\n")
	}
	t.Fatalf("event stream ended before its backlog did: %v", sc.Err())
	return ""
}

// TestConsoleNeverLeaks makes successes and failures with secrets, a
// password and client assertions, then scans every console page, the
// assets and the event stream for them and for the tokens issued.
func TestConsoleNeverLeaks(t *testing.T) {
	f := startOBO(t, sts.Options{})
	good, _ := certs(t)
	secrets := []string{alicePassword, f.middleSecret, f.daemonSecret, f.seed.ClientSecret}
	wrong := f.secretForm()
	wrong.Set("client_secret", "Wrong"+f.seed.ClientSecret[5:])
	secrets = append(secrets, wrong.Get("client_secret"))
	as := goAssertion(t, good, f.certApp, f.tokenURL(), time.Now())
	badPW := f.passwordForm(f.cli, f.middleScope)
	badPW.Set("password", "Wrong-"+alicePassword)
	secrets = append(secrets, as, badPW.Get("password"))
	for _, form := range []url.Values{f.secretForm(), wrong, assertionForm(f.certApp, as, f.seed.Scope),
		f.passwordForm(f.cli, f.middleScope+" offline_access"), badPW} {
		res := f.post(t, f.tokenURL(), form)
		for _, k := range []string{"access_token", "refresh_token"} {
			if tok, ok := res.body[k].(string); ok {
				secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
			}
		}
	}
	pages := map[string]string{"events": consoleEvents(t, f.fixture)}
	for _, p := range []string{"/console", "/console?outcome=failed", "/console?outcome=success",
		"/console?app=" + f.seed.ClientID, "/console/assets/console.js", "/console/assets/console.css"} {
		pages[p] = consoleText(t, f.fixture, p)
	}
	if page := pages["/console"]; !strings.Contains(page, aliceUPN) || !strings.Contains(page, "AADSTS7000215") ||
		!strings.Contains(page, "AADSTS50126") || strings.Count(page, `class="signin`) != 5 {
		t.Errorf("the console lacks the user or the records: %s", page)
	}
	if ev := pages["events"]; strings.Count(ev, "event: signin") != 5 {
		t.Errorf("the event stream's backlog has not the 5 records: %s", ev)
	}
	for name, text := range pages {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("console %s contains a secret, password, assertion or token (%d chars)", name, len(s))
			}
		}
	}
}

func TestConsoleOff(t *testing.T) {
	f := start(t, sts.Options{NoConsole: true})
	if f.a.ConsoleURL() != "" {
		t.Errorf("ConsoleURL %q with NoConsole", f.a.ConsoleURL())
	}
	res := f.get(t, f.a.URL()+console.Path)
	wantError(t, res, http.StatusNotFound, "invalid_request", 90056)
	on := start(t, sts.Options{})
	if on.a.ConsoleURL() != on.a.URL()+"/console" {
		t.Errorf("ConsoleURL %q", on.a.ConsoleURL())
	}
	if page := consoleText(t, on, "/console"); !strings.Contains(page, on.seed.ClientID) {
		t.Error("the console does not show the seeded app")
	}
}
