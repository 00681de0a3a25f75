package appcred

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/appcred/appcred/sts"
)

// leakSinks gathers every place the run's secrets must not reach, each with
// the fewest lines it must hold: the client's and the authority's debug
// logs, azcore's log, the errors, the error responses, the metrics and spans,
// the sign-in log file, the sign-in log endpoint and the web console.
func leakSinks(e *leakEnv) []leakSink {
	t, run := e.t, e.run
	run.mu.Lock()
	errs, nBodies := strings.Join(run.errs, "\n"), len(run.bodies)
	run.mu.Unlock()
	signins, err := os.ReadFile(filepath.Join(e.stateDir, sts.SignInFile))
	if err != nil {
		t.Fatalf("the sign-in log file: %v", err)
	}
	records := leakCheckSignins(t, signins)
	rm := e.otel.collect(t)
	if n, _ := value(rm, "appcred.cache.refreshes", attrOutcome.String(outcomeFailed)); n < 1 {
		t.Error("the metrics show no failed background refresh")
	}
	if nBodies < 30 {
		t.Fatalf("the run saw only %d HTTP responses", nBodies)
	}
	fixed := func(s string) func() string { return func() string { return s } }
	sinks := []leakSink{
		{"client log", e.clientLog.String, 20},
		{"authority log", e.authLog.String, records}, // one line per sign-in at least
		{"azcore log", e.azlog, 10},
		{"errors", fixed(errs), 3 * 14},
		{"error responses", func() string { return run.bodiesWhere(false) }, 15},
		{"metrics", fixed(metricsText(t, rm)), 6},
		{"spans", fixed(spansText(e.otel)), 20},
		{"sign-in log file", fixed(string(signins)), 24},
	}
	a := e.f.a
	for _, p := range []struct {
		name, url string
		min       int
	}{
		{"sign-in log endpoint", a.URL() + sts.SignInLogPath, records},
		{"sign-in log endpoint (failed)", a.URL() + sts.SignInLogPath + "?failed=1", 8},
		{"console", a.ConsoleURL(), 100},
		{"console (failed)", a.ConsoleURL() + "?outcome=failed", 100},
		{"console events", a.ConsoleURL() + "/events", records},
	} {
		sinks = append(sinks, leakSink{p.name, fixed(consoleGet(t, a, p.url)), p.min})
	}
	return sinks
}

// leakCheckSignins checks that the sign-in log file holds every grant of the
// run and its failures, and returns its number of records.
func leakCheckSignins(t *testing.T, file []byte) int {
	t.Helper()
	grants, failed, n := map[string]bool{}, 0, 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(file)), "\n") {
		var rec struct {
			Grant  string `json:"grant"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("sign-in log file: %v in %q", err, line)
		}
		grants[rec.Grant] = true
		if rec.Status >= 400 {
			failed++
		}
		n++
	}
	for _, g := range []string{"client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"} {
		if !grants[g] {
			t.Errorf("the sign-in log file has no %s request", g)
		}
	}
	if failed < 8 {
		t.Errorf("the sign-in log file has %d failures, want at least 8", failed)
	}
	return n
}

// consoleGet GETs url from the authority over its TLS listener. An event
// stream is read up to the ": live" line that ends its backlog. HTML is
// unescaped, so that an escaped character cannot hide a secret.
func consoleGet(t *testing.T, a *sts.Authority, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return html.UnescapeString(string(body))
	}
	var b strings.Builder
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if sc.Text() == ": live" {
			return html.UnescapeString(b.String())
		}
		b.WriteString(sc.Text() + "\n")
	}
	t.Fatalf("GET %s: the event stream ended before its backlog did", url)
	return ""
}

// metricsText is every collected metric as a JSON line: name, description,
// unit and data points with their attributes.
func metricsText(t *testing.T, rm metricdata.ResourceMetrics) string {
	var b strings.Builder
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			line, err := json.Marshal(&sm.Metrics[i])
			if err != nil {
				t.Fatal(err)
			}
			b.Write(append(line, '\n'))
		}
	}
	return b.String()
}

// spansText is every ended span as a JSON line: name, attributes, events,
// links and status.
func spansText(h *otelHarness) string {
	var b strings.Builder
	for _, s := range tracetest.SpanStubsFromReadOnlySpans(h.spans.Ended()) {
		line, _ := json.Marshal(struct {
			Name       string
			Attributes any
			Events     any
			Links      any
			Status     any
		}{s.Name, s.Attributes, s.Events, s.Links, s.Status})
		b.Write(append(line, '\n'))
	}
	return b.String()
}

// leakCheckSinks fails the test when a sink holds fewer lines than it must
// (it would pass vacuously) or when the scanner misses a guarded value planted
// in a copy of its text (it would not be scanned).
func leakCheckSinks(t *testing.T, run *leakRun, sinks []leakSink) {
	t.Helper()
	secret := run.guarded()
	var piece string
	for v, label := range secret {
		if label == "client secret" {
			piece = strings.ToUpper(v[3:17])
		}
	}
	for _, s := range sinks {
		text := s.text()
		if n := len(strings.FieldsFunc(text, func(r rune) bool { return r == '\n' })); n < s.min {
			t.Errorf("%s: %d lines, want at least %d: the run saw too little to judge", s.name, n, s.min)
		}
		mid := len(text) / 2
		planted := leakSink{name: s.name, text: func() string { return text[:mid] + piece + text[mid:] }}
		if len(run.leaks([]leakSink{planted})) == 0 {
			t.Errorf("%s: the scanner misses a 14-character upper-cased piece of the client secret planted in it", s.name)
		}
	}
}

// leakCheckGuarded fails the test when the run guarded no value of a kind it
// is meant to cover (the scan would prove nothing for it).
func leakCheckGuarded(t *testing.T, run *leakRun) {
	t.Helper()
	seen := map[string]bool{}
	for _, label := range run.guarded() {
		seen[label] = true
	}
	for _, label := range []string{"access token", "refresh token", "client assertion", "user password",
		"federated token", "identity header", "certificate password", "on-behalf-of user token", "wrong refresh token"} {
		if !seen[label] {
			t.Errorf("the run guarded no %s", label)
		}
	}
}

// azlog starts collecting azcore's log (Request, Response, Retry …) as text
// lines until the test ends.
func (e *leakEnv) startAzlog() {
	events := azcoreEvents(e.t)
	e.azlog = func() string {
		var b strings.Builder
		for ev, msgs := range events() {
			for _, m := range msgs {
				b.WriteString(string(ev) + ": " + strings.ReplaceAll(m, "\n", " ") + "\n")
			}
		}
		return b.String()
	}
}
