package cache

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Fetch returns the token for key, calling fetch when neither memory nor the
// Store has a usable one. Concurrent calls for one key share a single flight
// (one fetch); different keys run in parallel, and Lookups never wait for it.
//
// The flight runs on a context detached from the caller's: it keeps ctx's
// values, is bounded by Options.FetchTimeout and is cancelled by Close. When
// ctx ends first, this caller returns ctx's error at once while the flight
// goes on for the others and still fills the cache.
func (c *Cache) Fetch(ctx context.Context, key string, fetch FetchFunc) (*Token, error) {
	if fetch == nil {
		return nil, errors.New("cache: Fetch needs a FetchFunc")
	}
	return c.flights.Do(ctx, key, func(ctx context.Context) (*Token, error) { return c.fill(ctx, key, fetch) })
}

// fill is the body of a flight: memory (filled by a flight that just ended),
// then the Store, then fetch.
func (c *Cache) fill(ctx context.Context, key string, fetch FetchFunc) (*Token, error) {
	ck := c.compactString(key)
	if t, ok := c.peek(ck); ok {
		return t, nil
	}
	if c.store != nil {
		t, err := c.store.Get(ctx, key)
		switch {
		case err != nil:
			c.log.WarnContext(ctx, "cache: store get failed", "key", key, "err", err)
		case t != nil && c.usable(t, c.now()):
			if v, err := c.prepare(t, false); err == nil {
				c.stats.storeHits.Add(1)
				return &c.insert(ck, v, c.untilFor(&v, c.now(), false), fetch).tok, nil
			}
		}
		if l, ok := c.store.(Leaser); ok {
			release, t := c.lease(ctx, l, key)
			if t != nil {
				if v, err := c.prepare(t, false); err == nil {
					c.stats.storeHits.Add(1)
					return &c.insert(ck, v, c.untilFor(&v, c.now(), false), fetch).tok, nil
				}
			}
			defer release() // after fetchAndPut has stored the token
		}
	}
	return c.fetchAndPut(ctx, key, ck, fetch)
}

// lease coalesces a miss across the processes sharing a Leaser store: it
// returns another process's fresh token for key, or the release of this
// process's lease (a no-op when none is held: fetch as usual).
func (c *Cache) lease(ctx context.Context, l Leaser, key string) (func(), *Token) {
	none := func() {}
	release, held, err := l.Lease(ctx, key)
	switch {
	case err != nil:
		c.log.WarnContext(ctx, "cache: store lease failed", "key", key, "err", err)
		return none, nil
	case held:
		return release, nil
	}
	t, err := l.Wait(ctx, key)
	if err != nil {
		c.log.WarnContext(ctx, "cache: store wait failed", "key", key, "err", err)
		return none, nil
	}
	if t != nil && c.usable(t, c.now()) {
		return none, t
	}
	return none, nil
}

func (c *Cache) fetchAndPut(ctx context.Context, key, ck string, fetch FetchFunc) (*Token, error) {
	c.stats.fetches.Add(1)
	t, err := fetch(ctx)
	if err != nil {
		return nil, err
	}
	v, err := c.prepare(t, true)
	if err != nil {
		return nil, err
	}
	return c.publish(ctx, key, ck, v, fetch), nil
}

// maxExpiry bounds ExpiresOn so that it fits in int64 nanoseconds.
var maxExpiry = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// prepare checks a token from a FetchFunc (fresh) or Store and returns a
// copy with RefreshOn filled in when it was zero.
func (c *Cache) prepare(t *Token, fresh bool) (Token, error) {
	switch {
	case t == nil:
		return Token{}, errors.New("cache: fetch returned no token")
	case t.AccessToken == "":
		return Token{}, errors.New("cache: token has an empty access token")
	case t.ExpiresOn.IsZero():
		return Token{}, errors.New("cache: token has no expiry")
	case t.ExpiresOn.After(maxExpiry):
		return Token{}, errors.New("cache: token expiry is implausibly far away")
	}
	v := *t
	now := c.now()
	if v.RefreshOn.IsZero() {
		v.RefreshOn = ComputeRefreshOn(now, v.ExpiresOn, 0)
	}
	if latest := c.latestRefresh(now, v.ExpiresOn, c.skewFor(&v, now, fresh)); v.RefreshOn.After(latest) {
		v.RefreshOn = latest
	}
	return v, nil
}

// refreshLead is the least time the cache leaves between a token's RefreshOn
// and the moment it stops serving it, for lookups to start the refresh and for
// the refresh to finish.
const refreshLead = time.Minute

// latestRefresh is the latest RefreshOn that leaves room for refresh ahead
// of a token seen at now that expires at expiresOn: refreshLead before it
// stops being served (expiresOn − ExpirySkew), or half way there when the
// remaining usable life is shorter than 2·refreshLead. It is how the cache
// keeps a RefreshOn at or near expiry (a refresh_in close to the lifetime, a
// stored token) from skipping refresh ahead; ComputeRefreshOn cannot, as it
// does not know ExpirySkew.
func (c *Cache) latestRefresh(now, expiresOn time.Time, skew time.Duration) time.Time {
	end := expiresOn.Add(-skew)
	if usable := end.Sub(now); usable < 2*refreshLead {
		return now.Add(usable / 2)
	}
	return end.Add(-refreshLead)
}

// persist writes t to the Store, logging failure.
func (c *Cache) persist(ctx context.Context, key string, t *Token) {
	if c.store == nil {
		return
	}
	if err := c.store.Put(ctx, key, t); err != nil {
		c.log.WarnContext(ctx, "cache: store put failed", "key", key, "err", err)
	}
}

// refreshAhead starts a background refresh of e unless one is running, the
// entry cannot be refreshed, or a failed refresh is still backing off.
func (c *Cache) refreshAhead(key []byte, e *entry, now time.Time) {
	if e.fetch == nil || e.state.Load() != 0 || now.UnixNano() < e.retryAt.Load() {
		return
	}
	if !e.state.CompareAndSwap(0, refreshing) {
		return
	}
	k := string(key)
	c.stats.refreshes.Add(1)
	if !c.flights.Go(func(ctx context.Context) { c.refresh(ctx, k, e) }) {
		c.stats.refreshes.Add(^uint64(0)) // closed: nothing started
		e.state.And(^refreshing)
	}
}

// refresh fetches a replacement for e: from the Store when another replica
// has already refreshed it there, else with e's FetchFunc. On failure it
// schedules the next attempt (taken by a later Lookup) and e keeps being
// served.
func (c *Cache) refresh(ctx context.Context, key string, e *entry) {
	v, shared := c.fresherInStore(ctx, key)
	if !shared {
		t, err := e.fetch(ctx)
		if err == nil {
			v, err = c.prepare(t, true)
		}
		if err != nil {
			e.failures++
			n, wait := e.failures, c.backoff(e.failures)
			e.retryAt.Store(c.now().Add(wait).UnixNano())
			c.stats.refreshFailures.Add(1)
			e.state.And(^refreshing)
			c.log.WarnContext(ctx, "cache: background refresh failed",
				"key", key, "failures", n, "retry_in", wait, "err", err)
			return
		}
	}
	c.stats.refreshesOK.Add(1)
	// e keeps its refreshing bit: it has been replaced (or removed, or
	// superseded), and a Lookup that loaded it just before must not start a
	// second refresh whose result replace would throw away.
	if ne, ok := c.replace(c.compactString(key), e, v, c.untilFor(&v, c.now(), !shared)); ok && !shared {
		c.persist(ctx, key, &ne.tok)
	}
}

// fresherInStore returns the Store's token for key when it is usable and
// not yet due for refresh itself.
func (c *Cache) fresherInStore(ctx context.Context, key string) (Token, bool) {
	if c.store == nil {
		return Token{}, false
	}
	t, err := c.store.Get(ctx, key)
	if err != nil {
		c.log.WarnContext(ctx, "cache: store get failed", "key", key, "err", err)
		return Token{}, false
	}
	if t == nil {
		return Token{}, false
	}
	v, err := c.prepare(t, false)
	now := c.now()
	return v, err == nil && c.usable(&v, now) && now.Before(v.RefreshOn)
}

// backoff returns the wait after n consecutive failures: RetryBase·2ⁿ⁻¹
// capped at RetryMax, minus up to half of it at random.
func (c *Cache) backoff(n uint32) time.Duration {
	d := c.opt.RetryMax
	if n <= 30 {
		if b := c.opt.RetryBase << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	return d - rand.N(d/2+1)
}
