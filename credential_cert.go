package appcred

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/proof"
)

// ClientCertificateCredential authenticates an application with a
// certificate: every request that reaches the authority carries a fresh client
// assertion signed with the certificate's private key. It is an
// azcore.TokenCredential.
type ClientCertificateCredential struct{ c *credential }

// ClientCertificateCredentialOptions configure a ClientCertificateCredential.
// The fields shared with ClientSecretCredentialOptions mean the same.
type ClientCertificateCredentialOptions struct {
	// ClientOptions: Cloud.ActiveDirectoryAuthorityHost and Transport are used.
	azcore.ClientOptions
	// AdditionallyAllowedTenants are extra tenants TokenRequestOptions.TenantID
	// may name; "*" allows any.
	AdditionallyAllowedTenants []string
	// AuthorityHost overrides Cloud.ActiveDirectoryAuthorityHost and AZURE_AUTHORITY_HOST.
	AuthorityHost string
	// CACertificates are extra PEM CA certificates to trust (not with Transport).
	CACertificates []byte
	// Cache persists tokens so processes and replicas share them.
	Cache cache.Store
	// DisableInstanceDiscovery skips Entra instance discovery.
	DisableInstanceDiscovery bool
	// Logger receives token requests, retries and refreshes, never secrets or tokens.
	Logger *slog.Logger
	// SendCertificateChain sends the certificate chain in each assertion's
	// "x5c" header, for subject name + issuer (SN+I) authentication.
	SendCertificateChain bool
}

func (o *ClientCertificateCredentialOptions) common() credOptions {
	if o == nil {
		return credOptions{}
	}
	return credOptions{client: o.ClientOptions, allowed: o.AdditionallyAllowedTenants, authorityHost: o.AuthorityHost,
		caCertificates: o.CACertificates, store: o.Cache, noDiscovery: o.DisableInstanceDiscovery, logger: o.Logger}
}

const credNameCert = "ClientCertificateCredential"

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
	if len(certs) == 0 || key == nil {
		return nil, unavailable(credNameCert, "no certificate or private key given")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: private key of type %T cannot sign", credNameCert, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", credNameCert, key)
	}
	var leaf *x509.Certificate
	for _, c := range certs {
		if c != nil && pub.Equal(c.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("%s: no certificate matches the private key", credNameCert)
	}
	pc := &proof.Certificate{Leaf: leaf, Chain: append([]*x509.Certificate{leaf}, withoutCert(certs, leaf)...), Key: signer}
	return newCertCredential(tenantID, clientID, pc, options)
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
	var co CertificateOptions
	if options != nil {
		co.SendX5C = options.SendCertificateChain
	}
	cred, err := newCredential(credNameCert, tenantID, clientID, options.common(),
		func() Proof { return FromCertificate(c, co) })
	if err != nil {
		return nil, err
	}
	return &ClientCertificateCredential{cred}, nil
}

// GetToken returns an access token for opts.Scopes, honouring every field of
// opts as ClientSecretCredential.GetToken does.
func (c *ClientCertificateCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.c.accessToken(ctx, opts)
}

// GetTokenInfo is GetToken returning the Token with its type and refresh time.
func (c *ClientCertificateCredential) GetTokenInfo(ctx context.Context, opts policy.TokenRequestOptions) (Token, error) {
	return c.c.getToken(ctx, opts)
}

// Close stops background refreshes.
func (c *ClientCertificateCredential) Close() error { return c.c.close() }

// ClientAssertionCredential authenticates an application with client
// assertions returned by a callback, such as federated tokens from another
// identity provider. It is an azcore.TokenCredential.
type ClientAssertionCredential struct{ c *credential }

// ClientAssertionCredentialOptions configure a ClientAssertionCredential.
// The fields mean the same as in ClientSecretCredentialOptions.
type ClientAssertionCredentialOptions struct {
	// ClientOptions: Cloud.ActiveDirectoryAuthorityHost and Transport are used.
	azcore.ClientOptions
	// AdditionallyAllowedTenants are extra tenants TokenRequestOptions.TenantID
	// may name; "*" allows any.
	AdditionallyAllowedTenants []string
	// AuthorityHost overrides Cloud.ActiveDirectoryAuthorityHost and AZURE_AUTHORITY_HOST.
	AuthorityHost string
	// CACertificates are extra PEM CA certificates to trust (not with Transport).
	CACertificates []byte
	// Cache persists tokens so processes and replicas share them.
	Cache cache.Store
	// DisableInstanceDiscovery skips Entra instance discovery.
	DisableInstanceDiscovery bool
	// Logger receives token requests, retries and refreshes, never secrets or tokens.
	Logger *slog.Logger
}

func (o *ClientAssertionCredentialOptions) common() credOptions {
	if o == nil {
		return credOptions{}
	}
	return credOptions{client: o.ClientOptions, allowed: o.AdditionallyAllowedTenants, authorityHost: o.AuthorityHost,
		caCertificates: o.CACertificates, store: o.Cache, noDiscovery: o.DisableInstanceDiscovery, logger: o.Logger}
}

// NewClientAssertionCredential creates a credential for the application
// clientID in tenantID. getAssertion is called for every request that reaches
// the authority (not for cached tokens) and returns a signed JWT whose aud
// is the authority's token endpoint; it must be safe for concurrent use.
func NewClientAssertionCredential(tenantID, clientID string, getAssertion func(context.Context) (string, error), options *ClientAssertionCredentialOptions) (*ClientAssertionCredential, error) {
	return newAssertionCredential("ClientAssertionCredential", tenantID, clientID, getAssertion, options.common())
}

func newAssertionCredential(name, tenantID, clientID string, getAssertion func(context.Context) (string, error), o credOptions) (*ClientAssertionCredential, error) {
	if getAssertion == nil {
		return nil, unavailable(name, "no assertion callback given")
	}
	fn := func(ctx context.Context, _ AssertionRequest) (string, error) { return getAssertion(ctx) }
	cred, err := newCredential(name, tenantID, clientID, o, func() Proof { return FromAssertion(fn) })
	if err != nil {
		return nil, err
	}
	return &ClientAssertionCredential{cred}, nil
}

// GetToken returns an access token for opts.Scopes, honouring every field of
// opts as ClientSecretCredential.GetToken does.
func (c *ClientAssertionCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.c.accessToken(ctx, opts)
}

// GetTokenInfo is GetToken returning the Token with its type and refresh time.
func (c *ClientAssertionCredential) GetTokenInfo(ctx context.Context, opts policy.TokenRequestOptions) (Token, error) {
	return c.c.getToken(ctx, opts)
}

// Close stops background refreshes.
func (c *ClientAssertionCredential) Close() error { return c.c.close() }

var (
	_ azcore.TokenCredential = (*ClientCertificateCredential)(nil)
	_ azcore.TokenCredential = (*ClientAssertionCredential)(nil)
)
