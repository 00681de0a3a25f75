package appcred

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/cache"
)

// Account is the user an on-behalf-of token was issued for.
type Account struct {
	// HomeAccountID is "{uid}.{utid}" from the response's client_info, the
	// key MSAL uses for the user's cache entries.
	HomeAccountID string
	// Username is the user's sign-in name (preferred_username, or upn).
	Username string
	// ObjectID is the user's object id (oid) in the tenant.
	ObjectID string
	// TenantID is the user's tenant (tid).
	TenantID string
}

// ErrUserTokenRequired means an on-behalf-of partition can no longer be
// served: the user's token has expired or was refused and no refresh token
// works. The middle tier must ask its caller for a fresh user token. The
// error also wraps the authority's *ResponseError when there was one.
var ErrUserTokenRequired = errors.New("appcred: a fresh user token is required")

// ClaimsChallengeError is an on-behalf-of request the authority refused with
// interaction_required and a claims challenge (conditional access: MFA, a
// compliant device, …). The middle tier should answer its caller with 401
// and `WWW-Authenticate: Bearer error="insufficient_claims",
// claims="<base64 of Claims>"`, so the user's client can satisfy it.
type ClaimsChallengeError struct {
	// Claims is the challenge, a JSON document, as the authority sent it.
	Claims string
	// Err is the authority's answer (a *ResponseError).
	Err error
}

// Error describes the challenge without its claims.
func (e *ClaimsChallengeError) Error() string {
	return "appcred: on-behalf-of needs the user to satisfy a claims challenge: " + e.Err.Error()
}

// Unwrap returns the authority's answer.
func (e *ClaimsChallengeError) Unwrap() error { return e.Err }

// AssertionHash is the SHA-256 of a user assertion in MSAL Go's form
// (base64url with padding): the partition key of its on-behalf-of tokens,
// and the session key of a long-running on-behalf-of session.
func AssertionHash(userAssertion string) string {
	sum := sha256.Sum256([]byte(userAssertion))
	return base64.URLEncoding.EncodeToString(sum[:])
}

// oboSession is one user assertion's partition: the refresh token that keeps
// it alive after the assertion expires, and the account it is for.
type oboSession struct {
	hash      string     // AssertionHash
	extra     string     // cache-key discriminator: hash, plus the client's capabilities
	stem      cache.Stem // the key stem of the configured tenant's partition
	assertion string     // empty for a session found only by its key
	expires   time.Time
	account   atomic.Pointer[Account]
	mu        sync.Mutex // guards refresh and loaded
	refresh   string
	loaded    bool // the cache store was asked for a persisted refresh token
}

// oboSessions finds sessions by assertion (the hit path: a map lookup, no
// hashing) and by hash (long-running sessions, removal).
type oboSessions struct {
	mu          sync.RWMutex
	byAssertion map[string]*oboSession
	byHash      map[string]*oboSession
}

func (s *oboSessions) find(assertion string) *oboSession {
	s.mu.RLock()
	ss := s.byAssertion[assertion]
	s.mu.RUnlock()
	return ss
}

func (s *oboSessions) findKey(hash string) *oboSession {
	s.mu.RLock()
	ss := s.byHash[hash]
	s.mu.RUnlock()
	return ss
}

// open returns the session of assertion, making it on first use.
func (s *oboSessions) open(assertion, capExtra string, prefix cache.Prefix) (*oboSession, error) {
	if ss := s.find(assertion); ss != nil {
		return ss, nil
	}
	exp, err := userAssertionExpiry(assertion)
	if err != nil {
		return nil, err
	}
	h := AssertionHash(assertion)
	ss := &oboSession{hash: h, extra: h + capExtra, assertion: assertion, expires: exp}
	ss.stem = prefix.Stem(cache.KindOBO, ss.extra)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byAssertion == nil {
		s.byAssertion, s.byHash = map[string]*oboSession{}, map[string]*oboSession{}
	}
	if old := s.byAssertion[assertion]; old != nil {
		return old, nil
	}
	if old := s.byHash[h]; old != nil && old.assertion == "" {
		old.assertion, old.expires = assertion, exp
		s.byAssertion[assertion] = old
		return old, nil
	}
	s.byAssertion[assertion], s.byHash[h] = ss, ss
	return ss, nil
}

// remove drops every session for the account and returns their cache-key
// discriminators.
func (s *oboSessions) remove(homeAccountID string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[string]bool{}
	for h, ss := range s.byHash {
		if a := ss.account.Load(); a != nil && a.HomeAccountID == homeAccountID {
			gone[ss.extra] = true
			delete(s.byHash, h)
			if ss.assertion != "" {
				delete(s.byAssertion, ss.assertion)
			}
		}
	}
	return gone
}

// AcquireTokenOnBehalfOf returns a token for scopes on behalf of the user
// whose access token (for this app) is userAssertion: the on-behalf-of flow
// of a middle-tier API calling the next API as its caller. Tokens are cached
// per assertion (keyed by its SHA-256, as MSAL Go does), tenant and scopes, so
// one user's tokens are never served to another; a cached token is returned
// at once. The refresh token the authority returns keeps the partition
// alive after the user's token expires: refreshes use it first, then the
// assertion while it is still valid. When neither works the error is
// ErrUserTokenRequired, or a *ClaimsChallengeError to relay to the caller.
// Token.Account names the user.
func (c *Client) AcquireTokenOnBehalfOf(ctx context.Context, userAssertion string, scopes []string, opts ...AcquireOption) (Token, error) {
	var o acquireOptions
	if len(opts) > 0 {
		o = applyAcquireOptions(opts)
	}
	if c.closed.Load() {
		return Token{}, ErrClosed
	}
	if err := checkScopes("AcquireTokenOnBehalfOf", scopes); err != nil {
		return Token{}, err
	}
	if ss := c.obo.find(userAssertion); ss != nil && o.claims == "" && o.tenant == "" {
		var buf [256]byte
		if t, ok := c.cache.Lookup(ss.stem.AppendKey(buf[:0], scopes)); ok {
			return Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresOn: t.ExpiresOn,
				RefreshOn: t.RefreshOn, FromCache: true, Account: ss.account.Load()}, nil
		}
	}
	ss, err := c.obo.open(userAssertion, c.extra, c.prefix)
	if err != nil {
		return Token{}, fmt.Errorf("AcquireTokenOnBehalfOf: %w", err)
	}
	return c.acquireOBO(ctx, ss, scopes, o)
}

// InitiateLongRunningOnBehalfOf starts a long-running on-behalf-of session
// (MSAL.NET's InitiateLongRunningProcessInWebApi) from a user's token, for
// work that outlives it, such as a background job a user started. It
// returns the first token and the session key; later calls to
// AcquireTokenInLongRunningOnBehalfOf with the key need no user token and
// keep working on the refresh token for as long as the authority allows.
func (c *Client) InitiateLongRunningOnBehalfOf(ctx context.Context, userAssertion string, scopes []string, opts ...AcquireOption) (Token, string, error) {
	t, err := c.AcquireTokenOnBehalfOf(ctx, userAssertion, scopes, opts...)
	if err != nil {
		return Token{}, "", err
	}
	return t, AssertionHash(userAssertion), nil
}

// AcquireTokenInLongRunningOnBehalfOf continues the long-running session
// sessionKey (from InitiateLongRunningOnBehalfOf): a cached token, or a new
// one from the session's refresh token (any scopes the user consented to).
// With a cache store that persists sessions (the file and Redis stores), the
// session also continues in another process or after a restart. An unknown
// key, or a session whose refresh token no longer works, is
// ErrUserTokenRequired.
func (c *Client) AcquireTokenInLongRunningOnBehalfOf(ctx context.Context, sessionKey string, scopes []string, opts ...AcquireOption) (Token, error) {
	if c.closed.Load() {
		return Token{}, ErrClosed
	}
	if err := checkScopes("AcquireTokenInLongRunningOnBehalfOf", scopes); err != nil {
		return Token{}, err
	}
	ss := c.obo.findKey(sessionKey)
	if ss == nil {
		ss = c.resumeSession(ctx, sessionKey)
	}
	if ss == nil {
		return Token{}, fmt.Errorf("AcquireTokenInLongRunningOnBehalfOf: no session with this key: %w", ErrUserTokenRequired)
	}
	return c.acquireOBO(ctx, ss, scopes, applyAcquireOptions(opts))
}

// RemoveAccount removes every on-behalf-of token and session (refresh
// token) of the user homeAccountID (Token.Account.HomeAccountID), from
// memory and from the cache store. A store that can list its keys
// ([cache.Lister], as the file and Redis stores) also loses the user's
// sessions and tokens that only it holds (written by an earlier process or
// another replica); an error says which deletions failed.
func (c *Client) RemoveAccount(ctx context.Context, homeAccountID string) error {
	gone := c.obo.remove(homeAccountID)
	if len(gone) > 0 {
		c.cache.RemoveFunc(ctx, func(key string) bool {
			k, err := cache.ParseKey(key)
			return err == nil && k.Kind == cache.KindOBO && gone[k.Extra]
		})
	}
	if err := c.forgetPersisted(ctx, homeAccountID, gone); err != nil {
		return fmt.Errorf("RemoveAccount: %w", err)
	}
	return nil
}

// acquireOBO is the on-behalf-of miss path.
func (c *Client) acquireOBO(ctx context.Context, ss *oboSession, scopes []string, o acquireOptions) (Token, error) {
	tenant, prefix := c.info.Tenant, c.prefix
	if o.tenant != "" && !strings.EqualFold(o.tenant, tenant) {
		if err := c.checkTenant(o.tenant); err != nil {
			return Token{}, err
		}
		tenant, prefix = o.tenant, cache.MakePrefix(c.clientID, c.info.Host, o.tenant)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
		defer cancel()
	}
	key := string(prefix.AppendKey(nil, cache.KindOBO, ss.extra, scopes))
	scopes = append([]string(nil), scopes...)
	fetch := func(ctx context.Context) (*cache.Token, error) { return c.requestOBO(ctx, ss, tenant, scopes, "") }
	var t *cache.Token
	var err error
	if o.claims == "" {
		t, err = c.cache.Fetch(ctx, key, fetch)
	} else if t, err = c.requestOBO(ctx, ss, tenant, scopes, o.claims); err == nil {
		t, err = c.cache.Put(ctx, key, t, fetch)
	}
	if err != nil && (c.closed.Load() || errors.Is(err, cache.ErrClosed)) {
		return Token{}, ErrClosed
	}
	if err != nil {
		return Token{}, oboError(err)
	}
	return Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn,
		Account: ss.account.Load()}, nil
}
