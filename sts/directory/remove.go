package directory

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/appcred/appcred/proof"
)

// The kinds of Removal.
const (
	// KindTenant is a removed tenant.
	KindTenant = "tenant"
	// KindApp is a removed app registration.
	KindApp = "app"
	// KindSecret is a removed client secret.
	KindSecret = "secret"
	// KindCertificate is a removed certificate.
	KindCertificate = "certificate"
	// KindGrant is a removed grant: roles an app held on a resource.
	KindGrant = "grant"
)

// Removal is one thing taken out of the directory, as the remove verbs print
// it and config reconciliation logs it. It never holds a secret value.
type Removal struct {
	// Kind is KindTenant, KindApp, KindSecret, KindCertificate or KindGrant.
	Kind string `json:"kind"`
	// TenantID is the tenant the thing was in (or, for a tenant, its id).
	TenantID string `json:"tenant_id"`
	// ClientID is the app removed, or the app that held the secret,
	// certificate or grant.
	ClientID string `json:"client_id,omitempty"`
	// DisplayName is the app's display name.
	DisplayName string `json:"display_name,omitempty"`
	// SecretID and Hint identify a removed secret.
	SecretID string `json:"secret_id,omitempty"`
	// Hint is the removed secret's first three characters.
	Hint string `json:"hint,omitempty"`
	// Thumbprint is a removed certificate's SHA-1 thumbprint (upper-case hex).
	Thumbprint string `json:"thumbprint,omitempty"`
	// API is the resource of a removed grant, as the grant named it.
	API string `json:"api,omitempty"`
	// Roles are the app roles of a removed grant.
	Roles []string `json:"roles,omitempty"`
}

// LogValue makes log/slog record the removal's set fields.
func (r Removal) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", r.Kind), slog.String("tenant_id", r.TenantID)}
	for _, kv := range [][2]string{{"client_id", r.ClientID}, {"display_name", r.DisplayName}, {"secret_id", r.SecretID},
		{"hint", r.Hint}, {"thumbprint", r.Thumbprint}, {"api", r.API}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if len(r.Roles) > 0 {
		attrs = append(attrs, slog.Any("roles", r.Roles))
	}
	return slog.GroupValue(attrs...)
}

// RemoveTenant removes a tenant (by id or domain). A tenant that still has
// apps is removed only with force, and its apps with it. The removals list
// the apps, then the tenant.
func (s *State) RemoveTenant(tenant string, force bool) ([]Removal, error) {
	if tenant == "" {
		return nil, fmt.Errorf("remove tenant: no tenant given")
	}
	var out []Removal
	err := s.update(func(d *dirFile) error {
		t := d.tenant(tenant)
		if t == nil {
			return fmt.Errorf("tenant %q not found", tenant)
		}
		if len(t.Apps) > 0 && !force {
			ids := make([]string, 0, len(t.Apps))
			for _, a := range t.Apps {
				ids = append(ids, a.ClientID)
			}
			return fmt.Errorf("tenant %s has %d apps (%s); remove them first or force the removal",
				t.ID, len(t.Apps), strings.Join(ids, ", "))
		}
		for _, a := range t.Apps {
			out = append(out, appRemoval(t, a))
		}
		d.Tenants = slices.DeleteFunc(d.Tenants, func(x *Tenant) bool { return x == t })
		out = append(out, Removal{Kind: KindTenant, TenantID: t.ID})
		return nil
	})
	return out, err
}

// RemoveApp removes an app registration, and every grant other apps of its
// tenant hold on it (as Entra removes app role assignments with the service
// principal). The removals list the app, then those grants.
func (s *State) RemoveApp(tenant, clientID string) ([]Removal, error) {
	var out []Removal
	err := s.update(func(d *dirFile) error {
		t, a, err := pickTenantApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		out = removeApp(t, a)
		return nil
	})
	return out, err
}

// removeApp takes a out of t with the grants and delegated permissions
// (consents) other apps hold on it.
func removeApp(t *Tenant, a *App) []Removal {
	out := []Removal{appRemoval(t, a)}
	t.Apps = slices.DeleteFunc(t.Apps, func(x *App) bool { return x == a })
	keys := resourceKeys(a)
	for _, other := range t.Apps {
		for _, perms := range []map[string][]string{other.APIPermissions, other.DelegatedPermissions} {
			for _, api := range slices.Sorted(maps.Keys(perms)) {
				if slices.Contains(keys, resourceKey(api)) {
					out = append(out, Removal{Kind: KindGrant, TenantID: t.ID, ClientID: other.ClientID, API: api,
						Roles: perms[api]})
					delete(perms, api)
				}
			}
		}
	}
	return out
}

func appRemoval(t *Tenant, a *App) Removal {
	return Removal{Kind: KindApp, TenantID: t.ID, ClientID: a.ClientID, DisplayName: a.DisplayName}
}

// pickTenantApp is pickApp that also returns the tenant.
func pickTenantApp(d *dirFile, tenant, clientID string) (*Tenant, *App, error) {
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

// RemoveSecret removes one of an app's client secrets, named by its id or,
// when id is empty, by its hint (which must name only one secret).
func (s *State) RemoveSecret(tenant, clientID, id, hint string) (Removal, error) {
	if (id == "") == (hint == "") {
		return Removal{}, fmt.Errorf("remove secret: give either a secret id or a hint")
	}
	var out Removal
	err := s.update(func(d *dirFile) error {
		t, a, err := pickTenantApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		var match []int
		for i, sec := range a.Secrets {
			if (id != "" && strings.EqualFold(sec.ID, id)) || (id == "" && sec.Hint == hint) {
				match = append(match, i)
			}
		}
		switch {
		case len(match) == 0:
			return fmt.Errorf("app %s has no secret with %s (secrets: %s)", a.ClientID, secretSelector(id, hint), secretList(a))
		case len(match) > 1:
			return fmt.Errorf("app %s has %d secrets with hint %q; name one by id (secrets: %s)", a.ClientID, len(match), hint, secretList(a))
		}
		sec := a.Secrets[match[0]]
		a.Secrets = slices.Delete(a.Secrets, match[0], match[0]+1)
		out = secretRemoval(t, a, sec)
		return nil
	})
	return out, err
}

func secretRemoval(t *Tenant, a *App, sec Secret) Removal {
	return Removal{Kind: KindSecret, TenantID: t.ID, ClientID: a.ClientID, SecretID: sec.ID, Hint: sec.Hint}
}

func secretSelector(id, hint string) string {
	if id != "" {
		return fmt.Sprintf("id %q", id)
	}
	return fmt.Sprintf("hint %q", hint)
}

// secretList names an app's secrets as "id (hint…)", for errors.
func secretList(a *App) string {
	return nameList(a.Secrets, ", ", func(s Secret) string { return s.ID + " (" + s.Hint + "…)" })
}

// nameList joins the names of items with sep, or says "none".
func nameList[T any](items []T, sep string, name func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(items))
	for _, x := range items {
		parts = append(parts, name(x))
	}
	return strings.Join(parts, sep)
}

// RemoveCertificate removes a certificate from an app, named by any
// thumbprint form the CLI prints: SHA-1 hex (as the Azure portal shows it),
// x5t (base64url SHA-1), x5t#S256 (base64url SHA-256) or SHA-256 hex.
func (s *State) RemoveCertificate(tenant, clientID, thumbprint string) (Removal, error) {
	want, err := proof.DecodeThumbprint(thumbprint)
	if err != nil {
		return Removal{}, err
	}
	var out Removal
	err = s.update(func(d *dirFile) error {
		t, a, err := pickTenantApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(a.Certificates, func(c Certificate) bool { return certHasThumbprint(c, want) })
		if i < 0 {
			return fmt.Errorf("app %s has no certificate with thumbprint %q (registered: %s)", a.ClientID, thumbprint, certList(a))
		}
		out = Removal{Kind: KindCertificate, TenantID: t.ID, ClientID: a.ClientID, Thumbprint: a.Certificates[i].Thumbprint}
		a.Certificates = slices.Delete(a.Certificates, i, i+1)
		return nil
	})
	return out, err
}

// certHasThumbprint reports whether c's SHA-1 or SHA-256 thumbprint is sum.
func certHasThumbprint(c Certificate, sum []byte) bool {
	for _, tp := range []string{c.Thumbprint, c.X5TS256} {
		if b, err := proof.DecodeThumbprint(tp); err == nil && bytes.Equal(b, sum) {
			return true
		}
	}
	return false
}

// certList names an app's certificates by SHA-1 thumbprint, for errors.
func certList(a *App) string {
	return nameList(a.Certificates, ", ", func(c Certificate) string { return c.Thumbprint + " (" + c.Subject + ")" })
}

// RemoveGrant takes app roles granted to an app on a resource api (named by
// identifier URI or client id, as the grant or otherwise): the given roles,
// or with none every role on that api.
func (s *State) RemoveGrant(tenant, clientID, api string, roles ...string) (Removal, error) {
	var out Removal
	err := s.update(func(d *dirFile) error {
		t, a, err := pickTenantApp(d, tenant, clientID)
		if err != nil {
			return err
		}
		key, ok := grantKey(t, a, api)
		if !ok {
			return fmt.Errorf("app %s has no grant on %q (grants: %s)", a.ClientID, api, grantList(a))
		}
		cur := a.APIPermissions[key]
		if len(roles) == 0 {
			roles = cur
		}
		for _, r := range roles {
			if !slices.Contains(cur, r) {
				return fmt.Errorf("app %s is not granted role %q on %q (granted: %s)", a.ClientID, r, key, strings.Join(cur, ", "))
			}
		}
		rest := slices.DeleteFunc(slices.Clone(cur), func(r string) bool { return slices.Contains(roles, r) })
		if len(rest) == 0 {
			delete(a.APIPermissions, key)
		} else {
			a.APIPermissions[key] = rest
		}
		out = Removal{Kind: KindGrant, TenantID: t.ID, ClientID: a.ClientID, API: key, Roles: slices.Clone(roles)}
		return nil
	})
	return out, err
}

// grantKey finds the key of a's api_permissions that names api: the same
// identifier, or another identifier of the same resource app in t.
func grantKey(t *Tenant, a *App, api string) (string, bool) {
	var res *App
	for _, x := range t.Apps {
		if slices.Contains(resourceKeys(x), resourceKey(api)) {
			res = x
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.APIPermissions)) {
		if SameResource(k, api) || (res != nil && slices.Contains(resourceKeys(res), resourceKey(k))) {
			return k, true
		}
	}
	return "", false
}

// grantList names an app's grants as "api: role, role", for errors.
func grantList(a *App) string {
	return nameList(slices.Sorted(maps.Keys(a.APIPermissions)), "; ", func(api string) string {
		return api + ": " + strings.Join(a.APIPermissions[api], ", ")
	})
}
