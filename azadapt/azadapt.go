// Package azadapt lets appcred's credentials take part in azidentity's
// credential chains (ChainedTokenCredential, and chains of your own built the
// same way).
//
// azidentity's chain moves on to its next source only when a source's error
// matches azidentity's own, unexported, "credential unavailable" type
// (errors.As against an interface with an unexported method), which no
// package outside azidentity can implement; azcore offers no exported
// equivalent. appcred itself does not depend on azidentity, so its
// *appcred.CredentialUnavailableError stops the chain. This package, a
// separate Go module that requires azidentity, bridges the two: Wrap returns
// a credential whose unavailable errors also match azidentity's type (made
// with azidentity.NewCredentialUnavailableError), so the chain falls through
// to its next source; every other error and every token passes unchanged.
//
//	cred, err := appcred.NewWorkloadIdentityCredential(nil)
//	first, err := azadapt.Chainable(cred, err) // an unavailable configuration falls through too
//	chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{first, managedIdentity}, nil)
package azadapt

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appcred/appcred"
)

// Wrap returns cred with its unavailable errors made recognisable to
// azidentity's chains. A nil cred is returned as nil.
func Wrap(cred azcore.TokenCredential) azcore.TokenCredential {
	if cred == nil {
		return nil
	}
	return &chainable{cred: cred}
}

// Chainable takes a credential constructor's results, as in
// Chainable(appcred.NewEnvironmentCredential(nil)). A credential is wrapped
// (see Wrap). A constructor that failed with an
// *appcred.CredentialUnavailableError (for example missing environment
// variables) gives a placeholder credential whose GetToken returns that error
// as unavailable, so a chain built from it skips it, as azidentity's
// DefaultAzureCredential does with its sources; any other error is returned.
func Chainable[C azcore.TokenCredential](cred C, err error) (azcore.TokenCredential, error) {
	if err != nil {
		var u *appcred.CredentialUnavailableError
		if errors.As(err, &u) {
			return &placeholder{err: unavailable(err)}, nil
		}
		return nil, err
	}
	return Wrap(cred), nil
}

// chainable is a credential whose unavailable errors match azidentity's type.
type chainable struct{ cred azcore.TokenCredential }

// GetToken calls the wrapped credential, translating an unavailable error.
func (c *chainable) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		var u *appcred.CredentialUnavailableError
		if errors.As(err, &u) {
			return azcore.AccessToken{}, unavailable(err)
		}
	}
	return tok, err
}

// placeholder stands in for a credential that could not be constructed.
type placeholder struct{ err error }

// GetToken returns the construction error, as unavailable.
func (p *placeholder) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, p.err
}

// UnavailableError is an appcred error that also matches azidentity's
// "credential unavailable" type: errors.As finds both the original
// *appcred.CredentialUnavailableError and azidentity's error in it.
type UnavailableError struct {
	err error // what appcred returned
	az  error // azidentity's unavailable error with the same text
}

func unavailable(err error) *UnavailableError {
	return &UnavailableError{err: err, az: azidentity.NewCredentialUnavailableError(err.Error())}
}

// Error returns appcred's text.
func (e *UnavailableError) Error() string { return e.err.Error() }

// Unwrap returns appcred's error and azidentity's, so errors.As reaches both.
func (e *UnavailableError) Unwrap() []error { return []error{e.err, e.az} }

// NonRetriable tells azcore's pipeline not to retry the request.
func (*UnavailableError) NonRetriable() {}

var (
	_ azcore.TokenCredential = (*chainable)(nil)
	_ azcore.TokenCredential = (*placeholder)(nil)
)
