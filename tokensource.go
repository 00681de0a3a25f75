package appcred

import (
	"context"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource that gets app tokens for scopes
// from c, for use with golang.org/x/oauth2 and anything that takes an
// oauth2.TokenSource (gRPC's oauth.TokenSource, …). ctx is used for every
// token request, so it should outlive the TokenSource (context.Background()
// in a long-running service).
//
// The client's cache already refreshes ahead of expiry, and a cached Token
// call costs no more than a map lookup, so ask it on every request. For an
// HTTP client use oauth2.Transport directly:
//
//	hc := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: http.DefaultTransport}}
//
// rather than oauth2.NewClient or oauth2.ReuseTokenSource: both keep the
// first token until 10 s before it expires, so a token the cache refreshed
// ahead (or replaced after a claims challenge) is not picked up until then.
// While the access token does not change, Token returns the same
// *oauth2.Token without allocating; treat it as read-only.
func (c *Client) TokenSource(ctx context.Context, scopes ...string) oauth2.TokenSource {
	scopes = append([]string(nil), scopes...)
	return &clientTokenSource{ctx: ctx, get: func(ctx context.Context) (Token, error) {
		return c.AcquireTokenForClient(ctx, scopes)
	}}
}

// CredentialTokenSource returns an oauth2.TokenSource over a credential's
// GetTokenInfo (any appcred credential), for the same uses as
// Client.TokenSource, and likewise best used through oauth2.Transport, not
// oauth2.NewClient or oauth2.ReuseTokenSource.
func CredentialTokenSource(ctx context.Context, cred interface {
	GetTokenInfo(context.Context, policy.TokenRequestOptions) (Token, error)
}, scopes ...string) oauth2.TokenSource {
	tro := policy.TokenRequestOptions{Scopes: append([]string(nil), scopes...)}
	return &clientTokenSource{ctx: ctx, get: func(ctx context.Context) (Token, error) {
		return cred.GetTokenInfo(ctx, tro)
	}}
}

type clientTokenSource struct {
	ctx  context.Context
	get  func(context.Context) (Token, error)
	last atomic.Pointer[oauth2.Token]
}

// Token implements oauth2.TokenSource.
func (s *clientTokenSource) Token() (*oauth2.Token, error) {
	t, err := s.get(s.ctx)
	if err != nil {
		return nil, err
	}
	if last := s.last.Load(); last != nil && last.AccessToken == t.AccessToken && last.Expiry.Equal(t.ExpiresOn) {
		return last, nil
	}
	ot := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.ExpiresOn}
	s.last.Store(ot)
	return ot, nil
}
