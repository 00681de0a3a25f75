package cache

import (
	"context"
	"fmt"
	"log/slog"
)

// Lister is an optional [Store] extension: a store that can enumerate the
// keys it holds (for `appcred cache list` and purge). Keys never carries
// token values.
type Lister interface {
	// Keys returns the canonical keys the store holds, in no set order.
	Keys(ctx context.Context) ([]string, error)
}

// Leaser is an optional [Store] extension that coalesces misses across every
// process sharing the store (a fleet sharing one Redis), so N replicas make
// one token request per key instead of N.
//
// On a Store miss inside its flight the cache calls Lease. With held true
// it fetches, Puts the token and calls release. With held false another
// process is fetching (or has just stored the token): the cache calls Wait,
// and uses its token; a nil token
// (the holder died or gave up: its lease ended without a value) means fetch
// as usual. An error from either call also means fetch as usual.
type Leaser interface {
	// Lease tries to become the one fetcher of key. release gives the lease
	// up early; a holder that dies loses it after a short time to live.
	Lease(ctx context.Context, key string) (release func(), held bool, err error)
	// Wait returns key's token once another process has stored it, or
	// (nil, nil) when the lease ends without one or a store-defined bound
	// passes; it returns early with ctx's error when ctx ends.
	Wait(ctx context.Context, key string) (*Token, error)
}

// Session is what keeps an on-behalf-of partition alive once the user's
// token has expired: the refresh token the authority returned, and the
// account (user) it is for. A [SessionStore] persists it under a key of kind
// [KindOBOSession].
//
// Its String, GoString and LogValue methods leave the refresh token out;
// JSON encoding (for stores) keeps it.
type Session struct {
	RefreshToken  string `json:"refresh_token"`
	HomeAccountID string `json:"home_account_id,omitempty"` // "{uid}.{utid}", MSAL's account key
	Username      string `json:"username,omitempty"`        // preferred_username or upn
	ObjectID      string `json:"local_account_id,omitempty"`
	TenantID      string `json:"realm,omitempty"` // the user's tenant
}

// String describes s without the refresh token. The methods have value
// receivers so a Session printed or logged by value is redacted too.
func (s Session) String() string {
	return fmt.Sprintf("Session{home_account_id=%s username=%s refresh_token=[%d bytes redacted]}",
		s.HomeAccountID, s.Username, len(s.RefreshToken))
}

// GoString is String, so %#v does not print the refresh token either.
func (s Session) GoString() string { return s.String() }

// LogValue implements [slog.LogValuer] without the refresh token.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("home_account_id", s.HomeAccountID), slog.String("username", s.Username))
}

// SessionStore is an optional [Store] extension that persists on-behalf-of
// sessions ([Session]), so a long-running session outlives the process.
// Keys are canonical keys of kind [KindOBOSession] (no scopes). A store that
// is also a [Lister] lists them among its keys, and its Delete removes a
// session given its key, so listing and purging cover sessions too; Get of
// a session key is a miss.
type SessionStore interface {
	// GetSession returns key's session, or (nil, nil) when there is none.
	GetSession(ctx context.Context, key string) (*Session, error)
	// PutSession stores s under key, replacing what was there (a rotated
	// refresh token overwrites the old one).
	PutSession(ctx context.Context, key string, s *Session) error
	// DeleteSession removes key's session; a missing one is not an error.
	DeleteSession(ctx context.Context, key string) error
}
