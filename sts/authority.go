package sts

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/sts/console"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/intercept"
	"github.com/appcred/appcred/sts/pki"
)

// Options configure an Authority.
type Options struct {
	// StateDir holds the CA, TLS certificate, signing keys and directory
	// (created with mode 0700). Required.
	StateDir string
	// Addr is the listen address for Start; default "127.0.0.1:0" (an ephemeral port).
	Addr string
	// ConfigFile is a YAML or JSON Config the state is made to match at Open
	// (see directory.Config); what that removes is logged as a warning.
	ConfigFile string
	// Config is applied at Open together with ConfigFile; relative
	// certificate paths are relative to its BaseDir (empty: the working directory).
	Config *directory.Config
	// Hostnames are extra DNS names or IP addresses for the server certificate
	// (localhost, 127.0.0.1 and ::1 are always included) and the Host header.
	// The local CA is name-constrained to them; one outside an existing CA's
	// constraints makes a new CA (see the package documentation).
	Hostnames []string
	// TLSCertFile and TLSKeyFile use the caller's certificate instead of the local CA.
	TLSCertFile, TLSKeyFile string
	// TokenLifetime is the access token lifetime (expires_in); default 3599 s.
	TokenLifetime time.Duration
	// RefreshIn, when positive, is sent as the integer "refresh_in" of v2 responses.
	RefreshIn time.Duration
	// NoSeed keeps an empty new state empty; by default a state with no
	// directory and no config gets a development tenant (see Seed).
	NoSeed bool
	// Logger receives server-side problems and one sign-in record per token
	// request (Info for a success, Warn for a failure; never secrets or
	// tokens); nil discards.
	Logger *slog.Logger
	// SignInFile, when set, also appends the sign-in records as JSON lines to
	// this file (relative paths are in StateDir; SignInFile names the usual
	// one), rotated to SignInFile+".1" past SignInFileMax bytes (default 10 MiB).
	SignInFile    string
	SignInFileMax int64
	// Intercept, when set, is a loopback address ("127.0.0.1:0" picks a
	// port) on which Start also runs the intercept proxy for unmodified apps
	// (see StartIntercept); the server certificate then also covers the
	// Microsoft identity and Resource Manager hosts, and the authority answers
	// as the identity hosts.
	Intercept string
	// ManagedIdentity, when not empty, makes Start also serve the App Service
	// managed-identity endpoint for these apps (see StartManagedIdentity) on
	// ManagedIdentityAddr (default "127.0.0.1:0"; loopback only).
	ManagedIdentity     []string
	ManagedIdentityAddr string
	// Chaos injects faults into the token endpoints of the servers Start
	// and Serve run (see Chaos and ParseChaos); the zero value injects none.
	Chaos Chaos
	// NoConsole turns the web console (console.Path on the same listener) off.
	NoConsole bool
	// ConsoleAllow are networks, besides loopback, whose clients may use the
	// console; by default it answers loopback clients only.
	ConsoleAllow []netip.Prefix
}

// DefaultTokenLifetime is the default access token lifetime, as Entra's expires_in.
const DefaultTokenLifetime = 3599 * time.Second

// Authority is a local Entra-compatible authority: an HTTPS server with OIDC
// discovery, JWKS and v1/v2 token endpoints for the client-credentials grant,
// over a directory kept in a state directory. The admin methods of
// directory.State (AddTenant, AddApp, AddSecret, AddSecretExpiring,
// AddCertificate, Grant, RemoveTenant, RemoveApp, RemoveSecret,
// RemoveCertificate, RemoveGrant, List, RotateKey, Keys, ApplyConfig,
// Reconcile) are available on it and take effect at once.
//
// Typical use in a test:
//
//	a, err := sts.Start(ctx, sts.Options{StateDir: t.TempDir()})
//	defer a.Close()
//	seed := a.Seed()                         // tenant, client id, secret, scope
//	client := a.HTTPClient()                 // trusts a.CACertPEM()
//	endpoint := a.TokenEndpoint(seed.TenantID)
type Authority struct {
	*directory.State
	opts     Options
	tls      *pki.TLS
	seed     *Seed
	log      *slog.Logger
	signins  *signinLog
	console  http.Handler // nil with NoConsole
	lifetime time.Duration
	refresh  refreshStore // refresh tokens issued by the user grants, hashed, in memory

	subs      []directory.Subscription // from the config, for the intercept mode's Resource Manager
	icept     *interceptMode
	mi        *managedIdentity
	hosts     atomic.Pointer[hostPolicy] // Host header values answered to
	snap      atomic.Pointer[snapshot]
	inflight  atomic.Int64 // requests being served, for Close
	lastCheck atomic.Int64
	reloadMu  sync.Mutex
	chaos     atomic.Pointer[Chaos] // nil: no faults injected

	mu      sync.Mutex
	servers []*http.Server
	url     string
	stopCtx func() bool
	closed  bool
}

// ConsoleURL is the web console's address ("" with Options.NoConsole or before Start).
func (a *Authority) ConsoleURL() string {
	if u := a.URL(); a.console != nil && u != "" {
		return u + console.Path
	}
	return ""
}

// Open prepares an authority on opts.StateDir without serving: it creates the
// state directory, the local CA and server certificate, the first signing
// key, applies the config and seeds a development tenant when the state is
// new and no config is given.
func Open(opts Options) (*Authority, error) {
	st, err := directory.Open(opts.StateDir)
	if err != nil {
		return nil, err
	}
	hostNames := opts.Hostnames // the Host header values answered to
	if opts.Intercept != "" {
		hostNames = append(slices.Clone(opts.Hostnames), interceptIdentityNames()...)
		opts.Hostnames = append(slices.Clone(opts.Hostnames), intercept.CertificateHosts()...)
	}
	a := &Authority{State: st, opts: opts, log: opts.Logger, lifetime: opts.TokenLifetime}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.SetChaos(opts.Chaos)
	if a.lifetime <= 0 {
		a.lifetime = DefaultTokenLifetime
	}
	if a.lifetime < time.Second {
		return nil, fmt.Errorf("token lifetime %s is shorter than a second", opts.TokenLifetime)
	}
	// Everything that may create files runs under the state lock, so two
	// processes opening a new state directory at once end with one CA, one
	// first signing key and at most one development tenant.
	if err := st.WithLock(a.prepare); err != nil {
		return nil, err
	}
	a.hosts.Store(newHostPolicy(hostNames, a.tls))
	if err := a.reload(true); err != nil {
		return nil, err
	}
	if a.signins, err = newSigninLog(opts, a.log); err != nil {
		return nil, err
	}
	if !opts.NoConsole {
		a.console = console.New(a.State, a.signins.ring, opts.ConsoleAllow)
	}
	st.OnChange(func() {
		if err := a.reload(false); err != nil {
			a.log.Warn("reload after change", "err", err)
		}
	})
	return a, nil
}

// prepare creates or loads the TLS material and the signing keys, applies
// the config and seeds the development tenant. st must hold the state lock.
func (a *Authority) prepare(st *directory.State) error {
	opts := a.opts
	var err error
	if a.tls, err = pki.LoadTLS(st.Dir(), opts.TLSCertFile, opts.TLSKeyFile, opts.Hostnames); err != nil {
		return err
	}
	if a.tls.ReissueReason != "" {
		a.log.Warn("made a new local CA: clients must trust the new CA certificate", "ca_file", a.tls.CAFile,
			"reason", a.tls.ReissueReason)
	}
	if _, err := pki.EnsureKeys(st.Dir()); err != nil {
		return err
	}
	exists, err := st.Exists()
	if err != nil {
		return err
	}
	var cfgs []*directory.Config
	if opts.ConfigFile != "" {
		cfg, err := directory.LoadConfig(opts.ConfigFile)
		if err != nil {
			return err
		}
		cfgs = append(cfgs, cfg)
	}
	if opts.Config != nil {
		cfgs = append(cfgs, opts.Config)
	}
	for _, cfg := range cfgs {
		a.subs = append(a.subs, cfg.Subscriptions...)
	}
	if len(cfgs) > 0 {
		removed, err := st.Reconcile(cfgs...)
		if err != nil {
			return err
		}
		for _, r := range removed {
			a.log.Warn("config: removed from the directory (no longer in the config)", "removed", r)
		}
	}
	if !exists && opts.ConfigFile == "" && opts.Config == nil {
		if opts.NoSeed {
			return st.Touch()
		}
		a.seed, err = seedDev(st, opts.Intercept != "")
	}
	return err
}

// Start opens an authority (see Open) and serves it on opts.Addr (default
// "127.0.0.1:0") in the background until ctx ends or Close is called.
// URL() then gives the base URL, such as "https://127.0.0.1:40123".
func Start(ctx context.Context, opts Options) (*Authority, error) {
	a, err := Open(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	a.mu.Lock()
	a.stopCtx = context.AfterFunc(ctx, func() { _ = a.Close() })
	a.mu.Unlock()
	srv := a.newServer()
	a.setURL(ln.Addr())
	a.goServe(srv, ln)
	if opts.Intercept != "" {
		if err := a.StartIntercept(opts.Intercept); err != nil {
			_ = a.Close()
			return nil, err
		}
	}
	if len(opts.ManagedIdentity) > 0 {
		if err := a.StartManagedIdentity(cmp.Or(opts.ManagedIdentityAddr, "127.0.0.1:0"), opts.ManagedIdentity); err != nil {
			_ = a.Close()
			return nil, err
		}
	}
	return a, nil
}

// Serve answers HTTPS requests on ln until Close; it returns nil after Close.
func (a *Authority) Serve(ln net.Listener) error {
	a.setURL(ln.Addr())
	return a.serve(a.newServer(), ln)
}

func (a *Authority) newServer() *http.Server { return a.newServerFor(a.withChaos(a.Handler())) }

// newServerFor is an HTTPS server for h with the authority's TLS
// configuration and limits.
func (a *Authority) newServerFor(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         a.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from scanners and test clients
	}
}

func (a *Authority) serve(srv *http.Server, ln net.Listener) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	a.servers = append(a.servers, srv)
	a.hosts.Store(a.hosts.Load().withListener(ln.Addr()))
	a.mu.Unlock()
	err := srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (a *Authority) setURL(addr net.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.url != "" {
		return
	}
	host, port := "localhost", ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if ta.IP != nil && !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
	}
	a.url = "https://" + net.JoinHostPort(host, port)
}

// Close stops every server of the authority, waiting up to 5 s for requests in flight.
func (a *Authority) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	servers, icept := a.servers, a.icept
	if a.stopCtx != nil {
		a.stopCtx()
	}
	a.mu.Unlock()
	a.signins.ring.Close() // ends log followers, which count as requests in flight
	if icept != nil {
		_ = icept.proxy.Close() // no new tunnels; those open end with the servers below
	}
	// Wait (up to 5 s) for requests in flight, then close every connection at
	// once: a graceful HTTP/2 shutdown would idle a second per connection.
	for deadline := time.Now().Add(5 * time.Second); a.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	var first error
	for _, s := range servers {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	a.signins.closeFile()
	return first
}

// URL is the base URL, "https://host:port", once the authority serves (Start or Serve).
func (a *Authority) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// TenantURL is the authority URL for a tenant: URL() + "/" + tenant.
func (a *Authority) TenantURL(tenant string) string { return a.URL() + "/" + tenant }

// TokenEndpoint is the v2 token endpoint for a tenant, also the audience of client assertions.
func (a *Authority) TokenEndpoint(tenant string) string {
	return a.TenantURL(tenant) + "/oauth2/v2.0/token"
}

// Seed returns the development tenant made by Open, or nil if none was made
// (the state existed already, a config was given, or NoSeed was set).
func (a *Authority) Seed() *Seed { return a.seed }

// CAFile is the path of the local CA certificate (StateDir/ca.pem), or "" when
// the caller's own TLS certificate is used.
func (a *Authority) CAFile() string { return a.tls.CAFile }

// CACertPEM is the local CA certificate in PEM, or nil with the caller's own TLS certificate.
func (a *Authority) CACertPEM() []byte { return a.tls.CAPEM }

// CAPool is a pool holding the local CA certificate, or nil with the caller's
// own TLS certificate (then the system roots apply).
func (a *Authority) CAPool() *x509.CertPool { return a.tls.CAPool }

// TLSConfig is the server-side TLS configuration.
func (a *Authority) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{a.tls.Cert}, MinVersion: tls.VersionTLS12, CipherSuites: aeadCipherSuites}
}

// HTTPClient returns a new HTTP client (keep-alive, HTTP/1.1) that trusts the
// authority's CA; call its CloseIdleConnections when done.
func (a *Authority) HTTPClient() *http.Client {
	hc := wire.DefaultHTTPClient(a.CACertPEM())
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return hc
}
