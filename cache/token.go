package cache

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Token is an access token and its lifetimes. A Token handed to or returned by
// the cache is immutable: never modify it.
//
// Its String, GoString and LogValue methods leave the access token out, so a
// Token can be printed or logged safely; JSON encoding (for stores) keeps it.
//
// It is kept small on purpose (one per cached token): Entra's ext_expires_in
// is not kept, since nothing serves tokens past ExpiresOn.
type Token struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"`
	ExpiresOn   time.Time `json:"expires_on"`
	RefreshOn   time.Time `json:"refresh_on,omitzero"`
}

// String describes t without the access token. The methods have value
// receivers so a Token printed or logged by value is redacted too.
func (t Token) String() string {
	return fmt.Sprintf("Token{type=%s expires=%s refresh=%s access_token=[%d bytes redacted]}",
		t.TokenType, t.ExpiresOn.Format(time.RFC3339), t.RefreshOn.Format(time.RFC3339), len(t.AccessToken))
}

// GoString is String, so %#v does not print the access token either.
func (t Token) GoString() string { return t.String() }

// LogValue implements [slog.LogValuer] without the access token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", t.TokenType),
		slog.Time("expires_on", t.ExpiresOn), slog.Time("refresh_on", t.RefreshOn))
}

// FetchFunc obtains a new token from the authority. The cache calls it on a
// miss (once per key however many callers wait) and again in the background to
// refresh a token past its RefreshOn. A zero RefreshOn in the result is filled
// in with [ComputeRefreshOn].
type FetchFunc func(ctx context.Context) (*Token, error)

// Store persists tokens per key, so replicas or restarts share them. Get
// returns (nil, nil) on a miss. Implementations must be safe for concurrent
// use; the cache treats their errors as misses and logs them.
type Store interface {
	Get(ctx context.Context, key string) (*Token, error)
	Put(ctx context.Context, key string, t *Token) error
	Delete(ctx context.Context, key string) error
}

// Refresh-ahead defaults from the design: half the lifetime for long-lived
// tokens, else a fixed margin before expiry.
const (
	longLived     = 2 * time.Hour
	refreshMargin = 5 * time.Minute
)

// ComputeRefreshOn returns when a token issued at issuedAt and expiring at
// expiresOn should be refreshed:
//
//   - issuedAt+refreshIn when the authority sent refresh_in (refreshIn > 0)
//     and that is before expiresOn; a refresh_in at or past the lifetime is
//     ignored and the rules below apply;
//   - half the lifetime when the lifetime is at least 2 h;
//   - else 5 minutes before expiry, but never before half the lifetime, so a
//     short-lived token (10 min or less) is refreshed half way through its life
//     rather than at once, back to back.
//
// A [Cache] additionally moves RefreshOn earlier when it would leave less than
// a minute (or half the usable life) between RefreshOn and the moment the
// token stops being served (ExpiresOn − ExpirySkew), so that refresh ahead
// can happen; ComputeRefreshOn does not know the cache's skew.
func ComputeRefreshOn(issuedAt, expiresOn time.Time, refreshIn time.Duration) time.Time {
	life := expiresOn.Sub(issuedAt)
	if refreshIn > 0 && refreshIn < life {
		return issuedAt.Add(refreshIn)
	}
	half := issuedAt.Add(life / 2)
	if life >= longLived {
		return half
	}
	if r := expiresOn.Add(-refreshMargin); r.After(half) {
		return r
	}
	return half
}
