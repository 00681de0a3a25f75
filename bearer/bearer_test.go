package bearer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// issuer hands out numbered tokens and remembers every request.
type issuer struct {
	mu   sync.Mutex
	reqs []policy.TokenRequestOptions
	err  error
}

func (c *issuer) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, o)
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: fmt.Sprintf("tok-%d", len(c.reqs)), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// api challenges requests whose token is in challenge, and echoes the others.
type api struct {
	mu        sync.Mutex
	challenge map[string]string // token -> WWW-Authenticate value
	auths     []string
	bodies    []string
}

func (s *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	s.auths = append(s.auths, auth)
	s.bodies = append(s.bodies, string(b))
	if h, ok := s.challenge[strings.TrimPrefix(auth, "Bearer ")]; ok {
		w.Header().Set("WWW-Authenticate", h)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = fmt.Fprintf(w, "%s|%s", auth, b)
}

func caeHeader(claims string) string {
	return `Bearer realm="", error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(claims)) + `"`
}

const claims = `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`

func setup(t *testing.T, challenge map[string]string) (*issuer, *api, *httptest.Server, *http.Client) {
	t.Helper()
	cred := &issuer{}
	s := &api{challenge: challenge}
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &Transport{Credential: cred, Scopes: []string{"api://x/.default"}, TenantID: "t1",
		Base: srv.Client().Transport}}
	return cred, s, srv, hc
}

// tb lets read take a (response, error) pair directly.
type tb struct{ *testing.T }

func (t tb) read(resp *http.Response, err error) (int, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTransportAuthorizes(t *testing.T) {
	cred, s, srv, hc := setup(t, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	code, body := (tb{t}).read(hc.Do(req))
	if code != 200 || body != "Bearer tok-1|" {
		t.Fatalf("%d %q", code, body)
	}
	if req.Header.Get("Authorization") != "" {
		t.Fatal("the caller's request was modified")
	}
	want := policy.TokenRequestOptions{Scopes: []string{"api://x/.default"}, TenantID: "t1", EnableCAE: true}
	if !reflect.DeepEqual(cred.reqs, []policy.TokenRequestOptions{want}) || len(s.auths) != 1 {
		t.Fatalf("token requests %+v, %d API calls", cred.reqs, len(s.auths))
	}
	hc.Transport.(*Transport).DisableCAE = true
	tb{t}.read(hc.Get(srv.URL))
	if cred.reqs[1].EnableCAE {
		t.Fatal("DisableCAE ignored")
	}
}

func TestTransportClaimsChallenge(t *testing.T) {
	cred, s, srv, hc := setup(t, map[string]string{"tok-1": caeHeader(claims)})
	code, body := (tb{t}).read(hc.Post(srv.URL, "text/plain", strings.NewReader("payload")))
	if code != 200 || body != "Bearer tok-2|payload" {
		t.Fatalf("%d %q", code, body)
	}
	if len(cred.reqs) != 2 || cred.reqs[1].Claims != claims || !cred.reqs[1].EnableCAE || cred.reqs[0].Claims != "" {
		t.Fatalf("token requests %+v", cred.reqs)
	}
	if !reflect.DeepEqual(s.bodies, []string{"payload", "payload"}) {
		t.Fatalf("bodies %q", s.bodies)
	}
	// A GET (no body) is retried too.
	cred, _, srv, hc = setup(t, map[string]string{"tok-1": caeHeader(claims)})
	if code, _ := (tb{t}).read(hc.Get(srv.URL)); code != 200 || len(cred.reqs) != 2 {
		t.Fatalf("GET: %d, %d token requests", code, len(cred.reqs))
	}
}

func TestTransportRetriesOnce(t *testing.T) {
	cred, s, srv, hc := setup(t, map[string]string{"tok-1": caeHeader(claims), "tok-2": caeHeader(claims)})
	if code, _ := (tb{t}).read(hc.Get(srv.URL)); code != http.StatusUnauthorized {
		t.Fatalf("status %d, want the second 401", code)
	}
	if len(cred.reqs) != 2 || len(s.auths) != 2 {
		t.Fatalf("%d token requests, %d API calls; want 2 and 2", len(cred.reqs), len(s.auths))
	}
}

func TestTransportLeaves401sAlone(t *testing.T) {
	for name, h := range map[string]string{
		"no claims":      `Bearer realm="", error="invalid_token"`,
		"other error":    `Bearer error="invalid_token", claims="` + base64.StdEncoding.EncodeToString([]byte(claims)) + `"`,
		"bad base64":     `Bearer error="insufficient_claims", claims="%%%not base64"`,
		"other scheme":   `PoP error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(claims)) + `"`,
		"empty claims":   `Bearer error="insufficient_claims", claims=""`,
		"no www-auth":    "",
		"garbage header": `,,, =" Bearer`,
	} {
		cred, _, srv, hc := setup(t, map[string]string{"tok-1": h})
		if code, _ := (tb{t}).read(hc.Get(srv.URL)); code != http.StatusUnauthorized || len(cred.reqs) != 1 {
			t.Errorf("%s: status %d, %d token requests; want the 401 and 1", name, code, len(cred.reqs))
		}
	}
}

func TestTransportErrors(t *testing.T) {
	cred, s, srv, hc := setup(t, nil)
	// Plain http is refused before any token is requested.
	if _, err := hc.Get(strings.Replace(srv.URL, "https://", "http://", 1)); !errors.Is(err, ErrInsecure) || len(cred.reqs) != 0 {
		t.Fatalf("http: %v, %d token requests", err, len(cred.reqs))
	}
	// A credential error is returned, wrapped; the API is not called.
	cred.err = errors.New("authority down")
	_, err := hc.Get(srv.URL)
	if !errors.Is(err, cred.err) || len(s.auths) != 0 {
		t.Fatalf("credential error: %v, %d API calls", err, len(s.auths))
	}
	// A failure to meet the challenge is returned as an error.
	cred, _, srv, hc = setup(t, map[string]string{"tok-1": caeHeader(claims)})
	hc.Transport = &failSecond{Transport: hc.Transport.(*Transport), cred: cred}
	if _, err := hc.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "claims refused") {
		t.Fatalf("challenge failure: %v", err)
	}
	// Misconfigured transports fail clearly.
	if _, err := (&http.Client{Transport: &Transport{}}).Get(srv.URL); err == nil || !strings.Contains(err.Error(), "Credential") {
		t.Fatalf("empty transport: %v", err)
	}
}

func TestTransportErrorHidesQuery(t *testing.T) {
	const secret = "sig=SuperSecretSignature0123456789"
	cred := &issuer{err: errors.New("authority down")}
	tr := &Transport{Credential: cred, Scopes: []string{"s"}}
	req, err := http.NewRequest(http.MethodGet, "https://user:pw@storage.example.com/container/blob?sv=2024&"+secret+"#frag", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.RoundTrip(req)
	if !errors.Is(err, cred.err) {
		t.Fatalf("credential error not wrapped: %v", err)
	}
	msg := err.Error()
	for _, leak := range []string{"SuperSecretSignature", "sv=2024", "user", "pw@", "frag", "?"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q shows %q", msg, leak)
		}
	}
	if !strings.Contains(msg, "https://storage.example.com/container/blob") {
		t.Errorf("error %q does not name the request's scheme, host and path", msg)
	}
}

// failSecond makes the credential fail once a claims request arrives.
type failSecond struct {
	*Transport
	cred *issuer
}

func (f *failSecond) RoundTrip(r *http.Request) (*http.Response, error) {
	inner := *f.Transport
	inner.Credential = credFunc(func(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
		if o.Claims != "" {
			return azcore.AccessToken{}, errors.New("claims refused")
		}
		return f.cred.GetToken(ctx, o)
	})
	return inner.RoundTrip(r)
}

type credFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f credFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

func TestTransportAllowHTTP(t *testing.T) {
	cred := &issuer{}
	srv := httptest.NewServer(&api{})
	defer srv.Close()
	hc := &http.Client{Transport: &Transport{Credential: cred, Scopes: []string{"s"}, AllowHTTP: true}}
	if code, body := (tb{t}).read(hc.Get(srv.URL)); code != 200 || body != "Bearer tok-1|" {
		t.Fatalf("%d %q", code, body)
	}
}

// TestRedirectToAnotherHostCarriesNoToken: http.Client strips Authorization
// on a cross-host redirect; the Transport must not attach a token again.
func TestRedirectToAnotherHostCarriesNoToken(t *testing.T) {
	thief := &api{}
	thiefSrv := httptest.NewTLSServer(thief)
	t.Cleanup(thiefSrv.Close)
	// The thief is reached as "localhost", the origin as 127.0.0.1: another host.
	thiefURL := strings.Replace(thiefSrv.URL, "127.0.0.1", "localhost", 1) + "/collect"
	var originAuths []string
	var mu sync.Mutex
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		originAuths = append(originAuths, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			_, _ = io.WriteString(w, "ok")
		case "/post":
			http.Redirect(w, r, thiefURL, http.StatusTemporaryRedirect)
		default:
			http.Redirect(w, r, thiefURL, http.StatusFound)
		}
	}))
	t.Cleanup(origin.Close)
	base := origin.Client().Transport.(*http.Transport).Clone()
	base.TLSClientConfig.InsecureSkipVerify = true // both test servers; names differ from the cert's
	hc := &http.Client{Transport: &Transport{Credential: &issuer{}, Scopes: []string{"api://x/.default"}, Base: base}}

	for _, tc := range []struct{ method, path string }{{"GET", "/get"}, {"POST", "/post"}} {
		req, _ := http.NewRequest(tc.method, origin.URL+tc.path, strings.NewReader("body"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		drain(resp)
	}
	resp, err := hc.Get(origin.URL + "/same")
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)

	thief.mu.Lock()
	defer thief.mu.Unlock()
	if len(thief.auths) != 2 {
		t.Fatalf("thief saw %d requests, want 2 (one per redirect)", len(thief.auths))
	}
	for i, a := range thief.auths {
		if a != "" {
			t.Errorf("redirect %d to another host carried Authorization %q", i, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range originAuths {
		if !strings.HasPrefix(a, "Bearer tok-") {
			t.Errorf("origin request %d had Authorization %q, want a bearer token (same-host redirects keep it)", i, a)
		}
	}
}
