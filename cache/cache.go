// Package cache is appcred's in-memory token cache: O(1) keyed hits that never
// wait on I/O, one fetch per key however many callers miss at once, refresh
// ahead of expiry in the background, and an optional per-key [Store] behind it.
//
// The caller builds a canonical key with [AppendKey] (or, per client, with a
// [Prefix] made once), tries [Cache.Lookup] (the hit path: no allocation, no
// lock) and on a miss calls [Cache.Fetch] with a [FetchFunc] that asks the
// authority:
//
//	var buf [256]byte
//	key := cache.AppendKey(buf[:0], parts)
//	if tok, ok := c.Lookup(key); ok {
//		return tok, nil
//	}
//	return c.Fetch(ctx, string(key), fetch)
//
// A token is usable while now < ExpiresOn − ExpirySkew (30 s by default);
// for a token fetched with less than twice ExpirySkew to live, the skew is
// half its lifetime instead, so short-lived tokens are cached too.
// Its RefreshOn ([ComputeRefreshOn] when the FetchFunc leaves it zero) is
// moved earlier when needed to fall at least a minute (or half the remaining
// usable life) before that moment, so refresh ahead can happen.
// The first Lookup at or after a token's RefreshOn starts one background
// refresh for that key (using the FetchFunc that produced the token) and still
// returns the cached token; a failed refresh is retried with jittered
// exponential backoff by a later Lookup, while the old token is served until it
// is no longer usable. Nothing runs for tokens nobody asks for: expired entries
// are evicted when looked up, and each shard drops its expired entries at
// most once a minute when it is written to. The table holds at most
// Options.MaxEntries tokens (100,000 by default): an insert past that drops
// the expired entries, then those expiring soonest, down to nine tenths of it.
//
// Costs: a hit is one or two hash-map reads (the key's client|host|tenant
// prefix unless it is one of the first four, then the key) and an atomic
// load of a coarse clock; a write (miss, refresh, eviction) copies
// one of 1,024 shard maps, so it grows with len/1024 (about 4 µs at 100k
// tokens). The first 1,024 distinct prefixes are interned for the life of
// the Cache (an entry then holds a 4-byte id instead of its ~100-byte
// prefix); keys with later prefixes are held whole, so a client that accepts
// any tenant cannot grow the table without bound. Unless Options.Now is set, a
// Cache runs one goroutine (a coarse clock ticking twice a second); Close
// stops it.
package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/internal/flight"
)

// ErrClosed is returned by Fetch after Close.
var ErrClosed = errors.New("cache: closed")

// Defaults for Options fields left zero.
const (
	DefaultExpirySkew   = 30 * time.Second
	DefaultFetchTimeout = 30 * time.Second
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = time.Minute
	DefaultMaxEntries   = 100_000
)

// Options configure a Cache. The zero value is ready to use.
type Options struct {
	// Now returns the current time; time.Now when nil (tests inject a clock).
	Now func() time.Time
	// Logger receives store errors and refresh failures (never token text).
	// Nothing is logged when nil.
	Logger *slog.Logger
	// Store, when set, is consulted on a miss (inside the flight) before the
	// FetchFunc, and receives every fetched or refreshed token.
	Store Store
	// ExpirySkew: a token is served while now < ExpiresOn-ExpirySkew.
	// Zero means DefaultExpirySkew; negative means no skew. The skew of a
	// token fetched with less than 2·ExpirySkew to live is half its lifetime
	// instead, so short-lived tokens are cached too.
	ExpirySkew time.Duration
	// FetchTimeout bounds one shared fetch or background refresh.
	// Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RetryBase and RetryMax shape the backoff between failed background
	// refreshes: RetryBase·2ⁿ capped at RetryMax, jittered down by up to half.
	// Zero means DefaultRetryBase / DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// MaxEntries bounds how many tokens are held in memory: past it, an
	// insert drops the expired entries, then those expiring soonest, down to
	// nine tenths of it (a Store keeps its copies). Zero means
	// DefaultMaxEntries (about 25 MiB of tokens); negative means no bound.
	MaxEntries int
}

// Cache is a concurrent token cache. Create one with New and Close it when done.
type Cache struct {
	shards    [numShards]shard
	seed      maphash.Seed
	prefixes  atomic.Pointer[prefixes]
	prefixMu  sync.Mutex   // serialises interning
	prefixCap int          // how many prefixes to intern: maxPrefixes (tests lower it)
	clock     *coarseClock // nil when Options.Now is set
	now       func() time.Time
	log       *slog.Logger
	store     Store
	skew      time.Duration
	opt       Options

	flights *flight.Group[*Token] // shared fetches and background refreshes
	stats   counters
	stripes stripes      // hit and miss counters, striped
	size    atomic.Int64 // entries held, across shards
	trimMu  sync.Mutex   // one trim at a time
}

// entry is one cached token. tok never changes after the entry is published;
// a refresh publishes a new entry.
type entry struct {
	tok      Token
	until    int64        // unix ns: served while now < until (ExpiresOn − the token's skew)
	fetch    FetchFunc    // produced tok; used to refresh it (may be nil)
	retryAt  atomic.Int64 // unix ns before which no refresh may start (backoff)
	state    atomic.Uint32
	failures uint32 // consecutive refresh failures; owned by the refresher
}

// entry.state bits.
const (
	refreshing uint32 = 1 << iota // a background refresh is running, or has replaced the entry
	removed                       // deleted by Remove/Clear: never re-insert
)

// New returns an empty cache configured by o. Unless o.Now is set, it starts
// one goroutine (a coarse clock for the hit path) that Close stops.
func New(o Options) *Cache {
	c := &Cache{seed: maphash.MakeSeed(), now: o.Now, log: o.Logger, store: o.Store, opt: o, prefixCap: maxPrefixes}
	if c.now == nil {
		c.now = time.Now
		c.clock = startClock()
		runtime.AddCleanup(c, (*coarseClock).halt, c.clock) // if never closed
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch c.skew = o.ExpirySkew; {
	case c.skew == 0:
		c.skew = DefaultExpirySkew
	case c.skew < 0:
		c.skew = 0
	}
	if c.opt.FetchTimeout <= 0 {
		c.opt.FetchTimeout = DefaultFetchTimeout
	}
	if c.opt.RetryBase <= 0 {
		c.opt.RetryBase = DefaultRetryBase
	}
	if c.opt.RetryMax <= 0 {
		c.opt.RetryMax = DefaultRetryMax
	}
	if c.opt.MaxEntries == 0 {
		c.opt.MaxEntries = DefaultMaxEntries
	}
	c.prefixes.Store(&prefixes{ids: map[string]uint32{"": 0}, names: []string{""}})
	c.flights = flight.New[*Token](c.opt.FetchTimeout, ErrClosed)
	return c
}

// usable reports whether t, read from a Store, may still be handed out at
// now (the full ExpirySkew applies).
func (c *Cache) usable(t *Token, now time.Time) bool {
	return now.Before(t.ExpiresOn.Add(-c.skew))
}

// skewFraction: the skew of a token fetched with a lifetime under
// skewFraction·ExpirySkew is 1/skewFraction of that lifetime, so a
// short-lived token (expires_in of 30 s or less) is still cached for half its
// life instead of being fetched on every call.
const skewFraction = 2

// skewFor returns the skew of t seen at now: ExpirySkew, or a fraction of
// t's remaining life when fresh (just issued) and short-lived.
func (c *Cache) skewFor(t *Token, now time.Time, fresh bool) time.Duration {
	if life := t.ExpiresOn.Sub(now); fresh && c.skew > life/skewFraction {
		return max(life/skewFraction, 0)
	}
	return c.skew
}

// untilFor returns the unix ns until which t (seen at now) is served.
func (c *Cache) untilFor(t *Token, now time.Time, fresh bool) int64 {
	return t.ExpiresOn.Add(-c.skewFor(t, now, fresh)).UnixNano()
}

// Lookup returns the cached token for key, or false on a miss (absent or no
// longer usable; an expired entry is evicted). It does not allocate (for
// keys up to about 250 bytes after the tenant), takes no lock and writes no
// shared memory but a hit or miss counter. At or past the token's RefreshOn
// it starts one background refresh for the key and still returns the cached
// token.
func (c *Cache) Lookup(key []byte) (*Token, bool) {
	var buf [stackKey]byte
	var e *entry
	ck, ok := c.compact(buf[:0], key, false)
	if ok {
		e = c.shardOf(ck).load()[string(ck)]
	}
	if e == nil {
		c.stripe().misses.Add(1)
		return nil, false
	}
	if !c.calm(e) {
		now := c.now()
		if now.UnixNano() >= e.until {
			c.evict(ck, e, now)
			c.stripe().misses.Add(1)
			return nil, false
		}
		if !now.Before(e.tok.RefreshOn) {
			c.refreshAhead(key, e, now)
		}
	}
	c.stripe().hits.Add(1)
	return &e.tok, true
}

// peek is Lookup of a compact key without statistics or refresh, for the
// miss path.
func (c *Cache) peek(ck string) (*Token, bool) {
	e := c.shardOf([]byte(ck)).load()[ck]
	if e == nil || c.now().UnixNano() >= e.until {
		return nil, false
	}
	return &e.tok, true
}

// evict deletes the expired entry e under compact key ck unless it has been
// replaced.
func (c *Cache) evict(ck []byte, e *entry, now time.Time) {
	s := c.shardOf(ck)
	s.mu.Lock()
	if k := string(ck); s.load()[k] == e {
		c.write(s, now, func(m map[string]*entry) { delete(m, k) })
	}
	s.mu.Unlock()
}

// insert publishes t under compact key ck (replacing any entry), served
// until the unix ns until, and returns the new entry.
func (c *Cache) insert(ck string, t Token, until int64, fetch FetchFunc) *entry {
	e := &entry{tok: t, until: until, fetch: fetch}
	if e.tok.TokenType == "Bearer" {
		e.tok.TokenType = "Bearer" // share the constant instead of a decoded copy
	}
	s := c.shardOf([]byte(ck))
	now := c.now()
	s.mu.Lock()
	c.write(s, now, func(m map[string]*entry) { m[ck] = e })
	s.mu.Unlock()
	if c.opt.MaxEntries > 0 && c.size.Load() > int64(c.opt.MaxEntries) {
		c.trim(now, e)
	}
	return e
}

// replace publishes t under compact key ck in place of old, unless old was
// removed or another entry has been published meanwhile. It reports whether
// it did.
func (c *Cache) replace(ck string, old *entry, t Token, until int64) (*entry, bool) {
	e := &entry{tok: t, until: until, fetch: old.fetch}
	s := c.shardOf([]byte(ck))
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.load()[ck]; (ok && cur != old) || old.state.Load()&removed != 0 {
		return nil, false
	}
	c.write(s, c.now(), func(m map[string]*entry) { m[ck] = e })
	return e, true
}

// Put validates t (filling a zero RefreshOn), publishes a copy under key with
// fetch as its refresher (nil: never refreshed), writes it to the Store, and
// returns the published token. t is taken as just issued (see [Options]
// ExpirySkew for short-lived tokens); a token that is already unusable is
// not stored.
func (c *Cache) Put(ctx context.Context, key string, t *Token, fetch FetchFunc) (*Token, error) {
	v, err := c.prepare(t, true)
	if err != nil {
		return nil, err
	}
	return c.publish(ctx, key, c.compactString(key), v, fetch), nil
}

// publish inserts v, just issued, under key (compact form ck) and writes it
// to the Store, unless v is no longer usable (then it only returns a copy).
func (c *Cache) publish(ctx context.Context, key, ck string, v Token, fetch FetchFunc) *Token {
	now := c.now()
	until := c.untilFor(&v, now, true)
	if now.UnixNano() >= until {
		return &v
	}
	e := c.insert(ck, v, until, fetch)
	c.persist(ctx, key, &e.tok)
	return &e.tok
}

// RemovePrefix removes every entry whose key starts with prefix (see
// [ClientPrefix] and [Prefix.String]) from memory and from the Store, and returns how many.
func (c *Cache) RemovePrefix(ctx context.Context, prefix string) int {
	return c.RemoveFunc(ctx, func(key string) bool { return strings.HasPrefix(key, prefix) })
}

// Clear removes every entry from memory and from the Store.
func (c *Cache) Clear(ctx context.Context) int {
	return c.RemoveFunc(ctx, func(string) bool { return true })
}

// RemoveFunc removes the entries whose key satisfies match from memory and
// deletes those keys from the Store (errors are logged), returning how many it
// removed. Refreshes running for them are discarded. Keys that are only in the
// Store are not visited; a Fetch still in flight may add its key back.
func (c *Cache) RemoveFunc(ctx context.Context, match func(key string) bool) int {
	var keys []string
	now := c.now()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for ck, e := range s.load() {
			if k := c.fullKey(ck); match(k) {
				e.state.Or(removed)
				keys = append(keys, k)
			}
		}
		c.write(s, now, func(m map[string]*entry) {
			for ck, e := range m {
				if e.state.Load()&removed != 0 {
					delete(m, ck)
				}
			}
		})
		s.mu.Unlock()
	}
	if c.store != nil {
		for _, k := range keys {
			if err := c.store.Delete(ctx, k); err != nil {
				c.log.WarnContext(ctx, "cache: store delete failed", "key", k, "err", err)
			}
		}
	}
	return len(keys)
}

// Len returns the number of entries held, including expired ones not yet
// evicted.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].load())
	}
	return n
}

// Close stops background refreshes and shared fetches in flight (their
// contexts are cancelled) and waits for them to return. Afterwards Lookup
// still serves cached tokens but starts no refresh, and Fetch returns
// ErrClosed. Close is idempotent.
func (c *Cache) Close() error {
	if c.clock != nil {
		c.clock.halt()
	}
	c.flights.Close()
	return nil
}

// Stats are cumulative counters of a Cache.
type Stats struct {
	Hits            uint64 // Lookups that returned a token
	Misses          uint64 // Lookups that did not
	Fetches         uint64 // FetchFunc calls for misses (not refreshes)
	StoreHits       uint64 // misses answered by the Store
	Refreshes       uint64 // background refreshes started
	RefreshesOK     uint64 // background refreshes that replaced the token
	RefreshFailures uint64 // background refreshes that failed
	Evictions       uint64 // live entries dropped to stay within MaxEntries
}

type counters struct {
	fetches, storeHits, refreshes, refreshesOK, refreshFailures, evictions atomic.Uint64
}

// numStripes is how many hit/miss counter sets the cache keeps: one shared
// counter costs parallel hits about 65% (measured with BenchmarkParallelHit,
// 85 → 141 ns on 2 cores), as every core writes the same cache line.
const numStripes = 8

// stripe is one set of hit/miss counters, alone on its cache line.
type stripe struct {
	hits, misses atomic.Uint64
	_            [48]byte
}

// stripe picks a counter stripe at random (cheap: a per-thread generator).
func (c *Cache) stripe() *stripe { return &c.stripes[rand.Uint32()&(numStripes-1)] }

type stripes [numStripes]stripe

func (s *stripes) hits() (n uint64) {
	for i := range s {
		n += s[i].hits.Load()
	}
	return n
}

func (s *stripes) misses() (n uint64) {
	for i := range s {
		n += s[i].misses.Load()
	}
	return n
}

// Stats returns the counters so far.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:            c.stripes.hits(),
		Misses:          c.stripes.misses(),
		Fetches:         c.stats.fetches.Load(),
		StoreHits:       c.stats.storeHits.Load(),
		Refreshes:       c.stats.refreshes.Load(),
		RefreshesOK:     c.stats.refreshesOK.Load(),
		RefreshFailures: c.stats.refreshFailures.Load(),
		Evictions:       c.stats.evictions.Load(),
	}
}
