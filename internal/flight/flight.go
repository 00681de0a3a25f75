// Package flight runs one shared call per key, and background work, on
// contexts detached from the callers: a call keeps its first caller's values
// but not its cancellation, is bounded by a timeout, and is cancelled by
// Close, which waits for everything in flight. The token cache and the
// discovery resolver both use it.
package flight

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Group coalesces calls per key and tracks background work. The zero value
// is not usable; call New.
type Group[T any] struct {
	timeout   time.Duration
	closedErr error

	root   context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
	sf     singleflight.Group
}

// New returns a Group whose calls are bounded by timeout and which answers
// closedErr once closed.
func New[T any](timeout time.Duration, closedErr error) *Group[T] {
	g := &Group[T]{timeout: timeout, closedErr: closedErr}
	g.root, g.cancel = context.WithCancel(context.Background())
	return g
}

// Do returns the result of fn for key. Concurrent calls for one key share
// one run of fn, on a context that keeps ctx's values but not its
// cancellation, bounded by the Group's timeout and cancelled by Close. When
// ctx ends first, this caller returns ctx's error at once while fn goes on
// for the others. After Close, or when Close cancelled fn, the error wraps
// the Group's closed error.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	ch := g.sf.DoChan(key, func() (any, error) {
		var zero T
		if !g.begin() {
			return zero, g.closedErr
		}
		defer g.wg.Done()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		defer cancel()
		defer context.AfterFunc(g.root, cancel)()
		v, err := fn(fctx)
		if err != nil && g.root.Err() != nil {
			return zero, fmt.Errorf("%w: %w", g.closedErr, err)
		}
		return v, err
	})
	select {
	case r := <-ch:
		v, _ := r.Val.(T)
		return v, r.Err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Go runs fn in a new goroutine on a context bounded by the Group's timeout
// and cancelled by Close. It reports false, and does not run fn, after Close.
func (g *Group[T]) Go(fn func(context.Context)) bool {
	if !g.begin() {
		return false
	}
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(g.root, g.timeout)
		defer cancel()
		fn(ctx)
	}()
	return true
}

// Close cancels every call and background run in flight and waits for them
// to return. Later Do calls return the closed error; later Go calls run
// nothing. Close is idempotent.
func (g *Group[T]) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// begin registers one unit of work, or reports false after Close.
func (g *Group[T]) begin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}
