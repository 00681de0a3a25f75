package appcred

import (
	"context"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource that gets app tokens for scopes
// from c, for use with golang.org/x/oauth2 (oauth2.NewClient, gRPC's
// oauth.TokenSource, …). ctx is used for every token request, so it should
// outlive the TokenSource (context.Background() in a long-running service).
//
// The client's cache already refreshes ahead of expiry, so do not wrap the
// result in oauth2.ReuseTokenSource. While the access token does not change,
// Token returns the same *oauth2.Token without allocating; treat it as
// read-only.
func (c *Client) TokenSource(ctx context.Context, scopes ...string) oauth2.TokenSource {
	scopes = append([]string(nil), scopes...)
	return &clientTokenSource{ctx: ctx, get: func(ctx context.Context) (Token, error) {
		return c.AcquireTokenForClient(ctx, scopes)
	}}
}

// CredentialTokenSource returns an oauth2.TokenSource over a credential's
// GetTokenInfo (any appcred credential), for the same uses as
// Client.TokenSource.
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
