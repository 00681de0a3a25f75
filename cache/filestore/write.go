package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/fsutil"
)

// Put writes t under key: an MSAL AccessToken entry (two when the key's host
// has a port: "host:port" for MSAL Go and "host" for MSAL Python) and the
// AppMetadata entry. Expired AccessToken entries are dropped on the way.
func (s *Store) Put(ctx context.Context, key string, t *cache.Token) error {
	p, err := cache.ParseKey(key)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	if t == nil || t.AccessToken == "" {
		return errors.New("filestore: put of an empty token")
	}
	return s.update(ctx, func(d *document, now time.Time) {
		putEntries(d, key, p, t, now)
	})
}

// Delete removes every AccessToken entry that answers key (including one
// for its bare host name), wherever it came from; for a session key it is
// DeleteSession. A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if p, err := cache.ParseKey(key); err != nil {
		return fmt.Errorf("filestore: %w", err)
	} else if p.Kind == cache.KindOBOSession {
		return s.DeleteSession(ctx, key)
	}
	snap, err := s.current()
	if err != nil {
		return err
	}
	if _, ok := lookup(snap.index, key); !ok && snap.err == nil {
		return nil // nothing to delete: no write
	}
	alt := bareHostKey(key)
	return s.update(ctx, func(d *document, _ time.Time) {
		for name, raw := range d.at {
			var e atEntry
			if json.Unmarshal(raw, &e) != nil {
				continue
			}
			if k := e.appKey(); k == key || (alt != "" && k == alt) {
				delete(d.at, name)
			}
		}
	})
}

// Keys returns the keys of the unexpired tokens and of the on-behalf-of
// sessions in the file, whichever client wrote them (implements
// [cache.Lister]).
func (s *Store) Keys(context.Context) ([]string, error) {
	snap, err := s.readable()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	keys := make([]string, 0, len(snap.index)+len(snap.sessions))
	for k, e := range snap.index {
		if now.Before(e.tok.ExpiresOn) {
			keys = append(keys, k)
		}
	}
	for k := range snap.sessions {
		keys = append(keys, k)
	}
	return keys, nil
}

// update changes the file under the cross-process lock: it reads the file as
// it is now, applies change to a copy, drops expired tokens, and replaces
// the file atomically. A damaged file is moved aside first; a file this
// store cannot decrypt is never overwritten.
func (s *Store) update(ctx context.Context, change func(d *document, now time.Time)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	unlock, err := lockFile(ctx, s.path, s.timeout)
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := s.current()
	if err != nil {
		return err
	}
	if snap.err != nil {
		return snap.err
	}
	d := snap.doc.clone()
	if snap.damaged {
		aside := s.path + ".corrupt-" + strconv.FormatInt(time.Now().UnixNano(), 10)
		if err := os.Rename(s.path, aside); err != nil {
			return fmt.Errorf("filestore: move damaged file aside: %w", err)
		}
		s.log.Warn("filestore: damaged cache file moved aside; starting a new one", "path", s.path, "moved_to", aside)
	}
	now := time.Now()
	change(d, now)
	pruneExpired(d, now)
	data, err := d.encode()
	if err != nil {
		return fmt.Errorf("filestore: encode %s: %w", s.path, err)
	}
	if s.sealer != nil {
		data = s.sealer.Seal(data)
	}
	if err := fsutil.WriteFileAtomic(s.path, data, 0o600); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	// msal-extensions re-reads the file only when its mtime is later than
	// the time.time() of its own last write. The kernel stamps a new file
	// with its coarse clock (one tick behind), which can be earlier than
	// that, so the next Python write would drop this one: stamp the file
	// with the precise time, taken after that writer let go of the lock.
	if err := os.Chtimes(s.path, time.Time{}, time.Now()); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	s.snap.Store(&snapshot{fi: fi, doc: d, index: buildIndex(d), sessions: buildSessionIndex(d)})
	return nil
}
