package filestore

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how often a busy lock is tried again.
const lockRetry = 5 * time.Millisecond

// lockPath is the lock file msal-extensions uses for a cache file.
func lockPath(path string) string { return path + ".lockfile" }

// lockFile takes the cross-process lock on path the way msal-extensions
// (Python 1.0, .NET, Go) does: an exclusive flock (LockFileEx on Windows) on
// "{path}.lockfile", which the holder removes when it is done. Because a
// holder removes the file, a waiter may end up locking a file that is no
// longer at that path; it then tries again on the new one. A process killed
// while holding the lock releases it (the kernel drops the flock); the file
// it leaves behind is reused.
func lockFile(ctx context.Context, path string, timeout time.Duration) (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lp := lockPath(path)
	for {
		fl := flock.New(lp, flock.SetPermissions(0o600))
		ok, err := fl.TryLockContext(ctx, lockRetry)
		if err != nil || !ok {
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("filestore: lock %s: %w", lp, err)
		}
		held, err1 := fl.Stat()
		named, err2 := os.Stat(lp)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return func() {
				_ = os.Remove(lp) // as msal-extensions does; fails harmlessly on Windows
				_ = fl.Unlock()
			}, nil
		}
		_ = fl.Unlock()
	}
}
