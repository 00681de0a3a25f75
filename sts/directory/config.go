package directory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config declares tenants and app registrations, in YAML or JSON, with the
// field names of directory.json; a secret is written as its value and a
// certificate as a PEM file name or PEM text:
//
//	tenants:
//	  - id: 11111111-2222-3333-4444-555555555555
//	    apps:
//	      - client_id: aaaaaaaa-0000-0000-0000-000000000001
//	        display_name: daemon
//	        secrets: ["a-long-random-secret"]          # values; stored hashed
//	        certificates: ["daemon-cert.pem"]          # PEM files, relative to the config file
//	        api_permissions: {"api://orders": ["Orders.Read"]}
//	      - client_id: bbbbbbbb-0000-0000-0000-000000000002
//	        display_name: orders-api
//	        identifier_uris: ["api://orders"]
//	        app_roles: ["Orders.Read", "Orders.Write"]
//	        access_token_version: 2
//	        optional_claims: ["xms_cc"]                # put client capabilities (cp1) in its tokens
//	        scopes: ["Orders.Read", "access_as_user"]  # delegated scopes it exposes
//	      - client_id: cccccccc-0000-0000-0000-000000000003
//	        display_name: cli
//	        public_client: true
//	        delegated_permissions: {"api://orders": ["Orders.Read"]}   # admin consent
//	    users:
//	      - user_principal_name: alice@contoso.test
//	        display_name: Alice
//	        password: "a-test-password"                # stored hashed
//
// Applying a config merges it into the state directory: declared tenants and
// apps are created or updated (the config wins for names, identifier URIs,
// roles, token version, optional claims and permissions), declared secrets and certificates are
// added if not yet present, and what admin commands added stays.
type Config struct {
	// Tenants are the declared tenants and their apps.
	Tenants []*Tenant `json:"tenants"`
}

// LoadConfig reads a YAML or JSON config file. Unknown fields are errors, so
// typos do not go unnoticed.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &Config{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ApplyConfig merges cfg into the state directory (see Config). baseDir
// resolves relative certificate paths.
func (s *State) ApplyConfig(cfg *Config, baseDir string) error {
	// Read certificate files before taking the lock.
	now := time.Now()
	apps := map[*App]*App{} // the config's apps, with certificates resolved
	for _, ct := range cfg.Tenants {
		for _, ca := range ct.Apps {
			app := *ca
			if err := resolveCertificates(&app, baseDir, now); err != nil {
				return fmt.Errorf("config: app %s: %w", ca.ClientID, err)
			}
			apps[ca] = &app
		}
	}
	return s.update(func(d *dirFile) error {
		for _, ct := range cfg.Tenants {
			t := d.tenant(ct.ID)
			if t == nil {
				t = &Tenant{ID: strings.ToLower(ct.ID), Apps: []*App{}}
				d.Tenants = append(d.Tenants, t)
			}
			for _, dom := range ct.Domains {
				if !slices.ContainsFunc(t.Domains, func(s string) bool { return strings.EqualFold(s, dom) }) {
					t.Domains = append(t.Domains, dom)
				}
			}
			for _, ca := range ct.Apps {
				if _, err := mergeApp(t, apps[ca], now); err != nil {
					return fmt.Errorf("config: tenant %s, app %s: %w", t.ID, ca.ClientID, err)
				}
			}
			if err := mergeUsers(t, ct.Users); err != nil {
				return fmt.Errorf("config: tenant %s: %w", t.ID, err)
			}
		}
		return nil
	})
}

// resolveCertificates replaces each of app's certificates, given by PEM text
// or a file name (relative to baseDir), by its stored form.
func resolveCertificates(app *App, baseDir string, now time.Time) error {
	out := make([]Certificate, 0, len(app.Certificates))
	for i, c := range app.Certificates {
		data, name := []byte(c.PEM), c.File
		if c.File != "" {
			p := c.File
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			var err error
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		} else if c.PEM == "" {
			return fmt.Errorf("certificate %d has neither PEM text nor a file name", i+1)
		} else {
			name = fmt.Sprintf("certificate %d", i+1)
		}
		rec, err := newCertificate(data, now)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, rec)
	}
	app.Certificates = out
	return nil
}

// mergeApp creates or updates the app in t declared by in (whose
// certificates are resolved): in wins for every property, its secrets
// (values) and certificates are added unless present.
func mergeApp(t *Tenant, in *App, now time.Time) (*App, error) {
	if err := validClientID(in.ClientID); err != nil {
		return nil, err
	}
	oc, err := normalizeOptionalClaims(in.OptionalClaims)
	if err != nil {
		return nil, err
	}
	a := t.app(in.ClientID)
	if a == nil {
		a = &App{ClientID: in.ClientID, ObjectID: servicePrincipalID(t.ID, in.ClientID)}
		t.Apps = append(t.Apps, a)
	}
	a.DisplayName = in.DisplayName
	a.IdentifierURIs = in.IdentifierURIs
	a.AppRoles = in.AppRoles
	a.AccessTokenVersion = in.AccessTokenVersion
	a.APIPermissions = in.APIPermissions
	a.OptionalClaims = oc
	a.Scopes, a.DelegatedPermissions, a.PublicClient = in.Scopes, in.DelegatedPermissions, in.PublicClient
	for _, sec := range in.Secrets {
		if sec.Value == "" {
			return nil, fmt.Errorf("a secret is empty (give secrets by value)")
		}
		if hasSecret(a, sec.Value) {
			continue
		}
		rec, err := hashedSecret(sec.Value, now)
		if err != nil {
			return nil, err
		}
		a.Secrets = append(a.Secrets, rec)
	}
	for _, c := range in.Certificates {
		addCertificate(a, c)
	}
	return a, nil
}
