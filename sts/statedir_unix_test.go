//go:build unix

package sts_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// newState makes a complete state directory (CA, TLS pair, a signing key,
// directory.json, directory.lock) and returns it.
func newState(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	a, err := sts.Open(sts.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	return dir
}

// mustRefuse opens dir as an authority and wants an error containing want.
func mustRefuse(t *testing.T, dir, want string) {
	t.Helper()
	a, err := sts.Open(sts.Options{StateDir: dir})
	if err == nil {
		_ = a.Close()
		t.Fatalf("the authority opened %s; want an error containing %q", dir, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// moveOut moves name (in dir) to a folder outside dir and leaves a symlink to it.
func moveOut(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.Rename(filepath.Join(dir, name), out); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return out
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("making a file owned by another user needs root; run the tests as root to cover this case")
	}
}

const otherUID = 4242

func TestStateDirTakeoverRefused(t *testing.T) {
	t.Run("world-writable directory with other files", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		mustRefuse(t, dir, "writable by group or others")
	})
	t.Run("directory owned by another user", func(t *testing.T) {
		needRoot(t)
		dir := t.TempDir()
		if err := os.Chown(dir, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		mustRefuse(t, dir, "owned by uid 4242")
	})
	t.Run("symlinked directory.json", func(t *testing.T) {
		dir := newState(t)
		moveOut(t, dir, directory.FileName)
		mustRefuse(t, dir, "symbolic link")
	})
	t.Run("directory.json owned by another user", func(t *testing.T) {
		needRoot(t)
		dir := newState(t)
		if err := os.Chown(filepath.Join(dir, directory.FileName), otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		mustRefuse(t, dir, "owned by uid 4242")
	})
	t.Run("group-writable CA key", func(t *testing.T) {
		dir := newState(t)
		if err := os.Chmod(filepath.Join(dir, pki.CAKeyFile), 0o660); err != nil {
			t.Fatal(err)
		}
		mustRefuse(t, dir, "writable by group or others")
	})
	t.Run("symlinked signing key", func(t *testing.T) {
		dir := newState(t)
		keys, err := os.ReadDir(filepath.Join(dir, pki.KeysDir))
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: %v %v", keys, err)
		}
		moveOut(t, dir, filepath.Join(pki.KeysDir, keys[0].Name()))
		mustRefuse(t, dir, "symbolic link")
	})
	t.Run("symlinked keys folder", func(t *testing.T) {
		dir := newState(t)
		moveOut(t, dir, pki.KeysDir)
		mustRefuse(t, dir, "symbolic link")
	})
}

func TestStateLockSymlinkNotFollowed(t *testing.T) {
	dir := newState(t)
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.Remove(filepath.Join(dir, directory.LockFileName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, directory.LockFileName)); err != nil {
		t.Fatal(err)
	}
	st, err := directory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.AddTenant("11111111-2222-3333-4444-555555555555")
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("AddTenant with a symlinked lock file: %v, want a refusal naming the symbolic link", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("the lock followed the symlink and created a file outside the state directory")
	}
}

func TestSwappedDirectoryNotReloaded(t *testing.T) {
	needRoot(t)
	f := start(t, sts.Options{})
	if r := f.post(t, f.tokenURL(), f.secretForm()); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	// Another user swaps in a directory without the tenant.
	path := filepath.Join(f.a.Dir(), directory.FileName)
	tmp := path + ".swap"
	if err := os.WriteFile(tmp, []byte(`{"version":1,"tenants":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the 100 ms reload check
	if r := f.post(t, f.tokenURL(), f.secretForm()); r.status != 200 {
		t.Errorf("after another user's directory.json was swapped in: status %d: %s", r.status, r.raw)
	}
}
