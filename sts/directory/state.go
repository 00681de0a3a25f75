// Package directory is the local authority's state directory: tenants and app registrations, their admin operations and config, and the lock writers take.
package directory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/sts/pki"
)

// Files of the directory inside a state directory.
const (
	// FileName is the directory itself: tenants, apps, hashed secrets,
	// certificates, grants (JSON, 0600, written atomically).
	FileName = "directory.json"
	// LockFileName is the lock file writers hold across read-modify-write.
	LockFileName = "directory.lock"
)

// State is a handle on an authority state directory for administration:
// tenants, app registrations, secrets, certificates, grants and signing keys.
// Every change is a locked read-modify-write of directory.json written
// atomically, so admin commands work while a server uses the same directory
// (the server notices the change within about 100 ms).
type State struct {
	dir      string
	changed  func() // called after every successful write (the server reloads)
	lockHeld bool   // the caller holds the state lock (WithLock); update does not take it again
}

// Open opens (creating with mode 0700 if needed) the state directory dir for
// administration. It does not create TLS material or signing keys.
func Open(dir string) (*State, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	return &State{dir: dir}, nil
}

// Dir returns the state directory.
func (s *State) Dir() string { return s.dir }

// OnChange sets fn to be called after every change made through s, such as
// a server rereading the directory at once.
func (s *State) OnChange(fn func()) { s.changed = fn }

// WithLock runs fn holding the state directory's lock, so that processes
// creating files at the same time (a new CA, the first signing key, the
// development tenant) agree. fn gets a State whose changes do not take the
// lock again; it must not be used after fn returns.
func (s *State) WithLock(fn func(locked *State) error) error {
	unlock, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(&State{dir: s.dir, lockHeld: true})
}

// DefaultStateDir returns the state directory used when none is given:
// $XDG_STATE_HOME/appcred/authority, else ~/.local/state/appcred/authority.
func DefaultStateDir() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "appcred", "authority"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "appcred", "authority"), nil
}

// ensureDir creates dir (and parents) with mode 0700 and tightens an existing
// dir's mode to 0700 when it holds only the authority's files. It refuses a
// dir owned by another user, or one group or others may write (and that it
// cannot tighten): they could swap in their own keys or directory.
func ensureDir(dir string) error {
	if dir == "" {
		return errors.New("state directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is not a directory", dir)
	}
	err = fsutil.CheckPrivate("state directory "+dir, fi)
	if errors.Is(err, fsutil.ErrNotOwner) {
		return err
	}
	if fi.Mode().Perm() != 0o700 && onlyStateFiles(dir) {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state directory %s: %w", dir, err)
		}
		return nil
	}
	return err
}

// onlyStateFiles reports whether dir is empty or holds only the authority's
// files: only then is its mode tightened (never a directory the user shares
// with other things, such as a home directory given by mistake).
func onlyStateFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		switch e.Name() {
		case pki.CACertFile, pki.CAKeyFile, pki.TLSCertFile, pki.TLSKeyFile, pki.KeysDir, FileName, LockFileName:
		default:
			if !strings.HasPrefix(e.Name(), fsutil.TempPrefix(FileName)) {
				return false
			}
		}
	}
	return true
}

// lockDir takes an exclusive advisory lock on the state directory's lock
// file (flock on Unix, LockFileEx on Windows); the returned function releases
// it. Writers hold it across read-modify-write of directory.json so
// concurrent processes do not lose each other's changes. Readers need no
// lock: writes are atomic renames.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFileName)
	if err := fsutil.CheckPrivateEntry(path); err != nil { // flock would follow a symlink
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	l := flock.New(path, flock.SetPermissions(0o600))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	return func() { _ = l.Unlock() }, nil
}
