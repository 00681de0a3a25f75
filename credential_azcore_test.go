package appcred

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"

	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/sts"
)

// frontDoor stands before the local authority: it records every token
// POST's User-Agent, answers the first fail of them itself with status (and
// Retry-After when set) and holds the first hold of them until their context
// ends; the rest reach the authority.
type frontDoor struct {
	next       http.RoundTripper
	fail, hold int
	status     int
	retryAfter string

	mu     sync.Mutex
	posts  int
	agents []string
}

func (f *frontDoor) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost {
		return f.next.RoundTrip(r)
	}
	f.mu.Lock()
	f.posts++
	n := f.posts
	f.agents = append(f.agents, r.Header.Get("User-Agent"))
	f.mu.Unlock()
	if n <= f.hold {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	if n <= f.hold+f.fail {
		h := http.Header{"Content-Type": {"application/json"}}
		if f.retryAfter != "" {
			h.Set("Retry-After", f.retryAfter)
		}
		return &http.Response{StatusCode: f.status, Header: h, Request: r, ContentLength: -1,
			Body: http.NoBody}, nil
	}
	return f.next.RoundTrip(r)
}

func (f *frontDoor) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

// azcoreCred makes a ClientSecretCredential for the seed app with co as its
// ClientOptions (Transport: the front door) and logs to buf when given.
func azcoreCred(t *testing.T, a *sts.Authority, front *frontDoor, co azcore.ClientOptions, buf *logBuffer) (*ClientSecretCredential, error) {
	t.Helper()
	front.next = a.HTTPClient().Transport
	co.Transport = &http.Client{Transport: front}
	o := &ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), ClientOptions: co}}
	if buf != nil {
		o.Logger = buf.logger()
	}
	seed := a.Seed()
	c, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret, o)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func getToken(c *ClientSecretCredential, scope string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	return err
}

// retryDelays returns the delays of the "retrying request" debug records.
func retryDelays(t *testing.T, buf *logBuffer) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(line, "appcred: retrying request") {
			continue
		}
		_, rest, _ := strings.Cut(line, " delay=")
		d, err := time.ParseDuration(strings.Fields(rest)[0])
		if err != nil {
			t.Fatalf("retry record without a delay: %s", line)
		}
		out = append(out, d)
	}
	return out
}

func TestClientOptionsRetryMaxRetries(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	for _, tc := range []struct {
		max   int32
		posts int
	}{{-1, 1}, {1, 2}, {0, 4}} {
		front := &frontDoor{fail: 100, status: http.StatusServiceUnavailable}
		c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: tc.max, RetryDelay: -1}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var re *ResponseError
		if err := getToken(c, a.Seed().Scope); !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("MaxRetries %d: %v, want the 503", tc.max, err)
		}
		if front.count() != tc.posts || re.Attempts != tc.posts {
			t.Errorf("MaxRetries %d: %d POSTs, %d attempts reported; want %d", tc.max, front.count(), re.Attempts, tc.posts)
		}
	}
}

func TestClientOptionsRetryTryTimeout(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	front := &frontDoor{hold: 1}
	c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: policy.RetryOptions{TryTimeout: 200 * time.Millisecond, RetryDelay: -1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt hangs until TryTimeout ends it; the retry gets the token
	// well within the 20 s the call allows.
	if err := getToken(c, a.Seed().Scope); err != nil {
		t.Fatalf("after a hung attempt: %v", err)
	}
	if front.count() != 2 {
		t.Errorf("%d POSTs, want 2 (one timed out, one answered)", front.count())
	}
}

func TestClientOptionsRetryDelays(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	cases := []struct {
		name       string
		retry      policy.RetryOptions
		retryAfter string
		check      func(d time.Duration) bool
		want       string
	}{
		{"RetryDelay -1", policy.RetryOptions{MaxRetries: 3, RetryDelay: -1}, "", func(d time.Duration) bool { return d == 0 }, "no delay"},
		{"MaxRetryDelay", policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Hour, MaxRetryDelay: 5 * time.Millisecond}, "",
			func(d time.Duration) bool { return d <= 5*time.Millisecond }, "at most 5ms"},
		{"RetryDelay", policy.RetryOptions{MaxRetries: 1, RetryDelay: 3 * time.Millisecond}, "",
			func(d time.Duration) bool { return d <= 3*time.Millisecond }, "at most 3ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf logBuffer
			front := &frontDoor{fail: 100, status: http.StatusServiceUnavailable}
			c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: tc.retry}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			_ = getToken(c, a.Seed().Scope)
			delays := retryDelays(t, &buf)
			if len(delays) != int(tc.retry.MaxRetries) {
				t.Fatalf("%d retries logged, want %d", len(delays), tc.retry.MaxRetries)
			}
			for _, d := range delays {
				if !tc.check(d) {
					t.Errorf("delay %v, want %s", d, tc.want)
				}
			}
		})
	}
	// As in azcore, MaxRetryDelay also caps the Retry-After the client waits for.
	front := &frontDoor{fail: 100, status: http.StatusTooManyRequests, retryAfter: "2"}
	c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetryDelay: time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re *ResponseError
	if err := getToken(c, a.Seed().Scope); !errors.As(err, &re) || re.RetryAfter != 2*time.Second || front.count() != 1 {
		t.Errorf("Retry-After 2s over MaxRetryDelay 1s: err %v after %d POSTs; want the 429 at once", err, front.count())
	}
}

func TestClientOptionsRetryStatusCodes(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	for _, tc := range []struct {
		codes  []int
		status int
		posts  int
	}{{[]int{}, http.StatusServiceUnavailable, 1}, {[]int{http.StatusConflict}, http.StatusConflict, 3}, {nil, http.StatusConflict, 1}} {
		front := &frontDoor{fail: 100, status: tc.status}
		c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: -1, StatusCodes: tc.codes}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = getToken(c, a.Seed().Scope)
		if front.count() != tc.posts {
			t.Errorf("StatusCodes %v, status %d: %d POSTs, want %d", tc.codes, tc.status, front.count(), tc.posts)
		}
	}
}

func TestClientOptionsRetryShouldRetry(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	var seen []int
	should := func(resp *http.Response, err error) bool {
		if resp != nil {
			seen = append(seen, resp.StatusCode)
		}
		return resp != nil && resp.StatusCode == http.StatusBadRequest
	}
	front := &frontDoor{fail: 2, status: http.StatusBadRequest}
	c, err := azcoreCred(t, a, front, azcore.ClientOptions{Retry: policy.RetryOptions{RetryDelay: -1, ShouldRetry: should}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := getToken(c, a.Seed().Scope); err != nil || front.count() != 3 || len(seen) != 2 {
		t.Errorf("ShouldRetry retrying 400s: err %v, %d POSTs, asked about %v; want a token after 3 POSTs", err, front.count(), seen)
	}
	never := &frontDoor{fail: 100, status: http.StatusServiceUnavailable}
	c, err = azcoreCred(t, a, never, azcore.ClientOptions{Retry: policy.RetryOptions{
		ShouldRetry: func(*http.Response, error) bool { return false }}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _ = getToken(c, a.Seed().Scope); never.count() != 1 {
		t.Errorf("ShouldRetry false: %d POSTs after a 503, want 1", never.count())
	}
}

func TestClientOptionsTelemetry(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	for _, tc := range []struct {
		tel    policy.TelemetryOptions
		prefix string
	}{{policy.TelemetryOptions{ApplicationID: "orders-svc"}, "orders-svc appcred.Go/"},
		{policy.TelemetryOptions{}, "appcred.Go/"},
		{policy.TelemetryOptions{Disabled: true}, ""}} {
		front := &frontDoor{}
		c, err := azcoreCred(t, a, front, azcore.ClientOptions{Telemetry: tc.tel}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := getToken(c, a.Seed().Scope); err != nil {
			t.Fatal(err)
		}
		if ua := front.agents[0]; !strings.HasPrefix(ua, tc.prefix) || (tc.prefix == "" && ua != "") {
			t.Errorf("Telemetry %+v: User-Agent %q, want it to start with %q", tc.tel, ua, tc.prefix)
		}
	}
}

// TestClientOptionsRefused: what a credential cannot honour is refused at
// construction, by name.
func TestClientOptionsRefused(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	for _, tc := range []struct {
		field string
		co    azcore.ClientOptions
	}{
		{"APIVersion", azcore.ClientOptions{APIVersion: "2020-01-01"}},
		{"InsecureAllowCredentialWithHTTP", azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}},
		{"Logging.IncludeBody", azcore.ClientOptions{Logging: policy.LogOptions{IncludeBody: true}}},
		{"Logging.AllowedHeaders", azcore.ClientOptions{Logging: policy.LogOptions{AllowedHeaders: []string{"x-client-sku", "authorization"}}}},
		{"Telemetry.ApplicationID", azcore.ClientOptions{Telemetry: policy.TelemetryOptions{ApplicationID: "has space"}}},
		{"Telemetry.ApplicationID", azcore.ClientOptions{Telemetry: policy.TelemetryOptions{ApplicationID: strings.Repeat("a", 25)}}},
		{"Telemetry.ApplicationID", azcore.ClientOptions{Telemetry: policy.TelemetryOptions{ApplicationID: "app", Disabled: true}}},
	} {
		_, err := azcoreCred(t, a, &frontDoor{}, tc.co, nil)
		if err == nil || !strings.Contains(err.Error(), "ClientOptions."+tc.field) {
			t.Errorf("%s: err %v, want a refusal naming ClientOptions.%s", tc.field, err, tc.field)
		}
	}
}

// azcoreEvents collects azcore/log events for the test's duration.
func azcoreEvents(t *testing.T) func() map[azlog.Event][]string {
	var mu sync.Mutex
	events := map[azlog.Event][]string{}
	azlog.SetListener(func(e azlog.Event, msg string) {
		mu.Lock()
		defer mu.Unlock()
		events[e] = append(events[e], msg)
	})
	t.Cleanup(func() { azlog.SetListener(nil) })
	return func() map[azlog.Event][]string {
		mu.Lock()
		defer mu.Unlock()
		return events
	}
}

// TestClientOptionsLogging: token requests reach azcore/log (and slog), with
// Logging.AllowedHeaders and AllowedQueryParams applied and no secret or token.
func TestClientOptionsLogging(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	addQuery := policyFunc(func(req *policy.Request) (*http.Response, error) {
		q := req.Raw().URL.Query()
		q.Set("probe", "visible")
		q.Set("hidden", "secretive")
		req.Raw().URL.RawQuery = q.Encode()
		return req.Next()
	})
	events := azcoreEvents(t)
	var buf logBuffer
	c, err := azcoreCred(t, a, &frontDoor{}, azcore.ClientOptions{
		Logging:         policy.LogOptions{AllowedHeaders: []string{"X-Client-SKU"}, AllowedQueryParams: []string{"probe"}},
		PerCallPolicies: []policy.Policy{addQuery},
	}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{a.Seed().Scope}})
	if err != nil {
		t.Fatal(err)
	}
	got := events()
	var req string
	for _, m := range got[azlog.EventRequest] {
		if strings.Contains(m, "POST ") && strings.Contains(m, "/oauth2/v2.0/token") {
			req = m
		}
	}
	if req == "" {
		t.Fatalf("no token request among azcore/log's Request events: %q", got[azlog.EventRequest])
	}
	for _, want := range []string{"X-Client-Sku: appcred.Go", "probe=visible", "hidden=REDACTED", "Client-Request-Id: REDACTED"} {
		if !strings.Contains(req, want) {
			t.Errorf("Request event lacks %q:\n%s", want, req)
		}
	}
	if len(got[azlog.EventResponse]) == 0 || !strings.Contains(strings.Join(got[azlog.EventResponse], "\n"), "200 OK") {
		t.Errorf("no 200 Response event: %q", got[azlog.EventResponse])
	}
	all := buf.String()
	for _, ms := range got {
		all += strings.Join(ms, "\n")
	}
	if strings.Contains(all, a.Seed().ClientSecret) || strings.Contains(all, tok.Token) {
		t.Error("the secret or the token reached a log")
	}
	if !strings.Contains(buf.String(), "token acquired from authority") {
		t.Error("the slog logger did not get the token event")
	}
}

// policyFunc adapts a function to policy.Policy.
type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

func TestClientOptionsPerRetryPolicies(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	var mu sync.Mutex
	var calls int
	count := policyFunc(func(req *policy.Request) (*http.Response, error) {
		if req.Raw().Method == http.MethodPost {
			mu.Lock()
			calls++
			mu.Unlock()
		}
		return req.Next()
	})
	front := &frontDoor{fail: 1, status: http.StatusServiceUnavailable}
	c, err := azcoreCred(t, a, front, azcore.ClientOptions{PerRetryPolicies: []policy.Policy{count},
		Retry: policy.RetryOptions{RetryDelay: -1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := getToken(c, a.Seed().Scope); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("per-retry policy ran %d times for 2 attempts", calls)
	}
}

func TestClientOptionsTracingProvider(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	var mu sync.Mutex
	var spans []string
	provider := tracing.NewProvider(func(name, version string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, spanName string, _ *tracing.SpanOptions) (context.Context, tracing.Span) {
			return ctx, tracing.NewSpan(tracing.SpanImpl{End: func() {
				mu.Lock()
				defer mu.Unlock()
				spans = append(spans, name+":"+spanName)
			}})
		}, nil)
	}, nil)
	c, err := azcoreCred(t, a, &frontDoor{}, azcore.ClientOptions{TracingProvider: provider}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := getToken(c, a.Seed().Scope); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "appcred:HTTP GET,appcred:appcred.AuthorityRequest,appcred:HTTP POST,appcred:appcred.AuthorityRequest"
	if got := strings.Join(spans, ","); got != want {
		t.Errorf("spans ended %q, want %q: azcore's HTTP span inside appcred's, for discovery and token request", got, want)
	}
}

// TestAuthenticationEvent: every token GetToken returns is logged to slog with
// azidentity's Authentication event text, never the token.
func TestAuthenticationEvent(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	var buf logBuffer
	c, err := azcoreCred(t, a, &frontDoor{}, azcore.ClientOptions{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := getToken(c, a.Seed().Scope); err != nil {
			t.Fatal(err)
		}
	}
	want := `ClientSecretCredential.GetToken() acquired a token for scope \"` + a.Seed().Scope + `\"`
	if n := strings.Count(buf.String(), want); n != 2 {
		t.Errorf("%d Authentication events %q, want 2 (network, then cache):\n%s", n, want, buf.String())
	}
	if !strings.Contains(buf.String(), "from_cache=true") {
		t.Error("the cache hit's event does not say from_cache=true")
	}
}

// countingBody is an 8 MiB body of spaces that counts the bytes read from it.
type countingBody struct{ n atomic.Int64 }

func (b *countingBody) Read(p []byte) (int, error) {
	left := 8*wire.MaxBodyBytes - b.n.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), left)]
	for i := range p {
		p[i] = ' '
	}
	b.n.Add(int64(len(p)))
	return len(p), nil
}

func (b *countingBody) Close() error { return nil }

// TestPipelineKeepsBodyCap: the azcore pipeline every attempt goes through
// does not download the body; appcred still stops reading past 1 MiB.
func TestPipelineKeepsBodyCap(t *testing.T) {
	a := startAuthority(t, sts.Options{})
	body := &countingBody{}
	huge := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodPost {
			return a.HTTPClient().Transport.RoundTrip(r)
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: body, ContentLength: -1, Request: r}, nil
	})
	seed := a.Seed()
	c, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret, &ClientSecretCredentialOptions{
		CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), ClientOptions: azcore.ClientOptions{
			Transport: &http.Client{Transport: huge}, Retry: policy.RetryOptions{MaxRetries: -1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := getToken(c, seed.Scope); !errors.Is(err, wire.ErrBodyTooLarge) {
		t.Fatalf("8 MiB body: %v, want ErrBodyTooLarge", err)
	}
	if n := body.n.Load(); n > 2*wire.MaxBodyBytes {
		t.Errorf("%d bytes read from an 8 MiB body, want about %d", n, wire.MaxBodyBytes)
	}
}
