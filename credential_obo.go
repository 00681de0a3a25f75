package appcred

import (
	"context"
	"crypto"
	"crypto/x509"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

const credNameOBO = "OnBehalfOfCredential"

// OnBehalfOfCredential gets tokens on behalf of a user, for a middle-tier
// API that calls another API as its caller (the on-behalf-of flow), in
// azidentity's shape. It is an azcore.TokenCredential: each GetToken is
// Client.AcquireTokenOnBehalfOf with the user's token the credential was
// made with (cached per user, refreshed with the refresh token), honouring
// Claims, TenantID and EnableCAE.
type OnBehalfOfCredential struct{ *credential }

// OnBehalfOfCredentialOptions configure an OnBehalfOfCredential.
type OnBehalfOfCredentialOptions struct {
	CredentialOptions
	// SendCertificateChain sends the certificate chain (x5c) with each
	// assertion, for subject name / issuer authentication.
	SendCertificateChain bool
}

// NewOnBehalfOfCredentialWithSecret makes an OnBehalfOfCredential for the
// user whose access token (for clientID) is userAssertion, the app proving
// itself with clientSecret.
func NewOnBehalfOfCredentialWithSecret(tenantID, clientID, userAssertion, clientSecret string, options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	var missing []string
	if strings.TrimSpace(clientSecret) == "" {
		missing = append(missing, "client secret")
	}
	return newOBOCredential(tenantID, clientID, userAssertion, options, func() Proof { return FromSecret(clientSecret) }, missing...)
}

// NewOnBehalfOfCredentialWithCertificate makes an OnBehalfOfCredential whose
// app proves itself with a certificate (the one in certs matching key).
func NewOnBehalfOfCredentialWithCertificate(tenantID, clientID, userAssertion string, certs []*x509.Certificate, key crypto.PrivateKey, options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	pc, err := certificateProof(credNameOBO, certs, key)
	if err != nil {
		return nil, err
	}
	var co CertificateOptions
	if options != nil {
		co.SendX5C = options.SendCertificateChain
	}
	return newOBOCredential(tenantID, clientID, userAssertion, options, func() Proof { return FromCertificate(pc, co) })
}

// NewOnBehalfOfCredentialWithClientAssertions makes an OnBehalfOfCredential
// whose app proves itself with assertions from getAssertion (for example a
// federated token).
func NewOnBehalfOfCredentialWithClientAssertions(tenantID, clientID, userAssertion string, getAssertion func(context.Context) (string, error), options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	if getAssertion == nil {
		return nil, unavailable(credNameOBO, "no assertion callback given")
	}
	fn := func(ctx context.Context, _ AssertionRequest) (string, error) { return getAssertion(ctx) }
	return newOBOCredential(tenantID, clientID, userAssertion, options, func() Proof { return FromAssertion(fn) })
}

func newOBOCredential(tenantID, clientID, userAssertion string, options *OnBehalfOfCredentialOptions, newProof func() Proof, missing ...string) (*OnBehalfOfCredential, error) {
	if strings.TrimSpace(userAssertion) == "" {
		missing = append(missing, "user assertion")
	}
	var o CredentialOptions
	if options != nil {
		o = options.CredentialOptions
	}
	c, err := newCredential(credNameOBO, tenantID, clientID, o, newProof, missing...)
	if err != nil {
		return nil, err
	}
	c.userAssertion = userAssertion
	return &OnBehalfOfCredential{c}, nil
}

var _ azcore.TokenCredential = (*OnBehalfOfCredential)(nil)
