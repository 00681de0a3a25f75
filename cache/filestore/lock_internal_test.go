package filestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLockFileRemovedBeforeFlock: a peer that removes the lock file between
// our O_EXCL create and our flock (msal-extensions does on exit) makes us
// start again, not fail the write.
func TestLockFileRemovedBeforeFlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	removals := 0
	lockCreated = func(lp string) {
		if removals < 2 {
			removals++
			if err := os.Remove(lp); err != nil {
				t.Errorf("remove %s: %v", lp, err)
			}
		}
	}
	t.Cleanup(func() { lockCreated = func(string) {} })
	unlock, err := lockFile(context.Background(), path, 10*time.Second)
	if err != nil {
		t.Fatalf("lock after the file was removed under us twice: %v", err)
	}
	if removals != 2 {
		t.Fatalf("the peer removed the lock file %d times, want 2", removals)
	}
	if _, err := os.Stat(lockPath(path)); err != nil {
		t.Fatalf("held lock file: %v", err)
	}
	unlock()
	if _, err := os.Stat(lockPath(path)); !os.IsNotExist(err) {
		t.Fatalf("lock file after unlock: %v", err)
	}
}
