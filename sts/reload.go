package sts

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// snapshot is the directory and key set the handlers use, with the file
// stamps they were read from.
type snapshot struct {
	dir       *directory.Index
	keys      *pki.KeySet
	dirStamp  fileStamp
	keysStamp fileStamp
}

const reloadEvery = 100 * time.Millisecond

// fileStamp identifies one version of a file cheaply: atomic renames give a
// new file (os.SameFile compares inode or file index), and size and mtime
// catch in-place edits.
type fileStamp struct {
	fi os.FileInfo // nil when the file could not be read
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi: fi}
}

func (s fileStamp) same(o fileStamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == nil && o.fi == nil
	}
	return os.SameFile(s.fi, o.fi) && s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime())
}

// current returns the snapshot to serve from, checking at most every 100 ms
// whether directory.json or the keys changed on disk.
func (a *Authority) current() *snapshot {
	now := time.Now().UnixNano()
	last := a.lastCheck.Load()
	if now-last >= int64(reloadEvery) && a.lastCheck.CompareAndSwap(last, now) {
		if err := a.reload(false); err != nil {
			a.log.Warn("state changed on disk but cannot be loaded; serving the previous version", "err", err)
		}
	}
	return a.snap.Load()
}

// reload rereads directory.json and the keys when their stamps changed (or always with force).
func (a *Authority) reload(force bool) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	old := a.snap.Load()
	ds := stampOf(filepath.Join(a.Dir(), directory.FileName))
	ks := stampOf(filepath.Join(a.Dir(), pki.KeysDir))
	dirChanged := force || old == nil || !ds.same(old.dirStamp)
	keysChanged := force || old == nil || !ks.same(old.keysStamp)
	if !dirChanged && !keysChanged {
		return nil
	}
	next := &snapshot{dirStamp: ds, keysStamp: ks}
	if old != nil {
		next.dir, next.keys = old.dir, old.keys
	}
	if dirChanged {
		ix, err := a.Index()
		if err != nil {
			return err
		}
		next.dir = ix
	}
	if keysChanged {
		set, err := pki.ReadKeys(a.Dir())
		if err != nil {
			return err
		}
		if len(set.Keys) == 0 {
			return errors.New("no signing keys in the state directory")
		}
		next.keys = set
	}
	a.snap.Store(next)
	return nil
}
