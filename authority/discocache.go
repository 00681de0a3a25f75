package authority

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// DiscoveryEntry is one discovery response as a DiscoveryCache keeps it.
type DiscoveryEntry struct {
	// URL is the whole request URL: scheme, host with port, path and query,
	// so different authorities (and local ones on other ports) never mix.
	URL string
	// Body is the response: a JSON object holding the fields the Resolver
	// reads (an OpenID configuration or an instance discovery answer).
	Body json.RawMessage
	// Fetched is when the response came from the network.
	Fetched time.Time
}

// DiscoveryCache keeps discovery responses beyond one Resolver, for example
// across processes (see DiscoveryFile). The Resolver asks it only when its
// memory cache misses, stores only the responses of a discovery that passed
// every check, and checks what it reads again as if it came from the network:
// a cache is never trusted more than the authority. Entries older than the
// Resolver's TTL are not used. Implementations must be safe for concurrent
// use; their failures are the Resolver's warnings, never its errors.
type DiscoveryCache interface {
	// Get returns the entry stored for url; ok is false when there is none.
	Get(ctx context.Context, url string) (e DiscoveryEntry, ok bool)
	// Put stores the responses of one successful discovery.
	Put(ctx context.Context, entries ...DiscoveryEntry) error
}

// errNotCached ends a discovery from the DiscoveryCache that lacks a response.
var errNotCached = errors.New("not in the discovery cache")

// getFunc fetches the JSON object at url into v: from the network or from
// the DiscoveryCache.
type getFunc func(ctx context.Context, url string, v any) error

// cacheSource answers discovery GETs from the DiscoveryCache, remembering
// the oldest fetch time it used (the result lives TTL from then).
type cacheSource struct {
	r      *Resolver
	now    time.Time
	oldest time.Time
}

func (s *cacheSource) get(ctx context.Context, url string, v any) error {
	e, ok := s.r.opts.Cache.Get(ctx, url)
	if !ok || !s.now.Before(e.Fetched.Add(s.r.opts.TTL)) || e.Fetched.After(s.now.Add(maxClockSkew)) {
		return errNotCached
	}
	if err := json.Unmarshal(e.Body, v); err != nil {
		return errNotCached
	}
	if s.oldest.IsZero() || e.Fetched.Before(s.oldest) {
		s.oldest = e.Fetched
	}
	return nil
}

// netSource answers discovery GETs from the network, keeping each response
// for the DiscoveryCache.
type netSource struct {
	r       *Resolver
	entries []DiscoveryEntry
}

func (s *netSource) get(ctx context.Context, url string, v any) error {
	if err := s.r.client.GetJSON(ctx, url, v); err != nil {
		return err
	}
	if s.r.opts.Cache != nil {
		if body, err := json.Marshal(v); err == nil {
			s.entries = append(s.entries, DiscoveryEntry{URL: url, Body: body})
		}
	}
	return nil
}

// maxClockSkew is how far in the future a cached entry's fetch time may be
// (clocks of processes sharing a file may differ a little); later entries are
// not used.
const maxClockSkew = time.Minute

// discoverCached resolves a from the DiscoveryCache when it holds a fresh
// answer that passes every check, else from the network, storing the
// network's answer in the DiscoveryCache. It returns when the result expires.
func (r *Resolver) discoverCached(ctx context.Context, a Info) (Endpoints, time.Time, error) {
	now := r.now()
	if r.opts.Cache != nil && !r.takeRefetch(a) {
		src := &cacheSource{r: r, now: now}
		ep, err := r.discover(ctx, a, src.get)
		if err == nil {
			return ep, src.oldest.Add(r.opts.TTL), nil
		}
		if !errors.Is(err, errNotCached) && r.opts.Logger != nil {
			r.opts.Logger.WarnContext(ctx, "appcred: a cached discovery document was refused; fetching it again",
				"authority", a.URL(), "err", err)
		}
	}
	src := &netSource{r: r}
	ep, err := r.discover(ctx, a, src.get)
	if err != nil {
		return Endpoints{}, time.Time{}, err
	}
	if len(src.entries) > 0 {
		for i := range src.entries {
			src.entries[i].Fetched = now
		}
		if err := r.opts.Cache.Put(ctx, src.entries...); err != nil && r.opts.Logger != nil {
			r.opts.Logger.WarnContext(ctx, "appcred: cannot save discovery results", "err", err)
		}
	}
	return ep, now.Add(r.opts.TTL), nil
}

// takeRefetch reports whether Forget asked for a's next discovery to skip
// the DiscoveryCache, clearing the request.
func (r *Resolver) takeRefetch(a Info) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.refetch[a]
	delete(r.refetch, a)
	return ok
}
