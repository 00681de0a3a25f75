package directory

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
)

// Index is the validated, read-only lookup form of a directory that the
// token endpoint reads: tenants by id and domain, apps by client id and
// resource identifier, decoded secret hashes, certificate keys by thumbprint
// and resolved grants. It is immutable once built; a changed directory yields
// a new Index.
type Index struct {
	tenants map[string]*TenantIndex // by lower-cased id and domain names
}

// TenantIndex is one tenant of an Index.
type TenantIndex struct {
	id        string
	apps      map[string]*App // by lower-cased client id
	resources map[string]*App // by resourceKey of identifier URIs, client id and api://{client id}
	keys      map[*App]*appKeys
	users     map[string]*userEntry // by lower-cased user principal name and object id
}

// appKeys is what an app's lookups need, decoded once.
type appKeys struct {
	secrets   []secretHash
	bySHA1    map[[20]byte]*CertKey
	bySHA256  map[[32]byte]*CertKey
	grants    map[*App][]string // app roles granted to the app, by resource
	delegated map[*App][]string // delegated scopes consented to the app, by resource
}

// CertKey is a registered certificate's public key and validity period; like
// an Entra key credential, it verifies assertions only while it is valid.
type CertKey struct {
	// Public is the certificate's RSA public key.
	Public *rsa.PublicKey
	// NotBefore and NotAfter bound the certificate's validity.
	NotBefore, NotAfter time.Time
}

type secretHash struct {
	salt    []byte
	hash    [32]byte
	expires time.Time // zero: never
}

// SecretMatch is how a presented client secret matches an app's secrets.
type SecretMatch int

// The outcomes of MatchSecret, weakest first.
const (
	// SecretNoMatch: the value is none of the app's secrets.
	SecretNoMatch SecretMatch = iota
	// SecretExpired: the value is one of the app's secrets, but only of expired ones.
	SecretExpired
	// SecretValid: the value is one of the app's unexpired secrets.
	SecretValid
)

// NewIndex validates tenants and indexes them. Every problem is reported with
// the tenant and app it concerns. The index keeps tenants, which must not be
// changed afterwards, and fills in apps' derived object ids.
func NewIndex(tenants []*Tenant) (*Index, error) {
	ix := &Index{tenants: map[string]*TenantIndex{}}
	for i, t := range tenants {
		if t == nil || slices.Contains(t.Apps, nil) || slices.Contains(t.Users, nil) {
			return nil, fmt.Errorf("tenant entry %d: a tenant, app or user entry is null", i+1)
		}
		if _, err := uuid.Parse(t.ID); err != nil {
			return nil, fmt.Errorf("tenant %q: id must be a GUID", t.ID)
		}
		ti := &TenantIndex{id: strings.ToLower(t.ID), apps: map[string]*App{}, resources: map[string]*App{},
			keys: map[*App]*appKeys{}}
		for _, name := range append([]string{t.ID}, t.Domains...) {
			k := strings.ToLower(name)
			if _, dup := ix.tenants[k]; dup {
				return nil, fmt.Errorf("tenant %q: id or domain %q is used twice", t.ID, name)
			}
			ix.tenants[k] = ti
		}
		// t as the token endpoint sees it: consented multi-tenant apps stand
		// in for their home apps.
		apps, err := effectiveApps(tenants, t)
		if err != nil {
			return nil, err
		}
		tv := &Tenant{ID: t.ID, Domains: t.Domains, Apps: apps, Users: t.Users}
		if err := ti.addApps(tv); err != nil {
			return nil, err
		}
		if err := ti.resolveGrants(tv); err != nil {
			return nil, err
		}
		if err := ti.indexUsers(tv); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// addApps indexes the apps of t by client id and resource identifiers.
func (ti *TenantIndex) addApps(t *Tenant) error {
	for _, a := range t.Apps {
		k, err := indexApp(t, a)
		if err != nil {
			return err
		}
		ck := strings.ToLower(a.ClientID)
		if _, dup := ti.apps[ck]; dup {
			return fmt.Errorf("tenant %s: client id %q is registered twice", t.ID, a.ClientID)
		}
		ti.apps[ck], ti.keys[a] = a, k
		for _, rk := range resourceKeys(a) {
			if other, dup := ti.resources[rk]; dup && other != a {
				return fmt.Errorf("tenant %s: identifier %q is used by apps %s and %s", t.ID, rk, other.ClientID, a.ClientID)
			}
			ti.resources[rk] = a
		}
	}
	return nil
}

// resolveGrants turns every app's api_permissions into roles by resource.
func (ti *TenantIndex) resolveGrants(t *Tenant) error {
	for _, a := range t.Apps {
		grants := ti.keys[a].grants
		for api, roles := range a.APIPermissions {
			res := ti.resources[resourceKey(api)]
			if res == nil {
				return fmt.Errorf("tenant %s, app %s: api_permissions names %q, which no app in the tenant exposes", t.ID, a.ClientID, api)
			}
			for _, r := range roles {
				if !slices.Contains(res.AppRoles, r) {
					return fmt.Errorf("tenant %s, app %s: role %q is not an app role of %q (roles: %s)", t.ID, a.ClientID, r, api, strings.Join(res.AppRoles, ", "))
				}
				if !slices.Contains(grants[res], r) {
					grants[res] = append(grants[res], r)
				}
			}
		}
	}
	return nil
}

// resourceKey normalizes a resource identifier for lookups: lower case, no
// trailing slash.
func resourceKey(s string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
}

// SameResource reports whether two resource identifiers name the same
// resource (case and a trailing slash aside).
func SameResource(a, b string) bool { return resourceKey(a) == resourceKey(b) }

func resourceKeys(a *App) []string {
	keys := []string{resourceKey(a.ClientID), resourceKey("api://" + a.ClientID)}
	for _, u := range a.IdentifierURIs {
		if k := resourceKey(u); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// indexApp validates a and decodes its secrets and certificates.
func indexApp(t *Tenant, a *App) (*appKeys, error) {
	where := fmt.Sprintf("tenant %s, app %q", t.ID, a.ClientID)
	if err := validClientID(a.ClientID); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if a.ObjectID == "" {
		a.ObjectID = servicePrincipalID(t.ID, a.ClientID)
	}
	if err := checkAudience(a); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if v := a.AccessTokenVersion; v < 0 || v > 2 {
		return nil, fmt.Errorf("%s: access_token_version must be 1 or 2, not %d", where, v)
	}
	oc, err := normalizeOptionalClaims(a.OptionalClaims)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	a.OptionalClaims = oc
	for _, u := range a.IdentifierURIs {
		if strings.TrimSpace(u) == "" || strings.ContainsAny(u, " \t\r\n") {
			return nil, fmt.Errorf("%s: identifier URI %q is empty or has spaces", where, u)
		}
	}
	k := &appKeys{bySHA1: map[[20]byte]*CertKey{}, bySHA256: map[[32]byte]*CertKey{}, grants: map[*App][]string{}}
	for _, s := range a.Secrets {
		salt, err1 := base64.StdEncoding.DecodeString(s.Salt)
		h, err2 := base64.StdEncoding.DecodeString(s.Hash)
		if err1 != nil || err2 != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s: secret %s has a bad salt or hash", where, s.ID)
		}
		k.secrets = append(k.secrets, secretHash{salt: salt, hash: [32]byte(h), expires: s.Expires})
	}
	for _, c := range a.Certificates {
		cert, err := parseOneCert([]byte(c.PEM))
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %s: %w", where, c.Thumbprint, err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: certificate %s has a %T key; client assertions need RSA", where, c.Thumbprint, cert.PublicKey)
		}
		s1, s256 := proof.Thumbprints(cert)
		ck := &CertKey{Public: pub, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter}
		k.bySHA1[s1], k.bySHA256[s256] = ck, ck
	}
	return k, nil
}

// Tenant finds a tenant by id or domain name (any case), or returns nil.
func (ix *Index) Tenant(seg string) *TenantIndex {
	if t := ix.tenants[seg]; t != nil {
		return t
	}
	return ix.tenants[strings.ToLower(seg)]
}

// ID is the tenant id, lower case.
func (t *TenantIndex) ID() string { return t.id }

// App finds an app by client id (any case), or returns nil.
func (t *TenantIndex) App(clientID string) *App {
	if a := t.apps[clientID]; a != nil {
		return a
	}
	return t.apps[strings.ToLower(clientID)]
}

// Resource finds the app a resource identifier names (an identifier URI,
// the client id or api://{client id}; any case, trailing slash ignored), or returns nil.
func (t *TenantIndex) Resource(id string) *App { return t.resources[resourceKey(id)] }

// Roles are the app roles client is granted on resource.
func (t *TenantIndex) Roles(client, resource *App) []string { return t.keys[client].grants[resource] }

// CertBySHA1 finds app's certificate by its SHA-1 thumbprint, or returns nil.
func (t *TenantIndex) CertBySHA1(app *App, sum [20]byte) *CertKey { return t.keys[app].bySHA1[sum] }

// CertBySHA256 finds app's certificate by its SHA-256 thumbprint, or returns nil.
func (t *TenantIndex) CertBySHA256(app *App, sum [32]byte) *CertKey { return t.keys[app].bySHA256[sum] }

// MatchSecret tells whether secret is one of app's secrets and whether that
// secret has expired at now, comparing every hash in constant time.
func (t *TenantIndex) MatchSecret(app *App, secret string, now time.Time) SecretMatch {
	valid, expired := 0, 0
	for i := range t.keys[app].secrets {
		s := &t.keys[app].secrets[i]
		sum := hashSecret(s.salt, secret)
		eq := subtle.ConstantTimeCompare(sum[:], s.hash[:])
		if expiredAt(s.expires, now) {
			expired |= eq
		} else {
			valid |= eq
		}
	}
	switch {
	case valid == 1:
		return SecretValid
	case expired == 1:
		return SecretExpired
	}
	return SecretNoMatch
}

// hashSecret is SHA-256(salt || secret).
func hashSecret(salt []byte, secret string) [32]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
