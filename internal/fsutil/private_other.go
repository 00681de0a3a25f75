//go:build !unix

package fsutil

import (
	"fmt"
	"os"
)

// checkPrivate checks nothing where files have no Unix owner and mode bits
// (Windows reports synthetic modes; its ACLs are not inspected).
func checkPrivate(string, os.FileInfo) error { return nil }

// openNoFollow refuses a symbolic link found by Lstat, then opens path.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s %w; refusing to read it (remove it)", path, ErrSymlink)
	}
	return os.Open(path)
}
