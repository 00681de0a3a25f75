package directory

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/pki"
)

// update runs fn on the directory under the state lock and writes the result
// atomically if it validates.
func (s *State) update(fn func(d *dirFile) error) error {
	if !s.lockHeld {
		unlock, err := lockDir(s.dir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	path := filepath.Join(s.dir, FileName)
	d, _, err := readDirFile(path)
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	if _, err := NewIndex(d.Tenants); err != nil {
		return err
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode directory: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if s.changed != nil {
		s.changed()
	}
	return nil
}

// Touch writes the directory as it is, creating an empty directory.json
// when there is none.
func (s *State) Touch() error { return s.update(func(*dirFile) error { return nil }) }

// pickTenant finds a tenant by id or domain; "" means the only tenant.
func pickTenant(d *dirFile, tenant string) (*Tenant, error) {
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

func pickApp(d *dirFile, tenant, clientID string) (*App, error) {
	_, a, err := pickTenantApp(d, tenant, clientID)
	return a, err
}

// AddTenant registers a tenant with a GUID id (empty: a new random one) and
// optional domain names by which it can also be addressed.
func (s *State) AddTenant(id string, domains ...string) (Tenant, error) {
	if id == "" {
		id = uuid.NewString()
	}
	var out Tenant
	err := s.update(func(d *dirFile) error {
		if _, err := uuid.Parse(id); err != nil {
			return fmt.Errorf("tenant id %q must be a GUID", id)
		}
		if d.tenant(id) != nil {
			return fmt.Errorf("tenant %s already exists", id)
		}
		t := &Tenant{ID: strings.ToLower(id), Domains: domains, Apps: []*App{}}
		d.Tenants = append(d.Tenants, t)
		out = t.view()
		return nil
	})
	return out, err
}

// AddApp registers app in tenant (id or domain). A tenant that does not
// exist yet is created when tenant is a GUID; "" means the only tenant. An
// empty ClientID gets a new random GUID. Secrets are given by value and
// stored hashed; certificates by PEM or file name (relative to the working
// directory). It returns the app as List shows it.
func (s *State) AddApp(tenant string, app App) (App, error) {
	if app.ClientID == "" {
		app.ClientID = uuid.NewString()
	}
	oc, err := normalizeOptionalClaims(app.OptionalClaims)
	if err != nil {
		return App{}, fmt.Errorf("app %s: %w", app.ClientID, err)
	}
	app.OptionalClaims = oc
	now := time.Now()
	if err := resolveCertificates(&app, ".", now); err != nil {
		return App{}, fmt.Errorf("app %s: %w", app.ClientID, err)
	}
	var out App
	err = s.update(func(d *dirFile) error {
		t, err := tenantForNewApp(d, tenant)
		if err != nil {
			return err
		}
		if t.app(app.ClientID) != nil {
			return fmt.Errorf("app %s already exists in tenant %s", app.ClientID, t.ID)
		}
		a, _, err := mergeApp(t, &app, now)
		if err != nil {
			return fmt.Errorf("tenant %s, app %s: %w", t.ID, app.ClientID, err)
		}
		out = a.view()
		return nil
	})
	return out, err
}

// tenantForNewApp finds the tenant AddApp registers in, creating it when
// tenant is a new GUID.
func tenantForNewApp(d *dirFile, tenant string) (*Tenant, error) {
	if t := d.tenant(tenant); t != nil {
		return t, nil
	}
	if tenant == "" {
		return pickTenant(d, "")
	}
	if _, err := uuid.Parse(tenant); err != nil {
		return nil, fmt.Errorf("tenant %q not found (a new tenant needs a GUID id)", tenant)
	}
	t := &Tenant{ID: strings.ToLower(tenant), Apps: []*App{}}
	d.Tenants = append(d.Tenants, t)
	return t, nil
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

// hashedSecret is the secret value as stored: id, hint, salt and hash.
func hashedSecret(value string, now time.Time) (Secret, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Secret{}, err
	}
	hint := value
	if len(hint) > 3 {
		hint = hint[:3]
	}
	sum := hashSecret(salt, value)
	return Secret{
		ID:      uuid.NewString(),
		Hint:    hint,
		Salt:    base64.StdEncoding.EncodeToString(salt),
		Hash:    base64.StdEncoding.EncodeToString(sum[:]),
		Created: now.UTC(),
	}, nil
}

// findSecret returns the index of the stored secret of a whose value is
// value, or -1.
func findSecret(a *App, value string) int {
	for i, s := range a.Secrets {
		salt, err1 := base64.StdEncoding.DecodeString(s.Salt)
		h, err2 := base64.StdEncoding.DecodeString(s.Hash)
		sum := hashSecret(salt, value)
		if err1 == nil && err2 == nil && subtle.ConstantTimeCompare(sum[:], h) == 1 {
			return i
		}
	}
	return -1
}

// AddSecret adds a new random client secret to an app and returns it; the
// value is in the result only (it is stored hashed) and must be kept by the caller.
func (s *State) AddSecret(tenant, clientID string) (Secret, error) {
	return s.AddSecretExpiring(tenant, clientID, time.Time{})
}

// AddSecretExpiring is AddSecret for a secret that stops working at expires
// (zero: never), as an Entra secret does at its end date.
func (s *State) AddSecretExpiring(tenant, clientID string, expires time.Time) (Secret, error) {
	now := time.Now()
	if !expires.IsZero() && !expires.After(now) {
		return Secret{}, fmt.Errorf("secret expiry %s is not in the future", expires.UTC().Format(time.RFC3339))
	}
	value, err := newSecretValue()
	if err != nil {
		return Secret{}, err
	}
	var out Secret
	err = s.update(func(d *dirFile) error {
		a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		rec, err := hashedSecret(value, now)
		if err != nil {
			return err
		}
		rec.Expires = expires.UTC()
		a.Secrets = append(a.Secrets, rec)
		out = rec.view()
		out.Value = value
		return nil
	})
	return out, err
}

// MinRSABits is the smallest RSA key a registered certificate may have
// (Entra's minimum; `appcred cert new` makes keys at least this size).
const MinRSABits = 2048

// newCertificate describes the first certificate of data (PEM or DER) as stored.
func newCertificate(data []byte, now time.Time) (Certificate, error) {
	cert, err := parseOneCert(data)
	if err != nil {
		return Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return Certificate{}, fmt.Errorf("certificate %q has a %T key; client assertions (RS256/PS256) need RSA", cert.Subject, cert.PublicKey)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return Certificate{}, fmt.Errorf("certificate %q has a %d-bit RSA key; at least %d bits are required", cert.Subject, bits, MinRSABits)
	}
	return Certificate{
		Thumbprint: proof.SHA1Hex(cert),
		X5T:        proof.X5T(cert),
		X5TS256:    proof.X5TS256(cert),
		Subject:    cert.Subject.String(),
		NotAfter:   cert.NotAfter.UTC(),
		Added:      now.UTC(),
		PEM:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
	}, nil
}

// addCertificate adds c to a unless a certificate with its thumbprint is there.
func addCertificate(a *App, c Certificate) {
	if !slices.ContainsFunc(a.Certificates, func(x Certificate) bool { return x.Thumbprint == c.Thumbprint }) {
		a.Certificates = append(a.Certificates, c)
	}
}

// AddCertificate registers a certificate (PEM, first certificate used; or DER)
// on an app; assertions signed by its key are then accepted. Adding the same
// certificate twice is not an error.
func (s *State) AddCertificate(tenant, clientID string, certData []byte) (Certificate, error) {
	rec, err := newCertificate(certData, time.Now())
	if err != nil {
		return Certificate{}, err
	}
	err = s.update(func(d *dirFile) error {
		a, err := pickApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		addCertificate(a, rec)
		return nil
	})
	return rec.view(), err
}

// Grant gives an app application permissions (app roles) on a resource api,
// named by identifier URI or client id. The roles must be app roles of the
// resource; they appear in the app's tokens for that resource as "roles".
func (s *State) Grant(tenant, clientID, api string, roles ...string) error {
	if strings.TrimSpace(api) == "" {
		return errors.New("grant: the api (identifier URI or client id) is empty")
	}
	return s.update(func(d *dirFile) error {
		a, err := pickApp(d, tenant, clientID)
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
func (s *State) List() ([]Tenant, error) {
	d, _, err := readDirFile(filepath.Join(s.dir, FileName))
	if err != nil {
		return nil, err
	}
	out := make([]Tenant, 0, len(d.Tenants))
	for _, t := range d.Tenants {
		out = append(out, t.view())
	}
	return out, nil
}

// view is the tenant as admin results show it (see App.view).
func (t *Tenant) view() Tenant {
	v := Tenant{ID: t.ID, Domains: t.Domains, Apps: make([]*App, 0, len(t.Apps))}
	for _, a := range t.Apps {
		av := a.view()
		v.Apps = append(v.Apps, &av)
	}
	return v
}

// RotateKey makes a new token signing key, which signs from now on; older
// keys stay in the JWKS so tokens they signed still verify. The key is not
// pre-published: the JWKS is served with max-age=300, so a resource server
// that caches it by that header and does not refetch on an unknown kid may
// reject tokens of the new key for up to 5 minutes.
func (s *State) RotateKey() (pki.KeyInfo, error) {
	var k pki.KeyInfo
	err := s.WithLock(func(*State) error {
		var err error
		k, err = pki.RotateKey(s.dir)
		return err
	})
	if err != nil {
		return pki.KeyInfo{}, err
	}
	if s.changed != nil {
		s.changed()
	}
	return k, nil
}

// Keys lists the token signing keys, oldest first; the last one is current.
// The first key is created if there is none.
func (s *State) Keys() ([]pki.KeyInfo, error) {
	set, err := s.signingKeys()
	if err != nil {
		return nil, err
	}
	return set.Info(), nil
}

// signingKeys reads the token signing keys, creating the first one (under
// the state lock) when there is none.
func (s *State) signingKeys() (*pki.KeySet, error) {
	if set, err := pki.ReadKeys(s.dir); err == nil && len(set.Keys) > 0 {
		return set, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var set *pki.KeySet
	err := s.WithLock(func(*State) error {
		var err error
		set, err = pki.EnsureKeys(s.dir)
		return err
	})
	return set, err
}
