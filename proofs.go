package appcred

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/proof"
)

// Proof is how a Client proves the application's identity to the authority: a
// client secret, a certificate (a fresh signed client assertion per request), or
// an assertion from a callback (federated credentials). Make one with
// FromSecret, FromCertificate, FromCertificateFile, FromCertificateData or
// FromAssertion. Any problem with it (an empty secret, an unreadable file, a
// wrong password) is reported by New. A Proof never prints its secret.
type Proof struct {
	kind      proofKind
	secret    *redacted // behind a pointer, so fmt's reflection over a Client or Proof prints an address
	cert      *proof.Certificate
	certOpts  CertificateOptions
	assertion AssertionFunc
	source    string // what the user gave: "client secret", a file name; for error messages
	err       error
}

type proofKind int

const (
	proofNone proofKind = iota
	proofSecret
	proofCertificate
	proofAssertion
)

// redacted is a string that never formats its value.
type redacted string

// String never shows the value.
func (redacted) String() string { return "[redacted]" }

// GoString never shows the value.
func (redacted) GoString() string { return "[redacted]" }

// String describes the proof without revealing any secret.
func (p Proof) String() string {
	switch p.kind {
	case proofSecret:
		return "appcred.Proof(client secret)"
	case proofCertificate:
		return "appcred.Proof(certificate " + p.source + ")"
	case proofAssertion:
		return "appcred.Proof(assertion callback)"
	}
	return "appcred.Proof(none)"
}

// GoString is String, so %#v does not reveal the secret either.
func (p Proof) GoString() string { return p.String() }

// CertificateOptions shape the client assertions made from a certificate.
type CertificateOptions struct {
	// SendX5C sends the certificate chain in the assertion's "x5c" header, for
	// subject name + issuer (SN+I) authentication.
	SendX5C bool
	// Alg overrides the signature algorithm. By default Entra ID authorities get
	// PS256 with "x5t#S256", ADFS and generic OIDC issuers get RS256 with "x5t"
	// (ES256 for EC keys).
	Alg proof.Alg
	// KeyID is the assertion's "kid" header: the kid under which the
	// certificate's key is registered in the client's JWKS at the issuer, so
	// that an issuer holding two keys for the client (key rollover) verifies
	// with the right one. By default generic OIDC issuers get the certificate's
	// x5t (base64url SHA-1 thumbprint, as `appcred cert thumbprint` prints it)
	// and Entra ID and AD FS get no kid; OmitKeyID sends none.
	KeyID string
}

// OmitKeyID as CertificateOptions.KeyID sends no "kid" header, for an issuer
// whose registered JWKS key has no kid.
const OmitKeyID = "-"

// keyID is the "kid" of the certificate's assertions to an authority of kind k.
func (p Proof) keyID(k authority.Kind) string {
	switch kid := p.certOpts.KeyID; {
	case kid == OmitKeyID:
		return ""
	case kid != "":
		return kid
	case k == authority.Generic:
		return proof.X5T(p.cert.Leaf)
	}
	return ""
}

// AssertionRequest tells an AssertionFunc what the assertion is for.
type AssertionRequest struct {
	// ClientID is the application (client) id: the assertion's iss and sub.
	ClientID string
	// TokenEndpoint is the authority's token endpoint: the assertion's aud.
	TokenEndpoint string
}

// AssertionFunc returns a client assertion (a signed JWT) for a token request.
// It is called for every request that reaches the authority, so it may return a
// fresh assertion each time (for example a workload identity token).
type AssertionFunc func(ctx context.Context, req AssertionRequest) (string, error)

// FromSecret proves the application with a client secret.
func FromSecret(secret string) Proof {
	r := redacted(secret)
	p := Proof{kind: proofSecret, secret: &r, source: "client secret"}
	if strings.TrimSpace(secret) == "" {
		p.err = errors.New("client secret is empty")
	}
	return p
}

// FromCertificate proves the application with a certificate and its private
// key, signing a fresh client assertion for every token request.
func FromCertificate(cert *proof.Certificate, o CertificateOptions) Proof {
	p := Proof{kind: proofCertificate, cert: cert, certOpts: o, source: "(in memory)"}
	if cert == nil || cert.Leaf == nil || cert.Key == nil {
		p.err = errors.New("certificate is missing its leaf certificate or private key")
		return p
	}
	p.source = cert.Leaf.Subject.String()
	return p
}

// FromCertificateData is FromCertificate for PEM or PFX bytes (see
// proof.LoadCertificate); password may be empty.
func FromCertificateData(data, password []byte, o CertificateOptions) Proof {
	cert, err := proof.LoadCertificate(data, password)
	if err != nil {
		return Proof{kind: proofCertificate, source: "(data)", err: fmt.Errorf("certificate: %w", err)}
	}
	return FromCertificate(cert, o)
}

// FromCertificateFile is FromCertificate for a PEM or PFX file; password may be empty.
func FromCertificateFile(path string, password []byte, o CertificateOptions) Proof {
	data, err := os.ReadFile(path)
	if err != nil {
		return Proof{kind: proofCertificate, source: path, err: fmt.Errorf("reading certificate file: %w", err)}
	}
	p := FromCertificateData(data, password, o)
	if p.err != nil {
		p.err = fmt.Errorf("certificate file %s: %w", path, errors.Unwrap(p.err))
	}
	p.source = path
	return p
}

// FromAssertionString proves the application with one pre-built client
// assertion (a signed JWT), sent as it is with every request. It stops
// working when the assertion expires; prefer FromAssertion for anything that
// lives longer.
func FromAssertionString(assertion string) Proof {
	if strings.TrimSpace(assertion) == "" {
		return Proof{kind: proofAssertion, source: "assertion string", err: errors.New("client assertion is empty")}
	}
	r := redacted(assertion)
	p := FromAssertion(func(context.Context, AssertionRequest) (string, error) { return string(r), nil })
	p.source = "assertion string"
	return p
}

// FromAssertion proves the application with assertions returned by fn, such as
// federated (workload identity) tokens.
func FromAssertion(fn AssertionFunc) Proof {
	p := Proof{kind: proofAssertion, assertion: fn, source: "assertion callback"}
	if fn == nil {
		p.err = errors.New("assertion callback is nil")
	}
	return p
}
