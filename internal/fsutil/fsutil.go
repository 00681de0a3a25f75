// Package fsutil holds small file-system helpers shared by the authority's
// state directory (sts) and the CLI (cmd/appcred).
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// TempPrefix returns the name prefix WriteFileAtomic gives the temporary file
// it writes next to path ("." + base name + ".tmp-"), so directory scanners
// can recognise and skip leftovers of an interrupted write.
func TempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// WriteFileAtomic writes data to path through a temporary file in the same
// directory: create (mode 0600), chmod to perm, write, fsync, close, rename
// over path, then fsync the directory. A crash, even kill -9 or a power loss,
// leaves either the old or the new content, never a mix, and a replaced file
// never holds the data under a looser mode than perm. Errors name path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename or a new entry in it survives a
// crash. File systems that cannot fsync a directory (EINVAL, ENOTSUP) are not
// an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	_ = d.Close()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
