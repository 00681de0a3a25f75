package signin

import "sync"

// Ring keeps the most recent records, oldest dropped first, and hands every
// new record to its subscribers. It is safe for concurrent use.
type Ring struct {
	mu     sync.Mutex
	buf    []*Record
	next   int // where the next record goes
	full   bool
	subs   map[chan *Record]struct{}
	closed bool
}

// SubscriberBuffer is how many records a subscriber may fall behind by;
// beyond it, records are skipped for that subscriber rather than slowing the
// token endpoint.
const SubscriberBuffer = 256

// NewRing returns a ring holding up to size records (at least 1).
func NewRing(size int) *Ring {
	return &Ring{buf: make([]*Record, max(size, 1)), subs: map[chan *Record]struct{}{}}
}

// Add stores r (which must not be changed afterwards) and sends it to every subscriber.
func (g *Ring) Add(r *Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf[g.next] = r
	g.next++
	if g.next == len(g.buf) {
		g.next, g.full = 0, true
	}
	for ch := range g.subs {
		select {
		case ch <- r:
		default: // a slow follower misses records rather than stalling requests
		}
	}
}

// Records returns the stored records that match app and failedOnly (see
// Record.Matches), oldest first.
func (g *Ring) Records(app string, failedOnly bool) []*Record {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.records(app, failedOnly)
}

func (g *Ring) records(app string, failedOnly bool) []*Record {
	var out []*Record
	take := func(rs []*Record) {
		for _, r := range rs {
			if r != nil && r.Matches(app, failedOnly) {
				out = append(out, r)
			}
		}
	}
	if g.full {
		take(g.buf[g.next:])
	}
	take(g.buf[:g.next])
	return out
}

// Subscribe returns a channel that receives every record added from now on,
// and a function that ends the subscription. The channel is closed when the
// subscription ends or the ring is closed.
func (g *Ring) Subscribe() (<-chan *Record, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.subscribe()
}

// Follow is Records and Subscribe at once: no record is missed or repeated
// between the stored ones and those the channel brings (which are not filtered).
func (g *Ring) Follow(app string, failedOnly bool) ([]*Record, <-chan *Record, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, cancel := g.subscribe()
	return g.records(app, failedOnly), ch, cancel
}

func (g *Ring) subscribe() (<-chan *Record, func()) {
	ch := make(chan *Record, SubscriberBuffer)
	if g.closed {
		close(ch)
		return ch, func() {}
	}
	g.subs[ch] = struct{}{}
	return ch, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.subs[ch]; ok {
			delete(g.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription; later subscriptions end at once. Records
// may still be added and read.
func (g *Ring) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for ch := range g.subs {
		delete(g.subs, ch)
		close(ch)
	}
}
