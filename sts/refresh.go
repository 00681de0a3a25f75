package sts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/appcred/appcred/sts/directory"
)

// RefreshTokenLifetime is how long a refresh token of the user grants may be
// redeemed (Entra: 90 days; shorter here, as the store is in memory).
const RefreshTokenLifetime = 24 * time.Hour

// maxRefreshTokens bounds the refresh tokens kept in memory.
const maxRefreshTokens = 100_000

// refreshStore keeps the refresh tokens the authority issued, in memory and
// by SHA-256 only: a refresh token is 32 random bytes (base64url), bound to
// the tenant, client and user; redeeming it removes it (rotation), and the
// tokens die with the process.
type refreshStore struct {
	mu sync.Mutex
	m  map[[32]byte]refreshRecord
}

// refreshRecord is what a refresh token stands for.
type refreshRecord struct {
	tenant, client, oid string
	resource            string   // the resource as the client named it
	scp                 []string // the scopes granted then
	mfa                 bool     // the sign-in included multi-factor authentication
	expires             time.Time
}

// issue stores rec under a new random token and returns the token.
func (s *refreshStore) issue(rec refreshRecord, now time.Time) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	rec.expires = now.Add(RefreshTokenLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte]refreshRecord{}
	}
	if len(s.m) >= maxRefreshTokens {
		for k, r := range s.m {
			if now.After(r.expires) {
				delete(s.m, k)
			}
		}
		for k := range s.m { // still full: drop arbitrary entries
			if len(s.m) < maxRefreshTokens {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[sha256.Sum256([]byte(tok))] = rec
	return tok, nil
}

// take removes the record of tok and returns it, if there was one.
func (s *refreshStore) take(tok string) (refreshRecord, bool) {
	k := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.m[k]
	delete(s.m, k)
	return rec, ok
}

// redeemRefresh checks a refresh token for this tenant, client and a user
// who still exists, and uses it up.
func (a *Authority) redeemRefresh(t *directory.TenantIndex, client *directory.App, f *userGrantFields, rc *reqCtx) (*directory.User, *refreshRecord, *Error) {
	if f.refreshToken == "" {
		return nil, nil, missingParam("refresh_token")
	}
	rec, ok := a.refresh.take(f.refreshToken)
	if !ok || rec.tenant != t.ID() || !strings.EqualFold(rec.client, client.ClientID) || rc.now.After(rec.expires) {
		if ok && rec.tenant == t.ID() && !strings.EqualFold(rec.client, client.ClientID) {
			a.refresh.put(f.refreshToken, rec) // another client's attempt does not burn it
		}
		return nil, nil, invalidGrant("The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.")
	}
	u := t.User(rec.oid)
	if u == nil {
		return nil, nil, invalidGrant("The provided value for the input parameter 'refresh_token' is not valid: its user no longer exists.")
	}
	return u, &rec, nil
}

// put stores rec under tok again.
func (s *refreshStore) put(tok string, rec refreshRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sha256.Sum256([]byte(tok))] = rec
}

func invalidGrant(msg string) *Error {
	return newErr(http.StatusBadRequest, "invalid_grant", codeInvalidGrant, "%s", msg)
}
