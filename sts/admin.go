package sts

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/proof"
)

// State is a handle on an authority state directory for administration:
// tenants, app registrations, secrets, certificates, grants and signing keys.
// Every change is a locked read-modify-write of directory.json written
// atomically, so admin commands work while a server uses the same directory
// (the server notices the change within about 100 ms).
type State struct {
	dir      string
	changed  func() // called after every successful write (the server reloads)
	lockHeld bool   // the caller holds the state lock (Open); update does not take it again
}

// OpenState opens (creating with mode 0700 if needed) the state directory dir
// for administration. It does not create TLS material or signing keys.
func OpenState(dir string) (*State, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	return &State{dir: dir}, nil
}

// Dir returns the state directory.
func (s *State) Dir() string { return s.dir }

// TenantInfo describes a tenant and its apps.
type TenantInfo struct {
	ID      string    `json:"id"`
	Domains []string  `json:"domains,omitempty"`
	Apps    []AppInfo `json:"apps"`
}

// AppSpec describes a new app registration.
type AppSpec struct {
	// ClientID is the application (client) id; empty means a new random GUID.
	ClientID string
	// DisplayName is a human name for the app.
	DisplayName string
	// IdentifierURIs are the app's application ID URIs, such as "api://orders",
	// by which clients ask for tokens for it ("api://orders/.default").
	IdentifierURIs []string
	// AppRoles are the application permissions the app exposes as a resource.
	AppRoles []string
	// AccessTokenVersion is the version of the tokens issued for this app as a
	// resource: 1 (the default, as in Entra) or 2.
	AccessTokenVersion int
	// OptionalClaims are the optional claims the app, as a resource, wants in
	// its access tokens (the manifest's optionalClaims.accessToken). Supported:
	// "xms_cc", the client capabilities ("cp1") a client declares in its claims
	// request; without the opt-in they are not put in tokens, as in Entra.
	OptionalClaims []string
}

// AppInfo describes an app registration. Secrets appear only by id and hint.
type AppInfo struct {
	ClientID           string              `json:"client_id"`
	ObjectID           string              `json:"object_id"`
	DisplayName        string              `json:"display_name,omitempty"`
	IdentifierURIs     []string            `json:"identifier_uris,omitempty"`
	AppRoles           []string            `json:"app_roles,omitempty"`
	AccessTokenVersion int                 `json:"access_token_version"`
	APIPermissions     map[string][]string `json:"api_permissions,omitempty"`
	OptionalClaims     []string            `json:"optional_claims,omitempty"`
	Secrets            []SecretInfo        `json:"secrets,omitempty"`
	Certificates       []CertInfo          `json:"certificates,omitempty"`
}

// SecretInfo describes a client secret. Value is set only in the result of
// AddSecret, the one time the secret is shown.
type SecretInfo struct {
	ID      string    `json:"id"`
	Hint    string    `json:"hint"`
	Created time.Time `json:"created"`
	Value   string    `json:"secret,omitempty"`
}

// String never shows the secret value.
func (s SecretInfo) String() string { return "secret " + s.ID + " (" + s.Hint + "…)" }

// GoString (the %#v verb) never shows the secret value: it is replaced by
// "[REDACTED]" when set.
func (s SecretInfo) GoString() string {
	v := `""`
	if s.Value != "" {
		v = `"[REDACTED]"`
	}
	return fmt.Sprintf("sts.SecretInfo{ID:%q, Hint:%q, Created:%s, Value:%s}", s.ID, s.Hint, s.Created.Format(time.RFC3339Nano), v)
}

// LogValue makes log/slog record the id, hint and creation time, never the
// secret value.
func (s SecretInfo) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("hint", s.Hint), slog.Time("created", s.Created))
}

// CertInfo describes a registered certificate by its thumbprints.
type CertInfo struct {
	// Thumbprint is the SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
	Thumbprint string `json:"thumbprint"`
	// X5T is the base64url SHA-1 thumbprint (JWS "x5t").
	X5T string `json:"x5t"`
	// X5TS256 is the base64url SHA-256 thumbprint (JWS "x5t#S256").
	X5TS256  string    `json:"x5t_s256"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// update runs fn on the directory under the state lock and writes the result
// atomically if it validates.
func (s *State) update(fn func(d *dirFile) error) error {
	if !s.lockHeld {
		unlock, err := lockState(s.dir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	path := filepath.Join(s.dir, directoryFile)
	d, _, err := readDirFile(path)
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	if _, err := buildDirectory(d); err != nil {
		return err
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode directory: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if s.changed != nil {
		s.changed()
	}
	return nil
}

// pickTenant finds a tenant by id or domain; "" means the only tenant.
func pickTenant(d *dirFile, tenant string) (*tenantRec, error) {
	if tenant == "" {
		if len(d.Tenants) == 1 {
			return d.Tenants[0], nil
		}
		return nil, fmt.Errorf("the directory has %d tenants; name one", len(d.Tenants))
	}
	if t := d.tenant(tenant); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("tenant %q not found", tenant)
}

func pickApp(d *dirFile, tenant, clientID string) (*tenantRec, *appRec, error) {
	t, err := pickTenant(d, tenant)
	if err != nil {
		return nil, nil, err
	}
	a := t.app(clientID)
	if a == nil {
		return nil, nil, fmt.Errorf("app %q not found in tenant %s", clientID, t.ID)
	}
	return t, a, nil
}

// AddTenant registers a tenant with a GUID id (empty: a new random one) and
// optional domain names by which it can also be addressed.
func (s *State) AddTenant(id string, domains ...string) (TenantInfo, error) {
	if id == "" {
		id = uuid.NewString()
	}
	var out TenantInfo
	err := s.update(func(d *dirFile) error {
		if _, err := uuid.Parse(id); err != nil {
			return fmt.Errorf("tenant id %q must be a GUID", id)
		}
		if d.tenant(id) != nil {
			return fmt.Errorf("tenant %s already exists", id)
		}
		t := &tenantRec{ID: strings.ToLower(id), Domains: domains, Apps: []*appRec{}}
		d.Tenants = append(d.Tenants, t)
		out = tenantInfo(t)
		return nil
	})
	return out, err
}

// AddApp registers an app in tenant (id or domain). A tenant that does not
// exist yet is created when tenant is a GUID; "" means the only tenant.
func (s *State) AddApp(tenant string, spec AppSpec) (AppInfo, error) {
	if spec.ClientID == "" {
		spec.ClientID = uuid.NewString()
	}
	oc, err := normalizeOptionalClaims(spec.OptionalClaims)
	if err != nil {
		return AppInfo{}, fmt.Errorf("app %s: %w", spec.ClientID, err)
	}
	var out AppInfo
	err = s.update(func(d *dirFile) error {
		t := d.tenant(tenant)
		if t == nil {
			if tenant == "" {
				var err error
				if t, err = pickTenant(d, ""); err != nil {
					return err
				}
			} else if _, err := uuid.Parse(tenant); err != nil {
				return fmt.Errorf("tenant %q not found (a new tenant needs a GUID id)", tenant)
			} else {
				t = &tenantRec{ID: strings.ToLower(tenant), Apps: []*appRec{}}
				d.Tenants = append(d.Tenants, t)
			}
		}
		if t.app(spec.ClientID) != nil {
			return fmt.Errorf("app %s already exists in tenant %s", spec.ClientID, t.ID)
		}
		a := &appRec{
			ClientID:           spec.ClientID,
			ObjectID:           servicePrincipalID(t.ID, spec.ClientID),
			DisplayName:        spec.DisplayName,
			IdentifierURIs:     spec.IdentifierURIs,
			AppRoles:           spec.AppRoles,
			AccessTokenVersion: spec.AccessTokenVersion,
			OptionalClaims:     oc,
		}
		t.Apps = append(t.Apps, a)
		out = appInfo(a)
		return nil
	})
	return out, err
}

// newSecretValue returns a new random client secret: 40 base64url characters
// (about 240 bits), starting with a letter or digit.
func newSecretValue() (string, error) {
	b := make([]byte, 30)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		// A leading '-' or '_' would read as a flag on command lines.
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' && s[0] != '_' {
			return s, nil
		}
	}
}

func newSecretRec(value string, now time.Time) (secretRec, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return secretRec{}, err
	}
	hint := value
	if len(hint) > 3 {
		hint = hint[:3]
	}
	return secretRec{
		ID:      uuid.NewString(),
		Hint:    hint,
		Salt:    base64.StdEncoding.EncodeToString(salt),
		Hash:    base64.StdEncoding.EncodeToString(hashSecret(salt, value)),
		Created: now.UTC(),
	}, nil
}

// AddSecret adds a new random client secret to an app and returns it; the
// value is in the result only (it is stored hashed) and must be kept by the caller.
func (s *State) AddSecret(tenant, clientID string) (SecretInfo, error) {
	value, err := newSecretValue()
	if err != nil {
		return SecretInfo{}, err
	}
	var out SecretInfo
	err = s.update(func(d *dirFile) error {
		_, a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		rec, err := newSecretRec(value, time.Now())
		if err != nil {
			return err
		}
		a.Secrets = append(a.Secrets, rec)
		out = SecretInfo{ID: rec.ID, Hint: rec.Hint, Created: rec.Created, Value: value}
		return nil
	})
	return out, err
}

func newCertRec(data []byte, now time.Time) (certRec, error) {
	cert, err := parseOneCert(data)
	if err != nil {
		return certRec{}, fmt.Errorf("certificate: %w", err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return certRec{}, fmt.Errorf("certificate %q has a %T key; client assertions (RS256/PS256) need RSA", cert.Subject, cert.PublicKey)
	}
	return certRec{
		Thumbprint: proof.SHA1Hex(cert),
		X5T:        proof.X5T(cert),
		X5TS256:    proof.X5TS256(cert),
		Subject:    cert.Subject.String(),
		NotAfter:   cert.NotAfter.UTC(),
		Added:      now.UTC(),
		PEM:        string(pemCert(cert.Raw)),
	}, nil
}

// AddCertificate registers a certificate (PEM, first certificate used; or DER)
// on an app; assertions signed by its key are then accepted. Adding the same
// certificate twice is not an error.
func (s *State) AddCertificate(tenant, clientID string, certData []byte) (CertInfo, error) {
	rec, err := newCertRec(certData, time.Now())
	if err != nil {
		return CertInfo{}, err
	}
	err = s.update(func(d *dirFile) error {
		_, a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(a.Certificates, func(c certRec) bool { return c.Thumbprint == rec.Thumbprint }) {
			a.Certificates = append(a.Certificates, rec)
		}
		return nil
	})
	return certInfo(rec), err
}

// Grant gives an app application permissions (app roles) on a resource api,
// named by identifier URI or client id. The roles must be app roles of the
// resource; they appear in the app's tokens for that resource as "roles".
func (s *State) Grant(tenant, clientID, api string, roles ...string) error {
	if strings.TrimSpace(api) == "" {
		return errors.New("grant: the api (identifier URI or client id) is empty")
	}
	return s.update(func(d *dirFile) error {
		_, a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		if a.APIPermissions == nil {
			a.APIPermissions = map[string][]string{}
		}
		cur := a.APIPermissions[api]
		for _, r := range roles {
			if !slices.Contains(cur, r) {
				cur = append(cur, r)
			}
		}
		if cur == nil {
			cur = []string{}
		}
		a.APIPermissions[api] = cur
		return nil
	})
}

// List returns every tenant and app registration (secrets by id and hint only).
func (s *State) List() ([]TenantInfo, error) {
	d, _, err := readDirFile(filepath.Join(s.dir, directoryFile))
	if err != nil {
		return nil, err
	}
	out := make([]TenantInfo, 0, len(d.Tenants))
	for _, t := range d.Tenants {
		out = append(out, tenantInfo(t))
	}
	return out, nil
}

// RotateKey makes a new token signing key, which signs from now on; older
// keys stay in the JWKS so tokens they signed still verify. The key is not
// pre-published: the JWKS is served with max-age=300, so a resource server
// that caches it by that header and does not refetch on an unknown kid may
// reject tokens of the new key for up to 5 minutes.
func (s *State) RotateKey() (KeyInfo, error) {
	unlock, err := lockState(s.dir)
	if err != nil {
		return KeyInfo{}, err
	}
	sk, err := rotateKey(s.dir)
	unlock()
	if err != nil {
		return KeyInfo{}, err
	}
	if s.changed != nil {
		s.changed()
	}
	return KeyInfo{KID: sk.kid, Created: sk.created, Current: true}, nil
}

// Keys lists the token signing keys, oldest first; the last one is current.
// The first key is created if there is none.
func (s *State) Keys() ([]KeyInfo, error) {
	set, err := loadKeys(s.dir)
	if err != nil {
		return nil, err
	}
	return set.info(), nil
}

func tenantInfo(t *tenantRec) TenantInfo {
	ti := TenantInfo{ID: t.ID, Domains: t.Domains, Apps: make([]AppInfo, 0, len(t.Apps))}
	for _, a := range t.Apps {
		ti.Apps = append(ti.Apps, appInfo(a))
	}
	return ti
}

func appInfo(a *appRec) AppInfo {
	ai := AppInfo{
		ClientID:           a.ClientID,
		ObjectID:           a.ObjectID,
		DisplayName:        a.DisplayName,
		IdentifierURIs:     a.IdentifierURIs,
		AppRoles:           a.AppRoles,
		AccessTokenVersion: max(a.AccessTokenVersion, 1),
		APIPermissions:     a.APIPermissions,
		OptionalClaims:     a.OptionalClaims,
	}
	for _, s := range a.Secrets {
		ai.Secrets = append(ai.Secrets, SecretInfo{ID: s.ID, Hint: s.Hint, Created: s.Created})
	}
	for _, c := range a.Certificates {
		ai.Certificates = append(ai.Certificates, certInfo(c))
	}
	sort.Slice(ai.Certificates, func(i, j int) bool { return ai.Certificates[i].NotAfter.Before(ai.Certificates[j].NotAfter) })
	return ai
}

func certInfo(c certRec) CertInfo {
	return CertInfo{Thumbprint: c.Thumbprint, X5T: c.X5T, X5TS256: c.X5TS256, Subject: c.Subject, NotAfter: c.NotAfter}
}
