package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Retry defaults. Client fields override them.
const (
	// DefaultMaxRetries is how many times a request is retried after the first attempt.
	DefaultMaxRetries = 3
	// DefaultBaseDelay is the first backoff step; step n is BaseDelay·2ⁿ, fully jittered.
	DefaultBaseDelay = 200 * time.Millisecond
	// DefaultMaxDelay caps one computed backoff step.
	DefaultMaxDelay = 10 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After the client will wait; a
	// longer one ends the retries at once with the error (RetryAfter set).
	DefaultMaxRetryAfter = 60 * time.Second
	// NoCap is what "no cap" on a delay means: a day, longer than any
	// request's deadline.
	NoCap = 24 * time.Hour
)

// retryable decides whether to retry after an attempt that failed with err or
// answered resp (not 2xx): Client.ShouldRetry when set, else the retried
// statuses and transient transport errors. A done context never retries.
func (c *Client) retryable(ctx context.Context, resp *response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch {
	case c.ShouldRetry != nil && err != nil:
		return c.ShouldRetry(nil, err)
	case c.ShouldRetry != nil:
		return c.ShouldRetry(&http.Response{StatusCode: resp.status, Status: http.StatusText(resp.status),
			Header: resp.header, Body: io.NopCloser(bytes.NewReader(resp.body))}, nil)
	case err != nil:
		return retryableTransport(ctx, err)
	case c.RetryStatusCodes != nil:
		return slices.Contains(c.RetryStatusCodes, resp.status)
	}
	return retryableStatus(resp.status)
}

// retryableStatus reports whether an HTTP status is worth retrying.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableTransport reports whether a transport or body-read error is
// transient: anything except context cancellation and TLS trust failures.
func retryableTransport(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  x509.CertificateInvalidError
		rerr  tls.RecordHeaderError
	)
	if errors.As(err, &verr) || errors.As(err, &uaerr) || errors.As(err, &herr) ||
		errors.As(err, &cerr) || errors.As(err, &rerr) {
		return false
	}
	return !errors.Is(err, ErrBodyTooLarge)
}

// parseRetryAfter reads retry-after-ms, x-ms-retry-after-ms (milliseconds) and
// Retry-After (delta seconds or an HTTP date), in that order. It returns 0 when
// none is present or parsable.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 && ms < int64(24*time.Hour/time.Millisecond) {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// backoff returns the jittered delay before retry number n (0-based): a
// uniform random duration in [0, min(maxDelay, base·2ⁿ)] ("full jitter").
func backoff(n int, base, maxDelay time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 0; i < n && d < maxDelay; i++ {
		d *= 2
	}
	if maxDelay > 0 && d > maxDelay {
		d = maxDelay
	}
	return rand.N(d + 1)
}

// sleepCtx waits d or until ctx is done, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
