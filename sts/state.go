package sts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/appcred/appcred/internal/fsutil"
)

// Files and folders inside a state directory.
const (
	caCertFile    = "ca.pem"
	caKeyFile     = "ca-key.pem"
	tlsCertFile   = "tls.pem"
	tlsKeyFile    = "tls-key.pem"
	keysDir       = "keys"
	directoryFile = "directory.json"
	lockFile      = "directory.lock"
)

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
// dir's mode to 0700.
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
	if fi.Mode().Perm() != 0o700 && onlyStateFiles(dir) {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state directory %s: %w", dir, err)
		}
	}
	return nil
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
		case caCertFile, caKeyFile, tlsCertFile, tlsKeyFile, keysDir, directoryFile, lockFile:
		default:
			if !strings.HasPrefix(e.Name(), fsutil.TempPrefix(directoryFile)) {
				return false
			}
		}
	}
	return true
}

// writeFileAtomic writes data to path atomically and durably (see
// fsutil.WriteFileAtomic).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, perm)
}

// lockState takes an exclusive advisory lock (flock) on the state directory's
// lock file; the returned function releases it. Admin writers hold it across
// read-modify-write of directory.json so concurrent processes do not lose
// each other's changes. Readers need no lock: writes are atomic renames.
func lockState(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// fileStamp identifies one version of a file cheaply: atomic renames give a
// new inode, and size and mtime catch in-place edits.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime int64
	ok    bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}
