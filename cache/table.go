package cache

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The table behind a Cache:
//
//   - Entries live in numShards copy-on-write maps. Readers load a shard's map
//     with one atomic load and never lock; writers (misses, refreshes,
//     evictions: rare) clone the shard's map under its mutex, change the clone
//     and publish it (dropping expired entries once per sweepEvery).
//   - Keys are stored compactly, which keeps a cached token within 256 bytes
//     (held whole, keys cost about 90 bytes more each): the client|host|tenant|
//     prefix that every key of one client repeats is interned once as a
//     4-byte id, so an entry holds only id + kind|extra|scopes. Interning
//     stops at maxPrefixes prefixes (a caller that accepts any tenant must not
//     grow the table without bound): keys with other prefixes are stored
//     whole, under id 0.

const (
	numShards     = 1024 // power of two; a write copies len/numShards entries
	sweepEvery    = time.Minute
	prefixBytes   = 4    // size of an interned prefix id in a compact key
	stackKey      = 256  // compact keys up to this size are built on the stack
	probePrefixes = 4    // prefixes compared directly before hashing
	maxPrefixes   = 1024 // prefixes interned per Cache; later ones are not
)

// shard is one copy-on-write map of compact key → entry.
type shard struct {
	mu        sync.Mutex // serialises writers
	m         atomic.Pointer[map[string]*entry]
	lastSweep int64 // unix ns of the last sweep; guarded by mu
}

// load returns the current map (nil when empty); callers must not modify it.
func (s *shard) load() map[string]*entry {
	if p := s.m.Load(); p != nil {
		return *p
	}
	return nil
}

// write publishes a copy of the shard's map changed by f. Once per
// sweepEvery it also leaves out the entries that are expired at now.
// Call with s.mu held.
func (c *Cache) write(s *shard, now time.Time, f func(m map[string]*entry)) {
	m := maps.Clone(s.load())
	if m == nil {
		m = make(map[string]*entry, 1)
	}
	if ns := now.UnixNano(); ns-s.lastSweep >= int64(sweepEvery) {
		s.lastSweep = ns
		maps.DeleteFunc(m, func(_ string, e *entry) bool { return ns >= e.until })
	}
	f(m)
	c.size.Add(int64(len(m) - len(s.load())))
	s.m.Store(&m)
}

// trim brings the table back within Options.MaxEntries after an insert
// went past it: it drops the entries that are expired at now, then those
// served until the soonest, down to nine tenths of the bound, so that the
// next trims (each O(entries)) are as rare as 1 insert in MaxEntries/10.
// Dropped entries are marked removed (a refresh running for one is
// discarded) but stay in the Store; keep, the entry just inserted, stays.
// One trim runs at a time; an insert that finds one running does not wait.
func (c *Cache) trim(now time.Time, keep *entry) {
	if !c.trimMu.TryLock() {
		return
	}
	defer c.trimMu.Unlock()
	ns := now.UnixNano()
	var live []int64
	for i := range c.shards {
		for _, e := range c.shards[i].load() {
			if ns < e.until {
				live = append(live, e.until)
			}
		}
	}
	cutoff := ns // drop what is expired...
	if target := c.opt.MaxEntries - c.opt.MaxEntries/10; len(live) > target {
		slices.Sort(live) // ...and what is served until the soonest
		cutoff = max(cutoff, live[len(live)-target-1])
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		c.write(s, now, func(m map[string]*entry) {
			for ck, e := range m {
				if e.until <= cutoff && e != keep {
					if e.until > ns {
						c.stats.evictions.Add(1)
					}
					e.state.Or(removed)
					delete(m, ck)
				}
			}
		})
		s.mu.Unlock()
	}
}

// shardOf returns the shard that holds compact key ck.
func (c *Cache) shardOf(ck []byte) *shard {
	return &c.shards[maphash.Bytes(c.seed, ck)&(numShards-1)]
}

// prefixes interns key prefixes: ids maps a prefix to its index in names.
// The table is copy-on-write and only grows; id 0 is the empty prefix, under
// which keys of fewer than three fields and, once the table is full, keys of
// prefixes not interned are stored whole.
type prefixes struct {
	ids   map[string]uint32
	names []string
}

// full reports whether t takes no more prefixes (names[0] is the empty one).
func (t *prefixes) full(limit int) bool { return len(t.names) > limit }

// splitKey returns the length of key's client|host|tenant| prefix (0 when
// key has fewer than three separators).
func splitKey(key []byte) int {
	n := 0
	for range 3 {
		i := bytes.IndexByte(key[n:], sep)
		if i < 0 {
			return 0
		}
		n += i + 1
	}
	return n
}

// compact appends the compact form of key to dst. Without create, a prefix
// never interned reports false (nothing can be cached under it).
func (c *Cache) compact(dst, key []byte, create bool) ([]byte, bool) {
	t := c.prefixes.Load()
	// Most processes hold keys of one or two clients: comparing with the
	// first few prefixes is cheaper than finding and hashing key's prefix.
	// A key that starts with an interned prefix has that prefix as its own,
	// because separators inside fields are escaped.
	for id := 1; id < len(t.names) && id <= probePrefixes; id++ {
		if p := t.names[id]; len(key) >= len(p) && string(key[:len(p)]) == p {
			dst = binary.BigEndian.AppendUint32(dst, uint32(id))
			return append(dst, key[len(p):]...), true
		}
	}
	n := splitKey(key)
	id, ok := t.ids[string(key[:n])]
	switch {
	case ok:
	case t.full(c.prefixCap): // never interned now: stored whole
		n = 0
	case !create:
		return dst, false
	default:
		if id, ok = c.intern(string(key[:n])); !ok {
			n = 0 // the table filled up meanwhile
		}
	}
	dst = binary.BigEndian.AppendUint32(dst, id)
	return append(dst, key[n:]...), true
}

// compactString is compact for a string key, creating the prefix.
func (c *Cache) compactString(key string) string {
	ck, _ := c.compact(make([]byte, 0, prefixBytes+len(key)), []byte(key), true)
	return string(ck)
}

// fullKey rebuilds the caller's key from a compact key.
func (c *Cache) fullKey(ck string) string {
	return c.prefixes.Load().names[binary.BigEndian.Uint32([]byte(ck))] + ck[prefixBytes:]
}

// intern returns the id of prefix, adding it to the table, or reports false
// when the table is full. Its copy costs O(prefixCap) at most.
func (c *Cache) intern(prefix string) (uint32, bool) {
	c.prefixMu.Lock()
	defer c.prefixMu.Unlock()
	old := c.prefixes.Load()
	if id, ok := old.ids[prefix]; ok {
		return id, true
	}
	if old.full(c.prefixCap) {
		return 0, false
	}
	t := &prefixes{ids: maps.Clone(old.ids), names: make([]string, len(old.names), len(old.names)+1)}
	copy(t.names, old.names)
	id := uint32(len(t.names))
	t.ids[prefix] = id
	t.names = append(t.names, strings.Clone(prefix))
	c.prefixes.Store(t)
	return id, true
}
