package appcred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// formRecorder records the token requests (form POSTs) on their way to the
// authority.
type formRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	forms []url.Values
	paths []string
}

func (f *formRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		form, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		f.forms = append(f.forms, form)
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return f.next.RoundTrip(r)
}

func (f *formRecorder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.forms)
}

// last returns the n-th token request's form (negative: from the end).
func (f *formRecorder) form(t *testing.T, n int) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		n += len(f.forms)
	}
	if n < 0 || n >= len(f.forms) {
		t.Fatalf("no token request #%d (have %d)", n, len(f.forms))
	}
	return f.forms[n]
}

func newRecorder(a *sts.Authority) *formRecorder {
	return &formRecorder{next: a.HTTPClient().Transport}
}

// secretCred makes a ClientSecretCredential for the seed app whose requests
// go through a recorder.
func secretCred(t *testing.T, a *sts.Authority, o *ClientSecretCredentialOptions) (*ClientSecretCredential, *formRecorder) {
	t.Helper()
	rec := newRecorder(a)
	if o == nil {
		o = &ClientSecretCredentialOptions{}
	}
	o.AuthorityHost = a.URL()
	o.Transport = &http.Client{Transport: rec}
	seed := a.Seed()
	c, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, rec
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("claims %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

const cp1 = `{"access_token":{"xms_cc":{"values":["CP1"]}}}`

func TestClientSecretCredentialTokenRequestOptions(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	cred, rec := secretCred(t, a, nil)
	ctx := context.Background()
	scopes := []string{seed.Scope}

	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, at.Token); c["tid"] != seed.TenantID {
		t.Fatalf("tid = %v", c["tid"])
	}
	if at.ExpiresOn.Location() != time.UTC || at.RefreshOn.IsZero() || !at.RefreshOn.Before(at.ExpiresOn) ||
		time.Until(at.ExpiresOn) < 50*time.Minute {
		t.Fatalf("expires %v refresh %v", at.ExpiresOn, at.RefreshOn)
	}
	if f := rec.form(t, 0); f.Get("client_secret") != seed.ClientSecret || f.Get("claims") != "" {
		t.Fatalf("first request: secret sent %t, claims %q", f.Get("client_secret") != "", f.Get("claims"))
	}
	info, err := cred.GetTokenInfo(ctx, policy.TokenRequestOptions{Scopes: scopes})
	if err != nil || !info.FromCache || info.AccessToken != at.Token || info.TokenType != "Bearer" ||
		!info.RefreshOn.Equal(at.RefreshOn) {
		t.Fatalf("GetTokenInfo: %v, %v", info, err)
	}
	if rec.count() != 1 {
		t.Fatalf("%d token requests, want 1", rec.count())
	}

	// Claims skip the cache and are sent as given.
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`
	withClaims, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, Claims: claims})
	if err != nil || rec.count() != 2 || withClaims.Token == at.Token {
		t.Fatalf("claims request: %d requests, new token %t, err %v", rec.count(), withClaims.Token != at.Token, err)
	}
	if got := rec.form(t, 1).Get("claims"); got != claims {
		t.Fatalf("claims sent %q, want %q", got, claims)
	}

	// CAE: a separate cache entry, CP1 sent with every request to the authority.
	cae, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, EnableCAE: true})
	if err != nil || rec.count() != 3 {
		t.Fatalf("CAE request: %d requests, err %v", rec.count(), err)
	}
	if got := rec.form(t, 2).Get("claims"); !jsonEqual(t, got, cp1) {
		t.Fatalf("CAE claims sent %q, want %s", got, cp1)
	}
	again, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, EnableCAE: true})
	if err != nil || again.Token != cae.Token || rec.count() != 3 {
		t.Fatalf("second CAE request: cached %t, %d requests, err %v", again.Token == cae.Token, rec.count(), err)
	}
	plain, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
	if err != nil || plain.Token == cae.Token || plain.Token != withClaims.Token || rec.count() != 3 {
		t.Fatalf("plain after CAE: got the CAE token %t, %d requests, err %v", plain.Token == cae.Token, rec.count(), err)
	}
	// CAE + claims: merged.
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, EnableCAE: true, Claims: claims}); err != nil {
		t.Fatal(err)
	}
	want := `{"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_cc":{"values":["CP1"]}}}`
	if got := rec.form(t, 3).Get("claims"); !jsonEqual(t, got, want) {
		t.Fatalf("CAE + claims sent %q, want %s", got, want)
	}

	// Bad input.
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{}); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("no scopes: %v", err)
	}
	for _, tro := range []policy.TokenRequestOptions{
		{Scopes: scopes, Claims: "{not json"},
		{Scopes: scopes, Claims: "{not json", EnableCAE: true},
		{Scopes: scopes, Claims: `{"access_token":7}`, EnableCAE: true},
	} {
		if _, err := cred.GetToken(ctx, tro); err == nil || !strings.Contains(err.Error(), "Claims") {
			t.Errorf("claims %q (CAE %t): err %v", tro.Claims, tro.EnableCAE, err)
		}
	}
	if rec.count() != 4 {
		t.Fatalf("bad input reached the authority: %d requests", rec.count())
	}
}

func TestMergeCP1(t *testing.T) {
	for in, want := range map[string]string{
		"":   cp1,
		"{}": cp1,
		cp1:  cp1,
		`{"access_token":{"xms_cc":{"values":["CP2"]}}}`: `{"access_token":{"xms_cc":{"values":["CP2","CP1"]}}}`,
		`{"id_token":{"auth_time":{"essential":true}}}`:  `{"access_token":{"xms_cc":{"values":["CP1"]}},"id_token":{"auth_time":{"essential":true}}}`,
	} {
		got, err := mergeCapabilities(in, []string{"CP1"})
		if err != nil || !jsonEqual(t, got, want) {
			t.Errorf("mergeCapabilities(%q) = %q, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"[]", "null", `"x"`, `{"access_token":[]}`} {
		if _, err := mergeCapabilities(bad, []string{"CP1"}); err == nil {
			t.Errorf("mergeCapabilities(%q) accepted", bad)
		}
	}
}

func TestCredentialErrors(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	opts := &ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}}

	// Missing configuration: unavailable, listing what is missing.
	_, err := NewClientSecretCredential("", "", " ", opts)
	var unavail *CredentialUnavailableError
	if !errors.As(err, &unavail) {
		t.Fatalf("empty settings: %T %v", err, err)
	}
	for _, want := range []string{"ClientSecretCredential", "tenant ID", "client ID", "client secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}

	// The authority refuses a wrong secret: authentication failed, wrapping
	// the authority's error.
	const wrong = "wrong-secret-value-1234567890"
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, wrong, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	resp, err := authFailure(t, cred, seed.Scope, "ClientSecretCredential")
	if resp.StatusCode != http.StatusUnauthorized || !HasCode(err, 7000215) {
		t.Fatalf("status %d, codes %v", resp.StatusCode, resp.Codes)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), seed.ClientSecret) {
		t.Fatal("error text contains a secret")
	}
	// azcore's pipeline must not retry these.
	if _, ok := err.(interface{ NonRetriable() }); !ok {
		t.Error("AuthenticationFailedError is not NonRetriable")
	}

	// Bad authority hosts and transports.
	for name, o := range map[string]CredentialOptions{
		"http host":        {AuthorityHost: "http://127.0.0.1:1"},
		"cloud no host":    {ClientOptions: azcore.ClientOptions{Cloud: cloudWithServices()}},
		"CA and transport": {AuthorityHost: a.URL(), CACertificates: a.CACertPEM(), ClientOptions: azcore.ClientOptions{Transport: a.HTTPClient()}},
		"bad CA":           {AuthorityHost: a.URL(), CACertificates: []byte("not pem")},
	} {
		opts := &ClientSecretCredentialOptions{CredentialOptions: o}
		if _, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret, opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewClientSecretCredential("bad tenant!", seed.ClientID, seed.ClientSecret, opts); err == nil {
		t.Error("invalid tenant accepted")
	}
}

func TestTenantResolution(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	// A second tenant where the same application (same certificate) is
	// registered, with the API it calls.
	const other = "22222222-2222-2222-2222-222222222222"
	if _, err := a.AddTenant(other); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddApp(other, directory.App{ClientID: seed.ClientID, DisplayName: "daemon"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddApp(other, directory.App{DisplayName: "api", IdentifierURIs: []string{seed.IdentifierURI},
		AppRoles: []string{seed.Role}}); err != nil {
		t.Fatal(err)
	}
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	if _, err := a.AddCertificate(other, seed.ClientID, cert.CertPEM()); err != nil {
		t.Fatal(err)
	}
	newCred := func(allowed ...string) (*ClientCertificateCredential, *formRecorder) {
		rec := newRecorder(a)
		c, err := NewClientCertificateCredential(seed.TenantID, seed.ClientID, cert.Chain, cert.Key,
			&ClientCertificateCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), AdditionallyAllowedTenants: allowed,
				ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: rec}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, rec
	}
	tro := policy.TokenRequestOptions{Scopes: []string{seed.Scope}, TenantID: other}

	strict, rec := newCred("33333333-3333-3333-3333-333333333333")
	_, err := strict.GetToken(ctx, tro)
	if err == nil || !strings.Contains(err.Error(), "isn't configured to acquire tokens for tenant") ||
		!strings.Contains(err.Error(), other) || rec.count() != 0 {
		t.Fatalf("tenant not allowed: %v (%d requests)", err, rec.count())
	}
	// The configured tenant, by any case, is always allowed.
	if _, err := strict.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes, TenantID: strings.ToUpper(seed.TenantID)}); err != nil {
		t.Fatal(err)
	}
	// A tenant the authority package rejects fails before any request, even
	// when any tenant is allowed.
	anyTenant, anyRec := newCred("*")
	for _, bad := range []string{"bad/tenant", "common"} {
		_, err := anyTenant.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes, TenantID: bad})
		if !errors.Is(err, authority.ErrInvalidAuthority) || anyRec.count() != 0 {
			t.Fatalf("tenant %q accepted: %v (%d requests)", bad, err, anyRec.count())
		}
	}

	for _, allowed := range [][]string{{other}, {"*"}, {"x", "*"}} {
		cred, rec := newCred(allowed...)
		at, err := cred.GetToken(ctx, tro)
		if err != nil {
			t.Fatalf("allowed %v: %v", allowed, err)
		}
		if tid := claimsOf(t, at.Token)["tid"]; tid != other {
			t.Fatalf("allowed %v: token for tenant %v", allowed, tid)
		}
		if p := rec.paths[len(rec.paths)-1]; !strings.HasPrefix(p, "/"+other+"/") {
			t.Fatalf("token request went to %s", p)
		}
		// The home tenant's token is cached apart.
		home, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes})
		if err != nil || claimsOf(t, home.Token)["tid"] != seed.TenantID {
			t.Fatalf("home tenant after other: %v", err)
		}
	}
}

func TestClientCertificateCredential(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	dir := t.TempDir()
	keyPEM, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "combined.pem")
	if err := os.WriteFile(pemFile, append(cert.CertPEM(), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	pfx, err := cert.PFX("pfx-password")
	if err != nil {
		t.Fatal(err)
	}
	pfxFile := filepath.Join(dir, "cert.pfx")
	if err := os.WriteFile(pfxFile, pfx, 0o600); err != nil {
		t.Fatal(err)
	}

	type maker func(o *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error)
	makers := map[string]maker{
		"PEM file": func(o *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
			return NewClientCertificateCredentialFromFile(seed.TenantID, seed.ClientID, pemFile, nil, o)
		},
		"PFX file": func(o *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
			return NewClientCertificateCredentialFromFile(seed.TenantID, seed.ClientID, pfxFile, []byte("pfx-password"), o)
		},
		"PFX data": func(o *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
			return NewClientCertificateCredentialFromData(seed.TenantID, seed.ClientID, pfx, []byte("pfx-password"), o)
		},
		"ParseCertificates": func(o *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
			certs, key, err := ParseCertificates(pfx, []byte("pfx-password"))
			if err != nil {
				return nil, err
			}
			return NewClientCertificateCredential(seed.TenantID, seed.ClientID, certs, key, o)
		},
	}
	for name, mk := range makers {
		for _, chain := range []bool{false, true} {
			rec := newRecorder(a)
			cred, err := mk(&ClientCertificateCredentialOptions{SendCertificateChain: chain, CredentialOptions: CredentialOptions{
				AuthorityHost: a.URL(), ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: rec}}}})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{seed.Scope}})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if claimsOf(t, at.Token)["tid"] != seed.TenantID {
				t.Fatalf("%s: wrong token", name)
			}
			f := rec.form(t, 0)
			if f.Get("client_secret") != "" || f.Get("client_assertion_type") != assertionType {
				t.Fatalf("%s: form has secret %t, assertion type %q", name, f.Get("client_secret") != "", f.Get("client_assertion_type"))
			}
			if _, has := jwtHeader(t, f.Get("client_assertion"))["x5c"]; has != chain {
				t.Fatalf("%s: SendCertificateChain=%t but x5c present=%t", name, chain, has)
			}
			_ = cred.Close()
		}
	}

	// Configuration problems are unavailable; an unknown certificate fails authentication.
	var unavail *CredentialUnavailableError
	for name, err := range map[string]error{
		"wrong password": func() error {
			_, err := NewClientCertificateCredentialFromFile(seed.TenantID, seed.ClientID, pfxFile, []byte("nope"), nil)
			return err
		}(),
		"missing file": func() error {
			_, err := NewClientCertificateCredentialFromFile(seed.TenantID, seed.ClientID, filepath.Join(dir, "none.pem"), nil, nil)
			return err
		}(),
		"no certs": func() error {
			_, err := NewClientCertificateCredential(seed.TenantID, seed.ClientID, nil, nil, nil)
			return err
		}(),
		"no data": func() error {
			_, err := NewClientCertificateCredentialFromData(seed.TenantID, seed.ClientID, nil, nil, nil)
			return err
		}(),
	} {
		if !errors.As(err, &unavail) {
			t.Errorf("%s: %T %v", name, err, err)
		} else if strings.Contains(err.Error(), "pfx-password") {
			t.Errorf("%s: error shows the password", name)
		}
	}
	other, err := proof.NewSelfSigned("CN=unregistered", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewClientCertificateCredential(seed.TenantID, seed.ClientID, cert.Chain, other.Key, nil); err == nil {
		t.Error("a key that matches no certificate was accepted")
	}
	cred, err := NewClientCertificateCredential(seed.TenantID, seed.ClientID, other.Chain, other.Key,
		&ClientCertificateCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	authFailure(t, cred, seed.Scope, "ClientCertificateCredential")
}

// authFailure asks cred for a token and returns the authority's refusal,
// failing the test unless the error is an *AuthenticationFailedError from the
// credential named name that wraps a *ResponseError.
func authFailure(t *testing.T, cred azcore.TokenCredential, scope, name string) (*ResponseError, error) {
	t.Helper()
	_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	var failed *AuthenticationFailedError
	var resp *ResponseError
	if !errors.As(err, &failed) || !errors.As(err, &resp) || errors.As(err, new(*CredentialUnavailableError)) ||
		failed.Credential != name {
		t.Fatalf("%s: want an authentication failure from the authority, got %T %v", name, err, err)
	}
	return resp, err
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	return claimsOf(t, parts[1]+"."+parts[0]+"."+parts[2])
}

func TestClientAssertionCredential(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	var mu sync.Mutex
	calls := 0
	var fail error
	getAssertion := func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if fail != nil {
			return "", fail
		}
		return cert.Assertion(seed.ClientID, a.TokenEndpoint(seed.TenantID), proof.AssertionOptions{})
	}
	cred, err := NewClientAssertionCredential(seed.TenantID, seed.ClientID, getAssertion,
		&ClientAssertionCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	tro := policy.TokenRequestOptions{Scopes: []string{seed.Scope}}
	first, err := cred.GetToken(ctx, tro)
	if err != nil {
		t.Fatal(err)
	}
	second, err := cred.GetToken(ctx, tro)
	if err != nil || second.Token != first.Token || calls != 1 {
		t.Fatalf("cached token: same %t, %d callback calls, err %v", second.Token == first.Token, calls, err)
	}
	mu.Lock()
	fail = errors.New("identity provider unreachable")
	mu.Unlock()
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: tro.Scopes, Claims: "{}"})
	var failed *AuthenticationFailedError
	if !errors.As(err, &failed) || !strings.Contains(err.Error(), "identity provider unreachable") || calls != 2 {
		t.Fatalf("callback failure: %T %v (%d calls)", err, err, calls)
	}
	if _, err := NewClientAssertionCredential(seed.TenantID, seed.ClientID, nil, nil); !errors.As(err, new(*CredentialUnavailableError)) {
		t.Fatalf("nil callback: %v", err)
	}
}

func cloudWithServices() cloud.Configuration {
	return cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{"x": {Audience: "a", Endpoint: "e"}}}
}

// CACertificates go to New as WithCACertificates: the credential's clients
// keep appcred's transport settings and trust the CA; a caller's Transport
// is used as given.
func TestCredentialTransport(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	ctx := context.Background()
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	for _, tro := range []policy.TokenRequestOptions{{Scopes: []string{seed.Scope}}, {Scopes: []string{seed.Scope}, EnableCAE: true}} {
		if _, err := cred.GetToken(ctx, tro); err != nil {
			t.Fatalf("EnableCAE=%t: %v", tro.EnableCAE, err)
		}
	}
	want := wire.DefaultHTTPClient()
	wt := want.Transport.(*http.Transport)
	for name, cl := range map[string]*Client{"plain": cred.plain, "cae": cred.cae} {
		hc := cl.wire.HTTP
		tr, ok := hc.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("%s: transport %T, want appcred's *http.Transport", name, hc.Transport)
		}
		if tr.ResponseHeaderTimeout != wt.ResponseHeaderTimeout || tr.TLSHandshakeTimeout != wt.TLSHandshakeTimeout ||
			tr.MaxIdleConnsPerHost != wt.MaxIdleConnsPerHost || hc.Timeout != want.Timeout || hc.CheckRedirect == nil {
			t.Errorf("%s: appcred's transport settings lost: header timeout %v, handshake %v, idle/host %d, timeout %v",
				name, tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout, tr.MaxIdleConnsPerHost, hc.Timeout)
		}
		// The CA is trusted through a verifier that loads the roots on first use
		// (the token requests above succeeded against the local authority).
		if tr.TLSClientConfig == nil || (tr.TLSClientConfig.RootCAs == nil && tr.TLSClientConfig.VerifyConnection == nil) {
			t.Errorf("%s: CACertificates not trusted", name)
		}
	}

	// A caller's Transport carries every request, CAE included.
	withTransport, rec := secretCred(t, a, nil)
	for _, tro := range []policy.TokenRequestOptions{{Scopes: []string{seed.Scope}}, {Scopes: []string{seed.Scope}, EnableCAE: true}} {
		if _, err := withTransport.GetToken(ctx, tro); err != nil {
			t.Fatal(err)
		}
	}
	if rec.count() != 2 {
		t.Fatalf("%d requests through the caller's transport, want 2", rec.count())
	}
}
