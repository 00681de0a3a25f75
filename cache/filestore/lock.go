package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

const (
	// lockRetry is the first wait before a busy lock is tried again; each
	// wait doubles (plus jitter) up to maxLockRetry, msal-extensions' own
	// interval, so Go writers polling faster than Python's never starve it
	// into going ahead without the lock (it does after 5 s).
	lockRetry    = 5 * time.Millisecond
	maxLockRetry = 250 * time.Millisecond
	// staleAfter is how old an unlocked lock file must be before it is
	// taken for a crashed holder's when the holder's pid cannot tell (the
	// time msal-extensions itself waits before going ahead).
	staleAfter = 5 * time.Second
)

// lockPath is the lock file msal-extensions uses for a cache file.
func lockPath(path string) string { return path + ".lockfile" }

// lockFile takes the cross-process lock on path the way msal-extensions 1.0
// (Python's CrossPlatLock) does: whoever creates "{path}.lockfile" (O_EXCL)
// holds the lock, writes "{pid} {program}" into it, also takes an exclusive
// flock (LockFileEx on Windows) on it for peers that only flock, and removes
// it when done. A lock file left by a holder that died (its flock is free and
// its pid is gone, or it is older than staleAfter) is removed and the lock
// taken again, so a crashed writer never blocks the others for long.
//
// Using the file's existence, not only the flock, is what makes appcred safe
// beside msal-extensions: Python waits for the file to disappear and then
// creates it; a Go writer that flocked an existing file instead would run
// beside it.
func lockFile(ctx context.Context, path string, timeout time.Duration) (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lp := lockPath(path)
	for wait := lockRetry; ; wait = min(2*wait, maxLockRetry) {
		unlock, err := tryCreateLock(ctx, lp)
		if unlock != nil || err != nil {
			return unlock, err
		}
		removeIfStale(lp)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("filestore: lock %s: %w", lp, ctx.Err())
		case <-time.After(wait + rand.N(wait)):
		}
	}
}

// tryCreateLock creates the lock file lp and flocks it. It returns nil, nil
// when lp exists (someone else holds the lock).
func tryCreateLock(ctx context.Context, lp string) (unlock func(), err error) {
	f, err := os.OpenFile(lp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: lock %s: %w", lp, err)
	}
	_, werr := fmt.Fprintf(f, "%d appcred", os.Getpid())
	created, serr := f.Stat()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr != nil || serr != nil {
		_ = os.Remove(lp)
		return nil, fmt.Errorf("filestore: lock %s: %w", lp, errors.Join(werr, serr))
	}
	lockCreated(lp)
	fl := flock.New(lp, flock.SetFlag(os.O_RDONLY))
	if ok, err := fl.TryLockContext(ctx, lockRetry); err != nil || !ok {
		if errors.Is(err, fs.ErrNotExist) {
			// A peer removed our file before we flocked it (msal-extensions removes
			// {file}.lockfile when it finishes, even one it did not create after
			// its own 5 s wait ran out): start again.
			return nil, nil
		}
		// Only a flock-only peer can hold it; the file is ours, remove it.
		removeIfSame(lp, created)
		return nil, fmt.Errorf("filestore: lock %s: %w", lp, errors.Join(err, ctx.Err()))
	}
	held, err1 := fl.Stat()
	named, err2 := os.Stat(lp)
	if err1 != nil || err2 != nil || !os.SameFile(created, held) || !os.SameFile(held, named) {
		_ = fl.Unlock() // a peer removed our file meanwhile: start again
		return nil, nil
	}
	return func() {
		if os.Remove(lp) != nil { // Windows: not while it is open
			_ = fl.Unlock()
			_ = os.Remove(lp)
			return
		}
		_ = fl.Unlock()
	}, nil
}

// lockCreated runs between creating the lock file and flocking it; tests
// use it to play a peer that removes the file at that moment.
var lockCreated = func(string) {}

// removeIfStale removes the lock file lp when its holder is gone: nobody
// flocks it and the pid it names no longer runs, or it is older than
// staleAfter.
func removeIfStale(lp string) {
	fl := flock.New(lp, flock.SetFlag(os.O_RDONLY))
	if ok, err := fl.TryLock(); err != nil || !ok {
		return // held, or already gone
	}
	defer func() { _ = fl.Unlock() }()
	held, err := fl.Stat()
	if err != nil {
		return
	}
	data, err := os.ReadFile(lp)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	pid, _ := strconv.Atoi(first)
	if (pid > 0 && processGone(pid)) || time.Since(held.ModTime()) > staleAfter {
		removeIfSame(lp, held)
	}
}

// removeIfSame removes lp if it is still the file fi describes.
func removeIfSame(lp string, fi os.FileInfo) {
	if named, err := os.Stat(lp); err == nil && os.SameFile(fi, named) {
		_ = os.Remove(lp)
	}
}

// processGone reports whether no process with pid runs (false when that
// cannot be told).
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true // Windows: no such process
	}
	defer func() { _ = p.Release() }()
	err = p.Signal(syscall.Signal(0))
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH)
}
