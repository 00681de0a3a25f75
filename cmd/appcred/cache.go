package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/internal/seal"
)

func init() { addVerb(newCacheCmd, "cache") }

// envCache names the environment variable that, like --cache, picks the
// token cache: a file, or a redis:// URL (whose password then stays off
// the command line).
const envCache = "APPCRED_CACHE"

// redisTimeout bounds each Redis call of the CLI (a remote Redis over TLS
// may need more than the library's 100 ms default for its first call; 250 ms
// is the most a Redis outage may add).
const redisTimeout = 250 * time.Millisecond

// cacheFlags select the token cache of "appcred token" and "appcred cache".
type cacheFlags struct {
	location string // --cache: a file or a redis:// / rediss:// URL; "" = $APPCRED_CACHE, else the user cache file
	keyEnv   string // --cache-key-env: NAME of the variable holding the AES-256-GCM key
	noCache  bool   // --no-cache ("appcred token" only)
}

// addCacheFlags adds --cache and --cache-key-env to cmd.
func addCacheFlags(cmd *cobra.Command, f *cacheFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.location, "cache", "", "token cache: a FILE, or redis://[user@]host:port/db (rediss:// for TLS) "+
		"(default $"+envCache+", else "+displayDefaultCache()+")")
	fl.StringVar(&f.keyEnv, "cache-key-env", "", "NAME of the environment variable holding a 32-byte key (hex or base64) "+
		"that encrypts the cache with AES-256-GCM")
}

// defaultCacheFile is where tokens are cached without --cache:
// $XDG_CACHE_HOME/appcred/token-cache.json on Linux (os.UserCacheDir).
func defaultCacheFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the token cache (set --cache FILE or --no-cache): %w", err)
	}
	return filepath.Join(dir, "appcred", "token-cache.json"), nil
}

// displayDefaultCache is the default cache file for help texts.
func displayDefaultCache() string {
	if p, err := defaultCacheFile(); err == nil {
		return p
	}
	return "$XDG_CACHE_HOME/appcred/token-cache.json"
}

// openedCache is a token store the CLI opened, and where it is.
type openedCache struct {
	store  cache.Store
	source string // the file's path or the Redis URL without its password
	close  func() error
	// discovery is the discovery file beside a token cache file (nil for
	// Redis): read only when a token has to be requested.
	discovery *authority.DiscoveryFile
}

// openCache opens the store f selects. Errors name the flag or variable at
// fault, never a key or a password.
func openCache(f cacheFlags) (*openedCache, error) {
	var key []byte
	if f.keyEnv != "" {
		v, err := envSecret("--cache-key-env", f.keyEnv)
		if err != nil {
			return nil, err
		}
		if key, err = seal.ParseKey(v); err != nil {
			return nil, fmt.Errorf("--cache-key-env %s: %w", f.keyEnv, err)
		}
	}
	loc, flag := strings.TrimSpace(f.location), "--cache"
	if loc == "" {
		loc, flag = strings.TrimSpace(os.Getenv(envCache)), envCache
	}
	if loc == "" {
		p, err := defaultCacheFile()
		if err != nil {
			return nil, err
		}
		loc, flag = p, "the default token cache"
	}
	if strings.HasPrefix(loc, "redis://") || strings.HasPrefix(loc, "rediss://") {
		return openRedis(loc, flag, key)
	}
	s, err := filestore.Open(loc, filestore.Options{Key: key})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, loc, err)
	}
	return &openedCache{store: s, source: loc, close: func() error { return nil },
		discovery: authority.NewDiscoveryFile(authority.DiscoveryFileBeside(loc), authority.DiscoveryFileOptions{})}, nil
}

// openRedis connects to the Redis URL loc (given by flag) lazily: the first
// store call dials.
func openRedis(loc, flag string, key []byte) (*openedCache, error) {
	u, err := url.Parse(loc)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("%s: the Redis URL does not parse: %w", flag, err)
	}
	opts, err := redis.ParseURL(loc)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, u.Redacted(), err)
	}
	redis.SetLogger(quietRedis{}) // redisstore warns once, through slog, about an outage
	client := redis.NewClient(opts)
	s, err := redisstore.New(client, redisstore.Options{Key: key, Timeout: redisTimeout})
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%s %s: %w", flag, u.Redacted(), err)
	}
	return &openedCache{store: s, source: u.Redacted(), close: client.Close}, nil
}

// quietRedis drops go-redis's own log lines (a line per failed dial).
type quietRedis struct{}

// Printf discards the message.
func (quietRedis) Printf(context.Context, string, ...any) {}

// freshOnly hides stored tokens past their RefreshOn: a one-shot process
// cannot refresh ahead in the background, so it asks for a new token rather
// than print one close to expiry (az too returns tokens with 5 minutes left
// at least).
type freshOnly struct{ cache.Store }

// Get returns the stored token unless it is due for refresh.
func (s freshOnly) Get(ctx context.Context, key string) (*cache.Token, error) {
	t, err := s.Store.Get(ctx, key)
	if t != nil && !t.RefreshOn.IsZero() && !time.Now().Before(t.RefreshOn) {
		return nil, err
	}
	return t, err
}

// cacheOption returns the option that caches "appcred token"'s tokens in
// the store f selects (none with --no-cache), and the function that closes it.
func cacheOption(f cacheFlags) ([]appcred.Option, func() error, error) {
	if f.noCache {
		if f.location != "" || f.keyEnv != "" {
			return nil, nil, errors.New("--no-cache cannot be combined with --cache or --cache-key-env")
		}
		return nil, func() error { return nil }, nil
	}
	c, err := openCache(f)
	if err != nil {
		return nil, nil, err
	}
	var s cache.Store = freshOnly{c.store}
	if l, ok := c.store.(cache.Leaser); ok { // keep fleet-wide coalescing (Redis)
		s = struct {
			freshOnly
			cache.Leaser
		}{freshOnly{c.store}, l}
	}
	opts := []appcred.Option{appcred.WithCacheStore(s)}
	if c.discovery != nil {
		opts = append(opts, appcred.WithDiscoveryCache(c.discovery))
	}
	return opts, c.close, nil
}

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List or purge the tokens \"appcred token\" cached (never shows token values)",
		Long: `List or purge the token cache "appcred token" uses: by default the file
` + displayDefaultCache() + ` (MSAL's cache format, mode 0600), else --cache FILE, --cache redis://… or $` + envCache + `.
An encrypted cache needs the same --cache-key-env as the token command. Token values are never shown.
Beside a cache file, ` + authority.DiscoveryFileName + ` keeps the authority's discovery results for 24 hours: "list"
shows them, "purge" without --client-id removes them too.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCacheListCmd(), newCachePurgeCmd())
	return cmd
}

// cacheEntry is one cached token as "appcred cache list" shows it.
type cacheEntry struct {
	ClientID  string    `json:"clientId"`
	Authority string    `json:"authorityHost"`
	Tenant    string    `json:"tenant"`
	Kind      string    `json:"kind"`            // app, obo or obo-rt (an on-behalf-of session's refresh token)
	Extra     string    `json:"extra,omitempty"` // e.g. xms_cc=cp1 (CAE), an OBO user assertion hash
	Scopes    []string  `json:"scopes"`
	ExpiresOn time.Time `json:"expiresOn,omitzero"` // none for a session: the authority decides
	Source    string    `json:"source"`
}

func newCacheListCmd() *cobra.Command {
	var f cacheFlags
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the cached tokens: client, authority host, tenant, scopes, expiry and where they are stored",
		Example: "  appcred cache list\n  appcred cache list --cache redis://127.0.0.1:6379/0 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outText, outJSON); err != nil {
				return err
			}
			entries, disco, err := listCache(cmd.Context(), f)
			if err != nil {
				return err
			}
			if output == outJSON {
				return printJSON(cmd.OutOrStdout(), entries)
			}
			if err := printCacheTable(cmd.OutOrStdout(), entries); err != nil {
				return err
			}
			return printDiscovery(cmd.OutOrStdout(), cmd.ErrOrStderr(), disco)
		},
	}
	addCacheFlags(cmd, &f)
	outputFlag(cmd, &output, outText, outText, outJSON)
	return cmd
}

// listCache reads the key and expiry of every unexpired token, and the key
// of every on-behalf-of session, from the store, and returns the discovery
// file beside it (nil for Redis).
func listCache(ctx context.Context, f cacheFlags) ([]cacheEntry, *authority.DiscoveryFile, error) {
	c, err := openCache(f)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = c.close() }()
	l, ok := c.store.(cache.Lister)
	if !ok {
		return nil, nil, fmt.Errorf("cache %s cannot list its keys", c.source)
	}
	keys, err := l.Keys(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cache %s: %w", c.source, err)
	}
	entries := []cacheEntry{}
	for _, k := range keys {
		e, ok, err := cacheEntryOf(ctx, c.store, k)
		if err != nil {
			return nil, nil, fmt.Errorf("cache %s: %w", c.source, err)
		}
		if ok {
			e.Source = c.source
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b cacheEntry) int {
		return strings.Compare(a.ClientID+"|"+a.Authority+"|"+a.Tenant+"|"+strings.Join(a.Scopes, " "),
			b.ClientID+"|"+b.Authority+"|"+b.Tenant+"|"+strings.Join(b.Scopes, " "))
	})
	return entries, c.discovery, nil
}

// printDiscovery lists the cached discovery documents (URL and age; they hold
// no secrets), if any; a damaged file is a warning on errw.
func printDiscovery(w, errw io.Writer, df *authority.DiscoveryFile) error {
	if df == nil {
		return nil
	}
	entries, err := df.Entries()
	if err != nil {
		_, err = fmt.Fprintf(errw, "warning: %v (the next token request rewrites it)\n", err)
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nDISCOVERY (%s)\tFETCHED\n", df.Path())
	now := time.Now()
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\n", e.URL, relative(e.Fetched, now))
	}
	return tw.Flush()
}

// cacheEntryOf describes the token or on-behalf-of session under key, never
// its value; ok is false for a key not of appcred's form, or expired or
// removed meanwhile.
func cacheEntryOf(ctx context.Context, st cache.Store, key string) (e cacheEntry, ok bool, err error) {
	p, err := cache.ParseKey(key)
	if err != nil {
		return e, false, nil
	}
	e = cacheEntry{ClientID: p.ClientID, Authority: p.Host, Tenant: p.Tenant, Kind: p.Kind.String(), Extra: p.Extra,
		Scopes: p.Scopes}
	if p.Kind == cache.KindOBOSession {
		ss, isSS := st.(cache.SessionStore)
		if !isSS {
			return e, false, nil
		}
		v, err := ss.GetSession(ctx, key)
		return e, v != nil, err
	}
	t, err := st.Get(ctx, key)
	if err != nil || t == nil {
		return e, false, err
	}
	e.ExpiresOn = t.ExpiresOn.UTC()
	return e, true, nil
}

// printCacheTable prints entries as an aligned table.
func printCacheTable(w io.Writer, entries []cacheEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no cached tokens")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tAUTHORITY HOST\tTENANT\tKIND\tSCOPES\tEXPIRES\tSOURCE")
	now := time.Now()
	for _, e := range entries {
		kind := e.Kind
		if e.Extra != "" {
			kind += " " + e.Extra
		}
		expires := "- (refresh token)"
		if !e.ExpiresOn.IsZero() {
			expires = humanTime(e.ExpiresOn) + " (" + relative(e.ExpiresOn, now) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ClientID, e.Authority, e.Tenant, kind,
			strings.Join(e.Scopes, " "), expires, e.Source)
	}
	return tw.Flush()
}

func newCachePurgeCmd() *cobra.Command {
	var f cacheFlags
	var clientID string
	cmd := &cobra.Command{
		Use:     "purge",
		Short:   "Remove cached tokens: all of them, or one application's with --client-id",
		Example: "  appcred cache purge\n  appcred cache purge --client-id 00000000-0000-0000-0000-000000000001",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := openCache(f)
			if err != nil {
				return err
			}
			defer func() { _ = c.close() }()
			n, err := appcred.PurgeStore(cmd.Context(), c.store, strings.TrimSpace(clientID))
			if err != nil {
				return fmt.Errorf("cache %s: %w", c.source, err)
			}
			if _, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %d cached token(s) from %s\n", n, c.source); err != nil {
				return err
			}
			if c.discovery == nil || strings.TrimSpace(clientID) != "" {
				return nil // discovery results are not any one application's
			}
			if n, err = c.discovery.Remove(); err != nil {
				return fmt.Errorf("discovery cache %s: %w", c.discovery.Path(), err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %d cached discovery document(s) from %s\n", n, c.discovery.Path())
			return err
		},
	}
	addCacheFlags(cmd, &f)
	cmd.Flags().StringVar(&clientID, "client-id", "", "remove only this application's tokens (every tenant and scope)")
	return cmd
}
