package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Errors of the private-file checks, for errors.Is.
var (
	// ErrNotOwner: the file or directory belongs to another user.
	ErrNotOwner = errors.New("not owned by the current user")
	// ErrWritableByOthers: group or others may write the file or directory.
	ErrWritableByOthers = errors.New("writable by group or others")
	// ErrSymlink: the path is a symbolic link, which is never followed.
	ErrSymlink = errors.New("is a symbolic link, which is not followed")
)

// CheckPrivate checks that fi, the information of what (a name for errors),
// belongs to the current user and is not writable by group or others. On
// systems without Unix owners and modes (Windows) it checks nothing.
func CheckPrivate(what string, fi os.FileInfo) error { return checkPrivate(what, fi) }

// CheckPrivateEntry checks path, an entry of a private directory, without
// following a symbolic link: it must not be a symlink and, when it exists,
// must pass CheckPrivate. A missing entry is not an error.
func CheckPrivateEntry(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s %w; refusing to use it (remove it)", path, ErrSymlink)
	}
	return CheckPrivate(path, fi)
}

// ReadPrivateFile reads path, a file of a private directory, refusing a
// symbolic link (O_NOFOLLOW where the system has it), anything but a regular
// file, and a file CheckPrivate refuses. A missing file is an error wrapping
// os.ErrNotExist.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
		return nil, fmt.Errorf("%s %w; refusing to read it (remove it)", path, ErrSymlink)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v); refusing to read it", path, fi.Mode().Type())
	}
	if err := CheckPrivate(path, fi); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
