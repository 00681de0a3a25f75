package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errClosed = errors.New("test: closed")

type ctxKey struct{}

// joinedCtx reports (once) when Do first asks for its Done channel, which Do
// does only after joining the key's flight.
type joinedCtx struct {
	context.Context
	joined *sync.WaitGroup
	once   sync.Once
}

func (c *joinedCtx) Done() <-chan struct{} {
	c.once.Do(c.joined.Done)
	return c.Context.Done()
}

// recv returns what ch delivers (the zero value once ch is closed), or fails
// t after a generous bound that only broken code reaches.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestDoCoalescesCallers(t *testing.T) {
	g := New[int](time.Minute, errClosed)
	defer g.Close()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	fn := func(ctx context.Context) (int, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return 42, nil
	}
	const callers = 50
	var done, joined sync.WaitGroup
	results := make([]int, callers)
	errs := make([]error, callers)
	done.Add(callers)
	joined.Add(callers - 1)
	go func() { // the first caller starts the flight
		defer done.Done()
		results[0], errs[0] = g.Do(context.Background(), "k", fn)
	}()
	recv(t, started, "the flight to start")
	for i := 1; i < callers; i++ { // the others join it while it is held open
		go func() {
			defer done.Done()
			ctx := &joinedCtx{Context: context.Background(), joined: &joined}
			results[i], errs[i] = g.Do(ctx, "k", fn)
		}()
	}
	joined.Wait() // every caller has joined the flight, which is held open
	close(release)
	done.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn ran %d times for %d callers of one key, want 1", n, callers)
	}
	for i := range callers {
		if results[i] != 42 || errs[i] != nil {
			t.Fatalf("caller %d got (%d, %v), want (42, nil)", i, results[i], errs[i])
		}
	}
	// A later call of the same key runs again: results are not cached.
	if v, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatalf("Do after the flight = (%d, %v), want (7, nil)", v, err)
	}
}

func TestDoKeysRunInParallel(t *testing.T) {
	g := New[string](time.Minute, errClosed)
	defer g.Close()
	aStarted, release := make(chan struct{}), make(chan struct{})
	go g.Do(context.Background(), "a", func(context.Context) (string, error) {
		close(aStarted)
		<-release
		return "a", nil
	})
	defer close(release)
	recv(t, aStarted, "key a to start")
	got := make(chan string, 1)
	go func() {
		v, _ := g.Do(context.Background(), "b", func(context.Context) (string, error) { return "b", nil })
		got <- v
	}()
	if v := recv(t, got, "Do of key b while key a is in flight"); v != "b" {
		t.Fatalf("Do(b) = %q", v)
	}
}

func TestCallerCancelReturnsAtOnceFlightGoesOn(t *testing.T) {
	g := New[string](time.Minute, errClosed)
	defer g.Close()
	started, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // before Close, should the test fail early
	var flightCtx context.Context
	fn := func(ctx context.Context) (string, error) {
		flightCtx = ctx
		close(started)
		<-release
		return "tok", ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	first := make(chan error, 1)
	go func() {
		_, err := g.Do(ctx, "k", fn)
		first <- err
	}()
	recv(t, started, "the flight to start")
	if got := flightCtx.Value(ctxKey{}); got != "v" {
		t.Fatalf("flight context lost the caller's value: %v", got)
	}
	other := make(chan string, 1)
	var joined sync.WaitGroup
	joined.Add(1)
	go func() {
		ctx := &joinedCtx{Context: context.Background(), joined: &joined}
		v, err := g.Do(ctx, "k", func(context.Context) (string, error) { return "second call", nil })
		if err != nil {
			v = err.Error()
		}
		other <- v
	}()
	joined.Wait() // the other caller waits on the same flight
	cancel()
	if err := recv(t, first, "the cancelled caller to return while the flight is held open"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	if err := flightCtx.Err(); err != nil {
		t.Fatalf("the caller's cancellation reached the flight: %v", err)
	}
	releaseOnce()
	if v := recv(t, other, "the other caller's result"); v != "tok" {
		t.Fatalf("other caller got %q, want the flight's result", v)
	}
}

func TestCloseCancelsFlightsAndRefusesNewWork(t *testing.T) {
	g := New[int](time.Minute, errClosed)
	doStarted, goStarted := make(chan struct{}), make(chan struct{})
	doErr, goErr := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background(), "k", func(ctx context.Context) (int, error) {
			close(doStarted)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		doErr <- err
	}()
	if !g.Go(func(ctx context.Context) {
		close(goStarted)
		<-ctx.Done()
		goErr <- ctx.Err()
	}) {
		t.Fatal("Go before Close reported false")
	}
	recv(t, doStarted, "Do to start")
	recv(t, goStarted, "Go to start")
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	recv(t, closed, "Close to cancel the work in flight and return")
	select {
	case err := <-goErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("background run ended with %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the background run ended")
	}
	err := <-doErr
	if !errors.Is(err, errClosed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do cancelled by Close returned %v, want the closed error wrapping context.Canceled", err)
	}
	ran := false
	if _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { ran = true; return 1, nil }); !errors.Is(err, errClosed) {
		t.Fatalf("Do after Close returned %v, want the closed error", err)
	}
	if g.Go(func(context.Context) { ran = true }) {
		t.Fatal("Go after Close reported true")
	}
	if ran {
		t.Fatal("work ran after Close")
	}
	g.Close() // idempotent
}

func TestTimeoutBoundsCalls(t *testing.T) {
	const timeout = 50 * time.Millisecond
	g := New[int](timeout, errClosed)
	defer g.Close()
	begin := time.Now()
	_, err := g.Do(context.Background(), "k", func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errClosed) {
		t.Fatalf("Do past its timeout returned %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(begin); took < timeout {
		t.Fatalf("Do returned after %v, before its %v timeout", took, timeout)
	}
	done := make(chan error, 1)
	g.Go(func(ctx context.Context) {
		<-ctx.Done()
		done <- ctx.Err()
	})
	if err := recv(t, done, "Go's context to reach its timeout"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Go's context ended with %v, want context.DeadlineExceeded", err)
	}
}

func TestDoPassesErrors(t *testing.T) {
	g := New[int](time.Minute, errClosed)
	defer g.Close()
	boom := errors.New("boom")
	if _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 0, boom }); err != boom {
		t.Fatalf("Do = %v, want fn's error unchanged", err)
	}
}
