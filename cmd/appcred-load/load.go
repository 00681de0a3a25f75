package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appcred/appcred/sts"
)

// report is what a run sustained.
type report struct {
	requests  int
	elapsed   time.Duration
	p50, p99  time.Duration
	peakRSS   uint64 // bytes
	rssSource string
	early     uint64 // peak RSS over the first third of the run
	late      uint64 // peak RSS over the last third
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "requests:   %d in %.1f s\n", r.requests, r.elapsed.Seconds())
	fmt.Fprintf(w, "tokens/s:   %.0f\n", float64(r.requests)/r.elapsed.Seconds())
	fmt.Fprintf(w, "latency:    p50 %v, p99 %v\n", r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	fmt.Fprintf(w, "peak RSS:   %.1f MiB (%s; first third %.1f MiB, last third %.1f MiB)\n",
		mib(r.peakRSS), r.rssSource, mib(r.early), mib(r.late))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// run starts an authority on loopback and drives it for d or until limit
// requests have been sent. The error is the first failed request, or RSS
// growth.
func run(d time.Duration, workers int, limit int64) (*report, error) {
	dir, err := os.MkdirTemp("", "appcred-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	a, err := sts.Start(context.Background(), sts.Options{StateDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	seed := a.Seed()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {seed.ClientID},
		"client_secret": {seed.ClientSecret}, "scope": {seed.Scope}}.Encode()
	hc := a.HTTPClient()
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = workers
	}
	endpoint := a.TokenEndpoint(seed.TenantID)

	sampler := startRSSSampler()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var sent atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lat := make([][]time.Duration, workers)
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && sent.Add(1) <= limit {
				t0 := time.Now()
				if err := tokenRequest(ctx, hc, endpoint, form); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	rss := sampler.stop()
	rep := summarize(slices.Concat(lat...), elapsed, rss)
	if firstErr != nil {
		return rep, firstErr
	}
	if rep.requests == 0 {
		return rep, errors.New("no request completed")
	}
	if rep.late > rep.early+rep.early/2+64<<20 {
		return rep, fmt.Errorf("RSS keeps growing: peak %.1f MiB in the last third of the run against %.1f MiB in the first",
			mib(rep.late), mib(rep.early))
	}
	return rep, nil
}

// tokenRequest posts one token request and checks the answer.
func tokenRequest(ctx context.Context, hc *http.Client, endpoint, form string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("token request: %w", err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return fmt.Errorf("token response (HTTP %d): %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || body.AccessToken == "" {
		return fmt.Errorf("token response: HTTP %d, error %q", res.StatusCode, body.Error)
	}
	return nil
}

// summarize computes the report of a run from its latencies and RSS samples.
func summarize(lat []time.Duration, elapsed time.Duration, rss []uint64) *report {
	r := &report{requests: len(lat), elapsed: elapsed, rssSource: rssSource}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50 = lat[len(lat)*50/100]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	if n := len(rss); n > 0 {
		r.peakRSS = slices.Max(rss)
		r.early = slices.Max(rss[:max(1, n/3)])
		r.late = slices.Max(rss[n-max(1, n/3):])
	}
	return r
}
