package filestore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/appcred/appcred/cache"
)

// On-behalf-of sessions ([cache.SessionStore]) are MSAL RefreshToken entries
// partitioned by user_assertion_hash, as MSAL Go's OBO partitions are, plus
// the user's Account entry (entra-protocol.md §8.3). RefreshTokens have no
// expiry: they stay until the session is deleted (the authority's refusal,
// RemoveAccount, a purge).

// rtEntry holds the RefreshToken fields appcred reads.
type rtEntry struct {
	CredentialType    string `json:"credential_type"`
	Secret            string `json:"secret"`
	HomeAccountID     string `json:"home_account_id"`
	Environment       string `json:"environment"`
	ClientID          string `json:"client_id"`
	Realm             string `json:"realm"`
	UserAssertionHash string `json:"user_assertion_hash"`
	Modified          epoch  `json:"last_modification_time"`
	Key               string `json:"appcred_key"`
}

// sessionKey returns the session key an entry answers, or "" when it is not
// an on-behalf-of refresh token appcred can use (a user's own refresh token
// from MSAL, damaged fields).
func (e *rtEntry) sessionKey() string {
	if e.Secret == "" {
		return ""
	}
	if e.Key != "" {
		if p, err := cache.ParseKey(e.Key); err == nil && p.Kind == cache.KindOBOSession {
			return e.Key
		}
		return ""
	}
	if !strings.EqualFold(e.CredentialType, "RefreshToken") || e.ClientID == "" || e.UserAssertionHash == "" {
		return ""
	}
	return string(cache.AppendKey(nil, cache.KeyParts{ClientID: e.ClientID, Host: e.Environment, Tenant: e.Realm,
		Kind: cache.KindOBOSession, Extra: e.UserAssertionHash}))
}

// acctEntry holds the Account fields appcred reads.
type acctEntry struct {
	HomeAccountID  string `json:"home_account_id"`
	Environment    string `json:"environment"`
	Realm          string `json:"realm"`
	LocalAccountID string `json:"local_account_id"`
	Username       string `json:"username"`
}

// sessionIndexed is one usable session: its RefreshToken entry's name and
// when it was written.
type sessionIndexed struct {
	name     string
	modified epoch
	s        cache.Session
}

// buildSessionIndex decodes the document's on-behalf-of RefreshToken
// entries, with their accounts, into key → session. When two entries answer
// one key the one written last (then the first by name) wins.
func buildSessionIndex(d *document) map[string]sessionIndexed {
	accounts := map[[2]string]acctEntry{}
	for _, raw := range d.acct {
		var a acctEntry
		if json.Unmarshal(raw, &a) != nil || a.HomeAccountID == "" {
			continue
		}
		id := [2]string{a.HomeAccountID, strings.ToLower(a.Environment)}
		// Of the user's accounts (one per tenant), the home tenant's.
		if old, ok := accounts[id]; ok && (homeTenant(old) || !homeTenant(a) && old.Realm < a.Realm) {
			continue
		}
		accounts[id] = a
	}
	idx := map[string]sessionIndexed{}
	for name, raw := range d.rt {
		var e rtEntry
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		k := e.sessionKey()
		if k == "" {
			continue
		}
		if old, ok := idx[k]; ok && cmp.Or(cmp.Compare(old.modified, e.Modified), strings.Compare(name, old.name)) > 0 {
			continue
		}
		s := cache.Session{RefreshToken: e.Secret, HomeAccountID: e.HomeAccountID}
		if a, ok := accounts[[2]string{e.HomeAccountID, strings.ToLower(e.Environment)}]; ok {
			s.Username, s.ObjectID, s.TenantID = a.Username, a.LocalAccountID, a.Realm
		}
		idx[k] = sessionIndexed{name: name, modified: e.Modified, s: s}
	}
	return idx
}

// homeTenant reports whether a is the account in the user's home tenant
// (home_account_id is "{oid}.{home tenant}").
func homeTenant(a acctEntry) bool {
	return a.Realm != "" && strings.HasSuffix(a.HomeAccountID, "."+a.Realm)
}

// putSessionEntries writes v under key into d: one RefreshToken entry per
// environment (see environments) and, for a known user, the Account entry,
// keeping fields of entries it replaces that appcred does not write. Entries
// an earlier write left for key under other names are removed.
func putSessionEntries(d *document, key string, p cache.KeyParts, v *cache.Session, now time.Time) {
	olds := map[string]json.RawMessage{}
	for _, env := range environments(p.Host) {
		name := rtName(env, p, v.HomeAccountID, key)
		if old, ok := d.rt[name]; ok {
			olds[name] = old
		}
	}
	removeSessionEntries(d, key, false)
	for _, env := range environments(p.Host) {
		e := rtEntry{CredentialType: "RefreshToken", Secret: v.RefreshToken, HomeAccountID: v.HomeAccountID,
			Environment: env, ClientID: p.ClientID, Realm: p.Tenant, UserAssertionHash: p.Extra}
		own := e.sessionKey() != key
		name := rtName(env, p, v.HomeAccountID, key)
		fields := map[string]any{"credential_type": e.CredentialType, "secret": e.Secret, "home_account_id": e.HomeAccountID,
			"environment": env, "client_id": e.ClientID, "realm": e.Realm, "user_assertion_hash": e.UserAssertionHash,
			"last_modification_time": strconv.FormatInt(now.Unix(), 10)}
		if own {
			fields[fieldKey] = key
		}
		d.rt[name] = mergeFields(olds[name], fields, fieldKey)
		if v.HomeAccountID == "" {
			continue
		}
		realm := cmp.Or(v.TenantID, p.Tenant)
		aname := strings.ToLower(strings.Join([]string{v.HomeAccountID, env, realm}, "-"))
		d.acct[aname] = mergeFields(d.acct[aname], map[string]any{"home_account_id": v.HomeAccountID, "environment": env,
			"realm": realm, "local_account_id": v.ObjectID, "username": v.Username, "authority_type": "MSSTS"})
	}
}

// rtName is the name of a session's RefreshToken entry: MSAL Python's
// "{home}-{env}-refreshtoken-{client_id}--" lower-cased, with a suffix from
// the session key, since one user has one entry per partition.
func rtName(env string, p cache.KeyParts, home, key string) string {
	sum := sha256.Sum256([]byte(key))
	return strings.ToLower(strings.Join([]string{home, env, "refreshtoken", p.ClientID, "", ""}, "-")) +
		"-appcred-" + hex.EncodeToString(sum[:6])
}

// mergeFields returns the JSON of old's fields (none when old is damaged or
// nil) with set applied, without the fields in drop.
func mergeFields(old json.RawMessage, set map[string]any, drop ...string) json.RawMessage {
	fields := map[string]json.RawMessage{}
	if old != nil {
		_ = json.Unmarshal(old, &fields) // a damaged entry is replaced whole
	}
	for _, k := range drop {
		delete(fields, k)
	}
	for k, v := range set {
		fields[k], _ = json.Marshal(v) // strings always marshal
	}
	raw, _ := json.Marshal(fields) // valid raw values always marshal
	return raw
}

// removeSessionEntries removes every RefreshToken entry that answers key
// (including one for its bare host name). With accounts, it also removes the
// Account entries of the users left with no refresh token in the file.
func removeSessionEntries(d *document, key string, accounts bool) {
	alt := bareHostKey(key)
	users := map[string]bool{}
	for name, raw := range d.rt {
		var e rtEntry
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		if k := e.sessionKey(); k == key || (alt != "" && k == alt) {
			delete(d.rt, name)
			users[e.HomeAccountID] = true
		}
	}
	delete(users, "")
	if !accounts || len(users) == 0 {
		return
	}
	for _, raw := range d.rt {
		var e rtEntry
		if json.Unmarshal(raw, &e) == nil {
			delete(users, e.HomeAccountID)
		}
	}
	for name, raw := range d.acct {
		var a acctEntry
		if json.Unmarshal(raw, &a) == nil && users[a.HomeAccountID] {
			delete(d.acct, name)
		}
	}
}

// sessionParts parses a session key.
func sessionParts(key string) (cache.KeyParts, error) {
	p, err := cache.ParseKey(key)
	if err != nil {
		return p, fmt.Errorf("filestore: %w", err)
	}
	if p.Kind != cache.KindOBOSession {
		return p, fmt.Errorf("filestore: a session key must be of kind %s, not %s", cache.KindOBOSession, p.Kind)
	}
	return p, nil
}

// GetSession returns key's on-behalf-of session, or (nil, nil) when the
// file holds none (implements [cache.SessionStore]).
func (s *Store) GetSession(_ context.Context, key string) (*cache.Session, error) {
	snap, err := s.readable()
	if err != nil {
		return nil, err
	}
	e, ok := lookup(snap.sessions, key)
	if !ok {
		return nil, nil
	}
	v := e.s
	return &v, nil
}

// PutSession writes v under key: a RefreshToken entry partitioned by the
// user assertion hash (two when the key's host has a port, as for tokens)
// and the user's Account entry. It replaces the session's refresh token.
func (s *Store) PutSession(ctx context.Context, key string, v *cache.Session) error {
	p, err := sessionParts(key)
	if err != nil {
		return err
	}
	if v == nil || v.RefreshToken == "" {
		return errors.New("filestore: put of a session with no refresh token")
	}
	return s.update(ctx, func(d *document, now time.Time) { putSessionEntries(d, key, p, v, now) })
}

// DeleteSession removes key's RefreshToken entries, and the Account entry
// of a user left with no refresh token. A missing session is not an error.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	if _, err := sessionParts(key); err != nil {
		return err
	}
	snap, err := s.current()
	if err != nil {
		return err
	}
	if _, ok := lookup(snap.sessions, key); !ok && snap.err == nil {
		return nil // nothing to delete: no write
	}
	return s.update(ctx, func(d *document, _ time.Time) { removeSessionEntries(d, key, true) })
}
