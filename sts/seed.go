package sts

import "github.com/appcred/appcred/sts/directory"

// Seed describes the development tenant made for a new, empty state.
type Seed struct {
	// TenantID is the development tenant's id.
	TenantID string `json:"tenant_id"`
	// ClientID and ClientSecret are the daemon app's credentials; the secret is
	// shown only here.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// APIClientID and IdentifierURI name the API app.
	APIClientID   string `json:"api_client_id"`
	IdentifierURI string `json:"identifier_uri"`
	// Scope is what the daemon asks for: IdentifierURI + "/.default".
	Scope string `json:"scope"`
	// Role is granted to the daemon on the API.
	Role string `json:"role"`
}

// The development API, as a new state's development tenant and "appcred
// demo" register it.
const (
	// DevIdentifierURI is the development API's application ID URI.
	DevIdentifierURI = "api://appcred-demo"
	// DevRole is the development API's app role granted to the daemon.
	DevRole = "Demo.Read"
)

// DevAPI returns the development API's registration: identifier URI
// DevIdentifierURI, app roles Demo.Read and Demo.Write, v2 tokens, opted in to
// the xms_cc optional claim.
func DevAPI() directory.App {
	return directory.App{
		DisplayName: "appcred-demo-api", IdentifierURIs: []string{DevIdentifierURI},
		AppRoles: []string{DevRole, "Demo.Write"}, AccessTokenVersion: 2,
		OptionalClaims: []string{directory.OptionalClaimXmsCC},
	}
}

// ARMAppID is the client id of Resource Manager's app registration ("Windows
// Azure Service Management API", the same in every Entra tenant); the dev
// seed registers it in intercept mode.
const ARMAppID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"

// armResources are the identifier URIs of Resource Manager's app: tokens for
// them carry these audiences (v1 tokens, as Entra issues for ARM).
var armResources = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

// seedDev makes the development tenant: the API DevAPI and a daemon app with
// a secret and DevRole granted. With withARM
// it also registers Resource Manager (ARMAppID, v1 tokens) and grants the
// daemon access, so "https://management.core.windows.net//.default" gets a
// token with aud "https://management.core.windows.net/".
func seedDev(st *directory.State, withARM bool) (*Seed, error) {
	t, err := st.AddTenant("")
	if err != nil {
		return nil, err
	}
	s := &Seed{TenantID: t.ID, IdentifierURI: DevIdentifierURI, Role: DevRole}
	s.Scope = s.IdentifierURI + "/.default"
	api, err := st.AddApp(t.ID, DevAPI())
	if err != nil {
		return nil, err
	}
	daemon, err := st.AddApp(t.ID, directory.App{DisplayName: "appcred-demo-daemon"})
	if err != nil {
		return nil, err
	}
	sec, err := st.AddSecret(t.ID, daemon.ClientID)
	if err != nil {
		return nil, err
	}
	if err := st.Grant(t.ID, daemon.ClientID, s.IdentifierURI, s.Role); err != nil {
		return nil, err
	}
	s.APIClientID, s.ClientID, s.ClientSecret = api.ClientID, daemon.ClientID, sec.Value
	if withARM {
		if _, err := st.AddApp(t.ID, directory.App{ClientID: ARMAppID, DisplayName: "Windows Azure Service Management API",
			IdentifierURIs: armResources, AccessTokenVersion: 1}); err != nil {
			return nil, err
		}
		if err := st.Grant(t.ID, daemon.ClientID, ARMAppID); err != nil {
			return nil, err
		}
	}
	return s, nil
}
