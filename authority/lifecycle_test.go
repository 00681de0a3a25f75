package authority

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func docPath(tenant string) string { return "/" + tenant + "/v2.0/.well-known/openid-configuration" }

// The cache holds at most MaxEntries authorities: expired entries go first,
// then the oldest; a hit never touches the network.
func TestResolverCacheIsBounded(t *testing.T) {
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, entraDoc(srv.URL)) })
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{MaxEntries: 3, TTL: time.Hour})
	now := time.Unix(1_700_000_000, 0)
	r.now = func() time.Time { return now }
	resolve := func(tenant string) {
		t.Helper()
		if _, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/"+tenant)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		resolve(fmt.Sprintf("t%d", i))
		now = now.Add(time.Minute)
		if r.Len() > 3 {
			t.Fatalf("%d entries after %d tenants, limit 3", r.Len(), i+1)
		}
	}
	// t0 and t1 (the oldest) were evicted; t2..t4 are still cached.
	for _, tn := range []string{"t2", "t3", "t4"} {
		resolve(tn)
		if n := srv.count(docPath(tn)); n != 1 {
			t.Fatalf("%s fetched %d times, want 1 (cached)", tn, n)
		}
	}
	resolve("t0")
	if n := srv.count(docPath("t0")); n != 2 {
		t.Fatalf("evicted t0 fetched %d times, want 2", n)
	}
	// t0 displaced t2, the oldest left. After the others expire, a new
	// tenant sweeps them all and keeps t0.
	now = now.Add(time.Hour - time.Second)
	resolve("t5")
	if r.Len() != 2 {
		t.Fatalf("%d entries after the sweep, want 2 (t0 and t5)", r.Len())
	}
	resolve("t0")
	if n := srv.count(docPath("t0")); n != 2 {
		t.Fatalf("t0 fetched %d times, want it kept through the sweep", n)
	}
}

// Close cancels a discovery fetch in flight and waits for it; afterwards no
// fetch starts, while cached endpoints are still served.
func TestResolverClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var srv *idp
	srv = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == docPath("slow") {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, entraDoc(srv.URL))
	})
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{FetchTimeout: time.Hour})
	cached := mustParse(t, srv.URL+"/cached")
	if _, err := r.Resolve(context.Background(), cached); err != nil {
		t.Fatal(err)
	}
	slow := mustParse(t, srv.URL+"/slow")
	errc := make(chan error, 1)
	go func() { _, err := r.Resolve(context.Background(), slow); errc <- err }()
	for srv.count(docPath("slow")) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrResolverClosed) || !errors.Is(err, ErrDiscovery) {
		t.Fatalf("fetch in flight at Close: %v, want ErrResolverClosed", err)
	}
	if _, err := r.Resolve(context.Background(), mustParse(t, srv.URL+"/new")); !errors.Is(err, ErrResolverClosed) {
		t.Fatalf("Resolve after Close: %v", err)
	}
	if n := srv.count(docPath("new")); n != 0 {
		t.Fatalf("%d fetches after Close", n)
	}
	if _, err := r.Resolve(context.Background(), cached); err != nil {
		t.Fatalf("cached authority after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkResolveHit measures the cached path (a read lock and a map lookup).
func BenchmarkResolveHit(b *testing.B) {
	var srv *idp
	srv = newIDP(b, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, entraDoc(srv.URL)) })
	r := NewResolver(wireFor(srv.Client()), ResolverOptions{})
	defer r.Close()
	a, err := Parse(srv.URL+"/t1", ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Resolve(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
