package appcred

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// oboScopes are added to every on-behalf-of request, as both MSALs do: a
// refresh token (offline_access) keeps the partition alive, and the id_token
// with client_info (openid profile) names the user.
var oboScopes = []string{"offline_access", "openid", "profile"}

// checkScopes refuses an empty scope list or a blank scope; op names the call.
func checkScopes(op string, scopes []string) error {
	if len(scopes) == 0 {
		return fmt.Errorf("%s: no scopes given (want e.g. \"api://orders/.default\")", op)
	}
	for i, sc := range scopes {
		if strings.TrimSpace(sc) == "" {
			return fmt.Errorf("%s: scope %d is blank", op, i)
		}
	}
	return nil
}

// requestOBO gets a token for ss: with its refresh token when it has one,
// else (or when the authority refuses it) with the user's assertion while it
// is valid. Requests of one session are serialized, so a rotated refresh
// token is never used twice. A new refresh token is saved in the cache
// store; a refused one is deleted from it.
func (c *Client) requestOBO(ctx context.Context, ss *oboSession, tenant string, scopes []string, claims string) (*cache.Token, error) {
	t, err := c.requestOBOLocked(ctx, ss, tenant, scopes, claims)
	if err != nil {
		return nil, c.secrets.ScrubError(err)
	}
	return t, nil
}

func (c *Client) requestOBOLocked(ctx context.Context, ss *oboSession, tenant string, scopes []string, claims string) (*cache.Token, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.loaded { // a session an earlier process or another replica saved
		ss.loaded = true
		if ss.refresh == "" {
			ss.refresh = c.loadSession(ctx, ss)
		}
	}
	var refused error
	// A refused refresh token may have been rotated by another process
	// sharing the store: try the stored one once before giving up on it.
	for tries := 0; tries < 2 && ss.refresh != ""; tries++ {
		used := ss.refresh
		t, err := c.postOBO(ctx, ss, tenant, scopes, claims, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {used}})
		if err == nil || !isOAuthError(err, "invalid_grant") {
			return t, err
		}
		if ss.refresh, refused = c.loadSession(ctx, ss), err; ss.refresh == used {
			ss.refresh = ""
		}
	}
	if refused != nil {
		c.dropSession(ctx, ss)
	}
	if ss.assertion == "" || !c.now().Before(ss.expires) {
		if refused != nil {
			return nil, fmt.Errorf("%w: %w", ErrUserTokenRequired, refused)
		}
		return nil, fmt.Errorf("%w: the user's token has expired and there is no refresh token", ErrUserTokenRequired)
	}
	return c.postOBO(ctx, ss, tenant, scopes, claims, url.Values{
		"grant_type": {jwtBearerGrant}, "assertion": {ss.assertion}, "requested_token_use": {"on_behalf_of"},
	})
}

// postOBO posts one on-behalf-of or refresh request and records the refresh
// token and account the authority returned.
func (c *Client) postOBO(ctx context.Context, ss *oboSession, tenant string, scopes []string, claims string, grant url.Values) (_ *cache.Token, err error) {
	ctx, rec := c.tel.start(ctx, cmp.Or(tenant, c.info.Tenant), grant.Get("grant_type"))
	defer func() { rec.end(ctx, err) }() // records the error's kind and AADSTS code, never its text
	fields := url.Values{"client_info": {"1"}}
	for k, v := range grant {
		fields[k] = v
	}
	resp, now, err := c.postGrant(ctx, tenant, scopes, oboScopes, claims, fields, rec)
	if err != nil {
		return nil, err
	}
	if a := accountOf(resp); a != nil {
		ss.account.Store(a)
	}
	if resp.RefreshToken != "" {
		ss.refresh = resp.RefreshToken
		c.saveSession(ctx, ss)
	}
	return tokenOf(resp, now), nil
}

// isOAuthError reports whether err is the authority's answer with OAuth
// error code.
func isOAuthError(err error, code string) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.OAuthError == code
}

// oboError turns an on-behalf-of failure into what the middle tier acts on:
// a *ClaimsChallengeError for a conditional-access challenge, an error
// wrapping ErrUserTokenRequired for a refused user assertion, else the
// authority's *ResponseError.
func oboError(err error) error {
	var we *wire.Error
	refused := errors.As(err, &we) && (we.OAuthError == "invalid_grant" || we.OAuthError == "interaction_required")
	claims := ""
	if refused {
		claims = we.Claims
	}
	err = responseError(err)
	switch {
	case claims != "":
		return &ClaimsChallengeError{Claims: claims, Err: err}
	case refused && !errors.Is(err, ErrUserTokenRequired):
		return fmt.Errorf("%w: %w", ErrUserTokenRequired, err)
	}
	return err
}

// userAssertionExpiry checks that a user assertion looks like a JWT and
// returns its exp (far in the future when it has none: the authority
// decides). The signature is the authority's to check.
func userAssertionExpiry(assertion string) (time.Time, error) {
	if strings.TrimSpace(assertion) == "" {
		return time.Time{}, errors.New("the user assertion is empty")
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := decodeJWTPayload(assertion, &claims); err != nil {
		return time.Time{}, fmt.Errorf("the user assertion is not a JWT access token: %w", err)
	}
	exp, err := claims.Exp.Float64()
	if claims.Exp == "" || err != nil {
		return time.Unix(1<<40, 0), nil
	}
	return time.Unix(int64(exp), 0), nil
}

// decodeJWTPayload decodes the claims of a compact JWS without checking its
// signature.
func decodeJWTPayload(jwt string, v any) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("want header.payload.signature, got %d part(s)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return errors.New("its payload is not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("its payload is not a JSON object")
	}
	return nil
}

// accountOf reads the user from a response's client_info and id_token, or
// returns nil when it has neither.
func accountOf(resp *wire.TokenResponse) *Account {
	var a Account
	var ci struct{ UID, UTID string }
	if resp.ClientInfo != "" {
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(resp.ClientInfo, "=")); err == nil &&
			json.Unmarshal(b, &ci) == nil && ci.UID != "" && ci.UTID != "" {
			a.HomeAccountID, a.ObjectID, a.TenantID = ci.UID+"."+ci.UTID, ci.UID, ci.UTID
		}
	}
	var id struct {
		PreferredUsername string `json:"preferred_username"`
		UPN               string `json:"upn"`
		OID               string `json:"oid"`
		TID               string `json:"tid"`
	}
	if resp.IDToken != "" && decodeJWTPayload(resp.IDToken, &id) == nil {
		a.Username = firstNonEmpty(id.PreferredUsername, id.UPN)
		a.ObjectID, a.TenantID = firstNonEmpty(a.ObjectID, id.OID), firstNonEmpty(a.TenantID, id.TID)
	}
	if a == (Account{}) {
		return nil
	}
	return &a
}
