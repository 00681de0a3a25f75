// Package bearer provides an http.RoundTripper that authorizes requests with
// bearer tokens from a credential (any azcore.TokenCredential, such as appcred's
// credentials or azidentity's) and answers continuous access evaluation (CAE)
// claims challenges.
//
//	hc := &http.Client{Transport: &bearer.Transport{
//		Credential: cred,
//		Scopes:     []string{"api://orders/.default"},
//	}}
//	resp, err := hc.Get("https://orders.example.com/v1/orders")
//
// When the resource answers 401 with
//
//	WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64 JSON>"
//
// the Transport asks the credential for a new token carrying those claims
// (credentials skip their cache for a claims request) and sends the request
// once more. Tokens are never logged or put into errors.
package bearer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/internal/wire"
)

// TokenCredential is what the Transport gets tokens from; every
// azcore.TokenCredential satisfies it.
type TokenCredential interface {
	GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error)
}

// Transport is an http.RoundTripper that adds "Authorization: Bearer <token>"
// to each request and retries once after a CAE claims challenge. Its zero
// value is not usable: set Credential and Scopes. It is safe for concurrent
// use; tokens are cached by the credential, not here.
type Transport struct {
	// Credential provides the tokens.
	Credential TokenCredential
	// Scopes are requested for every token, e.g. "api://orders/.default".
	Scopes []string
	// TenantID, when set, is passed to the credential (TokenRequestOptions.TenantID).
	TenantID string
	// DisableCAE stops asking for CAE tokens (TokenRequestOptions.EnableCAE,
	// on by default because the Transport answers claims challenges).
	DisableCAE bool
	// AllowHTTP permits sending tokens over plain http; by default only
	// https requests are authorized and others fail.
	AllowHTTP bool
	// Base carries the requests; http.DefaultTransport when nil.
	Base http.RoundTripper
}

// ErrInsecure is returned for a plain-http request when AllowHTTP is off.
var ErrInsecure = errors.New("bearer: refusing to send a token over plain http (set Transport.AllowHTTP for tests)")

// RoundTrip authorizes req and sends it. After a 401 with an
// insufficient_claims challenge it gets a token with the challenge's claims
// and resends the request once, if its body can be replayed (no body, or
// req.GetBody set, as http.NewRequest does for in-memory bodies); otherwise
// the 401 is returned. A credential failure is returned as an error that
// wraps the credential's. A redirect that http.Client follows to another
// scheme, host or port is sent without a token: tokens go only to the origin
// the caller addressed.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Credential == nil || len(t.Scopes) == 0 {
		closeBody(req)
		return nil, errors.New("bearer: Transport needs a Credential and Scopes")
	}
	if redirectedAway(req) {
		// http.Client stripped Authorization for this cross-host redirect;
		// the token was attached for the original host only.
		return t.base().RoundTrip(req)
	}
	if !t.AllowHTTP && !strings.EqualFold(req.URL.Scheme, "https") {
		closeBody(req)
		return nil, ErrInsecure
	}
	tro := policy.TokenRequestOptions{Scopes: t.Scopes, TenantID: t.TenantID, EnableCAE: !t.DisableCAE}
	first, err := t.authorize(req, req.Body, tro)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base().RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	claims, err := challengeClaims(resp.Header)
	if err != nil {
		drain(resp)
		return nil, fmt.Errorf("bearer: %s answered 401 with a claims challenge that is not forwarded to the authority: %w",
			shownURL(req.URL), err)
	}
	if claims == "" {
		return resp, nil
	}
	body := req.Body // nil or http.NoBody: nothing to replay
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // the body is gone: let the caller see the challenge
		}
		b, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		body = b
	}
	tro.Claims = claims
	second, err := t.authorize(req, body, tro)
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		drain(resp)
		return nil, err
	}
	drain(resp)
	return t.base().RoundTrip(second)
}

// redirectedAway reports whether req is a redirect (made by http.Client)
// whose scheme, host or port differs from the request the chain started
// with. Tokens go only to the origin the caller addressed.
func redirectedAway(req *http.Request) bool {
	origin := req
	for origin.Response != nil && origin.Response.Request != nil {
		origin = origin.Response.Request
	}
	return origin != req && !sameOrigin(origin.URL, req.URL)
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// authorize returns a copy of req with body and a fresh Authorization header.
func (t *Transport) authorize(req *http.Request, body io.ReadCloser, tro policy.TokenRequestOptions) (*http.Request, error) {
	tok, err := t.Credential.GetToken(req.Context(), tro)
	if err != nil {
		return nil, fmt.Errorf("bearer: getting a token for %s: %w", shownURL(req.URL), err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok.Token)
	return r, nil
}

// shownURL is u as errors may show it: scheme, host and path, without user
// info, query (SAS signatures, API keys) or fragment.
func shownURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// drain reads a little of a response body so the connection can be reused,
// then closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// MaxClaimsBytes bounds the decoded claims of a challenge (16 KiB, as
// appcred.MaxClaimsBytes): a larger challenge is not forwarded to the
// authority, and RoundTrip returns an error wrapping ErrClaimsTooLarge.
const MaxClaimsBytes = wire.MaxClaimsBytes

// ErrClaimsTooLarge means a claims challenge exceeds MaxClaimsBytes.
var ErrClaimsTooLarge = wire.ErrClaimsTooLarge

// ClaimsChallenge returns the decoded claims of a Bearer
// error="insufficient_claims" challenge in the WWW-Authenticate headers of h,
// and whether there was one with valid standard base64 claims of at most
// MaxClaimsBytes.
func ClaimsChallenge(h http.Header) (string, bool) {
	claims, err := challengeClaims(h)
	return claims, err == nil && claims != ""
}

// challengeClaims returns the decoded claims of the first usable
// insufficient_claims challenge ("" when there is none), or an error wrapping
// ErrClaimsTooLarge, naming the size, for claims over MaxClaimsBytes (checked
// before decoding).
func challengeClaims(h http.Header) (string, error) {
	for _, v := range h.Values("WWW-Authenticate") {
		for _, c := range ParseChallenges(v) {
			if !strings.EqualFold(c.Scheme, "Bearer") || c.Params["error"] != "insufficient_claims" {
				continue
			}
			enc := c.Params["claims"]
			if enc == "" {
				continue
			}
			if len(enc) > 2*MaxClaimsBytes { // far too large: not even decoded
				return "", wire.CheckClaimsSize(len(enc) / 4 * 3) // the decoded size, within 2 bytes
			}
			b, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
			}
			if err != nil || len(b) == 0 {
				continue
			}
			if err := wire.CheckClaimsSize(len(b)); err != nil {
				return "", err
			}
			return string(b), nil
		}
	}
	return "", nil
}
