package appcred

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/appcred/appcred/proof"
)

// ClientCertificateCredential authenticates an application with a
// certificate: every request that reaches the authority carries a fresh client
// assertion signed with the certificate's private key. It is an
// azcore.TokenCredential.
type ClientCertificateCredential struct{ *credential }

// ClientCertificateCredentialOptions configure a ClientCertificateCredential.
type ClientCertificateCredentialOptions struct {
	CredentialOptions
	// SendCertificateChain sends the certificate chain in each assertion's
	// "x5c" header, for subject name + issuer (SN+I) authentication.
	SendCertificateChain bool
}

// ParseCertificates loads certificates and a private key from PEM (PKCS#1,
// PKCS#8, encrypted keys) or PFX / PKCS#12 data, as azidentity's function of
// the same name: the certificate matching the key comes first. password may
// be nil.
func ParseCertificates(certData, password []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	c, err := proof.LoadCertificate(certData, password)
	if err != nil {
		return nil, nil, err
	}
	certs := append([]*x509.Certificate{c.Leaf}, withoutCert(c.Chain, c.Leaf)...)
	return certs, c.Key, nil
}

func withoutCert(certs []*x509.Certificate, leaf *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if !c.Equal(leaf) {
			out = append(out, c)
		}
	}
	return out
}

// NewClientCertificateCredential creates a credential for the application
// clientID in tenantID from certificates and their private key (an RSA key for
// Entra ID), as azidentity's constructor of the same name. The certificate
// whose public key matches key is the one the authority must know; the others
// form the chain sent with SendCertificateChain.
func NewClientCertificateCredential(tenantID, clientID string, certs []*x509.Certificate, key crypto.PrivateKey, options *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
	pc, err := certificateProof(credNameCert, certs, key)
	if err != nil {
		return nil, err
	}
	return newCertCredential(tenantID, clientID, pc, options)
}

// certificateProof assembles the certificate whose public key matches key,
// with the others as its chain; name is the credential, for errors.
func certificateProof(name string, certs []*x509.Certificate, key crypto.PrivateKey) (*proof.Certificate, error) {
	if len(certs) == 0 || key == nil {
		return nil, unavailable(name, "no certificate or private key given")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: private key of type %T cannot sign", name, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", name, key)
	}
	var leaf *x509.Certificate
	for _, c := range certs {
		if c != nil && pub.Equal(c.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("%s: no certificate matches the private key", name)
	}
	return &proof.Certificate{Leaf: leaf, Chain: append([]*x509.Certificate{leaf}, withoutCert(certs, leaf)...), Key: signer}, nil
}

// NewClientCertificateCredentialFromData is NewClientCertificateCredential
// for PEM or PFX bytes holding the certificate and its private key; password
// may be nil.
func NewClientCertificateCredentialFromData(tenantID, clientID string, data, password []byte, options *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
	if len(data) == 0 {
		return nil, unavailable(credNameCert, "no certificate data given")
	}
	c, err := proof.LoadCertificate(data, password)
	if err != nil {
		return nil, &CredentialUnavailableError{Credential: credNameCert,
			Message: "cannot load the certificate: " + err.Error(), Err: err}
	}
	return newCertCredential(tenantID, clientID, c, options)
}

// NewClientCertificateCredentialFromFile is NewClientCertificateCredential for
// a PEM or PFX file holding the certificate and its private key; password may
// be nil. The file is read once, here.
func NewClientCertificateCredentialFromFile(tenantID, clientID, path string, password []byte, options *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
	if strings.TrimSpace(path) == "" {
		return nil, unavailable(credNameCert, "no certificate file given")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &CredentialUnavailableError{Credential: credNameCert,
			Message: fmt.Sprintf("failed to read certificate file %q: %v", path, errors.Unwrap(err)), Err: err}
	}
	c, err := proof.LoadCertificate(data, password)
	if err != nil {
		return nil, &CredentialUnavailableError{Credential: credNameCert,
			Message: fmt.Sprintf("cannot load certificate file %q: %v", path, err), Err: err}
	}
	return newCertCredential(tenantID, clientID, c, options)
}

func newCertCredential(tenantID, clientID string, c *proof.Certificate, options *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
	var o CredentialOptions
	var co CertificateOptions
	if options != nil {
		o, co.SendX5C = options.CredentialOptions, options.SendCertificateChain
	}
	cred, err := newCredential(credNameCert, tenantID, clientID, o, func() Proof { return FromCertificate(c, co) })
	if err != nil {
		return nil, err
	}
	return &ClientCertificateCredential{cred}, nil
}

// ClientAssertionCredential authenticates an application with client
// assertions returned by a callback, such as federated tokens from another
// identity provider. It is an azcore.TokenCredential.
type ClientAssertionCredential struct{ *credential }

// ClientAssertionCredentialOptions configure a ClientAssertionCredential.
type ClientAssertionCredentialOptions struct {
	CredentialOptions
}

// NewClientAssertionCredential creates a credential for the application
// clientID in tenantID. getAssertion is called for every request that reaches
// the authority (not for cached tokens) and returns a signed JWT whose aud
// is the authority's token endpoint; it must be safe for concurrent use.
func NewClientAssertionCredential(tenantID, clientID string, getAssertion func(context.Context) (string, error), options *ClientAssertionCredentialOptions) (*ClientAssertionCredential, error) {
	var o CredentialOptions
	if options != nil {
		o = options.CredentialOptions
	}
	c, err := newAssertionCredential(credNameAssertion, tenantID, clientID, getAssertion, o)
	if err != nil {
		return nil, err
	}
	return &ClientAssertionCredential{c}, nil
}

// newAssertionCredential is the credential behind ClientAssertionCredential
// and WorkloadIdentityCredential.
func newAssertionCredential(name, tenantID, clientID string, getAssertion func(context.Context) (string, error), o CredentialOptions) (*credential, error) {
	if getAssertion == nil {
		return nil, unavailable(name, "no assertion callback given")
	}
	fn := func(ctx context.Context, _ AssertionRequest) (string, error) { return getAssertion(ctx) }
	return newCredential(name, tenantID, clientID, o, func() Proof { return FromAssertion(fn) })
}

var (
	_ azcore.TokenCredential = (*ClientCertificateCredential)(nil)
	_ azcore.TokenCredential = (*ClientAssertionCredential)(nil)
)
