package appcred

import (
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// EnvironmentCredential authenticates an application configured by
// environment variables, with azidentity's names and precedence:
//
//	AZURE_TENANT_ID, AZURE_CLIENT_ID      always required
//	AZURE_CLIENT_SECRET                   1st: a client secret
//	AZURE_CLIENT_CERTIFICATE_PATH         2nd: a PEM or PFX file with the private key,
//	AZURE_CLIENT_CERTIFICATE_PASSWORD          its password (optional),
//	AZURE_CLIENT_SEND_CERTIFICATE_CHAIN        "true"/"1" to send x5c (SN+I), "false"/"0" or unset not to
//	AZURE_FEDERATED_TOKEN_FILE            3rd: a federated token file (see WorkloadIdentityCredential);
//	                                           an appcred extension, azidentity reads it only in
//	                                           WorkloadIdentityCredential
//	AZURE_AUTHORITY_HOST                  authority host (default https://login.microsoftonline.com)
//	AZURE_ADDITIONALLY_ALLOWED_TENANTS    ";"-separated tenants TokenRequestOptions.TenantID may name, "*" for any
//	AZURE_REGIONAL_AUTHORITY_NAME         region for Entra's regional endpoints ({region}.login.microsoft.com),
//	                                           as every credential does (see WithAzureRegion); "TryAutoDetect"
//	                                           detects the region (REGION_NAME, then Azure IMDS)
//
// AZURE_USERNAME / AZURE_PASSWORD (a user's password) are not supported:
// appcred is for application identities. Every configuration problem is a
// *CredentialUnavailableError naming the variables involved.
type EnvironmentCredential struct {
	*credential
	method string
}

// EnvironmentCredentialOptions configure an EnvironmentCredential beyond what
// the environment says. Cloud.ActiveDirectoryAuthorityHost and AuthorityHost
// win over AZURE_AUTHORITY_HOST, as in azidentity; AdditionallyAllowedTenants
// adds to AZURE_ADDITIONALLY_ALLOWED_TENANTS.
type EnvironmentCredentialOptions struct {
	CredentialOptions
}

// NewEnvironmentCredential creates an EnvironmentCredential from the
// environment (see EnvironmentCredential), read by LoadEnvironment. Pass nil
// options for defaults.
func NewEnvironmentCredential(options *EnvironmentCredentialOptions) (*EnvironmentCredential, error) {
	if options == nil {
		options = &EnvironmentCredentialOptions{}
	}
	env := LoadEnvironment()
	if err := env.checkIDs(); err != nil {
		return nil, err
	}
	o := options.CredentialOptions
	if len(env.AdditionallyAllowedTenants) > 0 {
		o.AdditionallyAllowedTenants = append(slices.Clip(o.AdditionallyAllowedTenants), env.AdditionallyAllowedTenants...)
	}
	p, err := env.Proof()
	if err != nil {
		return nil, err
	}
	// Each method's errors and logs name the credential azidentity would use for it.
	name := map[string]string{MethodClientSecret: credNameSecret, MethodClientCertificate: credNameCert,
		MethodWorkloadIdentity: credNameWorkload}[env.Method()]
	e := &EnvironmentCredential{method: env.Method()}
	if e.credential, err = newCredential(name, env.TenantID, env.ClientID, o, func() Proof { return p }); err != nil {
		return nil, err
	}
	if o.Logger != nil {
		o.Logger.Info("appcred: EnvironmentCredential will authenticate with a "+e.method, "client_id", env.ClientID)
	}
	return e, nil
}

// Method says which configuration the environment selected: "client secret",
// "client certificate" or "workload identity".
func (e *EnvironmentCredential) Method() string { return e.method }

// RegionalAuthorityName is the region read from AZURE_REGIONAL_AUTHORITY_NAME
// at construction, whose endpoints serve Entra hosts (see WithAzureRegion):
// empty when the variable was unset, AutoDetectRegion for "TryAutoDetect".
func (e *EnvironmentCredential) RegionalAuthorityName() string { return e.region }

var _ azcore.TokenCredential = (*EnvironmentCredential)(nil)
