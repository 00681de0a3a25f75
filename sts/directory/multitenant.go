package directory

import (
	"fmt"
	"strings"
)

// Sign-in audiences of an app (App.SignInAudience), as in Entra's manifest.
const (
	// AudienceMyOrg: only the app's own tenant (the default).
	AudienceMyOrg = "AzureADMyOrg"
	// AudienceMultipleOrgs: any tenant that consents to the app (Provision).
	AudienceMultipleOrgs = "AzureADMultipleOrgs"
)

// MultiTenant reports whether the app may be provisioned in other tenants.
func (a *App) MultiTenant() bool { return strings.EqualFold(a.SignInAudience, AudienceMultipleOrgs) }

// checkAudience validates a's sign-in audience.
func checkAudience(a *App) error {
	if a.SignInAudience != "" && !strings.EqualFold(a.SignInAudience, AudienceMyOrg) && !a.MultiTenant() {
		return fmt.Errorf("sign_in_audience %q is not supported (use %s or %s)", a.SignInAudience, AudienceMyOrg, AudienceMultipleOrgs)
	}
	return nil
}

// effectiveApps are t's apps as the token endpoint sees them: an entry with
// a HomeTenant is replaced by a copy of its home app (which must be a
// multi-tenant app registered there) with the entry's own object id and
// grants; an entry whose home app is missing or no longer multi-tenant is
// left out, so its client id is unknown in t (AADSTS700016).
func effectiveApps(tenants []*Tenant, t *Tenant) ([]*App, error) {
	out := make([]*App, 0, len(t.Apps))
	for _, a := range t.Apps {
		if a.HomeTenant == "" {
			out = append(out, a)
			continue
		}
		if len(a.Secrets) > 0 || len(a.Certificates) > 0 || a.SignInAudience != "" {
			return nil, fmt.Errorf("tenant %s, app %s: a consented app (home tenant %s) has no credentials or audience of its own: they are its home app's",
				t.ID, a.ClientID, a.HomeTenant)
		}
		if a.ObjectID == "" {
			a.ObjectID = servicePrincipalID(t.ID, a.ClientID)
		}
		home := homeApp(tenants, a.HomeTenant, a.ClientID)
		if home == nil || strings.EqualFold(a.HomeTenant, t.ID) {
			continue
		}
		sp := *home
		sp.ObjectID, sp.HomeTenant, sp.Source = a.ObjectID, a.HomeTenant, a.Source
		sp.APIPermissions, sp.DelegatedPermissions = a.APIPermissions, a.DelegatedPermissions
		out = append(out, &sp)
	}
	return out, nil
}

// homeApp finds the multi-tenant app clientID registered in tenant id, or nil.
func homeApp(tenants []*Tenant, id, clientID string) *App {
	for _, t := range tenants {
		if !strings.EqualFold(t.ID, id) {
			continue
		}
		if a := t.app(clientID); a != nil && a.HomeTenant == "" && a.MultiTenant() {
			return a
		}
	}
	return nil
}

// Provision consents tenant (id or domain) to the multi-tenant app clientID
// registered in another tenant, as a tenant admin's consent does in Entra:
// the app gets a service principal in tenant, with its own object id, and
// may then get tokens there (tid and issuer of tenant) with its home
// credentials. Provisioning an app already provisioned is not an error. It
// returns the app as List shows it in tenant.
func (s *State) Provision(tenant, clientID string) (App, error) {
	var out App
	err := s.update(func(d *dirFile) error {
		t, err := pickTenant(d, tenant)
		if err != nil {
			return err
		}
		if a := t.app(clientID); a != nil {
			if a.HomeTenant == "" {
				return fmt.Errorf("app %s is registered in tenant %s itself; nothing to consent to", clientID, t.ID)
			}
			out = a.view()
			return nil
		}
		var homes []*Tenant
		for _, h := range d.Tenants {
			if a := h.app(clientID); a != nil && a.HomeTenant == "" {
				if !a.MultiTenant() {
					return fmt.Errorf("app %s of tenant %s is single-tenant: set sign_in_audience %s (app add --multi-tenant) to use it in other tenants", clientID, h.ID, AudienceMultipleOrgs)
				}
				homes = append(homes, h)
			}
		}
		switch len(homes) {
		case 0:
			return fmt.Errorf("app %q is not registered in any tenant", clientID)
		case 1:
		default:
			return fmt.Errorf("app %q is registered in %d tenants; the directory cannot tell which one to consent to", clientID, len(homes))
		}
		sp := &App{ClientID: homes[0].app(clientID).ClientID, ObjectID: servicePrincipalID(t.ID, clientID), HomeTenant: homes[0].ID}
		t.Apps = append(t.Apps, sp)
		out = sp.view()
		return nil
	})
	return out, err
}
