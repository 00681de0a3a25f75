// Package appcred is a confidential client for the OAuth 2.0 client-credentials
// flow: an application proves who it is with a client secret, a certificate or
// an assertion, and gets access tokens from Microsoft Entra ID, AD FS, any
// OpenID Connect issuer, or appcred's local authority (package sts).
//
// A Client caches tokens in memory with an O(1) lookup that never waits on the
// network, asks the authority once per key however many callers miss at once,
// and refreshes tokens in the background before they expire.
//
//	c, err := appcred.New("https://login.microsoftonline.com/"+tenant, clientID,
//		appcred.FromSecret(os.Getenv("CLIENT_SECRET")))
//	tok, err := c.AcquireTokenForClient(ctx, []string{"api://orders/.default"})
package appcred

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
)

// Client is a confidential client application. It is safe for concurrent use;
// create it once and share it. Close it when done.
type Client struct {
	clientID string
	info     authority.Info
	proof    Proof
	wire     *wire.Client
	resolver *authority.Resolver
	cache    *cache.Cache
	cfg      config
	log      *slog.Logger
	ownHTTP  *http.Client // the HTTP client New built (nil when the caller gave one)
	prefix   cache.Prefix // the key prefix of the configured tenant, built once
	secrets  wire.Secrets // the proof's fixed secret values, scrubbed from every error
	extra    string       // the key discriminator of a client with capabilities
	obo      oboSessions  // on-behalf-of partitions by user assertion
	tel      *telemetry   // OpenTelemetry instruments; nil when off
	closed   atomic.Bool

	claimsMu sync.Mutex
	claims   map[string]*claimsFlight // the last claims request per key (ClaimsRequestInterval)
}

// ErrClosed is returned by AcquireTokenForClient after Close.
var ErrClosed = errors.New("appcred: client is closed")

// Token is an access token with its lifetimes. Printing or logging a Token
// never shows the access token itself.
type Token struct {
	// AccessToken is the bearer token to send to the resource.
	AccessToken string
	// TokenType is the scheme, normally "Bearer".
	TokenType string
	// ExpiresOn is when the token expires.
	ExpiresOn time.Time
	// RefreshOn is when the client starts refreshing it in the background.
	RefreshOn time.Time
	// FromCache tells whether the token came from the cache.
	FromCache bool
	// Account is the user of an on-behalf-of token (nil for app tokens, and
	// when the authority sent neither client_info nor an id_token).
	Account *Account
}

// String describes t without the access token.
func (t Token) String() string {
	return fmt.Sprintf("appcred.Token{type=%s expires=%s from_cache=%t access_token=[%d bytes redacted]}",
		t.TokenType, t.ExpiresOn.Format(time.RFC3339), t.FromCache, len(t.AccessToken))
}

// GoString is String, so %#v does not print the access token either.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the access token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", t.TokenType), slog.Time("expires_on", t.ExpiresOn),
		slog.Bool("from_cache", t.FromCache))
}

// New creates a client for the application clientID at authorityURL, which is
// an Entra authority "https://login.microsoftonline.com/{tenant}" (or another
// cloud's host, or appcred's local authority), an AD FS authority
// "https://host/adfs", or — with WithGenericIssuer — an OpenID Connect issuer.
func New(authorityURL, clientID string, p Proof, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(clientID) == "" {
		return nil, errors.New("client id is empty")
	}
	if p.err != nil {
		return nil, p.err
	}
	if p.kind == proofNone {
		return nil, errors.New("no proof given: use FromSecret, FromCertificate or FromAssertion")
	}
	if err := checkAuthMethod(cfg.authMethod, p); err != nil {
		return nil, err
	}
	info, err := cfg.parseAuthority(authorityURL)
	if err != nil {
		return nil, err
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkCertificate(p, info, log); err != nil {
		return nil, err
	}
	hc, err := cfg.buildHTTPClient()
	if err != nil {
		return nil, err
	}
	var own *http.Client // closing idle connections of a caller's transport is not ours to do
	if cfg.httpClient == nil && cfg.transport == nil {
		own = hc
	}
	wc := wire.New(hc)
	wc.AppName, wc.AppVersion, wc.MaxRetries, wc.Logger = cfg.appName, cfg.appVer, cfg.maxRetries, cfg.logger
	if cfg.wireTune != nil {
		cfg.wireTune(wc)
	}
	if cfg.timeout == 0 {
		cfg.timeout = DefaultTimeout
	}
	c := &Client{
		clientID: clientID,
		info:     info,
		proof:    p,
		wire:     wc,
		cfg:      cfg,
		log:      log,
		ownHTTP:  own,
		prefix:   keyPrefix(clientID, info),
		extra:    keyExtra(cfg, info),
		resolver: authority.NewResolver(wc, authority.ResolverOptions{
			DisableInstanceDiscovery: cfg.noDiscovery,
			ValidateAuthority:        cfg.validate,
			AllowInsecureLoopback:    cfg.insecureLoopback,
			Region:                   cfg.region,
			Logger:                   cfg.logger,
			Cache:                    cfg.discovery,
		}),
		cache: cache.New(cache.Options{Logger: cfg.logger, Store: cfg.store, FetchTimeout: cfg.timeout, Now: cfg.now,
			MaxEntries: cfg.maxEntries}),
	}
	if p.secret != nil {
		c.secrets.Add(string(*p.secret))
	}
	if c.tel, err = newTelemetry(c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// parseAuthority parses the authority URL New was given: an Entra or AD FS
// authority, or with WithGenericIssuer an OpenID Connect issuer.
func (cfg *config) parseAuthority(authorityURL string) (authority.Info, error) {
	po := authority.ParseOptions{AllowInsecureLoopback: cfg.insecureLoopback}
	if cfg.generic {
		return authority.ParseIssuer(authorityURL, po)
	}
	return authority.Parse(authorityURL, po)
}

// keyPrefix is the cache-key prefix of a client: client ids and scopes are
// case-insensitive at Entra and AD FS, case-sensitive (RFC 6749 §3.3) at a
// generic issuer,
// whose whole issuer URL stands in for the tenant (two issuers may share a host).
func keyPrefix(clientID string, info authority.Info) cache.Prefix {
	if info.Kind == authority.Generic {
		return cache.MakePrefix(clientID, info.Host, info.Issuer).ExactScopes()
	}
	return cache.MakePrefix(clientID, info.Host, info.Tenant)
}

// keyExtra is the case-sensitive part of a client's cache keys: its
// capabilities, whether it sends v1 requests and, for a generic issuer whose URL has upper-case letters (the
// tenant field of a key is folded to lower case), the issuer URL itself, since
// https://idp/realms/Prod and https://idp/realms/prod are different issuers.
func keyExtra(cfg config, info authority.Info) string {
	extra := capabilitiesExtra(cfg.capabilities)
	if cfg.v1 {
		if extra != "" {
			extra += ";"
		}
		extra += v1Extra
	}
	if info.Kind == authority.Generic && info.Issuer != strings.ToLower(info.Issuer) {
		if extra != "" {
			extra += ";"
		}
		extra += "iss=" + info.Issuer
	}
	return extra
}

func checkCertificate(p Proof, info authority.Info, log *slog.Logger) error {
	if p.kind != proofCertificate {
		return nil
	}
	if _, ec := p.cert.Key.(*ecdsa.PrivateKey); ec && info.Kind != authority.Generic {
		return fmt.Errorf("certificate %s has an EC key; %s authorities accept only RSA keys", p.source, info.Kind)
	}
	if now := time.Now(); now.After(p.cert.Leaf.NotAfter) {
		log.Warn("appcred: certificate has expired; the authority will likely refuse it",
			"certificate", p.source, "not_after", p.cert.Leaf.NotAfter)
	}
	return nil
}

// buildHTTPClient returns the HTTP client of every request. With
// WithInsecureLoopback its transport dials loopback names (localhost,
// *.localhost) at 127.0.0.1 / ::1 directly for plain http, never through DNS.
func (cfg *config) buildHTTPClient() (*http.Client, error) {
	hc := cfg.httpClient
	switch {
	case hc != nil && (cfg.transport != nil || len(cfg.rootCAs) > 0):
		return nil, errors.New("WithHTTPClient cannot be combined with WithTransport or WithCACertificates: configure the client's transport instead")
	case hc != nil:
		cp := *hc // WithHTTPClient's own copy
		hc = &cp
	case cfg.transport != nil && len(cfg.rootCAs) > 0:
		return nil, errors.New("WithTransport cannot be combined with WithCACertificates: set RootCAs on the transport instead")
	default:
		hc = wire.DefaultHTTPClient(cfg.rootCAs...)
		if cfg.transport != nil {
			hc.Transport = cfg.transport
		}
	}
	if cfg.insecureLoopback {
		hc.Transport = wire.PinLoopback(hc.Transport)
	}
	return hc, nil
}

// String describes the client without its proof's secret.
func (c *Client) String() string {
	return "appcred.Client{client_id=" + c.clientID + " authority=" + c.info.URL() + " proof=" + c.proof.String() + "}"
}

// GoString is String, so %#v does not print the secret either.
func (c *Client) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the secret.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.clientID), slog.String("authority", c.info.URL()),
		slog.String("proof", c.proof.String()))
}

// ClientID returns the application (client) id.
func (c *Client) ClientID() string { return c.clientID }

// Authority returns the canonical authority URL.
func (c *Client) Authority() string { return c.info.URL() }

// AcquireTokenForClient returns an app-only access token for scopes (for
// client credentials, one resource's "{resource}/.default"). A cached token is
// returned at once, without locks held across I/O or allocation; a token past
// its refresh time is still returned while one background refresh runs.
// Concurrent misses for the same scopes share one request to the authority.
func (c *Client) AcquireTokenForClient(ctx context.Context, scopes []string, opts ...AcquireOption) (Token, error) {
	var o acquireOptions
	if len(opts) > 0 {
		o = applyAcquireOptions(opts) // out of line, so o stays on the stack
	}
	if c.closed.Load() {
		return Token{}, ErrClosed
	}
	if err := checkScopes("AcquireTokenForClient", scopes); err != nil {
		return Token{}, err
	}
	tenant, prefix := c.info.Tenant, c.prefix
	if o.tenant != "" && !strings.EqualFold(o.tenant, tenant) {
		if err := c.checkTenant(o.tenant); err != nil {
			return Token{}, err
		}
		tenant, prefix = o.tenant, cache.MakePrefix(c.clientID, c.info.Host, o.tenant)
	}
	var buf [256]byte
	key := prefix.AppendKey(buf[:0], cache.KindApp, c.extra, scopes)
	if o.claims == "" {
		if t, ok := c.cache.Lookup(key); ok {
			return Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresOn: t.ExpiresOn,
				RefreshOn: t.RefreshOn, FromCache: true}, nil
		}
	}
	return c.acquireSlow(ctx, string(key), tenant, scopes, o.claims)
}

// refresher returns the function that fetches (and later refreshes) the token
// for tenant and scopes. It is kept with every cached token, so it stays
// small: the common single scope is captured as a string (strings are
// immutable), more scopes as a copy of the caller's slice.
func (c *Client) refresher(tenant string, scopes []string) cache.FetchFunc {
	if len(scopes) == 1 {
		scope := scopes[0]
		return func(ctx context.Context) (*cache.Token, error) {
			return c.requestToken(ctx, tenant, []string{scope}, "")
		}
	}
	scopes = append([]string(nil), scopes...) // the refresher outlives the caller's slice
	return func(ctx context.Context) (*cache.Token, error) { return c.requestToken(ctx, tenant, scopes, "") }
}

func applyAcquireOptions(opts []AcquireOption) acquireOptions {
	var o acquireOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// acquireSlow is the miss path: everything that may allocate or wait.
func (c *Client) acquireSlow(ctx context.Context, key, tenant string, scopes []string, claims string) (Token, error) {
	if claims != "" {
		if err := checkClaims(claims); err != nil {
			return Token{}, fmt.Errorf("WithClaims: %w", err)
		}
		if _, err := mergeCapabilities(claims, c.cfg.capabilities); err != nil {
			return Token{}, fmt.Errorf("WithClaims: %w", err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
		defer cancel()
	}
	fetch := c.refresher(tenant, scopes)
	var t *cache.Token
	var err error
	reused := false
	if claims == "" {
		t, err = c.cache.Fetch(ctx, key, fetch)
	} else {
		// A claims request skips the cached token; its result replaces it, and
		// later refreshes go back to plain requests. At most one per key per
		// ClaimsRequestInterval reaches the authority.
		t, reused, err = c.claimsRequest(ctx, key, func(ctx context.Context) (*cache.Token, error) {
			t, err := c.requestToken(ctx, tenant, scopes, claims)
			if err == nil {
				t, err = c.cache.Put(ctx, key, t, fetch)
			}
			return t, err
		})
	}
	if err != nil && (c.closed.Load() || errors.Is(err, cache.ErrClosed)) {
		return Token{}, ErrClosed // Close raced with this request (and cancelled it)
	}
	if err != nil {
		return Token{}, responseError(err) // the one exit of the authority's answers
	}
	return Token{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn,
		FromCache: reused}, nil
}

func (c *Client) checkTenant(tenant string) error {
	if c.info.Kind != authority.Entra {
		return fmt.Errorf("WithTenant: a tenant cannot be chosen per request for a %s authority", c.info.Kind)
	}
	other, err := authority.New(c.info.Scheme+"://"+c.info.Host, tenant,
		authority.ParseOptions{AllowInsecureLoopback: c.cfg.insecureLoopback})
	if err != nil {
		return fmt.Errorf("WithTenant: %w", err)
	}
	if other.Kind != authority.Entra {
		return fmt.Errorf("WithTenant: %q is not an Entra tenant (an %s authority needs its own client)", tenant, other.Kind)
	}
	return nil
}

// RemoveTokensForClient removes every cached token of this client (all
// tenants and scopes), from memory and from the cache store. A store that
// can list its keys ([cache.Lister], as the file and Redis stores) also
// loses the client's tokens that only it holds (written by another process
// or an earlier run); an error says which deletions failed.
func (c *Client) RemoveTokensForClient(ctx context.Context) error {
	c.cache.RemovePrefix(ctx, c.prefix.Client())
	if _, ok := c.cfg.store.(cache.Lister); !ok {
		return nil
	}
	if _, err := PurgeStore(ctx, c.cfg.store, c.clientID); err != nil {
		return fmt.Errorf("RemoveTokensForClient: %w", err)
	}
	return nil
}

// Close stops background refreshes and discovery in flight, stops serving
// cached tokens (a Store keeps its copies) and closes the idle
// connections of the HTTP client New built (not of one given with
// WithHTTPClient or WithTransport). Afterwards AcquireTokenForClient returns
// ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	_ = c.resolver.Close() // cancels discovery in flight
	c.tel.close()
	err := c.cache.Close()
	if c.ownHTTP != nil {
		c.ownHTTP.CloseIdleConnections()
	}
	return err
}
