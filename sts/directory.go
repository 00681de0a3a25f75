package sts

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
)

// dirFile is the persisted directory (directory.json): tenants, their app
// registrations, hashed secrets and certificates.
type dirFile struct {
	Version int          `json:"version"`
	Tenants []*tenantRec `json:"tenants"`
}

type tenantRec struct {
	ID      string    `json:"id"`
	Domains []string  `json:"domains,omitempty"`
	Apps    []*appRec `json:"apps"`
}

type appRec struct {
	ClientID           string              `json:"client_id"`
	ObjectID           string              `json:"object_id"`
	DisplayName        string              `json:"display_name,omitempty"`
	IdentifierURIs     []string            `json:"identifier_uris,omitempty"`
	AppRoles           []string            `json:"app_roles,omitempty"`
	AccessTokenVersion int                 `json:"access_token_version,omitempty"`
	APIPermissions     map[string][]string `json:"api_permissions,omitempty"`
	OptionalClaims     []string            `json:"optional_claims,omitempty"`
	Secrets            []secretRec         `json:"secrets,omitempty"`
	Certificates       []certRec           `json:"certificates,omitempty"`
}

// secretRec is a client secret at rest: a random salt and SHA-256(salt ||
// secret). Secrets are long random strings, so a fast hash is enough and keeps
// the token endpoint fast; the value itself is never stored.
type secretRec struct {
	ID      string    `json:"id"`
	Hint    string    `json:"hint"`
	Salt    string    `json:"salt"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

type certRec struct {
	Thumbprint string    `json:"thumbprint"`
	X5T        string    `json:"x5t"`
	X5TS256    string    `json:"x5t_s256"`
	Subject    string    `json:"subject"`
	NotAfter   time.Time `json:"not_after"`
	Added      time.Time `json:"added"`
	PEM        string    `json:"pem"`
}

// readDirFile reads directory.json; a missing file is an empty directory and
// exists reports false.
func readDirFile(path string) (d *dirFile, exists bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &dirFile{Version: 1}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("directory %s: %w", path, err)
	}
	d = &dirFile{}
	if err := json.Unmarshal(data, d); err != nil {
		return nil, true, fmt.Errorf("directory %s: %w", path, err)
	}
	return d, true, nil
}

func (d *dirFile) tenant(idOrDomain string) *tenantRec {
	for _, t := range d.Tenants {
		if strings.EqualFold(t.ID, idOrDomain) || slices.ContainsFunc(t.Domains, func(s string) bool {
			return strings.EqualFold(s, idOrDomain)
		}) {
			return t
		}
	}
	return nil
}

func (t *tenantRec) app(clientID string) *appRec {
	for _, a := range t.Apps {
		if strings.EqualFold(a.ClientID, clientID) {
			return a
		}
	}
	return nil
}

// servicePrincipalID is the stable object id of an app's service principal in
// a tenant (the "oid" and "sub" of its app-only tokens).
func servicePrincipalID(tenantID, clientID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("appcred:sp:"+strings.ToLower(tenantID)+":"+strings.ToLower(clientID))).String()
}

// directory is the in-memory, indexed form of dirFile used on the hot path.
// It is immutable once built; a changed file yields a new directory.
type directory struct {
	tenants map[string]*tenantIdx // by lower-cased id and domain names
	list    []*tenantIdx
}

type tenantIdx struct {
	id        string
	apps      map[string]*appIdx // by lower-cased client id
	resources map[string]*appIdx // by resourceKey of identifier URIs, client id and api://{client id}
}

type appIdx struct {
	clientID    string
	objectID    string
	displayName string
	version     int  // access token version this app (as a resource) accepts: 1 or 2
	xmsCC       bool // as a resource, opted in to the xms_cc optional claim
	roles       []string
	secrets     []secretHash
	bySHA1      map[[20]byte]*certKey
	bySHA256    map[[32]byte]*certKey
	grants      map[*appIdx][]string // app roles granted to this app, by resource
}

// certKey is a registered certificate's public key and validity period; like
// an Entra key credential, it verifies assertions only while it is valid.
type certKey struct {
	pub                 *rsa.PublicKey
	notBefore, notAfter time.Time
}

type secretHash struct {
	salt []byte
	hash [32]byte
}

// resourceKey normalizes a resource identifier for lookups: lower case, no
// trailing slash.
func resourceKey(s string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
}

// buildDirectory validates d and indexes it. Every problem is reported with
// the tenant and app it concerns.
func buildDirectory(d *dirFile) (*directory, error) {
	dir := &directory{tenants: map[string]*tenantIdx{}}
	for _, t := range d.Tenants {
		if _, err := uuid.Parse(t.ID); err != nil {
			return nil, fmt.Errorf("tenant %q: id must be a GUID", t.ID)
		}
		ti := &tenantIdx{id: strings.ToLower(t.ID), apps: map[string]*appIdx{}, resources: map[string]*appIdx{}}
		for _, name := range append([]string{t.ID}, t.Domains...) {
			k := strings.ToLower(name)
			if _, dup := dir.tenants[k]; dup {
				return nil, fmt.Errorf("tenant %q: id or domain %q is used twice", t.ID, name)
			}
			dir.tenants[k] = ti
		}
		dir.list = append(dir.list, ti)
		for _, a := range t.Apps {
			ai, err := indexApp(t, a)
			if err != nil {
				return nil, err
			}
			ck := strings.ToLower(a.ClientID)
			if _, dup := ti.apps[ck]; dup {
				return nil, fmt.Errorf("tenant %s: client id %q is registered twice", t.ID, a.ClientID)
			}
			ti.apps[ck] = ai
			for _, k := range resourceKeys(a) {
				if other, dup := ti.resources[k]; dup && other != ai {
					return nil, fmt.Errorf("tenant %s: identifier %q is used by apps %s and %s", t.ID, k, other.clientID, a.ClientID)
				}
				ti.resources[k] = ai
			}
		}
		for _, a := range t.Apps {
			ai := ti.apps[strings.ToLower(a.ClientID)]
			for api, roles := range a.APIPermissions {
				res := ti.resources[resourceKey(api)]
				if res == nil {
					return nil, fmt.Errorf("tenant %s, app %s: api_permissions names %q, which no app in the tenant exposes", t.ID, a.ClientID, api)
				}
				for _, r := range roles {
					if !slices.Contains(res.roles, r) {
						return nil, fmt.Errorf("tenant %s, app %s: role %q is not an app role of %q (roles: %s)", t.ID, a.ClientID, r, api, strings.Join(res.roles, ", "))
					}
					if !slices.Contains(ai.grants[res], r) {
						ai.grants[res] = append(ai.grants[res], r)
					}
				}
			}
		}
	}
	return dir, nil
}

func resourceKeys(a *appRec) []string {
	keys := []string{resourceKey(a.ClientID), resourceKey("api://" + a.ClientID)}
	for _, u := range a.IdentifierURIs {
		if k := resourceKey(u); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func indexApp(t *tenantRec, a *appRec) (*appIdx, error) {
	where := fmt.Sprintf("tenant %s, app %q", t.ID, a.ClientID)
	if err := validClientID(a.ClientID); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	ai := &appIdx{
		clientID:    a.ClientID,
		objectID:    a.ObjectID,
		displayName: a.DisplayName,
		version:     1,
		roles:       a.AppRoles,
		bySHA1:      map[[20]byte]*certKey{},
		bySHA256:    map[[32]byte]*certKey{},
		grants:      map[*appIdx][]string{},
	}
	if ai.objectID == "" {
		ai.objectID = servicePrincipalID(t.ID, a.ClientID)
	}
	switch a.AccessTokenVersion {
	case 0, 1:
	case 2:
		ai.version = 2
	default:
		return nil, fmt.Errorf("%s: access_token_version must be 1 or 2, not %d", where, a.AccessTokenVersion)
	}
	oc, err := normalizeOptionalClaims(a.OptionalClaims)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	ai.xmsCC = slices.Contains(oc, optionalXmsCC)
	for _, u := range a.IdentifierURIs {
		if strings.TrimSpace(u) == "" || strings.ContainsAny(u, " \t\r\n") {
			return nil, fmt.Errorf("%s: identifier URI %q is empty or has spaces", where, u)
		}
	}
	for _, s := range a.Secrets {
		salt, err1 := base64.StdEncoding.DecodeString(s.Salt)
		h, err2 := base64.StdEncoding.DecodeString(s.Hash)
		if err1 != nil || err2 != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s: secret %s has a bad salt or hash", where, s.ID)
		}
		sh := secretHash{salt: salt}
		copy(sh.hash[:], h)
		ai.secrets = append(ai.secrets, sh)
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
		ck := &certKey{pub: pub, notBefore: cert.NotBefore, notAfter: cert.NotAfter}
		ai.bySHA1[s1] = ck
		ai.bySHA256[s256] = ck
	}
	return ai, nil
}

// validClientID accepts GUIDs and other simple identifiers; a client id ends
// up in URLs and claims, so spaces, slashes and control characters are refused.
func validClientID(id string) error {
	if id == "" {
		return errors.New("client id is empty")
	}
	if len(id) > 256 || strings.ContainsAny(id, " \t\r\n/\\?#%\"'") {
		return fmt.Errorf("client id %q has characters that are not allowed", id)
	}
	return nil
}

// parseOneCert reads the first certificate of PEM (or raw DER) data.
func parseOneCert(data []byte) (*x509.Certificate, error) {
	if b, _ := pem.Decode(data); b == nil {
		return x509.ParseCertificate(data)
	}
	certs, err := proof.ParsePEMCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func (d *directory) tenant(seg string) *tenantIdx {
	if t := d.tenants[seg]; t != nil {
		return t
	}
	return d.tenants[strings.ToLower(seg)]
}

func (t *tenantIdx) app(clientID string) *appIdx {
	if a := t.apps[clientID]; a != nil {
		return a
	}
	return t.apps[strings.ToLower(clientID)]
}

func (t *tenantIdx) resource(id string) *appIdx {
	return t.resources[resourceKey(id)]
}

// checkSecret reports whether secret matches one of the app's secrets,
// comparing hashes in constant time.
func (a *appIdx) checkSecret(secret string) bool {
	ok := 0
	for i := range a.secrets {
		s := &a.secrets[i]
		h := sha256.New()
		h.Write(s.salt)
		h.Write([]byte(secret))
		var sum [32]byte
		h.Sum(sum[:0])
		ok |= subtle.ConstantTimeCompare(sum[:], s.hash[:])
	}
	return ok == 1
}

func hashSecret(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
