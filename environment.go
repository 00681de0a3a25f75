package appcred

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/appcred/appcred/authority"
)

// Methods an EnvironmentConfig selects, in order of precedence (see
// EnvironmentConfig.Method).
const (
	MethodClientSecret      = "client secret"
	MethodClientCertificate = "client certificate"
	MethodWorkloadIdentity  = "workload identity"
)

// EnvironmentConfig is an application's configuration as the AZURE_*
// environment variables describe it (see EnvironmentCredential for the
// variables and their precedence). LoadEnvironment reads it; a program may
// then change fields (a command-line flag overriding a variable) before
// building a Client with NewClient, or its parts with Proof, AuthorityURL and
// ClientOptions. NewEnvironmentCredential and "appcred token" both read the
// environment this way, so they accept the same variables and report the same
// problems with the same messages.
//
// The client secret and certificate password are kept out of the exported
// fields, so printing an EnvironmentConfig shows no secret.
type EnvironmentConfig struct {
	// TenantID is AZURE_TENANT_ID, trimmed.
	TenantID string
	// ClientID is AZURE_CLIENT_ID, trimmed.
	ClientID string
	// AuthorityHost is AZURE_AUTHORITY_HOST; empty means Entra ID's public
	// cloud (https://login.microsoftonline.com).
	AuthorityHost string
	// CertificatePath is AZURE_CLIENT_CERTIFICATE_PATH: a PEM or PFX file
	// with the private key, whose password is AZURE_CLIENT_CERTIFICATE_PASSWORD.
	CertificatePath string
	// SendCertificateChain is AZURE_CLIENT_SEND_CERTIFICATE_CHAIN ("true" or
	// "1", any case): send x5c for subject name + issuer authentication.
	SendCertificateChain bool
	// FederatedTokenFile is AZURE_FEDERATED_TOKEN_FILE, read afresh for every
	// request that reaches the authority (see WorkloadIdentityCredential).
	FederatedTokenFile string
	// AdditionallyAllowedTenants is AZURE_ADDITIONALLY_ALLOWED_TENANTS split
	// at ";": the tenants besides TenantID a credential may ask ("*": any).
	AdditionallyAllowedTenants []string
	// Region is AZURE_REGIONAL_AUTHORITY_NAME (see WithAzureRegion);
	// "TryAutoDetect" in any case reads as AutoDetectRegion.
	Region string

	secret   *redacted // AZURE_CLIENT_SECRET
	password *redacted // AZURE_CLIENT_CERTIFICATE_PASSWORD
	chainErr error     // AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is not a boolean
	username bool      // AZURE_USERNAME is set (not supported)
}

// LoadEnvironment reads the AZURE_* variables. It does not fail: a
// missing or malformed setting is reported by the method that needs it
// (NewClient, Proof, AuthorityURL), so that a program may fill it in first.
func LoadEnvironment() EnvironmentConfig {
	c := EnvironmentConfig{
		TenantID:           strings.TrimSpace(os.Getenv(EnvTenantID)),
		ClientID:           strings.TrimSpace(os.Getenv(EnvClientID)),
		AuthorityHost:      os.Getenv(EnvAuthorityHost),
		CertificatePath:    os.Getenv(EnvClientCertificatePath),
		FederatedTokenFile: os.Getenv(EnvFederatedTokenFile),
		Region:             envRegion(),
		username:           os.Getenv(EnvUsername) != "",
	}
	if v := os.Getenv(EnvAdditionallyAllowedTenants); v != "" {
		c.AdditionallyAllowedTenants = strings.Split(v, ";")
	}
	if v := os.Getenv(EnvClientSecret); v != "" {
		s := redacted(v)
		c.secret = &s
	}
	c.SetCertificatePassword(os.Getenv(EnvClientCertificatePassword))
	switch v := os.Getenv(EnvClientSendCertificateChain); strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true":
		c.SendCertificateChain = true
	case "", "0", "false":
	default:
		c.chainErr = unavailable(credNameEnv, "%s is %q: want true, false, 1 or 0", EnvClientSendCertificateChain, v)
	}
	return c
}

// Method says how the application proves its identity, in azidentity's
// order: MethodClientSecret when AZURE_CLIENT_SECRET is set, else
// MethodClientCertificate when CertificatePath is, else
// MethodWorkloadIdentity when FederatedTokenFile is; "" when none is.
func (c EnvironmentConfig) Method() string {
	switch {
	case c.secret != nil:
		return MethodClientSecret
	case c.CertificatePath != "":
		return MethodClientCertificate
	case c.FederatedTokenFile != "":
		return MethodWorkloadIdentity
	}
	return ""
}

// checkIDs reports a missing tenant or client ID.
func (c EnvironmentConfig) checkIDs() error {
	switch {
	case c.TenantID == "" && c.ClientID == "":
		return unavailable(credNameEnv, "missing environment variables %s and %s", EnvTenantID, EnvClientID)
	case c.TenantID == "":
		return unavailable(credNameEnv, "missing environment variable %s", EnvTenantID)
	case c.ClientID == "":
		return unavailable(credNameEnv, "missing environment variable %s", EnvClientID)
	}
	return nil
}

// Proof returns the proof of the selected Method: the client secret, the
// certificate file (read and parsed now, so a bad file or password is
// reported here) or the federated token file (read for every request). Every
// configuration problem is a *CredentialUnavailableError naming the
// variables involved.
func (c EnvironmentConfig) Proof() (Proof, error) {
	switch c.Method() {
	case MethodClientSecret:
		return FromSecret(string(*c.secret)), nil
	case MethodClientCertificate:
		return c.certificateProof()
	case MethodWorkloadIdentity:
		read := federatedTokenReader(c.FederatedTokenFile)
		return FromAssertion(func(ctx context.Context, _ AssertionRequest) (string, error) { return read(ctx) }), nil
	}
	if c.username {
		return Proof{}, unavailable(credNameEnv, "%s is set, but username/password authentication is not supported "+
			"(appcred authenticates applications, not users); set %s, %s or %s instead",
			EnvUsername, EnvClientSecret, EnvClientCertificatePath, EnvFederatedTokenFile)
	}
	return Proof{}, unavailable(credNameEnv, "incomplete environment variable configuration. Only %s and %s are set; "+
		"also set %s, %s or %s (username/password variables are not supported)",
		EnvTenantID, EnvClientID, EnvClientSecret, EnvClientCertificatePath, EnvFederatedTokenFile)
}

// certificateProof loads CertificatePath with the certificate password.
func (c EnvironmentConfig) certificateProof() (Proof, error) {
	if c.chainErr != nil {
		return Proof{}, c.chainErr
	}
	path := c.CertificatePath
	data, err := os.ReadFile(path)
	if err != nil {
		return Proof{}, &CredentialUnavailableError{Credential: credNameEnv, Err: err,
			Message: fmt.Sprintf("failed to read certificate file %q (%s): %v", path, EnvClientCertificatePath, errors.Unwrap(err))}
	}
	var password []byte
	if c.password != nil {
		password = []byte(*c.password)
	}
	p := FromCertificateData(data, password, CertificateOptions{SendX5C: c.SendCertificateChain})
	if p.err != nil {
		hint := ""
		if password == nil {
			hint = " (is " + EnvClientCertificatePassword + " missing?)"
		}
		return Proof{}, &CredentialUnavailableError{Credential: credNameEnv, Err: p.err,
			Message: fmt.Sprintf("failed to parse certificate file %q (%s): %v%s", path, EnvClientCertificatePath, errors.Unwrap(p.err), hint)}
	}
	return p, nil
}

// AuthorityURL returns the Entra authority URL, AuthorityHost (Entra ID's
// public cloud when empty) followed by TenantID. The host must use https;
// an invalid host or tenant is an error naming it.
func (c EnvironmentConfig) AuthorityURL() (string, error) {
	if c.TenantID == "" {
		return "", unavailable(credNameEnv, "missing environment variable %s", EnvTenantID)
	}
	host, err := authorityHost(CredentialOptions{AuthorityHost: firstNonEmpty(c.AuthorityHost, authority.PublicCloud)})
	if err != nil {
		return "", err
	}
	info, err := authority.New(host, c.TenantID, authority.ParseOptions{})
	if err != nil {
		return "", err
	}
	return info.URL(), nil
}

// ClientOptions returns the Client options the environment asks for: the
// region, when Region is set.
func (c EnvironmentConfig) ClientOptions() []Option {
	if c.Region == "" {
		return nil
	}
	return []Option{WithAzureRegion(c.Region)}
}

// NewClient builds a Client for the configuration: New(AuthorityURL(),
// ClientID, Proof(), ClientOptions()..., opts...). A missing tenant or client
// ID, or any problem Proof reports, is a *CredentialUnavailableError naming
// the variables involved.
func (c EnvironmentConfig) NewClient(opts ...Option) (*Client, error) {
	if err := c.checkIDs(); err != nil {
		return nil, err
	}
	p, err := c.Proof()
	if err != nil {
		return nil, err
	}
	u, err := c.AuthorityURL()
	if err != nil {
		return nil, err
	}
	return New(u, c.ClientID, p, append(c.ClientOptions(), opts...)...)
}

// SetCertificatePassword replaces the password of the certificate file
// (AZURE_CLIENT_CERTIFICATE_PASSWORD), for example with one a program read
// from elsewhere; empty means none.
func (c *EnvironmentConfig) SetCertificatePassword(password string) {
	c.password = nil
	if password != "" {
		p := redacted(password)
		c.password = &p
	}
}

// federatedTokenReader returns a function reading the federated token in
// file afresh on every call, so a token the kubelet rotated is used at once.
func federatedTokenReader(file string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &CredentialUnavailableError{Credential: credNameWorkload,
				Message: fmt.Sprintf("cannot read the federated token file %s: %v", file, errors.Unwrap(err)), Err: err}
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", unavailable(credNameWorkload, "the federated token file %s is empty", file)
		}
		return tok, nil
	}
}

// firstNonEmpty returns the first of s that is not blank, trimmed.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
