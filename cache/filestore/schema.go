package filestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/appcred/appcred/cache"
)

// Sections of MSAL's unified cache schema (entra-protocol.md §8).
const (
	secAccessToken  = "AccessToken"
	secRefreshToken = "RefreshToken"
	secAccount      = "Account"
	secAppMetadata  = "AppMetadata"
)

// standardSections are written as {} when empty, as MSAL Go does.
var standardSections = []string{secAccessToken, secRefreshToken, "IdToken", secAccount, secAppMetadata}

// fieldKey is the entry field that carries an appcred key the schema's own
// fields cannot express (CAE extra, exact-case scopes); MSAL keeps unknown
// fields and ignores them.
const fieldKey = "appcred_key"

// document is a parsed cache file. Every other section, and every entry and
// field appcred did not write, is kept as read. A document is never modified
// once a snapshot holds it: writers clone.
type document struct {
	top  map[string]json.RawMessage // sections as read (those parsed below are stale here)
	at   map[string]json.RawMessage // AccessToken entries by name
	rt   map[string]json.RawMessage // RefreshToken entries by name
	acct map[string]json.RawMessage // Account entries by name
	meta map[string]json.RawMessage // AppMetadata entries by name
}

func newDocument() *document {
	return &document{top: map[string]json.RawMessage{}, at: map[string]json.RawMessage{}, rt: map[string]json.RawMessage{},
		acct: map[string]json.RawMessage{}, meta: map[string]json.RawMessage{}}
}

// sections returns the sections appcred parses, by name.
func (d *document) sections() map[string]*map[string]json.RawMessage {
	return map[string]*map[string]json.RawMessage{secAccessToken: &d.at, secRefreshToken: &d.rt, secAccount: &d.acct,
		secAppMetadata: &d.meta}
}

// parseDocument parses a cache file's JSON. Empty input is an empty cache.
func parseDocument(data []byte) (*document, error) {
	d := newDocument()
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(data, &d.top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if d.top == nil {
		return nil, errors.New("not a JSON object")
	}
	for name, dst := range d.sections() {
		raw, ok := d.top[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("section %s: %w", name, err)
		}
		if *dst == nil {
			*dst = map[string]json.RawMessage{}
		}
	}
	return d, nil
}

// clone returns a copy whose maps a writer may change.
func (d *document) clone() *document {
	return &document{top: maps.Clone(d.top), at: maps.Clone(d.at), rt: maps.Clone(d.rt), acct: maps.Clone(d.acct),
		meta: maps.Clone(d.meta)}
}

// encode returns the document as JSON.
func (d *document) encode() ([]byte, error) {
	top := maps.Clone(d.top)
	for _, s := range standardSections {
		if _, ok := top[s]; !ok {
			top[s] = json.RawMessage("{}")
		}
	}
	for name, m := range d.sections() {
		raw, err := json.Marshal(*m)
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", name, err)
		}
		top[name] = raw
	}
	return json.Marshal(top)
}

// epoch is a time in epoch seconds, read from a string ("1795504611", as
// MSAL writes) or a number.
type epoch int64

func (e *epoch) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*e = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("time %q is not epoch seconds", s)
	}
	*e = epoch(f)
	return nil
}

func (e epoch) time() time.Time {
	if e == 0 {
		return time.Time{}
	}
	return time.Unix(int64(e), 0)
}

// atEntry holds the AccessToken fields appcred reads.
type atEntry struct {
	CredentialType    string  `json:"credential_type"`
	Secret            string  `json:"secret"`
	HomeAccountID     *string `json:"home_account_id"`
	Environment       string  `json:"environment"`
	ClientID          string  `json:"client_id"`
	Realm             string  `json:"realm"`
	Target            string  `json:"target"`
	TokenType         string  `json:"token_type"`
	ExpiresOn         epoch   `json:"expires_on"`
	RefreshOn         epoch   `json:"refresh_on"`
	UserAssertionHash string  `json:"user_assertion_hash"`
	Key               string  `json:"appcred_key"`
}

// indexed is one usable AccessToken entry: the token and its entry's name.
type indexed struct {
	name string
	tok  cache.Token
}

// appKey returns the appcred key an entry answers, or "" when it is not an
// app or OBO bearer token appcred can serve (a user's token, a PoP token,
// damaged fields).
func (e *atEntry) appKey() string {
	if e.Key != "" {
		if _, err := cache.ParseKey(e.Key); err == nil {
			return e.Key
		}
		return ""
	}
	if !strings.EqualFold(e.CredentialType, "AccessToken") || e.Secret == "" || e.ClientID == "" || e.ExpiresOn == 0 {
		return ""
	}
	if e.TokenType != "" && !strings.EqualFold(e.TokenType, "Bearer") {
		return ""
	}
	p := cache.KeyParts{ClientID: e.ClientID, Host: e.Environment, Tenant: e.Realm, Scopes: strings.Fields(e.Target)}
	switch {
	case e.UserAssertionHash != "":
		p.Kind, p.Extra = cache.KindOBO, e.UserAssertionHash
	case e.HomeAccountID != nil && *e.HomeAccountID != "":
		return "" // a user's token: never served as an app token
	}
	return string(cache.AppendKey(nil, p))
}

// buildIndex decodes the document's AccessToken entries into key → token.
// When two entries answer one key the later expiry wins.
func buildIndex(d *document) map[string]indexed {
	idx := make(map[string]indexed, len(d.at))
	for name, raw := range d.at {
		var e atEntry
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		k := e.appKey()
		if k == "" {
			continue
		}
		tok := cache.Token{AccessToken: e.Secret, TokenType: e.TokenType,
			ExpiresOn: e.ExpiresOn.time(), RefreshOn: e.RefreshOn.time()}
		if tok.TokenType == "" {
			tok.TokenType = "Bearer"
		}
		if old, ok := idx[k]; ok && !tok.ExpiresOn.After(old.tok.ExpiresOn) {
			continue
		}
		idx[k] = indexed{name: name, tok: tok}
	}
	return idx
}

// hostOnly returns host without its port, and whether it had one.
func hostOnly(host string) (string, bool) {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		return host, false
	}
	return h, true
}

// environments returns the environments key's entries are written under:
// the host as in the key (what MSAL Go reads) and, when it has a port, the
// bare host name (what MSAL Python reads; entra-protocol.md §8.2).
func environments(host string) []string {
	if h, ok := hostOnly(host); ok {
		return []string{host, h}
	}
	return []string{host}
}

// entryName is the MSAL key of an AccessToken entry,
// "-{env}-accesstoken-{client_id}-{realm}-{target}" lower-cased, with a
// suffix when the entry carries appcred_key, so it never collides with the
// entry MSAL would write for the plain token.
func entryName(env string, p cache.KeyParts, key string, ownKey bool) string {
	name := strings.ToLower(strings.Join([]string{"", env, "accesstoken", p.ClientID, p.Tenant, strings.Join(p.Scopes, " ")}, "-"))
	if ownKey {
		sum := sha256.Sum256([]byte(key))
		name += "-appcred-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// putEntries writes tok under key into d: one AccessToken entry per
// environment (see environments), keeping fields of an entry it replaces
// that appcred does not write, and the AppMetadata entry MSAL writes with
// every token. It returns the names written.
func putEntries(d *document, key string, p cache.KeyParts, tok *cache.Token, now time.Time) []string {
	var names []string
	for _, env := range environments(p.Host) {
		e := atEntry{CredentialType: "AccessToken", Secret: tok.AccessToken, Environment: env, ClientID: p.ClientID,
			Realm: p.Tenant, Target: strings.Join(p.Scopes, " "), TokenType: tok.TokenType,
			ExpiresOn: epoch(tok.ExpiresOn.Unix()), RefreshOn: epoch(tok.RefreshOn.Unix())}
		if e.TokenType == "" {
			e.TokenType = "Bearer"
		}
		if p.Kind == cache.KindOBO {
			e.UserAssertionHash = p.Extra
		}
		own := e.appKey() != key
		name := entryName(env, p, key, own)
		fields := map[string]json.RawMessage{}
		if old, ok := d.at[name]; ok {
			_ = json.Unmarshal(old, &fields) // a damaged entry is replaced whole
		}
		for k, v := range map[string]any{
			"credential_type": e.CredentialType, "secret": e.Secret, "home_account_id": nil,
			"environment": env, "client_id": e.ClientID, "realm": e.Realm, "target": e.Target,
			"token_type": e.TokenType, "cached_at": strconv.FormatInt(now.Unix(), 10),
			"expires_on": strconv.FormatInt(int64(e.ExpiresOn), 10), "extended_expires_on": strconv.FormatInt(int64(e.ExpiresOn), 10),
		} {
			fields[k], _ = json.Marshal(v) // strings and nil always marshal
		}
		setOrDelete(fields, "refresh_on", strconv.FormatInt(int64(e.RefreshOn), 10), !tok.RefreshOn.IsZero())
		setOrDelete(fields, "user_assertion_hash", e.UserAssertionHash, e.UserAssertionHash != "")
		setOrDelete(fields, fieldKey, key, own)
		raw, _ := json.Marshal(fields) // valid raw values always marshal
		d.at[name] = raw
		names = append(names, name)
		meta := strings.ToLower("appmetadata-" + env + "-" + p.ClientID)
		if _, ok := d.meta[meta]; !ok {
			d.meta[meta], _ = json.Marshal(map[string]string{"client_id": p.ClientID, "environment": env})
		}
	}
	return names
}

func setOrDelete(m map[string]json.RawMessage, k, v string, set bool) {
	if set {
		m[k], _ = json.Marshal(v)
	} else {
		delete(m, k)
	}
}

// pruneExpired removes AccessToken entries that expired before now: MSAL
// never serves them either, and they would grow the file forever.
func pruneExpired(d *document, now time.Time) {
	for name, raw := range d.at {
		var e atEntry
		if json.Unmarshal(raw, &e) == nil && e.ExpiresOn != 0 && !e.ExpiresOn.time().After(now) {
			delete(d.at, name)
		}
	}
}
