// Package filestore is a [cache.Store] in one JSON file in MSAL's unified
// token cache schema (AccessToken, RefreshToken, IdToken, Account,
// AppMetadata; entra-protocol.md §8), so MSAL Python, MSAL Go and msal-node
// read the tokens appcred writes and appcred reads theirs.
//
// Sections, entries and fields appcred does not write survive its rewrites.
// Writers in every process take msal-extensions' lock ("{file}.lockfile"),
// so Go and Python processes can share one file, and replace the file
// atomically (temp + fsync + rename, mode 0600), so a crash leaves the old or
// the new file, never a mix. Reads take no lock: a parsed index in memory
// answers them, re-parsed only when the file changed (one stat per Get).
// A file that does not parse is moved aside with a warning and rebuilt.
//
// With [Options].Key the file is encrypted with AES-256-GCM
// (internal/seal): MSAL can no longer read it, and appcred refuses it with a
// clear error when the key is missing or wrong.
package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/seal"
)

// Options configure a Store. The zero value is a plain MSAL-compatible file.
type Options struct {
	// Key, when set (32 bytes; see seal.KeyFromEnv and seal.KeyFromFile),
	// encrypts the file at rest with AES-256-GCM.
	Key []byte
	// Logger receives warnings (a damaged file moved aside); never token text.
	// Nil: slog.Default().
	Logger *slog.Logger
	// LockTimeout bounds the wait for the cross-process lock (default 10 s).
	LockTimeout time.Duration
}

// Store is a token cache file. It is safe for concurrent use by goroutines
// and processes.
type Store struct {
	path    string
	sealer  *seal.Sealer
	log     *slog.Logger
	timeout time.Duration

	snap    atomic.Pointer[snapshot] // what readers see
	loadMu  sync.Mutex               // one re-parse at a time
	writeMu sync.Mutex               // one writer per process (the flock is per process too)
}

// snapshot is one parsed version of the file.
type snapshot struct {
	fi    os.FileInfo // nil: no file
	doc   *document
	index map[string]indexed
	// sessions are the on-behalf-of sessions by key (sessions.go).
	sessions map[string]sessionIndexed
	err      error // the file cannot be read with this store's key
	// damaged: the file did not parse; doc and index are empty and the next
	// write moves the file aside.
	damaged bool
}

// Open returns the Store for path, creating its directory (mode 0700) if
// needed; the file itself is created by the first Put. It fails when the
// file is encrypted and the key is missing or wrong.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("filestore: empty path")
	}
	s := &Store{path: path, log: opts.Logger, timeout: opts.LockTimeout}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if opts.Key != nil {
		sl, err := seal.New(opts.Key)
		if err != nil {
			return nil, fmt.Errorf("filestore: %w", err)
		}
		s.sealer = sl
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	snap, err := s.current()
	if err != nil {
		return nil, err
	}
	if snap.err != nil {
		return nil, snap.err
	}
	return s, nil
}

// Path returns the cache file's path.
func (s *Store) Path() string { return s.path }

// current returns the snapshot of the file as it is now, re-parsing it only
// when it changed since the last look.
func (s *Store) current() (*snapshot, error) {
	fi, err := os.Stat(s.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if snap := s.snap.Load(); snap != nil && sameFile(snap.fi, fi) {
		return snap, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	snap, err := s.read()
	if err != nil {
		return nil, err
	}
	if snap.doc == nil { // damaged: serve nothing until a writer rebuilds it
		snap.doc, snap.index, snap.sessions, snap.damaged = newDocument(), map[string]indexed{}, map[string]sessionIndexed{}, true
	}
	s.snap.Store(snap)
	return snap, nil
}

// sameFile reports whether a and b (nil: no file) are one version of a file.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// read parses the file. A damaged file gives a snapshot with a nil doc (and
// a warning); a file sealed with another key, or sealed with no key
// configured, gives one with err set.
func (s *Store) read() (*snapshot, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &snapshot{doc: newDocument(), index: map[string]indexed{}, sessions: map[string]sessionIndexed{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("filestore: read %s: %w", s.path, err)
	}
	snap := &snapshot{fi: fi}
	if seal.IsSealed(data) {
		if data, err = s.sealer.Open(data); errors.Is(err, seal.ErrNoKey) || errors.Is(err, seal.ErrWrongKey) {
			snap.err = fmt.Errorf("filestore: %s: %w", s.path, err)
			return snap, nil
		}
	} else if s.sealer != nil {
		s.log.Warn("filestore: cache file is not encrypted; it will be on the next write", "path", s.path)
	}
	if err == nil {
		snap.doc, err = parseDocument(data)
	}
	if err != nil {
		s.log.Warn("filestore: cache file is damaged; serving no tokens from it until it is rebuilt",
			"path", s.path, "err", err)
		return snap, nil
	}
	snap.index, snap.sessions = buildIndex(snap.doc), buildSessionIndex(snap.doc)
	return snap, nil
}

// Get returns key's token, or (nil, nil) when the file holds none that is
// unexpired. An entry written under the bare host name (as MSAL Python
// writes it) answers a key whose host has a port.
func (s *Store) Get(_ context.Context, key string) (*cache.Token, error) {
	snap, err := s.readable()
	if err != nil {
		return nil, err
	}
	e, ok := lookup(snap.index, key)
	if !ok || !time.Now().Before(e.tok.ExpiresOn) {
		return nil, nil
	}
	t := e.tok
	return &t, nil
}

// readable returns the current snapshot, or why this store cannot read it.
func (s *Store) readable() (*snapshot, error) {
	snap, err := s.current()
	if err != nil {
		return nil, err
	}
	if snap.err != nil {
		return nil, snap.err
	}
	return snap, nil
}

// lookup returns m's entry for key or, when key's host has a port and m has
// none for it, for the bare host name.
func lookup[V any](m map[string]V, key string) (V, bool) {
	v, ok := m[key]
	if !ok {
		if alt := bareHostKey(key); alt != "" {
			v, ok = m[alt]
		}
	}
	return v, ok
}

// bareHostKey returns key with the port removed from its host, or "" when
// its host has no port.
func bareHostKey(key string) string {
	p, err := cache.ParseKey(key)
	if err != nil {
		return ""
	}
	h, ok := hostOnly(p.Host)
	if !ok {
		return ""
	}
	p.Host = h
	return string(cache.AppendKey(nil, p))
}
