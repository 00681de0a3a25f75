package directory

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
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
//	        require_mfa: true                          # user tokens for it need MFA (conditional access)
//	      - client_id: cccccccc-0000-0000-0000-000000000003
//	        display_name: cli
//	        public_client: true
//	        delegated_permissions: {"api://orders": ["Orders.Read"]}   # admin consent
//	      - client_id: dddddddd-0000-0000-0000-000000000004
//	        sign_in_audience: AzureADMultipleOrgs      # other tenants may consent to it
//	        secrets: ["another-long-random-secret"]
//	    users:
//	      - user_principal_name: alice@contoso.test
//	        display_name: Alice
//	        password: "a-test-password"                # stored hashed
//	  - id: 66666666-7777-8888-9999-000000000000
//	    apps:
//	      - client_id: dddddddd-0000-0000-0000-000000000004
//	        home_tenant: 11111111-2222-3333-4444-555555555555   # consented here (Provision)
//
// Applying a config makes the directory match it for what it declares:
// declared tenants and apps are created or updated (the config wins for
// names, identifier URIs, roles, token version, optional claims, public_client
// and require_mfa); an app's secrets, certificates and api_permissions, when
// the config lists them (even as an empty list), become exactly those listed,
// and are left as they are when it does not; an app an earlier config
// declared (its Source is "config") that the config no longer declares in a
// tenant it declares is removed, with the grants on it. Apps the admin verbs
// added stay. A secret may also be written as an object, {secret: VALUE,
// expires: RFC3339 TIME}.
type Config struct {
	// Tenants are the declared tenants and their apps.
	Tenants []*Tenant `json:"tenants"`
	// BaseDir resolves relative certificate file names: LoadConfig sets it to
	// the config file's directory; empty means the working directory.
	BaseDir string `json:"-"`
	// Subscriptions are what the intercept mode's Resource Manager lists to
	// tokens of their tenant; they are read from the config at start and not
	// stored in the state directory.
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
}

// Subscription is an Azure subscription declared in a Config:
//
//	subscriptions:
//	  - id: 22222222-0000-0000-0000-000000000001
//	    display_name: dev
//	    tenant: 11111111-2222-3333-4444-555555555555
type Subscription struct {
	// ID is the subscription id (a GUID).
	ID string `json:"id"`
	// DisplayName is the subscription's name.
	DisplayName string `json:"display_name"`
	// Tenant is the id (a GUID) of the tenant whose tokens see it.
	Tenant string `json:"tenant"`
}

// SourceConfig is the Source of an app a Config declared.
const SourceConfig = "config"

// LoadConfig reads a YAML or JSON config file. Unknown fields are errors, so
// typos do not go unnoticed.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &Config{BaseDir: filepath.Dir(abs)}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, configError(err, data))
	}
	return cfg, nil
}

// fieldErrors find the field a decoding error is about: an unknown field and
// a value of the wrong type (compiled on first use: errors are rare, starts are not).
var fieldErrors = sync.OnceValues(func() (unknownField, badType *regexp.Regexp) {
	return regexp.MustCompile(`unknown field "([^"]+)"`),
		regexp.MustCompile(`cannot unmarshal (\S+) into Go struct field \S*?([A-Za-z0-9_]+) of type (\S+)`)
})

// configError rewords a decoding error of the config: the YAML library
// converts YAML to JSON before decoding, so a field error has no line; this
// finds the field's first line in the file and names it.
func configError(err error, data []byte) string {
	msg := err.Error()
	var field, what string
	unknownField, badType := fieldErrors()
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		field, what = m[1], fmt.Sprintf("unknown field %q (field names are those of %s, such as client_id, display_name, app_roles)", m[1], FileName)
	} else if m := badType.FindStringSubmatch(msg); m != nil {
		field, what = m[2], fmt.Sprintf("field %q: got a %s, want a %s", m[2], m[1], m[3])
	} else {
		return msg // a YAML syntax error names its line already
	}
	key := regexp.MustCompile(`^\s*(?:-\s+)?["']?` + regexp.QuoteMeta(field) + `["']?\s*:`)
	for i, line := range strings.Split(string(data), "\n") {
		if key.MatchString(line) {
			return fmt.Sprintf("line %d: %s", i+1, what)
		}
	}
	return what
}

// ApplyConfig applies cfg (see Config), resolving relative certificate
// file names against baseDir.
func (s *State) ApplyConfig(cfg *Config, baseDir string) error {
	c := *cfg
	c.BaseDir = baseDir
	_, err := s.Reconcile(&c)
	return err
}

// Reconcile applies configs (see Config) in one locked change, as one
// config declaring all their tenants, and returns what it removed.
func (s *State) Reconcile(cfgs ...*Config) ([]Removal, error) {
	// Read certificate files before taking the lock.
	now := time.Now()
	apps := map[*App]*App{} // the configs' apps, with certificates resolved
	for _, cfg := range cfgs {
		for _, ct := range cfg.Tenants {
			for _, ca := range ct.Apps {
				app := *ca
				if err := resolveCertificates(&app, cfg.BaseDir, now); err != nil {
					return nil, fmt.Errorf("config: app %s: %w", ca.ClientID, err)
				}
				apps[ca] = &app
			}
		}
	}
	var out []Removal
	err := s.update(func(d *dirFile) error {
		out = removeUndeclaredApps(d, cfgs)
		for _, cfg := range cfgs {
			for _, ct := range cfg.Tenants {
				t := declareTenant(d, ct)
				for _, ca := range ct.Apps {
					a, rm, err := mergeApp(t, apps[ca], now)
					if err != nil {
						return fmt.Errorf("config: tenant %s, app %s: %w", t.ID, ca.ClientID, err)
					}
					a.Source = SourceConfig
					out = append(out, rm...)
				}
				if err := mergeUsers(t, ct.Users); err != nil {
					return fmt.Errorf("config: tenant %s: %w", t.ID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// declareTenant finds or creates the tenant ct declares and adds its domains.
func declareTenant(d *dirFile, ct *Tenant) *Tenant {
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
	return t
}

// removeUndeclaredApps removes, from the tenants cfgs declare, the apps an
// earlier config declared that cfgs no longer do.
func removeUndeclaredApps(d *dirFile, cfgs []*Config) []Removal {
	declared := map[*Tenant][]string{} // lower-cased client ids, by tenant
	for _, cfg := range cfgs {
		for _, ct := range cfg.Tenants {
			if t := d.tenant(ct.ID); t != nil {
				if declared[t] == nil {
					declared[t] = []string{} // declared, even with no apps
				}
				for _, ca := range ct.Apps {
					declared[t] = append(declared[t], strings.ToLower(ca.ClientID))
				}
			}
		}
	}
	var out []Removal
	for _, t := range d.Tenants {
		ids, ok := declared[t]
		if !ok {
			continue
		}
		for _, a := range slices.Clone(t.Apps) {
			if a.Source == SourceConfig && !slices.Contains(ids, strings.ToLower(a.ClientID)) {
				out = append(out, removeApp(t, a)...)
			}
		}
	}
	return out
}

// resolveCertificates replaces each of app's certificates, given by PEM text
// or a file name (relative to baseDir), by its stored form. A nil list stays nil.
func resolveCertificates(app *App, baseDir string, now time.Time) error {
	if app.Certificates == nil {
		return nil
	}
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
// certificates are resolved): in wins for every property; its secrets
// (values), certificates and api_permissions, when not nil, become the
// app's. It returns the app and what was removed from it.
func mergeApp(t *Tenant, in *App, now time.Time) (*App, []Removal, error) {
	if err := validClientID(in.ClientID); err != nil {
		return nil, nil, err
	}
	oc, err := normalizeOptionalClaims(in.OptionalClaims)
	if err != nil {
		return nil, nil, err
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
	a.OptionalClaims = oc
	a.PublicClient = in.PublicClient
	a.RequireMFA = in.RequireMFA
	a.SignInAudience, a.HomeTenant = in.SignInAudience, strings.ToLower(in.HomeTenant)
	if in.Scopes != nil {
		a.Scopes = in.Scopes
	}
	if in.DelegatedPermissions != nil {
		a.DelegatedPermissions = in.DelegatedPermissions
	}
	rm, err := mergeSecrets(t, a, in.Secrets, now)
	if err != nil {
		return nil, nil, err
	}
	rm = append(rm, mergeCertificates(t, a, in.Certificates)...)
	rm = append(rm, mergeGrants(t, a, in.APIPermissions)...)
	return a, rm, nil
}

// mergeSecrets makes a's secrets those of the values in (nil: a's secrets
// stay), keeping the stored record of values a already has.
func mergeSecrets(t *Tenant, a *App, in []Secret, now time.Time) ([]Removal, error) {
	if in == nil {
		return nil, nil
	}
	keep := map[string]bool{} // secret ids
	for _, sec := range in {
		if sec.Value == "" {
			return nil, fmt.Errorf("a secret is empty (give secrets by value)")
		}
		i := findSecret(a, sec.Value)
		if i < 0 {
			rec, err := hashedSecret(sec.Value, now)
			if err != nil {
				return nil, err
			}
			a.Secrets = append(a.Secrets, rec)
			i = len(a.Secrets) - 1
		}
		a.Secrets[i].Expires = sec.Expires.UTC()
		keep[a.Secrets[i].ID] = true
	}
	var rm []Removal
	a.Secrets = slices.DeleteFunc(a.Secrets, func(s Secret) bool {
		if !keep[s.ID] {
			rm = append(rm, secretRemoval(t, a, s))
		}
		return !keep[s.ID]
	})
	return rm, nil
}

// mergeCertificates makes a's certificates those of in (nil: they stay).
func mergeCertificates(t *Tenant, a *App, in []Certificate) []Removal {
	if in == nil {
		return nil
	}
	for _, c := range in {
		addCertificate(a, c)
	}
	var rm []Removal
	a.Certificates = slices.DeleteFunc(a.Certificates, func(c Certificate) bool {
		gone := !slices.ContainsFunc(in, func(x Certificate) bool { return x.Thumbprint == c.Thumbprint })
		if gone {
			rm = append(rm, Removal{Kind: KindCertificate, TenantID: t.ID, ClientID: a.ClientID, Thumbprint: c.Thumbprint})
		}
		return gone
	})
	return rm
}

// mergeGrants makes a's api_permissions in (nil: they stay) and returns the
// roles that were granted and no longer are.
func mergeGrants(t *Tenant, a *App, in map[string][]string) []Removal {
	if in == nil {
		return nil
	}
	var rm []Removal
	for _, api := range slices.Sorted(maps.Keys(a.APIPermissions)) {
		var now []string
		for k, roles := range in {
			if SameResource(k, api) {
				now = append(now, roles...)
			}
		}
		gone := slices.DeleteFunc(slices.Clone(a.APIPermissions[api]), func(r string) bool { return slices.Contains(now, r) })
		if len(gone) > 0 {
			rm = append(rm, Removal{Kind: KindGrant, TenantID: t.ID, ClientID: a.ClientID, API: api, Roles: gone})
		}
	}
	a.APIPermissions = in
	return rm
}
