package authority

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/appcred/appcred/internal/fsutil"
)

// DiscoveryFileName is the name of the discovery file beside a token cache
// file (see DiscoveryFileBeside).
const DiscoveryFileName = "discovery.json"

// Bounds of a discovery file: a larger file is ignored (and rewritten), and
// beyond MaxDiscoveryFileEntries the entries fetched first are dropped.
const (
	MaxDiscoveryFileBytes   = 4 << 20
	MaxDiscoveryFileEntries = 4096
)

// discoveryFileVersion is the version of the file's format.
const discoveryFileVersion = 1

// DiscoveryFileOptions configure a DiscoveryFile. The zero value is the default.
type DiscoveryFileOptions struct {
	// MaxAge is how long an entry is kept (default 24 h, the Resolver's
	// default TTL). Older entries are dropped when the file is read or written.
	MaxAge time.Duration
	// Logger receives the one warning about an unreadable or damaged file.
	// Nil: slog.Default().
	Logger *slog.Logger
}

// DiscoveryFile is a DiscoveryCache in one JSON file, shared by the processes
// that use it (MSAL Python's http_cache, for discovery only). Creating one
// does no I/O: the file is read at the first Get or Put, once per
// DiscoveryFile. A damaged, unreadable or unsafe file (a symbolic link,
// writable by others, another user's, larger than MaxDiscoveryFileBytes) is
// ignored with one warning and replaced at the next Put. Put merges with what
// other processes wrote meanwhile and writes the file atomically, mode 0600;
// two processes writing at once may lose one's entries, which costs a later
// discovery, never a wrong answer. Discovery documents hold no secrets.
type DiscoveryFile struct {
	path   string
	maxAge time.Duration
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	loaded  bool
	warned  bool
	entries map[string]discoveryFileEntry
}

// discoveryFile is the file's JSON form.
type discoveryFile struct {
	Version int                           `json:"version"`
	Entries map[string]discoveryFileEntry `json:"entries"`
}

// discoveryFileEntry is one response in the file, keyed by its URL.
type discoveryFileEntry struct {
	Fetched time.Time       `json:"fetched"`
	Body    json.RawMessage `json:"body"`
}

// NewDiscoveryFile returns a DiscoveryFile at path without touching it.
func NewDiscoveryFile(path string, o DiscoveryFileOptions) *DiscoveryFile {
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &DiscoveryFile{path: path, maxAge: o.MaxAge, log: o.Logger, now: time.Now}
}

// DiscoveryFileBeside returns the path of the discovery file in the
// directory of the token cache file tokenFile.
func DiscoveryFileBeside(tokenFile string) string {
	return filepath.Join(filepath.Dir(tokenFile), DiscoveryFileName)
}

// Path returns the file's path.
func (f *DiscoveryFile) Path() string { return f.path }

// Get returns the entry stored for url, reading the file on first use.
func (f *DiscoveryFile) Get(ctx context.Context, url string) (DiscoveryEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded {
		f.entries, f.loaded = f.read(ctx), true
	}
	e, ok := f.entries[url]
	if !ok {
		return DiscoveryEntry{}, false
	}
	return DiscoveryEntry{URL: url, Body: slices.Clone(e.Body), Fetched: e.Fetched}, true
}

// Put adds entries to the file: it reads the file again (another process may
// have added entries), drops expired ones, adds entries and writes it
// atomically (creating its directory, mode 0700, when missing).
func (f *DiscoveryFile) Put(ctx context.Context, entries ...DiscoveryEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	merged := f.read(ctx)
	for u, e := range f.entries { // what this process read or wrote, where newer
		if d, ok := merged[u]; !ok || d.Fetched.Before(e.Fetched) {
			merged[u] = e
		}
	}
	for _, e := range entries {
		if err := checkEntry(e.URL, e.Body); err != nil {
			return fmt.Errorf("discovery file %s: %w", f.path, err)
		}
		merged[e.URL] = discoveryFileEntry{Fetched: e.Fetched.UTC(), Body: slices.Clone(e.Body)}
	}
	f.entries, f.loaded = dropStale(merged, f.now(), f.maxAge), true
	data, err := json.Marshal(discoveryFile{Version: discoveryFileVersion, Entries: f.entries})
	if err != nil {
		return fmt.Errorf("discovery file %s: %w", f.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("discovery file %s: %w", f.path, err)
	}
	return fsutil.WriteFileAtomic(f.path, data, 0o600)
}

// Entries returns the file's unexpired entries, read from the file now,
// ordered by URL. A missing file has none; a damaged one is an error.
func (f *DiscoveryFile) Entries() ([]DiscoveryEntry, error) {
	entries, err := f.load()
	if err != nil {
		return nil, err
	}
	out := make([]DiscoveryEntry, 0, len(entries))
	for _, u := range slices.Sorted(maps.Keys(entries)) {
		out = append(out, DiscoveryEntry{URL: u, Body: entries[u].Body, Fetched: entries[u].Fetched})
	}
	return out, nil
}

// Remove deletes the file and returns how many unexpired entries it held (0
// when it was missing or damaged).
func (f *DiscoveryFile) Remove() (int, error) {
	entries, _ := f.load()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries, f.loaded = nil, true
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return len(entries), nil
}

// read returns the file's unexpired entries, or none (with one warning per
// DiscoveryFile) when it cannot be used.
func (f *DiscoveryFile) read(ctx context.Context) map[string]discoveryFileEntry {
	entries, err := f.load()
	if err != nil {
		if !f.warned {
			f.warned = true
			f.log.WarnContext(ctx, "appcred: ignoring the discovery cache file; it will be rewritten", "err", err)
		}
		return map[string]discoveryFileEntry{}
	}
	return entries
}

// load reads and parses the file; a missing file is empty.
func (f *DiscoveryFile) load() (map[string]discoveryFileEntry, error) {
	if fi, err := os.Lstat(f.path); err == nil && fi.Size() > MaxDiscoveryFileBytes {
		return nil, fmt.Errorf("discovery file %s: larger than %d bytes", f.path, MaxDiscoveryFileBytes)
	}
	data, err := fsutil.ReadPrivateFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]discoveryFileEntry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discovery file: %w", err)
	}
	entries, err := parseDiscoveryFile(data, f.now(), f.maxAge)
	if err != nil {
		return nil, fmt.Errorf("discovery file %s: %w", f.path, err)
	}
	return entries, nil
}

// parseDiscoveryFile parses a discovery file's content, dropping entries
// older than maxAge at now (or fetched more than a minute after now). Its
// errors name what is wrong; none is returned for stale entries.
func parseDiscoveryFile(data []byte, now time.Time, maxAge time.Duration) (map[string]discoveryFileEntry, error) {
	if len(data) > MaxDiscoveryFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxDiscoveryFileBytes)
	}
	var df discoveryFile
	if err := json.Unmarshal(data, &df); err != nil {
		return nil, fmt.Errorf("not a discovery cache (JSON): %w", err)
	}
	if df.Version != discoveryFileVersion {
		return nil, fmt.Errorf("version %d, want %d", df.Version, discoveryFileVersion)
	}
	for u, e := range df.Entries {
		if err := checkEntry(u, e.Body); err != nil {
			return nil, err
		}
		if e.Fetched.IsZero() {
			return nil, fmt.Errorf("entry %q has no fetch time", u)
		}
	}
	entries := dropStale(df.Entries, now, maxAge)
	if entries == nil {
		entries = map[string]discoveryFileEntry{}
	}
	return entries, nil
}

// checkEntry requires an absolute http(s) URL and a JSON object body.
func checkEntry(raw string, body json.RawMessage) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("entry %q: not an absolute http(s) URL", raw)
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return fmt.Errorf("entry %q: the body is not a JSON object", raw)
	}
	return nil
}

// dropStale removes entries older than maxAge or from the future, then the
// oldest beyond MaxDiscoveryFileEntries. It modifies and returns m.
func dropStale(m map[string]discoveryFileEntry, now time.Time, maxAge time.Duration) map[string]discoveryFileEntry {
	for u, e := range m {
		if !now.Before(e.Fetched.Add(maxAge)) || e.Fetched.After(now.Add(maxClockSkew)) {
			delete(m, u)
		}
	}
	if len(m) > MaxDiscoveryFileEntries {
		urls := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b].Fetched.Compare(m[a].Fetched) })
		for _, u := range urls[MaxDiscoveryFileEntries:] {
			delete(m, u)
		}
	}
	return m
}
