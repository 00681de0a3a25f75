package authority

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/appcred/appcred/internal/flight"
	"github.com/appcred/appcred/internal/wire"
)

// Token endpoint authentication methods (token_endpoint_auth_methods_supported).
const (
	// MethodSecretBasic sends the client secret in an HTTP Basic header.
	MethodSecretBasic = "client_secret_basic"
	// MethodSecretPost sends the client secret as the client_secret form field.
	MethodSecretPost = "client_secret_post"
	// MethodPrivateKeyJWT sends a signed client assertion.
	MethodPrivateKeyJWT = "private_key_jwt"
)

// Discovery errors; test with errors.Is. The *wire.Error of a failed request,
// when there is one, is wrapped as well.
var (
	// ErrDiscovery wraps every failure to resolve an authority's endpoints.
	ErrDiscovery = errors.New("authority discovery failed")
	// ErrInvalidInstance means instance discovery does not know the host
	// (Entra's invalid_instance, AADSTS50049).
	ErrInvalidInstance = errors.New("unknown or invalid authority instance")
	// ErrIssuerMismatch means the discovery document names another issuer.
	ErrIssuerMismatch = errors.New("discovery document issuer does not match the authority")
)

// DefaultInstanceDiscoveryURL is where instance discovery for hosts that are
// not Microsoft hosts goes when ResolverOptions.ValidateAuthority is set.
const DefaultInstanceDiscoveryURL = "https://login.microsoftonline.com/common/discovery/instance"

// Endpoints are the resolved endpoints of an authority. Slices are shared with
// the resolver's cache: do not modify them.
type Endpoints struct {
	// TokenEndpoint is where token requests are posted ({tenant} substituted).
	TokenEndpoint string
	// V1TokenEndpoint is Entra's v1 endpoint for resource= requests: the
	// token endpoint with /oauth2/v2.0/token replaced by /oauth2/token (or
	// {authority}/oauth2/token); "" for AD FS and generic issuers.
	V1TokenEndpoint string
	// Issuer is the document's issuer ({tenant}/{tenantid} substituted for Entra).
	Issuer string
	// JWKSURI is the document's jwks_uri.
	JWKSURI string
	// AuthorizationEndpoint is the document's authorization_endpoint.
	AuthorizationEndpoint string
	// AuthMethods is token_endpoint_auth_methods_supported (nil when absent).
	AuthMethods []string
	// Aliases are the host's aliases from instance discovery (nil when it did
	// not run), or, in a region, the regional host and the central host.
	Aliases []string
}

// Supports reports whether the authority accepts the token endpoint auth
// method. An absent list means client_secret_basic only (RFC 8414 §2), except
// that Entra and AD FS documents are read as supporting all three methods.
func (e Endpoints) Supports(method string) bool {
	if e.AuthMethods == nil {
		return method == MethodSecretBasic
	}
	return slices.Contains(e.AuthMethods, method)
}

// PreferredSecretMethod returns how to send a client secret:
// client_secret_post when supported (what Entra and MSAL use), else
// client_secret_basic, else "" when the authority accepts neither.
func (e Endpoints) PreferredSecretMethod() string {
	switch {
	case e.Supports(MethodSecretPost):
		return MethodSecretPost
	case e.Supports(MethodSecretBasic):
		return MethodSecretBasic
	}
	return ""
}

// SecretMethod returns how to send a client secret to an authority of kind k.
// A generic issuer gets client_secret_basic whenever it supports it: every
// server must (RFC 6749 §2.3.1), and servers that enforce each client's
// registered method register client_secret_basic by default. Entra and AD FS
// get PreferredSecretMethod (client_secret_post, as MSAL sends).
func (e Endpoints) SecretMethod(k Kind) string {
	if k == Generic && e.Supports(MethodSecretBasic) {
		return MethodSecretBasic
	}
	return e.PreferredSecretMethod()
}

// ResolverOptions configure a Resolver. The zero value is the default.
type ResolverOptions struct {
	// DisableInstanceDiscovery turns instance discovery off for every authority.
	DisableInstanceDiscovery bool
	// ValidateAuthority requests instance discovery also for hosts that are not
	// Microsoft hosts (including loopback), sent to InstanceDiscoveryURL. By
	// default only Microsoft hosts are checked, at the host itself.
	ValidateAuthority bool
	// InstanceDiscoveryURL replaces DefaultInstanceDiscoveryURL.
	InstanceDiscoveryURL string
	// TTL is how long resolved endpoints are cached (default 24 h). Failures
	// are never cached.
	TTL time.Duration
	// FetchTimeout bounds one shared discovery fetch, which outlives the
	// context of the caller that started it so other waiters still benefit
	// (default 30 s).
	FetchTimeout time.Duration
	// AllowInsecureLoopback accepts http:// endpoints in documents when their
	// host is loopback (pair it with ParseOptions.AllowInsecureLoopback).
	AllowInsecureLoopback bool
	// MaxEntries bounds how many authorities (distinct tenants) are cached
	// (default DefaultMaxEntries). When full, expired entries go first, then
	// the oldest.
	MaxEntries int
	// Region is an Azure region name such as "westus2" (see ValidRegion).
	// For Entra authorities on a Microsoft host, discovery and token requests
	// then go to the regional host (see RegionalHost), and instance discovery
	// is skipped, as MSAL does. Other authorities — AD FS, generic issuers and
	// non-Microsoft hosts such as appcred's local authority — ignore it.
	// An invalid region makes every Resolve fail with ErrInvalidRegion.
	// AutoDetectRegion detects it once per Resolver, on the first discovery
	// of a Microsoft-host authority (see DetectRegion; IMDS is asked through
	// the Resolver's HTTP client); when nothing answers, the central host is
	// used and one warning is logged.
	Region string
	// Logger receives the Resolver's warnings (none when nil).
	Logger *slog.Logger
	// Cache, when set, keeps discovery responses beyond this Resolver (for
	// example in a DiscoveryFile shared by processes): asked when the memory
	// cache misses, its answers checked like the network's.
	Cache DiscoveryCache
}

// DefaultMaxEntries is how many authorities a Resolver caches by default.
const DefaultMaxEntries = 1024

// ErrResolverClosed is returned by Resolve when a fetch is needed after Close.
var ErrResolverClosed = errors.New("authority resolver is closed")

// Resolver resolves authorities to Endpoints through discovery, caching each
// result per authority and fetching it once however many callers ask at the
// same time. It is safe for concurrent use.
type Resolver struct {
	client *wire.Client
	opts   ResolverOptions
	now    func() time.Time

	mu        sync.RWMutex
	cache     map[Info]cachedEndpoints
	refetch   map[Info]struct{}        // authorities whose next discovery skips opts.Cache (Forget)
	flights   *flight.Group[Endpoints] // one fetch per authority; Close cancels them
	regionErr error                    // ValidRegion(opts.Region)
	detect    sync.Once                // auto-detection of opts.Region
	detected  string
}

type cachedEndpoints struct {
	ep      Endpoints
	expires time.Time
}

// NewResolver returns a Resolver that sends its GETs through c (a new
// wire.Client with default settings when c is nil).
func NewResolver(c *wire.Client, o ResolverOptions) *Resolver {
	if c == nil {
		c = wire.New(nil)
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.InstanceDiscoveryURL == "" {
		o.InstanceDiscoveryURL = DefaultInstanceDiscoveryURL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	r := &Resolver{client: c, opts: o, now: time.Now, cache: make(map[Info]cachedEndpoints), refetch: make(map[Info]struct{})}
	if o.Region != "" {
		r.regionErr = ValidRegion(o.Region)
	}
	r.flights = flight.New[Endpoints](o.FetchTimeout, ErrResolverClosed)
	return r
}

// Close cancels the discovery fetches in flight and waits for them to end.
// Later Resolve calls still answer from the cache but start no fetch
// (ErrResolverClosed). Close is idempotent.
func (r *Resolver) Close() error {
	r.flights.Close()
	return nil
}

// Resolve returns a's endpoints from the cache, or discovers them: instance
// discovery when it applies (see ResolverOptions), then the OIDC document.
// Concurrent calls for one authority share one fetch; each caller still
// returns when its own ctx is done.
func (r *Resolver) Resolve(ctx context.Context, a Info) (Endpoints, error) {
	if a.Kind < Entra || a.Kind > Generic || a.Host == "" {
		return Endpoints{}, fmt.Errorf("%w: authority was not built by Parse, New or ParseIssuer", ErrInvalidAuthority)
	}
	if r.regionErr != nil {
		return Endpoints{}, fmt.Errorf("authority %s: %w", a.URL(), r.regionErr)
	}
	r.mu.RLock()
	c, ok := r.cache[a]
	r.mu.RUnlock()
	if ok && r.now().Before(c.expires) {
		return c.ep, nil
	}
	ep, err := r.flights.Do(ctx, a.Kind.String()+" "+a.URL(), func(fctx context.Context) (Endpoints, error) {
		ep, expires, err := r.discoverCached(fctx, a)
		if err == nil {
			r.store(a, ep, expires)
		}
		return ep, err
	})
	switch {
	case errors.Is(err, ErrResolverClosed):
		return Endpoints{}, fmt.Errorf("authority %s: %w: %w", a.URL(), ErrDiscovery, ErrResolverClosed)
	case err != nil && err == ctx.Err(): // this caller gave up; the fetch goes on for others
		return Endpoints{}, fmt.Errorf("authority %s: %w: %w", a.URL(), ErrDiscovery, err)
	}
	return ep, err
}

// store caches ep for a until expires, making room first when the cache is
// full: expired entries are dropped, then the entry that expires first. Only
// the miss path pays for the scan.
func (r *Resolver) store(a Info, ep Endpoints, expires time.Time) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cache[a]; !ok && len(r.cache) >= r.opts.MaxEntries {
		var oldest Info
		var oldestExp time.Time
		for k, v := range r.cache {
			switch {
			case !now.Before(v.expires):
				delete(r.cache, k)
			case oldestExp.IsZero() || v.expires.Before(oldestExp):
				oldest, oldestExp = k, v.expires
			}
		}
		if len(r.cache) >= r.opts.MaxEntries {
			delete(r.cache, oldest)
		}
	}
	r.cache[a] = cachedEndpoints{ep: ep, expires: expires}
}

// Len returns how many authorities are cached (expired entries included
// until they are replaced or evicted).
func (r *Resolver) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.cache)
}

// Forget drops a's cached endpoints so the next Resolve fetches them again
// from the network (not from ResolverOptions.Cache).
func (r *Resolver) Forget(a Info) {
	r.mu.Lock()
	delete(r.cache, a)
	if r.opts.Cache != nil {
		r.refetch[a] = struct{}{}
	}
	r.mu.Unlock()
}

// oidcDocument is the part of an OpenID provider configuration appcred reads.
type oidcDocument struct {
	Issuer                string   `json:"issuer"`
	TokenEndpoint         string   `json:"token_endpoint"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	AuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
}

// instanceMetadata is an Entra instance discovery response (entra-protocol.md §1.6).
type instanceMetadata struct {
	TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
	Metadata                []struct {
		PreferredNetwork string   `json:"preferred_network"`
		PreferredCache   string   `json:"preferred_cache"`
		Aliases          []string `json:"aliases"`
	} `json:"metadata"`
}

// region is the region requests for a go to: the configured one, or the
// detected one when it is AutoDetectRegion (detected once, and only for an
// authority a region applies to).
func (r *Resolver) region(ctx context.Context, a Info) string {
	if !IsAutoDetect(r.opts.Region) {
		return r.opts.Region
	}
	if _, applies := RegionalHost(a, "x"); !applies {
		return ""
	}
	r.detect.Do(func() {
		region, err := DetectRegion(ctx, r.client.HTTP)
		if err != nil {
			if r.opts.Logger != nil {
				r.opts.Logger.WarnContext(ctx, "appcred: Azure region auto-detection failed; using the central endpoint", "err", err)
			}
			return
		}
		r.detected = region
	})
	return r.detected
}

// discover performs the fetching part of Resolve, getting each response
// through get (the network, or the DiscoveryCache), and checks the result.
func (r *Resolver) discover(ctx context.Context, a Info, get getFunc) (Endpoints, error) {
	var ep Endpoints
	// at is where requests go: a itself, or its regional host. Instance
	// discovery does not know regional hosts, so it is skipped (as in MSAL).
	at := a
	if host, ok := RegionalHost(a, r.region(ctx, a)); ok {
		at.Host = host
		ep.Aliases = []string{host, a.Host}
	} else if r.instanceDiscovery(a) {
		aliases, err := r.discoverInstance(ctx, a, get)
		if err != nil {
			return Endpoints{}, err
		}
		ep.Aliases = aliases
	}
	var docURL string
	switch a.Kind {
	case Entra:
		docURL = at.URL() + "/v2.0/.well-known/openid-configuration"
	case ADFS:
		docURL = a.Scheme + "://" + a.Host + "/adfs/.well-known/openid-configuration"
	case Generic:
		docURL = a.Issuer + "/.well-known/openid-configuration"
	}
	var doc oidcDocument
	if err := get(ctx, docURL, &doc); err != nil {
		return Endpoints{}, fmt.Errorf("authority %s: %w: %w", a.URL(), ErrDiscovery, err)
	}
	if a.Kind == Entra || a.Kind == ADFS {
		rep := strings.NewReplacer("{tenant}", a.Tenant, "{tenantid}", a.Tenant)
		for _, f := range []*string{&doc.Issuer, &doc.TokenEndpoint, &doc.AuthorizationEndpoint, &doc.JWKSURI} {
			*f = rep.Replace(*f)
		}
	}
	if doc.TokenEndpoint == "" {
		return Endpoints{}, fmt.Errorf("authority %s: %w: document %s has no token_endpoint", a.URL(), ErrDiscovery, docURL)
	}
	if err := r.checkEndpointURL(doc.TokenEndpoint); err != nil {
		return Endpoints{}, fmt.Errorf("authority %s: %w: token_endpoint %q %v", a.URL(), ErrDiscovery, doc.TokenEndpoint, err)
	}
	if err := r.checkTokenHost(ctx, a, doc.TokenEndpoint, ep.Aliases); err != nil {
		return Endpoints{}, fmt.Errorf("authority %s: %w", a.URL(), err)
	}
	if err := checkIssuer(a, doc.Issuer, ep.Aliases); err != nil {
		return Endpoints{}, fmt.Errorf("authority %s: %w", a.URL(), err)
	}
	ep.TokenEndpoint = doc.TokenEndpoint
	ep.Issuer = doc.Issuer
	ep.JWKSURI = doc.JWKSURI
	ep.AuthorizationEndpoint = doc.AuthorizationEndpoint
	ep.AuthMethods = doc.AuthMethods
	if ep.AuthMethods == nil && a.Kind != Generic {
		ep.AuthMethods = []string{MethodSecretPost, MethodPrivateKeyJWT, MethodSecretBasic}
	}
	if a.Kind == Entra {
		ep.V1TokenEndpoint = at.URL() + "/oauth2/token"
		if base, ok := strings.CutSuffix(ep.TokenEndpoint, "/oauth2/v2.0/token"); ok {
			ep.V1TokenEndpoint = base + "/oauth2/token" // keeps the tenant form discovery chose (often the GUID)
		}
	}
	return ep, nil
}

// instanceDiscovery reports whether instance discovery runs for a.
func (r *Resolver) instanceDiscovery(a Info) bool {
	if a.Kind != Entra || r.opts.DisableInstanceDiscovery {
		return false
	}
	return a.IsMicrosoftHost() || r.opts.ValidateAuthority
}

// discoverInstance asks Entra whether a's host is a valid instance and returns
// its aliases. Microsoft hosts are asked directly; others go to
// InstanceDiscoveryURL.
func (r *Resolver) discoverInstance(ctx context.Context, a Info, get getFunc) ([]string, error) {
	endpoint := r.opts.InstanceDiscoveryURL
	if a.IsMicrosoftHost() {
		endpoint = a.Scheme + "://" + a.Host + "/common/discovery/instance"
	}
	q := url.Values{
		"api-version":            {"1.1"},
		"authorization_endpoint": {"https://" + a.Host + "/" + a.Tenant + "/oauth2/v2.0/authorize"},
	}
	var md instanceMetadata
	if err := get(ctx, endpoint+"?"+q.Encode(), &md); err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.OAuthError == "invalid_instance" {
			return nil, fmt.Errorf("authority %s: %w: %w: %w", a.URL(), ErrDiscovery, ErrInvalidInstance, err)
		}
		return nil, fmt.Errorf("authority %s: %w: instance discovery: %w", a.URL(), ErrDiscovery, err)
	}
	host := a.Hostname()
	for _, m := range md.Metadata {
		for _, alias := range m.Aliases {
			if strings.EqualFold(alias, host) || strings.EqualFold(alias, a.Host) {
				return m.Aliases, nil
			}
		}
	}
	return []string{a.Host}, nil
}

// checkEndpointURL requires an absolute https URL (http only for loopback
// when AllowInsecureLoopback is set).
func (r *Resolver) checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && r.opts.AllowInsecureLoopback && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("must use https")
}

// checkIssuer validates the document's issuer against the authority: a
// generic issuer must match exactly (ignoring one trailing slash); an Entra or
// AD FS issuer, when present, must be on the authority's host, one of its
// instance aliases, or — for a Microsoft host — another Microsoft host.
func checkIssuer(a Info, issuer string, aliases []string) error {
	if a.Kind == Generic {
		if strings.TrimSuffix(issuer, "/") != a.Issuer {
			return fmt.Errorf("%w: %w: document says %q, configured %q", ErrDiscovery, ErrIssuerMismatch, issuer, a.Issuer)
		}
		return nil
	}
	if issuer == "" {
		return nil
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %w: issuer %q is not an absolute URL", ErrDiscovery, ErrIssuerMismatch, issuer)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case strings.EqualFold(u.Scheme, a.Scheme) && strings.EqualFold(canonicalHost(u), a.Host):
	case slices.ContainsFunc(aliases, func(s string) bool { return strings.EqualFold(s, host) }):
	case a.IsMicrosoftHost() && IsMicrosoftHost(host):
	default:
		return fmt.Errorf("%w: %w: issuer %q is not on host %q", ErrDiscovery, ErrIssuerMismatch, issuer, a.Host)
	}
	return nil
}
