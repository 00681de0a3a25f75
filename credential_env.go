package appcred

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

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
//	                                           is not supported: a warning is logged and no region is used
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
// environment (see EnvironmentCredential). Pass nil options for defaults.
func NewEnvironmentCredential(options *EnvironmentCredentialOptions) (*EnvironmentCredential, error) {
	if options == nil {
		options = &EnvironmentCredentialOptions{}
	}
	tenantID, clientID := os.Getenv(EnvTenantID), os.Getenv(EnvClientID)
	var missing []string
	if strings.TrimSpace(tenantID) == "" {
		missing = append(missing, EnvTenantID)
	}
	if strings.TrimSpace(clientID) == "" {
		missing = append(missing, EnvClientID)
	}
	switch len(missing) {
	case 1:
		return nil, unavailable(credNameEnv, "missing environment variable %s", missing[0])
	case 2:
		return nil, unavailable(credNameEnv, "missing environment variables %s and %s", missing[0], missing[1])
	}
	o := options.CredentialOptions
	if v := os.Getenv(EnvAdditionallyAllowedTenants); v != "" {
		o.AdditionallyAllowedTenants = append(slices.Clip(o.AdditionallyAllowedTenants), strings.Split(v, ";")...)
	}
	e := &EnvironmentCredential{}
	var err error
	switch secret, certPath, tokenFile := os.Getenv(EnvClientSecret), os.Getenv(EnvClientCertificatePath),
		os.Getenv(EnvFederatedTokenFile); {
	case secret != "":
		e.method = "client secret"
		e.credential, err = newCredential(credNameSecret, tenantID, clientID, o,
			func() Proof { return FromSecret(secret) })
	case certPath != "":
		e.method = "client certificate"
		e.credential, err = envCertificate(tenantID, clientID, certPath, o)
	case tokenFile != "":
		e.method = "workload identity"
		var w *WorkloadIdentityCredential
		w, err = NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{CredentialOptions: o,
			ClientID: clientID, TenantID: tenantID, TokenFilePath: tokenFile})
		if err == nil {
			e.credential = w.credential
		}
	case os.Getenv(EnvUsername) != "":
		return nil, unavailable(credNameEnv, "%s is set, but username/password authentication is not supported "+
			"(appcred authenticates applications, not users); set %s, %s or %s instead",
			EnvUsername, EnvClientSecret, EnvClientCertificatePath, EnvFederatedTokenFile)
	default:
		return nil, unavailable(credNameEnv, "incomplete environment variable configuration. Only %s and %s are set; "+
			"also set %s, %s or %s (username/password variables are not supported)",
			EnvTenantID, EnvClientID, EnvClientSecret, EnvClientCertificatePath, EnvFederatedTokenFile)
	}
	if err != nil {
		return nil, err
	}
	if o.Logger != nil {
		o.Logger.Info("appcred: EnvironmentCredential will authenticate with a "+e.method, "client_id", clientID)
	}
	return e, nil
}

// envCertificate builds the certificate credential from the
// AZURE_CLIENT_CERTIFICATE_* variables.
func envCertificate(tenantID, clientID, path string, o CredentialOptions) (*credential, error) {
	var co CertificateOptions
	if v, ok := os.LookupEnv(EnvClientSendCertificateChain); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "true":
			co.SendX5C = true
		case "", "0", "false":
		default:
			return nil, unavailable(credNameEnv, "%s is %q: want true, false, 1 or 0", EnvClientSendCertificateChain, v)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &CredentialUnavailableError{Credential: credNameEnv, Err: err,
			Message: fmt.Sprintf("failed to read certificate file %q (%s): %v", path, EnvClientCertificatePath, errors.Unwrap(err))}
	}
	var password []byte
	if v := os.Getenv(EnvClientCertificatePassword); v != "" {
		password = []byte(v)
	}
	p := FromCertificateData(data, password, co)
	if p.err != nil {
		hint := ""
		if password == nil {
			hint = " (is " + EnvClientCertificatePassword + " missing?)"
		}
		return nil, &CredentialUnavailableError{Credential: credNameEnv, Err: p.err,
			Message: fmt.Sprintf("failed to parse certificate file %q (%s): %v%s", path, EnvClientCertificatePath, errors.Unwrap(p.err), hint)}
	}
	return newCredential(credNameCert, tenantID, clientID, o, func() Proof { return p })
}

// Method says which configuration the environment selected: "client secret",
// "client certificate" or "workload identity".
func (e *EnvironmentCredential) Method() string { return e.method }

// RegionalAuthorityName is the region read from AZURE_REGIONAL_AUTHORITY_NAME
// at construction, whose endpoints serve Entra hosts (see WithAzureRegion):
// empty when the variable was unset or "TryAutoDetect" (not supported).
func (e *EnvironmentCredential) RegionalAuthorityName() string { return e.region }

var _ azcore.TokenCredential = (*EnvironmentCredential)(nil)
