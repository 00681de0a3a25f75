package appcred

import (
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// WorkloadIdentityCredential authenticates with a federated token from a file,
// as Azure workload identity on Kubernetes provides it (the projected service
// account token at AZURE_FEDERATED_TOKEN_FILE). The file is read again for every
// request that reaches the authority, so a token rotated by the kubelet is
// picked up at once; cached access tokens do not read it. It is an
// azcore.TokenCredential.
type WorkloadIdentityCredential struct {
	*credential
}

// WorkloadIdentityCredentialOptions configure a WorkloadIdentityCredential.
// ClientID, TenantID and TokenFilePath default to AZURE_CLIENT_ID,
// AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE.
type WorkloadIdentityCredentialOptions struct {
	CredentialOptions
	// ClientID of the application; AZURE_CLIENT_ID when empty.
	ClientID string
	// TenantID of the application; AZURE_TENANT_ID when empty.
	TenantID string
	// TokenFilePath is the federated token file; AZURE_FEDERATED_TOKEN_FILE when empty.
	TokenFilePath string
}

// NewWorkloadIdentityCredential creates a WorkloadIdentityCredential from
// options and the environment the workload identity webhook sets. Missing
// settings are reported together in a *CredentialUnavailableError.
func NewWorkloadIdentityCredential(options *WorkloadIdentityCredentialOptions) (*WorkloadIdentityCredential, error) {
	if options == nil {
		options = &WorkloadIdentityCredentialOptions{}
	}
	clientID := firstNonEmpty(options.ClientID, os.Getenv(EnvClientID))
	tenantID := firstNonEmpty(options.TenantID, os.Getenv(EnvTenantID))
	file := firstNonEmpty(options.TokenFilePath, os.Getenv(EnvFederatedTokenFile))
	var missing []string
	if tenantID == "" {
		missing = append(missing, "tenant ID (set TenantID or "+EnvTenantID+")")
	}
	if clientID == "" {
		missing = append(missing, "client ID (set ClientID or "+EnvClientID+")")
	}
	if file == "" {
		missing = append(missing, "token file (set TokenFilePath or "+EnvFederatedTokenFile+")")
	}
	if len(missing) > 0 {
		return nil, unavailable(credNameWorkload, "no %s. Check the pod's workload identity configuration",
			strings.Join(missing, ", no "))
	}
	c, err := newAssertionCredential(credNameWorkload, tenantID, clientID, federatedTokenReader(file), options.CredentialOptions)
	if err != nil {
		return nil, err
	}
	return &WorkloadIdentityCredential{credential: c}, nil
}

var _ azcore.TokenCredential = (*WorkloadIdentityCredential)(nil)
