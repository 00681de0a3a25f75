package appcred

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
)

// A server that advertises both secret methods and enforces each client's
// registered one: appcred sends client_secret_basic by default (what such
// servers register by default), WithAuthMethod forces the other, and a forced
// method the server does not advertise fails before anything is sent.
func TestGenericIssuerRegisteredMethod(t *testing.T) {
	g := newGenericIssuer(t, "client_secret_basic", "client_secret_post", "private_key_jwt")
	g.register("svc:basic", genericClient{secret: "basic-Qk2", methods: []string{"client_secret_basic"}})
	g.register("svc:post", genericClient{secret: "post-Zr7", methods: []string{"client_secret_post"}})
	acquire := func(id, secret string, opts ...Option) (Token, error) {
		c, err := New(g.srv.URL, id, FromSecret(secret), append(opts, WithGenericIssuer(), WithHTTPClient(g.srv.Client()))...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.AcquireTokenForClient(context.Background(), []string{"orders.read"})
	}
	for _, c := range []struct {
		id, secret string
		force      AuthMethod
		refused    string // the server's error_description; "" when the token is issued
	}{
		{"svc:basic", "basic-Qk2", "", ""},
		{"svc:basic", "basic-Qk2", AuthMethodSecretBasic, ""},
		{"svc:basic", "basic-Qk2", AuthMethodSecretPost, "client supports client_secret_basic, but client_secret_post was requested"},
		{"svc:post", "post-Zr7", "", "client supports client_secret_post, but client_secret_basic was requested"},
		{"svc:post", "post-Zr7", AuthMethodSecretPost, ""},
	} {
		var opts []Option
		if c.force != "" {
			opts = append(opts, WithAuthMethod(c.force))
		}
		tok, err := acquire(c.id, c.secret, opts...)
		if c.refused == "" {
			if err != nil || tok.AccessToken != "opaque-orders.read" || tok.TokenType != "Bearer" {
				t.Fatalf("%s forcing %q: token type %q, err %v", c.id, c.force, tok.TokenType, err)
			}
			continue
		}
		var re *ResponseError
		if !errors.As(err, &re) || re.StatusCode != 401 || re.Description != c.refused {
			t.Fatalf("%s forcing %q: %v, want 401 %q", c.id, c.force, err, c.refused)
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Fatal("error text contains the secret")
		}
	}

	// The default issuer advertises client_secret_basic and private_key_jwt only.
	basicOnly := newGenericIssuer(t)
	c, err := New(basicOnly.srv.URL, basicOnly.clientID, FromSecret(basicOnly.secret), WithGenericIssuer(),
		WithHTTPClient(basicOnly.srv.Client()), WithAuthMethod(AuthMethodSecretPost))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AcquireTokenForClient(context.Background(), []string{"orders.read"})
	if err == nil || !strings.Contains(err.Error(), "client_secret_post") || !strings.Contains(err.Error(), "does not advertise") {
		t.Fatalf("forcing an unadvertised method: %v", err)
	}
	if n := basicOnly.requests.Load(); n != 0 {
		t.Fatalf("%d token requests sent with an unadvertised method, want 0", n)
	}
}

// New refuses an unknown method and one the proof cannot use, naming it.
func TestWithAuthMethodRefusedAtNew(t *testing.T) {
	cert, err := proof.NewSelfSigned("CN=auth-method", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const entra = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
	secret, certificate := FromSecret("s-Jx4"), FromCertificate(cert, CertificateOptions{})
	assertion := FromAssertionString("a.b.c")
	for _, c := range []struct {
		p      Proof
		m      AuthMethod
		refuse string
	}{
		{secret, "client_secret_jwt", "client_secret_jwt"},
		{secret, "Client_Secret_Basic", "Client_Secret_Basic"},
		{secret, AuthMethodPrivateKeyJWT, "private_key_jwt"},
		{certificate, AuthMethodSecretBasic, "client_secret_basic"},
		{assertion, AuthMethodSecretPost, "client_secret_post"},
		{secret, AuthMethodSecretBasic, ""},
		{secret, AuthMethodSecretPost, ""},
		{certificate, AuthMethodPrivateKeyJWT, ""},
		{assertion, AuthMethodPrivateKeyJWT, ""},
	} {
		cl, err := New(entra, "id", c.p, WithAuthMethod(c.m))
		if c.refuse == "" {
			if err != nil {
				t.Fatalf("%v with %s: %v", c.p, c.m, err)
			}
			_ = cl.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "WithAuthMethod") || !strings.Contains(err.Error(), c.refuse) {
			t.Fatalf("%v with %s: %v, want an error naming %s", c.p, c.m, err, c.refuse)
		}
		if strings.Contains(err.Error(), "s-Jx4") {
			t.Fatal("error text contains the secret")
		}
	}
}

// A client whose JWKS at the issuer holds two keys (key rollover): the
// assertion's kid (the certificate's x5t by default, or CertificateOptions.KeyID)
// makes the issuer verify with the right key; without a kid it takes the first
// key and refuses an assertion signed with the second.
func TestGenericIssuerKeyRollover(t *testing.T) {
	g := newGenericIssuer(t)
	older, newer := newRSACert(t, "CN=rollover-old"), newRSACert(t, "CN=rollover-new")
	g.register("svc:x5t", genericClient{methods: []string{"private_key_jwt"}, jwks: []jwk{
		{proof.X5T(older.Leaf), older.Leaf.PublicKey}, {proof.X5T(newer.Leaf), newer.Leaf.PublicKey}}})
	g.register("svc:named", genericClient{methods: []string{"private_key_jwt"}, jwks: []jwk{
		{"2024", older.Leaf.PublicKey}, {"2025", newer.Leaf.PublicKey}}})
	for _, c := range []struct {
		id      string
		cert    *proof.Certificate
		keyID   string
		wantKid string
		ok      bool
	}{
		{"svc:x5t", newer, "", proof.X5T(newer.Leaf), true},
		{"svc:x5t", older, "", proof.X5T(older.Leaf), true},
		{"svc:x5t", newer, OmitKeyID, "", false}, // the issuer picks the first (older) key
		{"svc:named", newer, "2025", "2025", true},
		{"svc:named", newer, "2024", "2024", false}, // the kid, not the signature, selects the key
	} {
		g.mu.Lock()
		g.kids = nil
		g.mu.Unlock()
		cl, err := New(g.srv.URL, c.id, FromCertificate(c.cert, CertificateOptions{KeyID: c.keyID}),
			WithGenericIssuer(), WithHTTPClient(g.srv.Client()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.AcquireTokenForClient(context.Background(), []string{"orders.read"})
		_ = cl.Close()
		g.mu.Lock()
		kids := g.kids
		g.mu.Unlock()
		if (err == nil) != c.ok || len(kids) != 1 || kids[0] != c.wantKid {
			t.Fatalf("%s %s KeyID %q: err %v, kids sent %q, want ok=%t kid %q", c.id, c.cert.Leaf.Subject, c.keyID,
				err, kids, c.ok, c.wantKid)
		}
	}
}

// Entra ID keeps what MSAL sends: client_secret_post, and assertions without
// a kid unless CertificateOptions.KeyID asks for one.
func TestEntraKeepsPostAndNoKid(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	cert := registerCert(t, a, seed.TenantID, seed.ClientID)
	for _, c := range []struct {
		p       Proof
		wantKid string
	}{
		{FromSecret(seed.ClientSecret), ""},
		{FromCertificate(cert, CertificateOptions{}), ""},
		{FromCertificate(cert, CertificateOptions{KeyID: "entra-key-1"}), "entra-key-1"},
	} {
		rec := newRecorder(a)
		cl, err := New(a.TenantURL(seed.TenantID), seed.ClientID, c.p, WithTransport(rec))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.AcquireTokenForClient(context.Background(), []string{seed.Scope})
		_ = cl.Close()
		if err != nil {
			t.Fatalf("%v: %v", c.p, err)
		}
		f := rec.form(t, 0)
		if c.p.kind == proofSecret {
			if f.Get("client_secret") != seed.ClientSecret {
				t.Fatal("Entra secret not sent as client_secret_post")
			}
			continue
		}
		kid, has := jwtHeader(t, f.Get("client_assertion"))["kid"]
		if has != (c.wantKid != "") || (has && kid != c.wantKid) {
			t.Fatalf("%v: kid %v (present %t), want %q", c.p, kid, has, c.wantKid)
		}
	}
}

func newRSACert(t *testing.T, subject string) *proof.Certificate {
	t.Helper()
	c, err := proof.NewSelfSigned(subject, 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
