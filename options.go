package appcred

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/proof"
)

// DefaultTimeout bounds a token request whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// Option configures a Client; pass them to New.
type Option func(*config) error

type config struct {
	httpClient       *http.Client
	transport        http.RoundTripper
	rootCAs          [][]byte
	timeout          time.Duration
	appName, appVer  string
	clientClaims     map[string]any
	logger           *slog.Logger
	noDiscovery      bool
	validate         bool
	insecureLoopback bool
	generic          bool
	store            cache.Store
	maxEntries       int // WithCacheMaxEntries
	maxRetries       int
	capabilities     []string
	now              func() time.Time
	region           string
	authMethod       AuthMethod
	v1               bool                 // WithV1Resource
	wireTune         func(*wire.Client)   // credentials: azcore's retry and telemetry settings
	meterProvider    metric.MeterProvider // WithMeterProvider
	tracerProvider   trace.TracerProvider // WithTracerProvider

	discovery authority.DiscoveryCache // WithDiscoveryCache
}

// WithHTTPClient sends every request through hc (its transport, proxies,
// TLS settings and timeouts). Redirects are never followed, whatever hc's
// CheckRedirect says: a token request must not re-send its secret elsewhere.
// It cannot be combined with WithTransport or WithCACertificates.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("WithHTTPClient: client is nil")
		}
		cp := *hc
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.httpClient = &cp
		return nil
	}
}

// WithTransport sends every request through rt, with appcred's timeouts and
// redirect policy around it.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) error {
		if rt == nil {
			return errors.New("WithTransport: transport is nil")
		}
		c.transport = rt
		return nil
	}
}

// WithCACertificates trusts the PEM CA certificates in pem in addition to the
// system roots, for example the CA of appcred's local authority.
func WithCACertificates(pem []byte) Option {
	return func(c *config) error {
		if !proof.HasPEMCertificate(pem) {
			return errors.New("WithCACertificates: no PEM CERTIFICATE found")
		}
		c.rootCAs = append(c.rootCAs, pem)
		return nil
	}
}

// WithTimeout bounds each token request whose context has no deadline
// (DefaultTimeout when not set). It also bounds every shared request to the
// authority (one flight serves all concurrent callers of a key, so it cannot
// follow any one caller's deadline) and every background refresh.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("WithTimeout: timeout must be positive")
		}
		c.timeout = d
		return nil
	}
}

// WithAppName sends the application's name and version to the authority
// (x-app-name, x-app-ver), as MSAL does.
func WithAppName(name, version string) Option {
	return func(c *config) error { c.appName, c.appVer = name, version; return nil }
}

// WithClientClaims adds claims to every client assertion made from a
// certificate. The standard claims (aud, iss, sub, jti, nbf, iat, exp) cannot
// be overridden.
func WithClientClaims(claims map[string]any) Option {
	return func(c *config) error {
		c.clientClaims = make(map[string]any, len(claims))
		for k, v := range claims {
			c.clientClaims[k] = v
		}
		return nil
	}
}

// WithLogger logs token requests, retries, refreshes and store problems to l.
// Secrets and tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithInstanceDiscovery turns Entra instance discovery (authority validation)
// on or off. It is on by default for Microsoft hosts and off for other hosts,
// including loopback; true asks for it for every host.
func WithInstanceDiscovery(enabled bool) Option {
	return func(c *config) error { c.noDiscovery, c.validate = !enabled, enabled; return nil }
}

// WithInsecureLoopback allows a plain-http authority on a loopback address
// (localhost, *.localhost, 127.0.0.0/8, ::1) — for tests only. Any other http
// authority is always refused. Plain-http requests to a loopback name connect
// to 127.0.0.1 (or ::1) directly, never to what DNS says the name is.
func WithInsecureLoopback() Option {
	return func(c *config) error { c.insecureLoopback = true; return nil }
}

// WithGenericIssuer treats the authority as a generic OpenID Connect issuer
// (discovery at {issuer}/.well-known/openid-configuration, no tenant) instead
// of an Entra authority URL.
func WithGenericIssuer() Option {
	return func(c *config) error { c.generic = true; return nil }
}

// AuthMethod is how the client authenticates at the token endpoint, as named
// in an issuer's token_endpoint_auth_methods_supported (RFC 8414).
type AuthMethod string

// The token endpoint authentication methods appcred can send.
const (
	// AuthMethodSecretBasic sends the client secret in an HTTP Basic header
	// (RFC 6749 §2.3.1). The default for secrets at generic issuers.
	AuthMethodSecretBasic AuthMethod = authority.MethodSecretBasic
	// AuthMethodSecretPost sends the client secret as the client_secret form
	// field. The default for secrets at Entra ID and AD FS (what MSAL sends).
	AuthMethodSecretPost AuthMethod = authority.MethodSecretPost
	// AuthMethodPrivateKeyJWT sends a signed client assertion (RFC 7523): the
	// only method for certificates and assertion callbacks.
	AuthMethodPrivateKeyJWT AuthMethod = authority.MethodPrivateKeyJWT
)

// WithAuthMethod forces the token endpoint authentication method, for a
// server that enforces each client's registered method (for example a client
// registered with client_secret_post at an issuer that advertises both secret
// methods). New refuses a method that does not fit the proof; a token request
// to an authority whose discovery document does not advertise the method fails
// before anything is sent. Without it a secret goes as client_secret_basic to a
// generic issuer that supports it and as client_secret_post to Entra ID and AD FS.
func WithAuthMethod(m AuthMethod) Option {
	return func(c *config) error {
		switch m {
		case AuthMethodSecretBasic, AuthMethodSecretPost, AuthMethodPrivateKeyJWT:
			c.authMethod = m
			return nil
		}
		return fmt.Errorf("WithAuthMethod: unknown method %q (want %s, %s or %s)", string(m),
			AuthMethodSecretBasic, AuthMethodSecretPost, AuthMethodPrivateKeyJWT)
	}
}

// checkAuthMethod refuses a forced method that the proof cannot use.
func checkAuthMethod(m AuthMethod, p Proof) error {
	if m == "" || (m == AuthMethodPrivateKeyJWT) == (p.kind != proofSecret) {
		return nil
	}
	if m == AuthMethodPrivateKeyJWT {
		return fmt.Errorf("WithAuthMethod(%s) needs a certificate or an assertion, but the proof is a client secret "+
			"(use %s or %s)", m, AuthMethodSecretBasic, AuthMethodSecretPost)
	}
	return fmt.Errorf("WithAuthMethod(%s) needs a client secret, but the proof is %s (use %s)", m, p, AuthMethodPrivateKeyJWT)
}

// WithCacheStore persists tokens in s (per key), so restarts and replicas
// share them. The in-memory cache stays in front of it.
func WithCacheStore(s cache.Store) Option {
	return func(c *config) error { c.store = s; return nil }
}

// WithDiscoveryCache keeps the authority's discovery results (instance and
// OpenID Connect discovery) in d as well as in memory, so a new process with a
// cached discovery makes no discovery request: for example
// authority.NewDiscoveryFile(authority.DiscoveryFileBeside(tokenFile), …)
// beside a token cache file. Results read from d are checked like those from
// the network; they are used for 24 hours from when they were fetched.
func WithDiscoveryCache(d authority.DiscoveryCache) Option {
	return func(c *config) error { c.discovery = d; return nil }
}

// WithCacheMaxEntries bounds how many tokens the in-memory cache holds
// (cache.DefaultMaxEntries, 100,000, by default); past it, expired tokens
// and then those expiring soonest are dropped from memory (a cache store
// keeps them). n < 0 means no bound.
func WithCacheMaxEntries(n int) Option {
	return func(c *config) error {
		if n == 0 {
			return errors.New("WithCacheMaxEntries(0): the cache needs room for at least one token (use a negative bound for none)")
		}
		c.maxEntries = n
		return nil
	}
}

// WithMaxRetries sets how many times a request is retried after a 429, a
// 500, 502, 503 or 504, or a transport error (3 by default; 0 or negative
// disables retries).
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			n = -1 // wire.Client reads 0 as "the default"
		}
		c.maxRetries = n
		return nil
	}
}

// WithClientCapabilities declares client capabilities, sent as
// {"access_token":{"xms_cc":{"values":[…]}}} merged into the claims of every
// token request. "CP1" announces that the client handles claims challenges
// (continuous access evaluation); Entra may then issue longer-lived,
// revocable tokens. Tokens of a client with capabilities are cached under
// their own keys.
func WithClientCapabilities(caps ...string) Option {
	return func(c *config) error {
		for _, cp := range caps {
			if strings.TrimSpace(cp) == "" || strings.ContainsAny(cp, "\"{}") {
				return fmt.Errorf("WithClientCapabilities: invalid capability %q", cp)
			}
		}
		c.capabilities = append(c.capabilities, caps...)
		return nil
	}
}

// AcquireOption changes one AcquireTokenForClient call.
type AcquireOption func(*acquireOptions)

type acquireOptions struct {
	claims string
	tenant string
}

// WithClaims sends a claims request (for example the decoded claims of a
// WWW-Authenticate challenge). The cached token is skipped and replaced.
func WithClaims(claims string) AcquireOption {
	return func(o *acquireOptions) { o.claims = claims }
}

// WithTenant requests the token from another tenant of the same authority
// host (a multi-tenant application).
func WithTenant(tenant string) AcquireOption {
	return func(o *acquireOptions) { o.tenant = tenant }
}
