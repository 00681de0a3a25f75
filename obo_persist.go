package appcred

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/appcred/appcred/cache"
)

// On-behalf-of sessions outlive the process when the cache store implements
// cache.SessionStore (the file and Redis stores do): each session's refresh
// token and account are stored under a key of kind cache.KindOBOSession
// (the client's prefix, the partition's extra, no scopes). Store failures
// are logged and otherwise ignored, as the cache treats them: memory and the
// authority still work.

// sessionStore returns the cache store's session extension, or nil.
func (c *Client) sessionStore() cache.SessionStore {
	s, _ := c.cfg.store.(cache.SessionStore)
	return s
}

// sessionKey is the store key of the session whose key discriminator is
// extra.
func (c *Client) sessionKey(extra string) string {
	return string(c.prefix.AppendKey(nil, cache.KindOBOSession, extra, nil))
}

// loadSession returns the refresh token the store holds for ss ("" when it
// holds none or cannot be read) and takes the account from it when ss has
// none. Callers hold ss.mu or own ss alone.
func (c *Client) loadSession(ctx context.Context, ss *oboSession) string {
	st := c.sessionStore()
	if st == nil {
		return ""
	}
	v, err := st.GetSession(ctx, c.sessionKey(ss.extra))
	if err != nil {
		c.log.WarnContext(ctx, "appcred: cache store: reading an on-behalf-of session failed", "err", err)
		return ""
	}
	if v == nil {
		return ""
	}
	if a := (Account{HomeAccountID: v.HomeAccountID, Username: v.Username, ObjectID: v.ObjectID, TenantID: v.TenantID}); a != (Account{}) {
		ss.account.CompareAndSwap(nil, &a)
	}
	return v.RefreshToken
}

// saveSession stores ss's refresh token and account, replacing a rotated
// refresh token. Callers hold ss.mu.
func (c *Client) saveSession(ctx context.Context, ss *oboSession) {
	st := c.sessionStore()
	if st == nil || ss.refresh == "" {
		return
	}
	v := cache.Session{RefreshToken: ss.refresh}
	if a := ss.account.Load(); a != nil {
		v.HomeAccountID, v.Username, v.ObjectID, v.TenantID = a.HomeAccountID, a.Username, a.ObjectID, a.TenantID
	}
	if err := st.PutSession(ctx, c.sessionKey(ss.extra), &v); err != nil {
		c.log.WarnContext(ctx, "appcred: cache store: saving an on-behalf-of session failed", "err", err)
	}
}

// dropSession deletes ss's stored session (its refresh token was refused).
func (c *Client) dropSession(ctx context.Context, ss *oboSession) {
	if st := c.sessionStore(); st != nil {
		if err := st.DeleteSession(ctx, c.sessionKey(ss.extra)); err != nil {
			c.log.WarnContext(ctx, "appcred: cache store: deleting a refused on-behalf-of session failed", "err", err)
		}
	}
}

// resumeSession finds the long-running session hash in the store (one an
// earlier process or another replica started) and makes it this client's;
// nil when the store has none.
func (c *Client) resumeSession(ctx context.Context, hash string) *oboSession {
	if c.sessionStore() == nil {
		return nil
	}
	ss := &oboSession{hash: hash, extra: hash + c.extra, loaded: true}
	if ss.refresh = c.loadSession(ctx, ss); ss.refresh == "" {
		return nil
	}
	ss.stem = c.prefix.Stem(cache.KindOBO, ss.extra)
	return c.obo.adopt(ss)
}

// adopt adds ss, found by its key only, unless a session with its hash is
// already there; it returns the session to use.
func (s *oboSessions) adopt(ss *oboSession) *oboSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byHash[ss.hash]; old != nil {
		return old
	}
	if s.byHash == nil {
		s.byAssertion, s.byHash = map[string]*oboSession{}, map[string]*oboSession{}
	}
	s.byHash[ss.hash] = ss
	return ss
}

// forgetPersisted removes from the store what RemoveAccount must: the
// sessions of gone (this process's sessions of the user) and, when the store
// can list its keys, this client's other sessions of the user and every
// on-behalf-of token of those partitions, which only the store may hold
// (written by an earlier process or another replica). It adds the
// partitions it finds to gone.
func (c *Client) forgetPersisted(ctx context.Context, homeAccountID string, gone map[string]bool) error {
	st := c.sessionStore()
	var errs []error
	if st != nil {
		for extra := range gone {
			errs = append(errs, st.DeleteSession(ctx, c.sessionKey(extra)))
		}
	}
	l, ok := c.cfg.store.(cache.Lister)
	if !ok || st == nil {
		return errors.Join(errs...)
	}
	keys, err := l.Keys(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list the cache store: %w", err))...)
	}
	var tokens []cache.KeyParts
	var tokenKeys []string
	for _, k := range keys {
		if !strings.HasPrefix(k, c.prefix.Client()) {
			continue
		}
		p, err := cache.ParseKey(k)
		if err != nil {
			continue
		}
		switch p.Kind {
		case cache.KindOBO:
			tokens, tokenKeys = append(tokens, p), append(tokenKeys, k)
		case cache.KindOBOSession:
			v, err := st.GetSession(ctx, k)
			if err == nil && v != nil && v.HomeAccountID == homeAccountID {
				gone[p.Extra] = true
				err = st.DeleteSession(ctx, k)
			}
			errs = append(errs, err)
		}
	}
	for i, p := range tokens {
		if gone[p.Extra] {
			errs = append(errs, c.cfg.store.Delete(ctx, tokenKeys[i]))
		}
	}
	return errors.Join(errs...)
}
