package cache

import "context"

// Lister is an optional [Store] extension: a store that can enumerate the
// keys it holds (for `appcred cache list` and purge). Keys never carries
// token values.
type Lister interface {
	// Keys returns the canonical keys the store holds, in no set order.
	Keys(ctx context.Context) ([]string, error)
}

// Leaser is an optional [Store] extension that coalesces misses across every
// process sharing the store (a fleet sharing one Redis), so N replicas make
// one token request per key instead of N.
//
// On a Store miss inside its flight the cache calls Lease. With held true
// it fetches, Puts the token and calls release. With held false another
// process is fetching (or has just stored the token): the cache calls Wait,
// and uses its token; a nil token
// (the holder died or gave up: its lease ended without a value) means fetch
// as usual. An error from either call also means fetch as usual.
type Leaser interface {
	// Lease tries to become the one fetcher of key. release gives the lease
	// up early; a holder that dies loses it after a short time to live.
	Lease(ctx context.Context, key string) (release func(), held bool, err error)
	// Wait returns key's token once another process has stored it, or
	// (nil, nil) when the lease ends without one or a store-defined bound
	// passes; it returns early with ctx's error when ctx ends.
	Wait(ctx context.Context, key string) (*Token, error)
}
