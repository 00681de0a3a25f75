package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
)

// Environment variables read by the credentials, with azidentity's names.
const (
	EnvTenantID                   = "AZURE_TENANT_ID"
	EnvClientID                   = "AZURE_CLIENT_ID"
	EnvClientSecret               = "AZURE_CLIENT_SECRET"
	EnvClientCertificatePath      = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvClientCertificatePassword  = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvClientSendCertificateChain = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	EnvAuthorityHost              = "AZURE_AUTHORITY_HOST"
	EnvFederatedTokenFile         = "AZURE_FEDERATED_TOKEN_FILE"
	EnvAdditionallyAllowedTenants = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"
	EnvRegionalAuthorityName      = "AZURE_REGIONAL_AUTHORITY_NAME"
	EnvUsername                   = "AZURE_USERNAME"
	EnvPassword                   = "AZURE_PASSWORD"
)

// CredentialUnavailableError means a credential lacks the configuration it
// needs (a missing environment variable, an unreadable certificate or token
// file) and made no request to the authority. A chain of credentials may try
// the next one. Its text never contains secrets.
type CredentialUnavailableError struct {
	// Credential is the credential type, e.g. "EnvironmentCredential".
	Credential string
	// Message says what is missing or wrong.
	Message string
	// Err is the underlying cause, if any (for example an *os.PathError).
	Err error
}

func unavailable(cred, format string, args ...any) *CredentialUnavailableError {
	return &CredentialUnavailableError{Credential: cred, Message: fmt.Sprintf(format, args...)}
}

// Error returns "<Credential>: <Message>".
func (e *CredentialUnavailableError) Error() string {
	if e.Credential == "" {
		return e.Message
	}
	return e.Credential + ": " + e.Message
}

// Unwrap returns the underlying cause.
func (e *CredentialUnavailableError) Unwrap() error { return e.Err }

// NonRetriable tells azcore's pipeline not to retry the request.
func (*CredentialUnavailableError) NonRetriable() {}

// AuthenticationFailedError means a credential asked the authority for a token
// and did not get one: the authority refused (Err is then, or wraps, a
// *ResponseError — use errors.As), could not be reached, or the proof could not
// be made. Its text never contains secrets or tokens.
type AuthenticationFailedError struct {
	// Credential is the credential type, e.g. "ClientSecretCredential".
	Credential string
	// Err is the cause.
	Err error
}

// Error returns "<Credential> authentication failed: <cause>".
func (e *AuthenticationFailedError) Error() string {
	return e.Credential + " authentication failed: " + e.Err.Error()
}

// Unwrap returns the cause, so errors.As reaches a *ResponseError.
func (e *AuthenticationFailedError) Unwrap() error { return e.Err }

// NonRetriable tells azcore's pipeline not to retry the request: the
// credential already retried what was worth retrying.
func (*AuthenticationFailedError) NonRetriable() {}

// CredentialOptions are the options every credential shares. Each
// credential's options type (ClientSecretCredentialOptions, …) embeds it, so
// its fields are set as, for example,
//
//	&appcred.ClientSecretCredentialOptions{CredentialOptions: appcred.CredentialOptions{
//		AuthorityHost: "https://127.0.0.1:8443", CACertificates: caPEM,
//	}}
//
// and read as options.AuthorityHost. The zero value uses Entra ID's public
// cloud.
type CredentialOptions struct {
	// ClientOptions: Cloud.ActiveDirectoryAuthorityHost picks the authority host
	// and Transport carries requests: an *http.Client is used as WithHTTPClient
	// uses it (never following a redirect with the secret); any other
	// policy.Transporter is used as given.
	// Retry (MaxRetries, TryTimeout, RetryDelay, MaxRetryDelay, StatusCodes,
	// ShouldRetry) drives appcred's retries, which sign a fresh assertion for
	// every attempt; Telemetry.ApplicationID leads the User-Agent (Disabled
	// sends none); every attempt goes through an azcore pipeline with Logging,
	// PerCallPolicies (run once per attempt), PerRetryPolicies and
	// TracingProvider, so azcore/log sees the token requests. A setting that
	// cannot be honoured is refused by the constructor with an error naming it:
	// APIVersion, InsecureAllowCredentialWithHTTP, Logging.IncludeBody (bodies
	// hold secrets and tokens) and Authorization in Logging.AllowedHeaders.
	azcore.ClientOptions
	// AdditionallyAllowedTenants are the tenants, besides the configured one,
	// that TokenRequestOptions.TenantID may name; "*" allows any tenant.
	AdditionallyAllowedTenants []string
	// AuthorityHost overrides Cloud.ActiveDirectoryAuthorityHost and
	// AZURE_AUTHORITY_HOST, e.g. "https://127.0.0.1:8443" for the local authority.
	AuthorityHost string
	// CACertificates are PEM CA certificates to trust besides the system roots
	// (for example the local authority's CA). Not combinable with Transport.
	CACertificates []byte
	// Cache persists tokens in any cache.Store, so processes and replicas
	// share them. The in-memory cache stays in front of it.
	Cache cache.Store
	// DisableInstanceDiscovery skips Entra instance discovery (authority
	// validation), for disconnected and private clouds.
	DisableInstanceDiscovery bool
	// V1Resource asks for tokens the v1 (ADAL) way, resource= at the v1
	// endpoint, mapping the scope "{resource}/.default" (see WithV1Resource).
	V1Resource bool
	// Logger receives token requests, retries and refreshes, never secrets or
	// tokens, and at debug level, for every token GetToken returns, the text
	// azidentity sends as its Authentication event ("ClientSecretCredential.GetToken()
	// acquired a token for scope …"). azcore/log receives azcore's Request,
	// Response and Retry events of every request to the authority (see
	// ClientOptions) but no Authentication event: azcore/log can be written
	// only from inside the Azure SDK for Go (its writer is in sdk/internal/log).
	Logger           *slog.Logger
	TelemetryOptions // OpenTelemetry metrics and spans (MeterProvider, TracerProvider); off by default
}

// Credential type names, used in errors and logs.
const (
	credNameSecret    = "ClientSecretCredential"
	credNameCert      = "ClientCertificateCredential"
	credNameAssertion = "ClientAssertionCredential"
	credNameEnv       = "EnvironmentCredential"
	credNameWorkload  = "WorkloadIdentityCredential"
)

// credential is the machinery behind every credential type, which embeds it
// for GetToken, GetTokenInfo and Close: one Client for plain tokens and,
// created on first use, one for CAE tokens, so the two kinds never share a
// cache entry.
type credential struct {
	name     string
	tenant   string
	allowed  []string // nil, or {"*"}, or explicit tenants
	region   string
	newProof func() Proof
	logger   *slog.Logger // nil when none was given
	build    func(cae bool) (*Client, error)
	// userAssertion, for an OnBehalfOfCredential, is the user's token its
	// tokens are acquired on behalf of.
	userAssertion string
	plain         *Client
	caeMu         sync.Mutex
	cae           *Client
	// closed is set by Close under caeMu (so no CAE client is built after
	// it) and read without the lock on the token path.
	closed atomic.Bool
}

// envRegion reads AZURE_REGIONAL_AUTHORITY_NAME. "TryAutoDetect" (any case),
// which MSAL and azidentity document, becomes AutoDetectRegion: the region is
// detected on the first request (see WithAzureRegion).
func envRegion() string {
	region := os.Getenv(EnvRegionalAuthorityName)
	if authority.IsAutoDetect(region) {
		return AutoDetectRegion
	}
	return region
}

// transportOption routes a credential's requests: through the caller's
// ClientOptions.Transport, or through appcred's transport trusting
// CACertificates, or (nil) through appcred's default transport.
func transportOption(o CredentialOptions) (Option, error) {
	switch {
	case o.Transport != nil && len(o.CACertificates) > 0:
		return nil, errors.New("CACertificates cannot be combined with ClientOptions.Transport: configure the transport's RootCAs instead")
	case o.Transport != nil:
		if hc, ok := o.Transport.(*http.Client); ok {
			return WithHTTPClient(hc), nil // its copy never follows a redirect with the secret
		}
		return WithTransport(transporterRT{o.Transport}), nil
	case len(o.CACertificates) > 0:
		opt := WithCACertificates(o.CACertificates)
		if err := opt(&config{}); err != nil {
			return nil, errors.New("CACertificates: no PEM CERTIFICATE found")
		}
		return opt, nil
	}
	return nil, nil
}

// transporterRT runs requests through an azcore policy.Transporter (any kind).
type transporterRT struct{ t policy.Transporter }

// RoundTrip sends r through the Transporter.
func (t transporterRT) RoundTrip(r *http.Request) (*http.Response, error) { return t.t.Do(r) }

// newCredential validates the shared configuration and builds the plain client.
// missing names further required settings that are absent.
func newCredential(name, tenantID, clientID string, o CredentialOptions, newProof func() Proof, missing ...string) (*credential, error) {
	var absent []string
	if strings.TrimSpace(tenantID) == "" {
		absent = append(absent, "tenant ID")
	}
	if strings.TrimSpace(clientID) == "" {
		absent = append(absent, "client ID")
	}
	if absent = append(absent, missing...); len(absent) > 0 {
		return nil, unavailable(name, "no %s given", strings.Join(absent, ", no "))
	}
	host, err := authorityHost(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	info, err := authority.New(host, tenantID, authority.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	transport, err := transportOption(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tune, err := azcoreTune(o.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &credential{name: name, tenant: tenantID, allowed: resolveAllowed(o.AdditionallyAllowedTenants),
		region: envRegion(), newProof: newProof, logger: o.Logger}
	c.build = func(cae bool) (*Client, error) {
		// As azidentity: AZURE_REGIONAL_AUTHORITY_NAME routes Entra public and
		// national cloud requests to the regional host (ignored for other hosts).
		opts := []Option{WithAzureRegion(c.region), func(cfg *config) error { cfg.wireTune = tune; return o.telemetry(cfg) }}
		if o.DisableInstanceDiscovery {
			opts = append(opts, WithInstanceDiscovery(false))
		}
		if o.V1Resource {
			opts = append(opts, WithV1Resource())
		}
		if o.Logger != nil {
			opts = append(opts, WithLogger(o.Logger))
		}
		if cae {
			opts = append(opts, WithClientCapabilities("CP1"))
		}
		if o.Cache != nil {
			opts = append(opts, WithCacheStore(o.Cache))
		}
		if transport != nil {
			opts = append(opts, transport)
		}
		cl, err := New(info.URL(), clientID, c.newProof(), opts...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return cl, nil
	}
	if c.plain, err = c.build(false); err != nil {
		return nil, err
	}
	return c, nil
}

// authorityHost picks the authority host as azidentity does: the explicit
// host, else the cloud configuration, else AZURE_AUTHORITY_HOST, else the
// public cloud.
func authorityHost(o CredentialOptions) (string, error) {
	host := o.AuthorityHost
	if host == "" {
		host = o.Cloud.ActiveDirectoryAuthorityHost
		if host == "" && len(o.Cloud.Services) > 0 {
			return "", errors.New("missing ActiveDirectoryAuthorityHost for the specified cloud")
		}
	}
	if host == "" {
		host = os.Getenv(EnvAuthorityHost)
	}
	if host == "" {
		host = cloud.AzurePublic.ActiveDirectoryAuthorityHost
	}
	host = strings.TrimRight(strings.TrimSpace(host), "/")
	if !strings.HasPrefix(strings.ToLower(host), "https://") {
		return "", fmt.Errorf("authority host %q: an authority host must use https", host)
	}
	return host, nil
}

func resolveAllowed(tenants []string) []string {
	var out []string
	for _, t := range tenants {
		t = strings.TrimSpace(t)
		if t == "*" {
			return []string{"*"}
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// resolveTenant returns the tenant for a request (azidentity's rules): the
// configured tenant, or another one allowed by AdditionallyAllowedTenants.
func (c *credential) resolveTenant(specified string) (string, error) {
	if specified == "" || strings.EqualFold(specified, c.tenant) {
		return "", nil
	}
	if strings.EqualFold(c.tenant, "adfs") {
		return "", fmt.Errorf("%s: AD FS does not support tenants", c.name)
	}
	if err := authority.ValidTenant(specified); err != nil {
		return "", fmt.Errorf("%s: TokenRequestOptions.TenantID: %w", c.name, err)
	}
	for _, t := range c.allowed {
		if t == "*" || strings.EqualFold(t, specified) {
			return specified, nil
		}
	}
	return "", fmt.Errorf(`%s isn't configured to acquire tokens for tenant %q. To enable acquiring tokens for this tenant add it to the AdditionallyAllowedTenants on the credential options, or add "*" to allow acquiring tokens for any tenant`, c.name, specified)
}

func (c *credential) caeClient() (*Client, error) {
	c.caeMu.Lock()
	defer c.caeMu.Unlock()
	if c.closed.Load() {
		return nil, c.closedError()
	}
	if c.cae == nil {
		cl, err := c.build(true)
		if err != nil {
			return nil, err
		}
		c.cae = cl
	}
	return c.cae, nil
}

// GetTokenInfo is GetToken returning the Token with its type and refresh
// time. With no claims, no tenant and no CAE it is the Client's hit path and
// does not allocate.
func (c *credential) GetTokenInfo(ctx context.Context, opts policy.TokenRequestOptions) (Token, error) {
	if len(opts.Scopes) == 0 {
		return Token{}, fmt.Errorf("%s.GetToken() requires at least one scope", c.name)
	}
	if c.closed.Load() {
		return Token{}, c.closedError()
	}
	tenant, err := c.resolveTenant(opts.TenantID)
	if err != nil {
		return Token{}, err
	}
	cl := c.plain
	claims := opts.Claims
	if err := wire.CheckClaimsSize(len(claims)); err != nil { // before any parsing
		return Token{}, fmt.Errorf("%s: TokenRequestOptions.Claims: %w", c.name, err)
	}
	if opts.EnableCAE {
		if cl, err = c.caeClient(); err != nil {
			return Token{}, err
		}
		if claims != "" {
			if _, err := mergeCapabilities(claims, []string{"CP1"}); err != nil {
				return Token{}, fmt.Errorf("%s: TokenRequestOptions.Claims: %w", c.name, err)
			}
		}
	}
	if claims != "" && !json.Valid([]byte(claims)) {
		return Token{}, fmt.Errorf("%s: TokenRequestOptions.Claims is not valid JSON", c.name)
	}
	var t Token
	switch {
	case tenant == "" && claims == "":
		t, err = c.acquire(ctx, cl, opts.Scopes)
	case claims == "":
		t, err = c.acquire(ctx, cl, opts.Scopes, WithTenant(tenant))
	default:
		t, err = c.acquire(ctx, cl, opts.Scopes, WithTenant(tenant), WithClaims(claims))
	}
	if err != nil {
		return Token{}, c.wrap(err)
	}
	if c.logger != nil && c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logAcquired(ctx, opts.Scopes, t)
	}
	return t, nil
}

// logAcquired logs azidentity's Authentication event text (azcore/log cannot
// be written from outside the Azure SDK; see CredentialOptions) at debug level.
func (c *credential) logAcquired(ctx context.Context, scopes []string, t Token) {
	c.logger.LogAttrs(ctx, slog.LevelDebug,
		fmt.Sprintf("%s.GetToken() acquired a token for scope %q", c.name, strings.Join(scopes, ", ")),
		slog.String("event", "Authentication"), slog.Bool("from_cache", t.FromCache), slog.Time("expires_on", t.ExpiresOn))
}

// acquire asks cl for an app token, or for a token on behalf of the
// credential's user.
func (c *credential) acquire(ctx context.Context, cl *Client, scopes []string, opts ...AcquireOption) (Token, error) {
	if c.userAssertion != "" {
		return cl.AcquireTokenOnBehalfOf(ctx, c.userAssertion, scopes, opts...)
	}
	return cl.AcquireTokenForClient(ctx, scopes, opts...)
}

// closedError is the error of a token request after Close.
func (c *credential) closedError() error { return fmt.Errorf("%s: %w", c.name, ErrClosed) }

// wrap turns a Client error into an *AuthenticationFailedError, unless the
// credential was unavailable or closed (Close raced with the request).
func (c *credential) wrap(err error) error {
	if c.closed.Load() || errors.Is(err, ErrClosed) || errors.Is(err, cache.ErrClosed) || errors.Is(err, authority.ErrResolverClosed) {
		return c.closedError()
	}
	var u *CredentialUnavailableError
	if errors.As(err, &u) {
		return err
	}
	var a *AuthenticationFailedError
	if errors.As(err, &a) {
		return err
	}
	return &AuthenticationFailedError{Credential: c.name, Err: err}
}

// GetToken returns an access token for opts.Scopes, honouring opts.Claims
// (the cache is skipped), opts.TenantID (the configured tenant or one of
// AdditionallyAllowedTenants) and opts.EnableCAE (a CAE token, cached apart
// from plain tokens). Azure SDK clients call it for you.
func (c *credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t, err := c.GetTokenInfo(ctx, opts)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: t.AccessToken, ExpiresOn: t.ExpiresOn.UTC(), RefreshOn: t.RefreshOn.UTC()}, nil
}

// Close stops background refreshes. Later token requests fail with an error
// that errors.Is reports as ErrClosed. Close is idempotent.
func (c *credential) Close() error {
	c.caeMu.Lock()
	defer c.caeMu.Unlock()
	c.closed.Store(true)
	err := c.plain.Close()
	if c.cae != nil {
		err = errors.Join(err, c.cae.Close())
	}
	return err
}

// ClientSecretCredential authenticates an application with a client secret.
// It is an azcore.TokenCredential: pass it to any Azure SDK client.
type ClientSecretCredential struct{ *credential }

// ClientSecretCredentialOptions configure a ClientSecretCredential. The zero
// value (or nil) uses Entra ID's public cloud.
type ClientSecretCredentialOptions struct {
	CredentialOptions
}

// NewClientSecretCredential creates a credential for the application clientID
// in tenantID that proves itself with secret. Pass nil options for defaults.
// A missing tenant, client ID or secret is a *CredentialUnavailableError.
func NewClientSecretCredential(tenantID, clientID, secret string, options *ClientSecretCredentialOptions) (*ClientSecretCredential, error) {
	var missing []string
	if strings.TrimSpace(secret) == "" {
		missing = append(missing, "client secret")
	}
	var o CredentialOptions
	if options != nil {
		o = options.CredentialOptions
	}
	c, err := newCredential(credNameSecret, tenantID, clientID, o, func() Proof { return FromSecret(secret) }, missing...)
	if err != nil {
		return nil, err
	}
	return &ClientSecretCredential{c}, nil
}

var _ azcore.TokenCredential = (*ClientSecretCredential)(nil)
