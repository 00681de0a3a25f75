package fsutil_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appcred/appcred/internal/fsutil"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.pem")
	if err := fsutil.WriteFileAtomic(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps no looser mode than asked and leaves no temporary file.
	if err := fsutil.WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("content %q, %v; want \"two\"", got, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only secret.pem", len(entries))
	}
	if p := fsutil.TempPrefix(path); p != ".secret.pem.tmp-" {
		t.Errorf("TempPrefix = %q", p)
	}
}

func TestWriteFileAtomicErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "file")
	err := fsutil.WriteFileAtomic(path, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
	// A rename onto a directory fails after the temporary file was written: it is removed.
	dir := t.TempDir()
	target := filepath.Join(dir, "sub")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(target, []byte("x"), 0o600); err == nil {
		t.Fatal("renaming over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("a temporary file was left behind: %d entries", len(entries))
	}
}
