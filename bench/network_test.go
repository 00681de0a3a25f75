package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// warmConns is how many keep-alive connections the network benchmarks open
// before measuring (the authority's HTTP client keeps 64 idle ones).
const warmConns = 64

// concurrently calls get once per scope in scopes from its own goroutine,
// all released at once, and waits for them; the first error fails b.
func concurrently(b *testing.B, c *client, scopes [][]string) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(scopes))
	for _, s := range scopes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.get(context.Background(), s); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkHerd is 100 callers asking at once for one scope no one has
// cached yet, against the real authority; requests/op is how many token
// requests the library sent for them (1 is ideal), and callers the herd's
// size (for bench/chart's picture).
func BenchmarkHerd(b *testing.B) {
	const callers = 100
	e := getEnv(b)
	for _, lib := range libraries {
		b.Run(lib.name, func(b *testing.B) {
			ct := &counter{}
			hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper { ct.base = rt; return ct })
			defer hc.CloseIdleConnections()
			e.warmConns(b, hc, warmConns)
			cy := newScopeCycler(b, lib, e, hc)
			scopes := make([][]string, callers)
			var requests int64
			for b.Loop() {
				c, s := cy.take(1)
				for i := range scopes {
					scopes[i] = s
				}
				n := ct.tokens.Load()
				concurrently(b, c, scopes)
				requests += ct.tokens.Load() - n
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(callers, "callers")
		})
	}
}

// BenchmarkDistinctScopes is 50 callers asking at once for 50 different
// scopes no one has cached yet, while the authority takes 20 ms for each token
// request; ns/op is the wall time until all have their token. The floor is 50
// bare requests at once: the delay plus the authority's own work for 50 tokens
// (one RSA signature each), which shares the benchmark machine's cores.
func BenchmarkDistinctScopes(b *testing.B) {
	const scopes, delay = 50, 20 * time.Millisecond
	e := getEnv(b)
	var floor float64
	for _, lib := range slices.Concat([]library{floorLibrary}, libraries) {
		b.Run(lib.name, func(b *testing.B) {
			ct := &counter{}
			hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper {
				ct.base = rt
				return slow{base: ct, delay: delay}
			})
			defer hc.CloseIdleConnections()
			e.warmConns(b, hc, warmConns)
			cy := newScopeCycler(b, lib, e, hc)
			var requests int64
			for b.Loop() {
				c, s := cy.take(scopes)
				each := make([][]string, len(s))
				for i := range s {
					each[i] = s[i : i+1]
				}
				n := ct.tokens.Load()
				concurrently(b, c, each)
				requests += ct.tokens.Load() - n
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			floorRatio(b, lib.name, &floor)
		})
	}
}

// BenchmarkHitDuringMiss is a cache hit made while the same client waits on
// the authority for another scope (each token request takes 20 ms). Each op
// starts a miss, waits until its request is on the wire, makes one hit and
// then waits for the miss, so ns/op is about the 20 ms; hit-ns is how long
// the hit itself took (about a normal hit unless it waited for the miss).
func BenchmarkHitDuringMiss(b *testing.B) {
	const delay = 20 * time.Millisecond
	e := getEnv(b)
	for _, lib := range libraries {
		b.Run(lib.name, func(b *testing.B) {
			started := make(chan struct{}, 1)
			hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper {
				return slow{base: rt, delay: delay, started: started}
			})
			defer hc.CloseIdleConnections()
			e.warmConns(b, hc, 2)
			cy := newScopeCycler(b, lib, e, hc) // warms with the seed scope: the hit
			ctx, hit := context.Background(), []string{e.seed.Scope}
			var hitTime time.Duration
			for b.Loop() {
				c, miss := cy.take(1)
				select { // forget a warm-up's signal
				case <-started:
				default:
				}
				missErr := make(chan error, 1)
				go func() {
					_, err := c.get(ctx, miss)
					missErr <- err
				}()
				<-started
				t0 := time.Now()
				tok, err := c.get(ctx, hit)
				hitTime += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				sink = tok
				if err := <-missErr; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(hitTime.Nanoseconds())/float64(b.N), "hit-ns")
		})
	}
}

// floorClient is the floor of BenchmarkMiss: a bare net/http form POST to
// the token endpoint and a JSON decode of the answer, with no cache, retries
// or options.
func floorClient(e *env, hc *http.Client) *client {
	endpoint := e.a.TokenEndpoint(e.seed.TenantID)
	get := func(ctx context.Context, scopes []string) (string, error) {
		form := url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {e.seed.ClientID},
			"client_secret": {e.seed.ClientSecret},
			"scope":         {strings.Join(scopes, " ")},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tr)
		_, _ = io.Copy(io.Discard, resp.Body)
		switch {
		case err != nil:
			return "", fmt.Errorf("floor: decode token response (HTTP %d): %w", resp.StatusCode, err)
		case resp.StatusCode != http.StatusOK || tr.AccessToken == "":
			return "", fmt.Errorf("floor: token request failed with HTTP %d", resp.StatusCode)
		}
		return tr.AccessToken, nil
	}
	return &client{get: get, fill: get, close: func() {}}
}

// floorLibrary is the floor as a library, for the benchmarks that have one.
var floorLibrary = library{name: "floor", make: func(e *env, hc *http.Client) (*client, error) {
	return floorClient(e, hc), nil
}}

// floorRatio records the floor's time per op when b is the floor's
// sub-benchmark, and otherwise reports b's time per op as a multiple of it
// ("x-floor") if the floor ran before b in this run.
func floorRatio(b *testing.B, lib string, floor *float64) {
	perOp := float64(b.Elapsed()) / float64(b.N)
	switch {
	case lib == floorLibrary.name:
		*floor = perOp
	case *floor > 0:
		b.ReportMetric(perOp / *floor, "x-floor")
	}
}

// BenchmarkMiss is one token call for a scope the client has not cached, so
// every op is one token request to the real authority; "floor" is the same
// request made with net/http and encoding/json alone.
func BenchmarkMiss(b *testing.B) {
	e := getEnv(b)
	var floor float64
	for _, lib := range slices.Concat([]library{floorLibrary}, libraries) {
		b.Run(lib.name, func(b *testing.B) {
			ct := &counter{}
			hc := e.httpClient(func(rt http.RoundTripper) http.RoundTripper { ct.base = rt; return ct })
			defer hc.CloseIdleConnections()
			e.warmConns(b, hc, warmConns)
			cy := newScopeCycler(b, lib, e, hc)
			ctx := context.Background()
			var requests int64
			b.ReportAllocs()
			for b.Loop() {
				c, s := cy.take(1)
				n := ct.tokens.Load()
				tok, err := c.get(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				sink = tok
				requests += ct.tokens.Load() - n
			}
			if requests != int64(b.N) {
				b.Fatalf("%d token requests for %d misses", requests, b.N)
			}
			floorRatio(b, lib.name, &floor)
		})
	}
}
