package sts

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config declares tenants and app registrations, in YAML or JSON:
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
//
// Applying a config merges it into the state directory: declared tenants and
// apps are created or updated (the config wins for names, identifier URIs,
// roles, token version, optional claims and permissions), declared secrets and certificates are
// added if not yet present, and what admin commands added stays.
type Config struct {
	Tenants []ConfigTenant `json:"tenants"`
}

// ConfigTenant declares a tenant.
type ConfigTenant struct {
	// ID is the tenant id, a GUID.
	ID string `json:"id"`
	// Domains are other names the tenant can be addressed by (first path segment).
	Domains []string `json:"domains,omitempty"`
	// Apps are the tenant's app registrations.
	Apps []ConfigApp `json:"apps,omitempty"`
}

// ConfigApp declares an app registration.
type ConfigApp struct {
	ClientID           string              `json:"client_id"`
	DisplayName        string              `json:"display_name,omitempty"`
	IdentifierURIs     []string            `json:"identifier_uris,omitempty"`
	AppRoles           []string            `json:"app_roles,omitempty"`
	AccessTokenVersion int                 `json:"access_token_version,omitempty"`
	APIPermissions     map[string][]string `json:"api_permissions,omitempty"`
	// OptionalClaims are the optional claims the app, as a resource, wants in
	// its access tokens; supported: "xms_cc" (see AppSpec.OptionalClaims).
	OptionalClaims []string `json:"optional_claims,omitempty"`
	// Secrets are secret values; they are stored hashed.
	Secrets []string `json:"secrets,omitempty"`
	// Certificates are PEM certificate files (relative paths are relative to
	// the config file) or inline PEM text.
	Certificates []string `json:"certificates,omitempty"`
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
	certs := map[string]certRec{}
	now := time.Now()
	for _, ct := range cfg.Tenants {
		for _, ca := range ct.Apps {
			for _, c := range ca.Certificates {
				data := []byte(c)
				if !strings.Contains(c, "-----BEGIN") {
					p := c
					if !filepath.IsAbs(p) {
						p = filepath.Join(baseDir, p)
					}
					var err error
					if data, err = os.ReadFile(p); err != nil {
						return fmt.Errorf("config: app %s: %w", ca.ClientID, err)
					}
				}
				rec, err := newCertRec(data, now)
				if err != nil {
					return fmt.Errorf("config: app %s: %s: %w", ca.ClientID, c, err)
				}
				certs[c] = rec
			}
		}
	}
	return s.update(func(d *dirFile) error {
		for _, ct := range cfg.Tenants {
			t := d.tenant(ct.ID)
			if t == nil {
				t = &tenantRec{ID: strings.ToLower(ct.ID), Apps: []*appRec{}}
				d.Tenants = append(d.Tenants, t)
			}
			for _, dom := range ct.Domains {
				if !slices.ContainsFunc(t.Domains, func(s string) bool { return strings.EqualFold(s, dom) }) {
					t.Domains = append(t.Domains, dom)
				}
			}
			for _, ca := range ct.Apps {
				if err := applyApp(t, ca, certs, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func applyApp(t *tenantRec, ca ConfigApp, certs map[string]certRec, now time.Time) error {
	if err := validClientID(ca.ClientID); err != nil {
		return fmt.Errorf("config: tenant %s: %w", t.ID, err)
	}
	a := t.app(ca.ClientID)
	if a == nil {
		a = &appRec{ClientID: ca.ClientID, ObjectID: servicePrincipalID(t.ID, ca.ClientID)}
		t.Apps = append(t.Apps, a)
	}
	a.DisplayName = ca.DisplayName
	a.IdentifierURIs = ca.IdentifierURIs
	a.AppRoles = ca.AppRoles
	a.AccessTokenVersion = ca.AccessTokenVersion
	a.APIPermissions = ca.APIPermissions
	oc, err := normalizeOptionalClaims(ca.OptionalClaims)
	if err != nil {
		return fmt.Errorf("config: tenant %s, app %s: %w", t.ID, ca.ClientID, err)
	}
	a.OptionalClaims = oc
	ai, err := indexApp(t, a)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for _, v := range ca.Secrets {
		if v == "" {
			return fmt.Errorf("config: tenant %s, app %s: a secret is empty", t.ID, ca.ClientID)
		}
		if ai.checkSecret(v) {
			continue
		}
		rec, err := newSecretRec(v, now)
		if err != nil {
			return err
		}
		a.Secrets = append(a.Secrets, rec)
	}
	for _, c := range ca.Certificates {
		rec := certs[c]
		if !slices.ContainsFunc(a.Certificates, func(x certRec) bool { return x.Thumbprint == rec.Thumbprint }) {
			a.Certificates = append(a.Certificates, rec)
		}
	}
	return nil
}
