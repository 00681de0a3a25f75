package authority

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcred/appcred/internal/wire"
)

// idp is a real TLS server on 127.0.0.1 that counts requests per path.
type idp struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func (s *idp) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func newIDP(t testing.TB, h func(w http.ResponseWriter, r *http.Request)) *idp {
	t.Helper()
	s := &idp{hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func wireFor(hc *http.Client) *wire.Client {
	c := wire.New(hc)
	c.BaseDelay, c.MaxDelay = time.Millisecond, 2*time.Millisecond
	return c
}

func mustParse(t *testing.T, raw string) Info {
	t.Helper()
	a, err := Parse(raw, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// entraDoc serves an Entra-shaped templated OIDC document rooted at base.
func entraDoc(base string) string {
	return fmt.Sprintf(`{"token_endpoint":"%[1]s/{tenant}/oauth2/v2.0/token","issuer":"%[1]s/{tenantid}/v2.0",
		"authorization_endpoint":"%[1]s/{tenant}/oauth2/v2.0/authorize","jwks_uri":"%[1]s/{tenant}/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"]}`, base)
}

func TestResolveEntraLoopback(t *testing.T) {
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/contoso.example/v2.0/.well-known/openid-configuration" {
			fmt.Fprint(w, entraDoc(srv.URL))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	ep, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/Contoso.Example"))
	if err != nil {
		t.Fatal(err)
	}
	if ep.TokenEndpoint != srv.URL+"/contoso.example/oauth2/v2.0/token" || ep.Issuer != srv.URL+"/contoso.example/v2.0" ||
		ep.JWKSURI != srv.URL+"/contoso.example/discovery/v2.0/keys" || ep.V1TokenEndpoint != srv.URL+"/contoso.example/oauth2/token" ||
		ep.PreferredSecretMethod() != MethodSecretPost || !ep.Supports(MethodPrivateKeyJWT) || ep.Aliases != nil {
		t.Fatalf("endpoints %+v", ep)
	}
	if n := srv.count("/common/discovery/instance"); n != 0 {
		t.Fatalf("instance discovery ran %d times for a loopback host", n)
	}
}

func TestResolveKeepsDiscoveredTenantForm(t *testing.T) {
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"token_endpoint":"%[1]s/0000-guid/oauth2/v2.0/token","issuer":"%[1]s/0000-guid/v2.0"}`, srv.URL)
	})
	ep, err := NewResolver(wireFor(srv.Client()), ResolverOptions{}).Resolve(context.Background(), mustParse(t, srv.URL+"/contoso.example"))
	if err != nil || ep.V1TokenEndpoint != srv.URL+"/0000-guid/oauth2/token" || ep.PreferredSecretMethod() != MethodSecretPost {
		t.Fatalf("%+v, %v", ep, err)
	}
}

func TestResolveADFS(t *testing.T) {
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/adfs/.well-known/openid-configuration" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"issuer":"%[1]s/adfs","token_endpoint":"%[1]s/adfs/oauth2/token/","jwks_uri":"%[1]s/adfs/discovery/keys"}`, srv.URL)
	})
	a := mustParse(t, srv.URL+"/adfs")
	ep, err := NewResolver(wireFor(srv.Client()), ResolverOptions{ValidateAuthority: true}).Resolve(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != ADFS || ep.TokenEndpoint != srv.URL+"/adfs/oauth2/token/" || ep.V1TokenEndpoint != "" || ep.PreferredSecretMethod() != MethodSecretPost {
		t.Fatalf("%+v %+v", a, ep)
	}
	if srv.count("/common/discovery/instance") != 0 {
		t.Fatal("instance discovery ran for AD FS")
	}
}

func TestResolveGeneric(t *testing.T) {
	var methods string
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/realms/prod/.well-known/openid-configuration" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"issuer":"%[1]s/realms/prod","token_endpoint":"%[1]s/realms/prod/protocol/openid-connect/token"%[2]s}`, srv.URL, methods)
	})
	for _, c := range []struct {
		methods, prefer string
		jwt             bool
	}{
		{`,"token_endpoint_auth_methods_supported":["client_secret_basic","private_key_jwt"]`, MethodSecretBasic, true},
		{`,"token_endpoint_auth_methods_supported":["private_key_jwt"]`, "", true},
		{`,"token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"]`, MethodSecretPost, false},
		{``, MethodSecretBasic, false},
	} {
		methods = c.methods
		a, err := ParseIssuer(srv.URL+"/realms/prod/", ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := NewResolver(wireFor(srv.Client()), ResolverOptions{ValidateAuthority: true}).Resolve(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if ep.TokenEndpoint != srv.URL+"/realms/prod/protocol/openid-connect/token" || ep.PreferredSecretMethod() != c.prefer ||
			ep.Supports(MethodPrivateKeyJWT) != c.jwt || ep.V1TokenEndpoint != "" {
			t.Fatalf("methods %s: %+v prefer %q", c.methods, ep, ep.PreferredSecretMethod())
		}
	}
	if srv.count("/common/discovery/instance") != 0 {
		t.Fatal("instance discovery ran for a generic issuer")
	}
}

func TestResolveRejectsBadDocuments(t *testing.T) {
	var doc string
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.ReplaceAll(doc, "BASE", srv.URL))
	})
	cases := []struct {
		name, doc string
		generic   bool
		want      error
		text      string
	}{
		{"missing token_endpoint", `{"issuer":"BASE/t1/v2.0"}`, false, ErrDiscovery, "no token_endpoint"},
		{"http token_endpoint", `{"token_endpoint":"http://evil.example/t1/token"}`, false, ErrDiscovery, "https"},
		{"relative token_endpoint", `{"token_endpoint":"/t1/token"}`, false, ErrDiscovery, "absolute"},
		{"entra issuer elsewhere", `{"token_endpoint":"BASE/t1/token","issuer":"https://evil.example/t1/v2.0"}`, false, ErrIssuerMismatch, "evil.example"},
		{"generic issuer mismatch", `{"token_endpoint":"BASE/token","issuer":"https://evil.example"}`, true, ErrIssuerMismatch, "evil.example"},
		{"generic issuer missing", `{"token_endpoint":"BASE/token"}`, true, ErrIssuerMismatch, "configured"},
		{"wrong types", `{"token_endpoint":5}`, false, wire.ErrInvalidResponse, "token_endpoint"},
		{"not JSON", `<html>`, false, wire.ErrNotJSON, "not JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc = c.doc
			a := mustParse(t, srv.URL+"/t1")
			if c.generic {
				a, _ = ParseIssuer(srv.URL, ParseOptions{})
			}
			_, err := NewResolver(wireFor(srv.Client()), ResolverOptions{}).Resolve(context.Background(), a)
			if !errors.Is(err, ErrDiscovery) || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) ||
				!strings.Contains(err.Error(), a.URL()) {
				t.Fatalf("err = %v, want %v mentioning %q and the authority", err, c.want, c.text)
			}
		})
	}
	if _, err := NewResolver(nil, ResolverOptions{}).Resolve(context.Background(), Info{}); !errors.Is(err, ErrInvalidAuthority) {
		t.Fatalf("zero Info: %v", err)
	}
}

func TestResolveConcurrentCallersShareOneFetch(t *testing.T) {
	release := make(chan struct{})
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, entraDoc(srv.URL))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	a := mustParse(t, srv.URL+"/t1")
	const callers = 100
	var started, done sync.WaitGroup
	var failures atomic.Int32
	started.Add(callers)
	done.Add(callers)
	for range callers {
		go func() {
			defer done.Done()
			started.Done()
			ep, err := r.Resolve(context.Background(), a)
			if err != nil || ep.TokenEndpoint != srv.URL+"/t1/oauth2/v2.0/token" {
				failures.Add(1)
			}
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d callers failed", failures.Load())
	}
	if n := srv.count("/t1/v2.0/.well-known/openid-configuration"); n != 1 {
		t.Fatalf("%d discovery GETs for %d callers, want 1", n, callers)
	}
}

func TestResolveCachesSuccessNotFailure(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, entraDoc(srv.URL))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	now := time.Unix(1_700_000_000, 0)
	r.now = func() time.Time { return now }
	a := mustParse(t, srv.URL+"/t1")
	path := "/t1/v2.0/.well-known/openid-configuration"
	_, err := r.Resolve(context.Background(), a)
	var we *wire.Error
	if !errors.As(err, &we) || we.StatusCode != 500 || srv.count(path) != 1+wire.DefaultMaxRetries {
		t.Fatalf("err = %v after %d GETs", err, srv.count(path))
	}
	fail.Store(false)
	for range 3 {
		if _, err := r.Resolve(context.Background(), a); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	if n := srv.count(path); n != 2+wire.DefaultMaxRetries {
		t.Fatalf("%d GETs, want one more after the failure", n)
	}
	now = now.Add(25 * time.Hour)
	if _, err := r.Resolve(context.Background(), a); err != nil || srv.count(path) != 3+wire.DefaultMaxRetries {
		t.Fatalf("after TTL: %v, %d GETs", err, srv.count(path))
	}
	r.Forget(a)
	if _, err := r.Resolve(context.Background(), a); err != nil || srv.count(path) != 4+wire.DefaultMaxRetries {
		t.Fatalf("after Forget: %v, %d GETs", err, srv.count(path))
	}
}

func TestResolveCallerContextDoesNotCancelSharedFetch(t *testing.T) {
	release := make(chan struct{})
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, entraDoc(srv.URL))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	a := mustParse(t, srv.URL+"/t1")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := r.Resolve(ctx, a); errc <- err }()
	for srv.count("/t1/v2.0/.well-known/openid-configuration") == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrDiscovery) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if _, err := r.Resolve(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/t1/v2.0/.well-known/openid-configuration"); n != 1 {
		t.Fatalf("%d GETs, want the detached fetch to be reused", n)
	}
}

func TestInvalidInstance(t *testing.T) {
	srv := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/common/discovery/instance" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance.\r\nTrace ID: x","error_codes":[50049],"trace_id":"x"}`)
			return
		}
		fmt.Fprint(w, `{"token_endpoint":"https://127.0.0.1/t1/token"}`)
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{ValidateAuthority: true, InstanceDiscoveryURL: srv.URL + "/common/discovery/instance"})
	_, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/t1"))
	if !errors.Is(err, ErrInvalidInstance) || !wire.HasCode(err, 50049) || !strings.Contains(err.Error(), "AADSTS50049") {
		t.Fatalf("err = %v", err)
	}
	if srv.count("/t1/v2.0/.well-known/openid-configuration") != 0 || srv.count("/common/discovery/instance") != 1 {
		t.Fatal("document fetched despite invalid_instance, or instance discovery retried")
	}
	// Disabling instance discovery wins over ValidateAuthority.
	r = NewResolver(wireFor(srv.Client()), ResolverOptions{ValidateAuthority: true, DisableInstanceDiscovery: true,
		InstanceDiscoveryURL: srv.URL + "/common/discovery/instance"})
	if _, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/t1")); err != nil {
		t.Fatal(err)
	}
	if srv.count("/common/discovery/instance") != 1 {
		t.Fatal("instance discovery ran although disabled")
	}
}

// Generic issuers get client_secret_basic whenever they support it; Entra and
// AD FS keep client_secret_post (what MSAL sends).
func TestSecretMethodByKind(t *testing.T) {
	both := Endpoints{AuthMethods: []string{MethodSecretPost, MethodSecretBasic, MethodPrivateKeyJWT}}
	postOnly := Endpoints{AuthMethods: []string{MethodSecretPost}}
	jwtOnly := Endpoints{AuthMethods: []string{MethodPrivateKeyJWT}}
	for _, c := range []struct {
		ep   Endpoints
		kind Kind
		want string
	}{
		{both, Generic, MethodSecretBasic}, {both, Entra, MethodSecretPost}, {both, ADFS, MethodSecretPost},
		{postOnly, Generic, MethodSecretPost}, {Endpoints{}, Generic, MethodSecretBasic}, {jwtOnly, Generic, ""},
	} {
		if got := c.ep.SecretMethod(c.kind); got != c.want {
			t.Errorf("%s with %v: %q, want %q", c.kind, c.ep.AuthMethods, got, c.want)
		}
	}
}
