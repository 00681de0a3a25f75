//go:build unix

package fsutil_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/appcred/appcred/internal/fsutil"
)

func TestReadPrivateFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := fsutil.ReadPrivateFile(good); err != nil || string(b) != "ok" {
		t.Fatalf("ReadPrivateFile(good) = %q, %v", b, err)
	}
	if _, err := fsutil.ReadPrivateFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if _, err := fsutil.ReadPrivateFile(link); !errors.Is(err, fsutil.ErrSymlink) {
		t.Errorf("symlink: %v, want ErrSymlink", err)
	}
	if err := fsutil.CheckPrivateEntry(link); !errors.Is(err, fsutil.ErrSymlink) {
		t.Errorf("CheckPrivateEntry(symlink): %v, want ErrSymlink", err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o602); err != nil {
		t.Fatal(err)
	}
	if _, err := fsutil.ReadPrivateFile(loose); !errors.Is(err, fsutil.ErrWritableByOthers) {
		t.Errorf("world-writable file: %v, want ErrWritableByOthers", err)
	}
	// A FIFO is refused at once instead of blocking the reader.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := fsutil.ReadPrivateFile(fifo); err == nil {
		t.Error("a FIFO was read as a state file")
	}
}
