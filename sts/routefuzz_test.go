package sts_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/appcred/appcred/sts"
)

// routeHost is the one extra name the routing fuzz authority answers to.
const routeHost = "authority.test"

// hostAccepted is the test's own statement of the Host policy for an
// authority named routeHost and not listening (so only port 443): one of its
// names, in any case, an IP in any spelling, no port or 443.
func hostAccepted(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "443"
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		} else if strings.Contains(host, ":") {
			return false
		}
	}
	if port != "443" {
		return false
	}
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	} else if strings.ContainsAny(host, ":%[]*") {
		return false
	}
	return host == routeHost || host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// checkEmittedURL fails when a URL or host the authority advertises is not one
// of its own names in canonical spelling.
func checkEmittedURL(t *testing.T, s string, isHost bool) {
	t.Helper()
	if isHost {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err == nil && u.Host == "sts.windows.net" {
		return // v1 tokens' issuer, the same everywhere (as Entra's v1 documents say)
	}
	if err != nil || u.Scheme != "https" {
		t.Fatalf("advertised URL %q does not parse as https: %v", s, err)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); ip != nil && ip.String() != h || strings.ToLower(u.Host) != u.Host ||
		!hostAccepted(u.Host) || u.Port() != "" && u.Port() != "443" {
		t.Fatalf("advertised %q names a host that is not this authority's canonical name", s)
	}
}

// walkEmitted checks every https URL and every alias in a JSON answer.
func walkEmitted(t *testing.T, v any, key string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			walkEmitted(t, e, k)
		}
	case []any:
		for _, e := range x {
			walkEmitted(t, e, key)
		}
	case string:
		switch {
		case key == "aliases" || key == "preferred_network" || key == "preferred_cache":
			checkEmittedURL(t, x, true)
		case strings.HasPrefix(x, "https://"):
			checkEmittedURL(t, x, false)
		}
	}
}

// echoes reports whether body quotes host although neither the target nor the
// fixed text of a refusal (baseline) does. Hosts made only of characters a
// timestamp or a hex id can hold are not judged.
func echoes(body, host, target, baseline string) bool {
	return len(host) >= 6 && strings.ContainsAny(strings.ToLower(host), "ghijklmnopqrsuvwxy") &&
		strings.Contains(body, host) && !strings.Contains(baseline, host) && !strings.Contains(target, host)
}

// FuzzRouting drives the authority's router, Host policy, discovery
// documents, JWKS and instance discovery (with arbitrary
// authorization_endpoint queries) with any method, Host and request target:
// every answer is JSON, never a 500; an unknown Host is refused and never
// echoed; every URL and alias the authority advertises names it in its
// canonical spelling.
func FuzzRouting(f *testing.F) {
	a, err := sts.Open(sts.Options{StateDir: f.TempDir(), Hostnames: []string{routeHost}})
	if err != nil {
		f.Fatal(err)
	}
	tenant := a.Seed().TenantID
	h := a.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://refused.invalid/common/discovery/keys", nil))
	baseline := rec.Body.String() // what a refused Host gets, whatever it is
	if rec.Code != http.StatusBadRequest {
		f.Fatalf("an unknown Host: status %d", rec.Code)
	}
	for _, s := range [][3]string{
		{"GET", routeHost, "/" + tenant + "/v2.0/.well-known/openid-configuration"},
		{"GET", "LoCaLhOsT", "/common/.well-known/openid-configuration"},
		{"GET", "[::ffff:7f00:1]:443", "/organizations/discovery/v2.0/keys"},
		{"GET", "127.0.0.1", "/" + tenant + "/discovery/keys"},
		{"GET", "[::1]", "/common/discovery/instance?api-version=1.1&authorization_endpoint=" +
			url.QueryEscape("https://"+routeHost+"/"+tenant+"/oauth2/v2.0/authorize")},
		{"GET", routeHost, "/common/discovery/instance?api-version=1.0&authorization_endpoint=https://LOCALHOST:8443/x%2Fy/authorize"},
		{"GET", routeHost, "/common/discovery/instance?authorization_endpoint=https://evil.example/common/oauth2/authorize"},
		{"GET", routeHost, "/common/discovery/instance?authorization_endpoint=%zz"},
		{"GET", "evil.example", "/common/v2.0/.well-known/openid-configuration"},
		{"GET", "localhost:8443", "/common/discovery/keys"}, {"GET", "::1", "/"}, {"GET", "", "/x"},
		{"POST", routeHost, "/" + tenant + "/oauth2/v2.0/token"}, {"DELETE", routeHost, "/common/oauth2/v2.0/authorize"},
		{"GET", routeHost, "/a%2Fb/v2.0/.well-known/openid-configuration"}, {"GET", routeHost, "//"},
		{"PUT", routeHost, "/common/.well-known/openid-configuration"}, {"GET", "*." + routeHost, "/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, host, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || strings.ContainsAny(method, " \r\n") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "https://"+routeHost+"/", nil)
		req.Method, req.URL, req.Host, req.RequestURI = method, u, host, target
		req.Body = io.NopCloser(strings.NewReader(""))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code >= 500 {
			t.Fatalf("%s %s Host %q: status %d, body %q", method, target, host, rec.Code, rec.Body.String())
		}
		desc, _ := out["error_description"].(string)
		refused := strings.Contains(desc, "request's host is not a name of this authority")
		if refused == hostAccepted(host) {
			t.Fatalf("Host %q: refused=%v, but the policy says accepted=%v (%d %s)", host, refused,
				hostAccepted(host), rec.Code, rec.Body.String())
		}
		if refused && echoes(rec.Body.String(), host, target, baseline) {
			t.Fatalf("an unknown Host %q is echoed: %s", host, rec.Body.String())
		}
		walkEmitted(t, out, "")
	})
}
