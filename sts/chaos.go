package sts

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Chaos injects faults into the token endpoints (POST …/oauth2/v2.0/token and
// …/oauth2/token; discovery and keys are left alone), so that users can test
// how their own app copes with a failing authority: `appcred authority serve
// --chaos "429=0.1,503=0.05,reset=0.01,latency=200ms"`. Each token request
// first waits Latency, then fails with probability TooMany (HTTP 429 with
// Retry-After), Unavailable (HTTP 503) or Reset (the connection is dropped
// without an answer), drawn independently per request. The zero Chaos
// injects nothing. Set it with Options.Chaos or Authority.SetChaos.
type Chaos struct {
	TooMany     float64       // probability of HTTP 429 temporarily_unavailable
	Unavailable float64       // probability of HTTP 503 temporarily_unavailable
	Reset       float64       // probability of a dropped connection
	Latency     time.Duration // added before every token response
	RetryAfter  time.Duration // Retry-After of the 429s, whole seconds; default 1 s
}

// maxChaosLatency bounds Latency: faults, not hung servers.
const maxChaosLatency = time.Minute

// ParseChaos parses a --chaos spec: comma-separated key=value pairs, keys
// 429, 503 and reset with probabilities in [0, 1] (their sum at most 1),
// latency and retry-after with Go durations (latency up to 1 m, retry-after
// in whole seconds up to 1 h). "" is no chaos. Errors name the bad pair.
func ParseChaos(spec string) (Chaos, error) {
	var c Chaos
	if strings.TrimSpace(spec) == "" {
		return c, nil
	}
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return Chaos{}, fmt.Errorf("chaos: %q is not key=value (keys: 429, 503, reset, latency, retry-after)", pair)
		}
		if seen[k] {
			return Chaos{}, fmt.Errorf("chaos: %q is given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "429":
			c.TooMany, err = parseProbability(v)
		case "503":
			c.Unavailable, err = parseProbability(v)
		case "reset":
			c.Reset, err = parseProbability(v)
		case "latency":
			c.Latency, err = parseChaosDuration(v, maxChaosLatency, 0)
		case "retry-after":
			c.RetryAfter, err = parseChaosDuration(v, time.Hour, time.Second)
		default:
			return Chaos{}, fmt.Errorf("chaos: unknown key %q (keys: 429, 503, reset, latency, retry-after)", k)
		}
		if err != nil {
			return Chaos{}, fmt.Errorf("chaos: %s=%q: %w", k, v, err)
		}
	}
	if sum := c.TooMany + c.Unavailable + c.Reset; sum > 1 {
		return Chaos{}, fmt.Errorf("chaos: the probabilities of 429, 503 and reset add up to %g, more than 1", sum)
	}
	return c, nil
}

func parseProbability(v string) (float64, error) {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !(p >= 0 && p <= 1) { // also rejects NaN
		return 0, fmt.Errorf("want a probability from 0 to 1")
	}
	return p, nil
}

// parseChaosDuration parses a duration in [0, limit] that is a multiple of unit
// (unit 0: any).
func parseChaosDuration(v string, limit, unit time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("want a duration such as 200ms")
	case d < 0 || d > limit:
		return 0, fmt.Errorf("want a duration from 0 to %v", limit)
	case unit > 0 && d%unit != 0:
		return 0, fmt.Errorf("want whole %v", unit)
	}
	return d, nil
}

// String formats c as ParseChaos reads it ("" for none).
func (c Chaos) String() string {
	var parts []string
	for _, p := range []struct {
		k string
		v float64
	}{{"429", c.TooMany}, {"503", c.Unavailable}, {"reset", c.Reset}} {
		if p.v > 0 {
			parts = append(parts, p.k+"="+strconv.FormatFloat(p.v, 'g', -1, 64))
		}
	}
	if c.Latency > 0 {
		parts = append(parts, "latency="+c.Latency.String())
	}
	if c.RetryAfter > 0 {
		parts = append(parts, "retry-after="+c.RetryAfter.String())
	}
	return strings.Join(parts, ",")
}

// SetChaos replaces the faults injected from now on (the zero Chaos: none).
func (a *Authority) SetChaos(c Chaos) {
	if c == (Chaos{}) {
		a.chaos.Store(nil)
		return
	}
	a.chaos.Store(&c)
}

// Chaos returns the faults injected now (the zero Chaos: none).
func (a *Authority) Chaos() Chaos {
	if c := a.chaos.Load(); c != nil {
		return *c
	}
	return Chaos{}
}

// isTokenRequest reports whether r is for a token endpoint.
func isTokenRequest(r *http.Request) bool {
	return r.Method == http.MethodPost &&
		(strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") || strings.HasSuffix(r.URL.Path, "/oauth2/token"))
}

// withChaos wraps next with the faults of the current Chaos.
func (a *Authority) withChaos(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.chaos.Load()
		if c == nil || !isTokenRequest(r) {
			next.ServeHTTP(w, r)
			return
		}
		if c.Latency > 0 {
			t := time.NewTimer(c.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch x := rand.Float64(); {
		case x < c.TooMany:
			retry := max(c.RetryAfter, time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
			a.chaosError(w, r, http.StatusTooManyRequests, "Too many requests (chaos: 429).")
		case x < c.TooMany+c.Unavailable:
			a.chaosError(w, r, http.StatusServiceUnavailable, "The service is unavailable (chaos: 503).")
		case x < c.TooMany+c.Unavailable+c.Reset:
			resetConn(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (a *Authority) chaosError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	rc := newReqCtx(r)
	rc.host = a.ownHost() // the Host has not been checked: never echo it
	writeError(w, rc, newErr(status, "temporarily_unavailable", codeInternal, "%s", msg))
}

// resetConn drops the request's connection without an answer: an HTTP/1
// connection is hijacked and closed with a TCP reset; where hijacking is not
// possible (HTTP/2) the stream is aborted.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST instead of FIN
	}
	_ = raw.Close()
}
