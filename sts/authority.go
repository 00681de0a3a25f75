package sts

import (
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
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/internal/wire"
)

// Options configure an Authority.
type Options struct {
	// StateDir holds the CA, TLS certificate, signing keys and directory
	// (created with mode 0700). Required.
	StateDir string
	// Addr is the listen address for Start; default "127.0.0.1:0" (an ephemeral port).
	Addr string
	// ConfigFile is a YAML or JSON Config merged into the state at Open.
	ConfigFile string
	// Config is merged into the state at Open, after ConfigFile; relative
	// certificate paths are relative to the working directory.
	Config *Config
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
	// Logger receives server-side problems (never secrets or tokens); nil discards.
	Logger *slog.Logger
}

// DefaultTokenLifetime is the default access token lifetime, as Entra's expires_in.
const DefaultTokenLifetime = 3599 * time.Second

// Seed describes the development tenant made for a new, empty state.
type Seed struct {
	TenantID string `json:"tenant_id"`
	// ClientID and ClientSecret are the daemon app's credentials; the secret is
	// shown only here.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// APIClientID and IdentifierURI name the API app; ask for Scope.
	APIClientID   string `json:"api_client_id"`
	IdentifierURI string `json:"identifier_uri"`
	Scope         string `json:"scope"`
	// Role is granted to the daemon on the API.
	Role string `json:"role"`
}

// Authority is a local Entra-compatible authority: an HTTPS server with OIDC
// discovery, JWKS and v1/v2 token endpoints for the client-credentials grant,
// over a directory kept in a state directory. The admin methods of State are
// available on it and take effect at once.
//
// Typical use in a test:
//
//	a, err := sts.Start(ctx, sts.Options{StateDir: t.TempDir()})
//	defer a.Close()
//	seed := a.Seed()                         // tenant, client id, secret, scope
//	client := a.HTTPClient()                 // trusts a.CACertPEM()
//	endpoint := a.TokenEndpoint(seed.TenantID)
type Authority struct {
	*State
	opts     Options
	tls      *tlsMaterial
	seed     *Seed
	log      *slog.Logger
	lifetime time.Duration

	hosts     atomic.Pointer[hostPolicy] // Host header values answered to
	snap      atomic.Pointer[snapshot]
	inflight  atomic.Int64 // requests being served, for Close
	lastCheck atomic.Int64
	reloadMu  sync.Mutex

	mu      sync.Mutex
	servers []*http.Server
	url     string
	stopCtx func() bool
	closed  bool
}

// snapshot is the directory and key set the handlers use, with the file
// stamps they were read from.
type snapshot struct {
	dir       *directory
	keys      *keySet
	dirStamp  fileStamp
	keysStamp fileStamp
}

const reloadEvery = 100 * time.Millisecond

// Open prepares an authority on opts.StateDir without serving: it creates the
// state directory, the local CA and server certificate, the first signing
// key, applies the config and seeds a development tenant when the state is
// new and no config is given.
func Open(opts Options) (*Authority, error) {
	st, err := OpenState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Authority{State: st, opts: opts, log: opts.Logger, lifetime: opts.TokenLifetime}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.lifetime <= 0 {
		a.lifetime = DefaultTokenLifetime
	}
	if a.lifetime < time.Second {
		return nil, fmt.Errorf("token lifetime %s is shorter than a second", opts.TokenLifetime)
	}
	// Everything that may create files runs under the state lock, so two
	// processes opening a new state directory at once end with one CA, one
	// first signing key and at most one development tenant.
	unlock, err := lockState(st.dir)
	if err != nil {
		return nil, err
	}
	err = a.prepare(&State{dir: st.dir, lockHeld: true})
	unlock()
	if err != nil {
		return nil, err
	}
	a.hosts.Store(newHostPolicy(opts.Hostnames, a.tls))
	if err := a.reload(true); err != nil {
		return nil, err
	}
	st.changed = func() {
		if err := a.reload(false); err != nil {
			a.log.Warn("reload after change", "err", err)
		}
	}
	return a, nil
}

// prepare creates or loads the TLS material and the signing keys, applies
// the config and seeds the development tenant. st must hold the state lock.
func (a *Authority) prepare(st *State) error {
	opts := a.opts
	var err error
	if a.tls, err = loadTLS(st.dir, opts.TLSCertFile, opts.TLSKeyFile, opts.Hostnames); err != nil {
		return err
	}
	if a.tls.reissuedCA {
		a.log.Warn("made a new local CA: clients must trust the new CA certificate", "ca_file", a.tls.caFile,
			"reason", a.tls.reissueReason)
	}
	if _, err := loadKeysLocked(st.dir); err != nil {
		return err
	}
	_, exists, err := readDirFile(filepath.Join(st.dir, directoryFile))
	if err != nil {
		return err
	}
	if opts.ConfigFile != "" {
		cfg, err := LoadConfig(opts.ConfigFile)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(opts.ConfigFile)
		if err != nil {
			return err
		}
		if err := st.ApplyConfig(cfg, filepath.Dir(abs)); err != nil {
			return err
		}
	}
	if opts.Config != nil {
		if err := st.ApplyConfig(opts.Config, "."); err != nil {
			return err
		}
	}
	if !exists && opts.ConfigFile == "" && opts.Config == nil {
		if opts.NoSeed {
			return st.update(func(*dirFile) error { return nil })
		}
		a.seed, err = seedDev(st)
	}
	return err
}

// seedDev makes the development tenant: an API app "api://appcred-demo" with
// roles Demo.Read and Demo.Write (v2 tokens, opted in to the xms_cc optional
// claim), and a daemon app with a secret
// and Demo.Read granted.
func seedDev(st *State) (*Seed, error) {
	t, err := st.AddTenant("")
	if err != nil {
		return nil, err
	}
	s := &Seed{TenantID: t.ID, IdentifierURI: "api://appcred-demo", Role: "Demo.Read"}
	s.Scope = s.IdentifierURI + "/.default"
	api, err := st.AddApp(t.ID, AppSpec{
		DisplayName: "appcred-demo-api", IdentifierURIs: []string{s.IdentifierURI},
		AppRoles: []string{"Demo.Read", "Demo.Write"}, AccessTokenVersion: 2,
		OptionalClaims: []string{optionalXmsCC},
	})
	if err != nil {
		return nil, err
	}
	daemon, err := st.AddApp(t.ID, AppSpec{DisplayName: "appcred-demo-daemon"})
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
	return s, nil
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
	go func() {
		if err := a.serve(srv, ln); err != nil {
			a.log.Error("serving stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return a, nil
}

// Serve answers HTTPS requests on ln until Close; it returns nil after Close.
func (a *Authority) Serve(ln net.Listener) error {
	a.setURL(ln.Addr())
	return a.serve(a.newServer(), ln)
}

func (a *Authority) newServer() *http.Server {
	return &http.Server{
		Handler:           a.Handler(),
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
	servers := a.servers
	if a.stopCtx != nil {
		a.stopCtx()
	}
	a.mu.Unlock()
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
func (a *Authority) CAFile() string { return a.tls.caFile }

// CACertPEM is the local CA certificate in PEM, or nil with the caller's own TLS certificate.
func (a *Authority) CACertPEM() []byte { return a.tls.caPEM }

// CAPool is a pool holding the local CA certificate, or nil with the caller's
// own TLS certificate (then the system roots apply).
func (a *Authority) CAPool() *x509.CertPool { return a.tls.caPool }

// TLSConfig is the server-side TLS configuration.
func (a *Authority) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{a.tls.cert}, MinVersion: tls.VersionTLS12}
}

// HTTPClient returns a new HTTP client (keep-alive, HTTP/1.1) that trusts the
// authority's CA; call its CloseIdleConnections when done.
func (a *Authority) HTTPClient() *http.Client {
	hc := wire.DefaultHTTPClient(a.CACertPEM())
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return hc
}

// current returns the snapshot to serve from, checking at most every 100 ms
// whether directory.json or the keys changed on disk.
func (a *Authority) current() *snapshot {
	now := time.Now().UnixNano()
	last := a.lastCheck.Load()
	if now-last >= int64(reloadEvery) && a.lastCheck.CompareAndSwap(last, now) {
		if err := a.reload(false); err != nil {
			a.log.Warn("state changed on disk but cannot be loaded; serving the previous version", "err", err)
		}
	}
	return a.snap.Load()
}

// reload rereads directory.json and the keys when their stamps changed (or always with force).
func (a *Authority) reload(force bool) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	old := a.snap.Load()
	dirPath, keysPath := filepath.Join(a.dir, directoryFile), filepath.Join(a.dir, keysDir)
	ds, ks := stampOf(dirPath), stampOf(keysPath)
	if !force && old != nil && ds == old.dirStamp && ks == old.keysStamp {
		return nil
	}
	next := &snapshot{dirStamp: ds, keysStamp: ks}
	if old != nil {
		next.dir, next.keys = old.dir, old.keys
	}
	if force || old == nil || ds != old.dirStamp {
		d, _, err := readDirFile(dirPath)
		if err != nil {
			return err
		}
		if next.dir, err = buildDirectory(d); err != nil {
			return err
		}
	}
	if force || old == nil || ks != old.keysStamp {
		set, err := readKeys(keysPath)
		if err != nil {
			return err
		}
		if len(set.keys) == 0 {
			return errors.New("no signing keys in the state directory")
		}
		next.keys = set
	}
	a.snap.Store(next)
	return nil
}
