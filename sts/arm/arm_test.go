package arm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/internal/fakehost"
	"github.com/appcred/appcred/sts/arm"
	"github.com/appcred/appcred/sts/intercept"
)

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "11111111-2222-3333-4444-555555555555"
	subA1   = "00000000-0000-0000-0000-0000000000a1"
	subA2   = "00000000-0000-0000-0000-0000000000a2"
	subB1   = "00000000-0000-0000-0000-0000000000b1"
)

// signer makes RS256 tokens and verifies them with golang-jwt, as the local
// authority's VerifyToken does (signature and lifetime; the handler checks
// aud and tid).
type signer struct{ key *rsa.PrivateKey }

func newSigner(t *testing.T) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{k}
}

func (s signer) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s signer) verify(token string) (map[string]any, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired()).
		ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil })
	return claims, err
}

func newHandler(t *testing.T, s signer, subs []arm.Subscription) http.Handler {
	t.Helper()
	h, err := arm.Handler(arm.Options{Subscriptions: subs, Verify: s.verify,
		Tenants: []arm.Tenant{{ID: tenantA, DisplayName: "Contoso", DefaultDomain: "contoso.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var testSubs = []arm.Subscription{
	{ID: subA1, DisplayName: "Dev", TenantID: tenantA},
	{ID: strings.ToUpper(subA2), DisplayName: "Test", TenantID: strings.ToUpper(tenantA)},
	{ID: subB1, DisplayName: "Other", TenantID: tenantB},
}

// through returns a client that reaches h, served over TLS on 127.0.0.1 as
// management.azure.com, through the intercept proxy, as the Azure CLI does.
func through(t *testing.T, h http.Handler) *http.Client {
	t.Helper()
	srv, tr := fakehost.Start(t, intercept.CertificateHosts(), h)
	p := &intercept.Proxy{Identity: intercept.TCP(srv.Listener.Addr().String())}
	ln, err := intercept.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	t.Cleanup(func() { _ = p.Close() })
	ctr := &http.Transport{
		Proxy:           http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()}),
		TLSClientConfig: &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(ctr.CloseIdleConnections)
	return &http.Client{Transport: ctr, Timeout: 10 * time.Second}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	array  []any
}

func call(t *testing.T, c *http.Client, method, u, token string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: Content-Type %q", method, u, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(data, &r.body); err != nil {
		if err := json.Unmarshal(data, &r.array); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, u, resp.StatusCode, data)
		}
	}
	return r
}

func TestSubscriptionsAsAzureCLIReadsThem(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, testSubs))
	tokA := s.token(t, jwt.MapClaims{"aud": "https://management.core.windows.net/", "tid": tenantA})
	r := call(t, c, "GET", "https://management.azure.com/subscriptions?api-version=2019-11-01", tokA)
	if r.status != 200 {
		t.Fatalf("GET /subscriptions: %d %v", r.status, r.body)
	}
	value, _ := r.body["value"].([]any)
	if len(value) != 2 {
		t.Fatalf("tenant A sees %d subscriptions, want 2: %v", len(value), r.body)
	}
	first, _ := value[0].(map[string]any)
	want := map[string]any{"id": "/subscriptions/" + subA1, "subscriptionId": subA1, "tenantId": tenantA,
		"displayName": "Dev", "state": "Enabled", "authorizationSource": "RoleBased"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("subscription %s = %v, want %v", k, first[k], v)
		}
	}
	if second, _ := value[1].(map[string]any); second["subscriptionId"] != subA2 || second["tenantId"] != tenantA {
		t.Errorf("ids are not normalised to lower case: %v", second)
	}
	// One subscription, by id, in any case; another tenant's is not found.
	r = call(t, c, "GET", "https://management.azure.com/subscriptions/"+strings.ToUpper(subA1)+"?api-version=2022-12-01", tokA)
	if r.status != 200 || r.body["subscriptionId"] != subA1 {
		t.Errorf("GET /subscriptions/{id}: %d %v", r.status, r.body)
	}
	r = call(t, c, "GET", "https://management.azure.com/subscriptions/"+subB1+"?api-version=2022-12-01", tokA)
	if r.status != 404 || armCode(r) != "SubscriptionNotFound" {
		t.Errorf("another tenant's subscription: %d %v", r.status, r.body)
	}
	r = call(t, c, "GET", "https://management.azure.com/subscriptions/not-a-guid?api-version=2022-12-01", tokA)
	if r.status != 400 || armCode(r) != "InvalidSubscriptionId" {
		t.Errorf("malformed subscription id: %d %v", r.status, r.body)
	}
	// A token for tenant B (array aud, ARM audience) sees only B's.
	tokB := s.token(t, jwt.MapClaims{"aud": []string{"https://management.azure.com"}, "tid": tenantB})
	r = call(t, c, "GET", "https://management.azure.com/Subscriptions/?api-version=2016-06-01", tokB)
	if v, _ := r.body["value"].([]any); r.status != 200 || len(v) != 1 {
		t.Errorf("tenant B: %d %v", r.status, r.body)
	}
}

func TestNoSubscriptionsAnswersEmptyValue(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, nil))
	tok := s.token(t, jwt.MapClaims{"aud": "https://management.core.windows.net/", "tid": tenantA})
	resp, err := c.Do(mustReq(t, "https://management.azure.com/subscriptions?api-version=2019-11-01", tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"value":[]}` {
		t.Errorf("no subscriptions: %d %s; want 200 {\"value\":[]}", resp.StatusCode, body)
	}
}

func mustReq(t *testing.T, u, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

func armCode(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	if msg, _ := e["message"].(string); msg == "" {
		return "(no message)"
	}
	return code
}

func TestTenants(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, testSubs))
	for tid, name := range map[string]string{tenantA: "Contoso", tenantB: ""} {
		tok := s.token(t, jwt.MapClaims{"aud": "https://management.core.windows.net/", "tid": tid})
		r := call(t, c, "GET", "https://management.azure.com/tenants?api-version=2020-01-01", tok)
		v, _ := r.body["value"].([]any)
		if r.status != 200 || len(v) != 1 {
			t.Fatalf("GET /tenants: %d %v", r.status, r.body)
		}
		got, _ := v[0].(map[string]any)
		if got["id"] != "/tenants/"+tid || got["tenantId"] != tid || got["tenantCategory"] != "Home" {
			t.Errorf("tenant = %v", got)
		}
		if dn, _ := got["displayName"].(string); dn != name {
			t.Errorf("tenant %s displayName = %q, want %q", tid, dn, name)
		}
	}
}

func TestUnauthenticatedCallsGetARMs401(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, testSubs))
	other := newSigner(t)
	for _, tc := range []struct {
		name, token, code string
	}{
		{"no token", "", "AuthenticationFailed"},
		{"not a JWT", "garbage", "InvalidAuthenticationToken"},
		{"another issuer's key", other.token(t, jwt.MapClaims{"aud": "https://management.azure.com/", "tid": tenantA}), "InvalidAuthenticationToken"},
		{"expired", s.token(t, jwt.MapClaims{"aud": "https://management.azure.com/", "tid": tenantA, "exp": time.Now().Add(-time.Hour).Unix()}), "InvalidAuthenticationToken"},
		{"graph audience", s.token(t, jwt.MapClaims{"aud": "https://graph.microsoft.com", "tid": tenantA}), "InvalidAuthenticationTokenAudience"},
		{"no audience", s.token(t, jwt.MapClaims{"tid": tenantA}), "InvalidAuthenticationTokenAudience"},
		{"no tenant", s.token(t, jwt.MapClaims{"aud": "https://management.azure.com/"}), "InvalidAuthenticationToken"},
	} {
		for _, path := range []string{"/subscriptions", "/subscriptions/" + subA1, "/tenants"} {
			r := call(t, c, "GET", "https://management.azure.com"+path+"?api-version=2019-11-01", tc.token)
			if r.status != 401 || armCode(r) != tc.code {
				t.Errorf("%s, %s: %d %v; want 401 %s", tc.name, path, r.status, r.body, tc.code)
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, `Bearer authorization_uri="https://login.microsoftonline.com/", error="invalid_token"`) {
				t.Errorf("%s: WWW-Authenticate %q", tc.name, ch)
			}
			if tc.token != "" && strings.Contains(ch+r.body["error"].(map[string]any)["message"].(string), tc.token) {
				t.Errorf("%s: the token is echoed", tc.name)
			}
		}
	}
	// Bearer in another case and Basic.
	req := mustReq(t, "https://management.azure.com/tenants?api-version=1", "")
	req.Header.Set("Authorization", "Basic dXNlcjpwdw==")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("Basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestOtherARMSurfaceIsNotServed(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, testSubs))
	tok := s.token(t, jwt.MapClaims{"aud": "https://management.azure.com/", "tid": tenantA})
	for _, tc := range []struct{ method, path, code string }{
		{"GET", "/subscriptions/" + subA1 + "/resourcegroups?api-version=2021-04-01", "NotFound"},
		{"GET", "/providers?api-version=2021-04-01", "NotFound"},
		{"GET", "/?api-version=2021-04-01", "NotFound"},
		{"PUT", "/subscriptions/" + subA1 + "?api-version=2021-04-01", "MethodNotAllowed"},
		{"GET", "/subscriptions", "MissingApiVersionParameter"},
	} {
		r := call(t, c, tc.method, "https://management.azure.com"+tc.path, tok)
		if armCode(r) != tc.code || r.status < 400 {
			t.Errorf("%s %s: %d %v; want %s", tc.method, tc.path, r.status, r.body, tc.code)
		}
	}
}

func TestMetadataEndpoints(t *testing.T) {
	s := newSigner(t)
	c := through(t, newHandler(t, s, nil))
	// The shape az cloud register reads (2015-01-01), with no token, as in ARM.
	r := call(t, c, "GET", "https://management.azure.com/metadata/endpoints?api-version=2015-01-01", "")
	auth, _ := r.body["authentication"].(map[string]any)
	aud, _ := auth["audiences"].([]any)
	if r.status != 200 || auth["loginEndpoint"] != "https://login.microsoftonline.com/" || len(aud) == 0 ||
		aud[0] != "https://management.core.windows.net/" || r.body["galleryEndpoint"] != "https://gallery.azure.com/" ||
		r.body["graphEndpoint"] != "https://graph.windows.net/" {
		t.Errorf("metadata 2015-01-01: %d %v", r.status, r.body)
	}
	// The array shape, per cloud by host.
	for host, want := range map[string][2]string{
		"management.azure.com":         {"AzureCloud", "https://login.microsoftonline.com/"},
		"management.usgovcloudapi.net": {"AzureUSGovernment", "https://login.microsoftonline.us/"},
		"management.chinacloudapi.cn":  {"AzureChinaCloud", "https://login.chinacloudapi.cn/"},
	} {
		r = call(t, c, "GET", "https://"+host+"/metadata/endpoints?api-version=2022-09-01", "")
		if r.status != 200 || len(r.array) != 1 {
			t.Fatalf("%s metadata 2022-09-01: %d %v %v", host, r.status, r.body, r.array)
		}
		cl, _ := r.array[0].(map[string]any)
		auth, _ := cl["authentication"].(map[string]any)
		suffixes, _ := cl["suffixes"].(map[string]any)
		if cl["name"] != want[0] || auth["loginEndpoint"] != want[1] || cl["resourceManager"] != "https://"+host+"/" ||
			cl["graphAudience"] == nil || cl["vmImageAliasDoc"] == nil || cl["media"] == nil || cl["batch"] == nil ||
			cl["sqlManagement"] == nil || cl["gallery"] == nil || suffixes["storage"] == nil ||
			suffixes["keyVaultDns"] == nil || suffixes["sqlServerHostname"] == nil {
			t.Errorf("%s metadata lacks what azure-cli reads: %v", host, cl)
		}
	}
}

func TestMetadataOnTheAuthoritysOwnHost(t *testing.T) {
	h, err := arm.Handler(arm.Options{Verify: newSigner(t).verify, LoginEndpoint: "https://localhost:8443/"})
	if err != nil {
		t.Fatal(err)
	}
	srv, tr := fakehost.Start(t, []string{"localhost"}, h)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	r := call(t, c, "GET", "https://localhost:"+port+"/metadata/endpoints?api-version=2019-05-01", "")
	cl, _ := r.array[0].(map[string]any)
	auth, _ := cl["authentication"].(map[string]any)
	if cl["resourceManager"] != "https://localhost:"+port+"/" || auth["loginEndpoint"] != "https://localhost:8443/" {
		t.Errorf("metadata on the authority's own host: %v", cl)
	}
}

func TestHandlerRejectsBadOptions(t *testing.T) {
	v := newSigner(t).verify
	for _, tc := range []struct {
		o    arm.Options
		want string
	}{
		{arm.Options{}, "Verify"},
		{arm.Options{Verify: v, Subscriptions: []arm.Subscription{{ID: "x", DisplayName: "a", TenantID: tenantA}}}, `id "x"`},
		{arm.Options{Verify: v, Subscriptions: []arm.Subscription{{ID: subA1, DisplayName: "a", TenantID: "contoso"}}}, `tenant "contoso"`},
		{arm.Options{Verify: v, Subscriptions: []arm.Subscription{{ID: subA1, DisplayName: " ", TenantID: tenantA}}}, "display name"},
		{arm.Options{Verify: v, Subscriptions: []arm.Subscription{testSubs[0], {ID: strings.ToUpper(subA1), DisplayName: "b", TenantID: tenantA}}}, "twice"},
		{arm.Options{Verify: v, Tenants: []arm.Tenant{{ID: "t"}}}, `tenant 1: id "t"`},
	} {
		if _, err := arm.Handler(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Handler(%+v) = %v; want an error naming %s", tc.o, err, tc.want)
		}
	}
}
