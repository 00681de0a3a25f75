//go:build unix

package fsutil

import (
	"fmt"
	"os"
	"syscall"
)

func checkPrivate(what string, fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Getuid(); int64(st.Uid) != int64(uid) {
			return fmt.Errorf("%s is owned by uid %d, %w (uid %d); refusing to use it, as its owner could "+
				"replace the authority's keys", what, st.Uid, ErrNotOwner, uid)
		}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s is %w (mode %v); refusing to use it, as another user could replace the "+
			"authority's keys (run chmod go-w on it)", what, ErrWritableByOthers, perm)
	}
	return nil
}

// openNoFollow opens path for reading without following a final symbolic
// link (ELOOP) and without blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
