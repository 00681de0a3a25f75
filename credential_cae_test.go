package appcred

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/bearer"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

// challengeClaims is what the resource server demands in its claims
// challenge: the authentication context c1 (step-up).
const challengeClaims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`

// resourceServer is a TLS API that accepts only tokens signed by the local
// authority for the seed app. With stepUp, a token must also carry the
// authentication context c1 ("acrs"); one without it gets a claims challenge.
type resourceServer struct {
	*httptest.Server
	mu         sync.Mutex
	keys       map[string]*rsa.PublicKey
	tenant     string
	clientID   string
	stepUp     bool
	challenges int
	tokens     []string // tokens presented, in order
	bodies     []string // request bodies received, in order
}

func startResource(t *testing.T, a *sts.Authority) *resourceServer {
	t.Helper()
	rs := &resourceServer{tenant: a.Seed().TenantID, clientID: a.Seed().ClientID, keys: jwks(t, a), stepUp: true}
	rs.Server = httptest.NewTLSServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.Close)
	return rs
}

// jwks fetches the authority's signing keys.
func jwks(t *testing.T, a *sts.Authority) map[string]*rsa.PublicKey {
	t.Helper()
	resp, err := a.HTTPClient().Get(a.TenantURL(a.Seed().TenantID) + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string   `json:"kid"`
			X5C []string `json:"x5c"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		certs, err := proof.ParseX5C(k.X5C)
		if err != nil || len(certs) == 0 {
			t.Fatalf("JWKS key %s: %v", k.Kid, err)
		}
		keys[k.Kid] = certs[0].PublicKey.(*rsa.PublicKey)
	}
	return keys
}

func (rs *resourceServer) serve(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	claims, err := rs.verify(tok)
	if !ok || err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.tokens = append(rs.tokens, tok)
	rs.bodies = append(rs.bodies, string(body))
	if rs.stepUp && !hasValue(claims["acrs"], "c1") {
		rs.challenges++
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(
			`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="%s"`,
			base64.StdEncoding.EncodeToString([]byte(challengeClaims))))
		http.Error(w, "claims challenge", http.StatusUnauthorized)
		return
	}
	_, _ = fmt.Fprintf(w, "ok:%s", body)
}

// hasValue reports whether a JSON array claim holds s.
func hasValue(claim any, s string) bool {
	list, _ := claim.([]any)
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (rs *resourceServer) verify(tok string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k := rs.keys[kid]; k != nil {
			return k, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	if claims["tid"] != rs.tenant || claims["appid"] != rs.clientID && claims["azp"] != rs.clientID {
		return nil, fmt.Errorf("token for tid %v app %v", claims["tid"], claims["appid"])
	}
	return claims, nil
}

func (rs *resourceServer) seen() ([]string, []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.tokens...), append([]string(nil), rs.bodies...)
}

// checkCAERound checks the authority saw a CAE request, then one carrying the
// challenge's claims merged with CP1, and the resource two different tokens,
// the second carrying the claims (acrs c1) and the capability (xms_cc cp1).
func checkCAERound(t *testing.T, rec *formRecorder, rs *resourceServer, body string) {
	t.Helper()
	if n := rec.count(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	if got := rec.form(t, 0).Get("claims"); !jsonEqual(t, got, cp1) {
		t.Errorf("first token request claims %q, want %s", got, cp1)
	}
	want := `{"access_token":{"acrs":{"essential":true,"value":"c1"},"xms_cc":{"values":["CP1"]}}}`
	if got := rec.form(t, 1).Get("claims"); !jsonEqual(t, got, want) {
		t.Errorf("second token request claims %q, want %s", got, want)
	}
	tokens, bodies := rs.seen()
	if len(tokens) != 2 || tokens[0] == tokens[1] {
		t.Fatalf("resource saw %d tokens (distinct: %t), want 2 distinct", len(tokens), len(tokens) == 2 && tokens[0] != tokens[1])
	}
	second, err := rs.verify(tokens[1])
	if err != nil || !hasValue(second["acrs"], "c1") || !hasValue(second["xms_cc"], "cp1") {
		t.Fatalf("the token after the challenge lacks the claims: acrs %v, xms_cc %v, err %v", second["acrs"], second["xms_cc"], err)
	}
	if first, _ := rs.verify(tokens[0]); hasValue(first["acrs"], "c1") || !hasValue(first["xms_cc"], "cp1") {
		t.Fatalf("first token: acrs %v xms_cc %v; want no acrs and xms_cc cp1", first["acrs"], first["xms_cc"])
	}
	for i, b := range bodies {
		if b != body {
			t.Errorf("request %d body %q, want %q (body not replayed)", i, b, body)
		}
	}
}

// wantOrderOK reads and closes resp, failing the test unless it is the
// resource's 200 echo of body.
func wantOrderOK(t *testing.T, resp *http.Response, err error, body string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != "ok:"+body {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
}

func caeCredential(t *testing.T, a *sts.Authority) (*ClientSecretCredential, *formRecorder) {
	return secretCred(t, a, nil)
}

func TestAzcoreBearerTokenPolicyCAEChallenge(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	rs := startResource(t, a)
	cred, rec := caeCredential(t, a)
	pl := runtime.NewPipeline("appcred-test", "v0.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{a.Seed().Scope}, nil)},
	}, &policy.ClientOptions{Transport: rs.Client(), Retry: policy.RetryOptions{MaxRetries: -1}})
	const body = `{"order":42}`
	req, err := runtime.NewRequest(context.Background(), http.MethodPost, rs.URL+"/orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.SetBody(streaming.NopCloser(strings.NewReader(body)), "application/json"); err != nil {
		t.Fatal(err)
	}
	resp, err := pl.Do(req)
	wantOrderOK(t, resp, err, body)
	checkCAERound(t, rec, rs, body)
}

// bearerClient starts an authority and a resource that demands CAE, and
// returns an http.Client whose bearer.Transport gets tokens from a CAE
// credential, with the credential's token request recorder.
func bearerClient(t *testing.T) (*http.Client, *resourceServer, *formRecorder) {
	a := startAuthority(t, sts.Options{})
	rs := startResource(t, a)
	cred, rec := caeCredential(t, a)
	hc := &http.Client{Transport: &bearer.Transport{Credential: cred, Scopes: []string{a.Seed().Scope},
		Base: rs.Client().Transport}}
	return hc, rs, rec
}

func TestBearerTransportCAEChallenge(t *testing.T) {
	hc, rs, rec := bearerClient(t)
	const body = `{"order":43}`
	resp, err := hc.Post(rs.URL+"/orders", "application/json", strings.NewReader(body))
	wantOrderOK(t, resp, err, body)
	checkCAERound(t, rec, rs, body)

	// The next request uses the token the challenge produced, from the cache.
	resp, err = hc.Post(rs.URL+"/orders", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	tokens, _ := rs.seen()
	if resp.StatusCode != http.StatusOK || len(tokens) != 3 || tokens[2] != tokens[1] || rec.count() != 2 {
		t.Fatalf("after the challenge: status %d, reused the claims token %t, %d token requests",
			resp.StatusCode, len(tokens) == 3 && tokens[2] == tokens[1], rec.count())
	}
}

func TestBearerTransportNotReplayable(t *testing.T) {
	hc, rs, rec := bearerClient(t)
	// A body without GetBody cannot be sent twice: the 401 comes back.
	req, err := http.NewRequest(http.MethodPost, rs.URL+"/orders", io.NopCloser(strings.NewReader("stream")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || rec.count() != 1 {
		t.Fatalf("status %d, %d token requests; want the 401 and no claims request", resp.StatusCode, rec.count())
	}
	if _, ok := bearer.ClaimsChallenge(resp.Header); !ok {
		t.Fatal("the returned 401 lost its challenge")
	}
}

var _ azcore.TokenCredential = (*ClientSecretCredential)(nil)
