package appcred

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/appcred/appcred/sts"
)

// otelHarness is an in-memory OpenTelemetry SDK: a manual metric reader and
// a span recorder.
type otelHarness struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newOtel(t testing.TB) *otelHarness {
	h := &otelHarness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() { _ = h.mp.Shutdown(context.Background()); _ = h.tp.Shutdown(context.Background()) })
	return h
}

func (h *otelHarness) options() []Option {
	return []Option{WithMeterProvider(h.mp), WithTracerProvider(h.tp)}
}

func (h *otelHarness) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// value sums the data points of metric name whose attributes include want
// (key=value pairs); for a histogram it sums the counts.
func value(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (int64, bool) {
	var total int64
	found := false
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		found = true
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += int64(p.Count)
					}
				}
			}
		}
	}
	return total, found
}

func wantValue(t *testing.T, rm metricdata.ResourceMetrics, want int64, name string, attrs ...attribute.KeyValue) {
	t.Helper()
	if got, ok := value(rm, name, attrs...); !ok || got != want {
		t.Errorf("%s%v = %d (found %v), want %d", name, attrs, got, ok, want)
	}
}

// scanForSecrets fails if any metric attribute, span name, attribute, event
// or status holds one of secrets.
func scanForSecrets(t *testing.T, rm metricdata.ResourceMetrics, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	var texts []string
	addSet := func(set attribute.Set) {
		for _, kv := range set.ToSlice() {
			texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			texts = append(texts, m.Name, m.Description)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					addSet(p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					addSet(p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					addSet(p.Attributes)
				}
			}
		}
	}
	for _, s := range spans {
		texts = append(texts, s.Name(), s.Status().Description)
		addSet(attribute.NewSet(s.Attributes()...))
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			addSet(attribute.NewSet(e.Attributes...))
		}
	}
	if len(texts) < 10 {
		t.Fatalf("only %d telemetry texts to scan: nothing was recorded", len(texts))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("telemetry text %q contains a secret or token", text)
			}
		}
	}
}

func spanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func TestTelemetryMetricsAndSpans(t *testing.T) {
	h := newOtel(t)
	a, c, _ := seedClient(t, sts.Options{}, h.options()...)
	seed := a.Seed()
	ctx, caller := h.tp.Tracer("test").Start(context.Background(), "caller")
	tok, err := c.AcquireTokenForClient(ctx, []string{seed.Scope})
	if err != nil {
		t.Fatal(err)
	}
	caller.End()
	for range 3 {
		if _, err := c.AcquireTokenForClient(ctx, []string{seed.Scope}); err != nil {
			t.Fatal(err)
		}
	}
	const wrongSecret = "wrong-secret-telemetry-Zq8~x"
	bad, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(wrongSecret),
		append([]Option{WithTransport(newCounting(a))}, h.options()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.AcquireTokenForClient(ctx, []string{seed.Scope}); err == nil {
		t.Fatal("a wrong secret got a token")
	}

	rm := h.collect(t)
	host := attrHost.String(c.info.Host)
	wantValue(t, rm, 3, "appcred.cache.hits", host)
	wantValue(t, rm, 2, "appcred.cache.misses", host) // one per client
	wantValue(t, rm, 1, "appcred.cache.tokens", host)
	wantValue(t, rm, 1, "appcred.token.requests", attrOutcome.String(outcomeOK), attrGrant.String("client_credentials"))
	wantValue(t, rm, 1, "appcred.token.requests", attrOutcome.String(outcomeFailed),
		attrErrType.String("invalid_client"), attrAADSTS.String("AADSTS7000215"))
	wantValue(t, rm, 2, "appcred.token.request.duration", host)
	wantValue(t, rm, 0, "appcred.cache.refreshes", attrOutcome.String(outcomeOK))
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if d, ok := m.Data.(metricdata.Histogram[float64]); ok && (m.Unit != "s" || d.DataPoints[0].Bounds[0] != 0.005) {
			t.Errorf("%s: unit %q, bounds %v; want seconds from 5 ms", m.Name, m.Unit, d.DataPoints[0].Bounds)
		}
	}

	spans := h.spans.Ended()
	if len(spans) != 3 || spans[1].Name() != "caller" {
		t.Fatalf("%d spans, want one per token request (2) and the caller's, none for the 3 hits", len(spans))
	}
	if spans[0].Parent().SpanID() != spans[1].SpanContext().SpanID() {
		t.Error("the token request span is not a child of the caller's span")
	}
	spans = append(spans[:1], spans[2])
	for i, want := range []string{outcomeOK, outcomeFailed} {
		s := spans[i]
		if s.Name() != "appcred.TokenRequest" || spanAttr(s, attrOutcome).AsString() != want ||
			spanAttr(s, attrHost).AsString() != c.info.Host || spanAttr(s, attrTenant).AsString() != c.info.Tenant ||
			spanAttr(s, attrGrant).AsString() != "client_credentials" || spanAttr(s, attrAttempts).AsInt64() != 1 {
			t.Errorf("span %d: %s %v, want outcome %s with host, tenant, grant and 1 attempt", i, s.Name(), s.Attributes(), want)
		}
	}
	if got := spans[1].Status().Description; got != "invalid_client" {
		t.Errorf("failed span status %q, want the OAuth error only", got)
	}
	scanForSecrets(t, rm, spans, seed.ClientSecret, wrongSecret, url.QueryEscape(wrongSecret), tok.AccessToken)
}

// failingTransport passes requests to the authority until fail is set, then
// fails token POSTs as an unreachable network would.
type failingTransport struct {
	next http.RoundTripper
	fail atomic.Bool
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.fail.Load() && r.Method == http.MethodPost {
		return nil, errors.New("test: network down")
	}
	return f.next.RoundTrip(r)
}

// waitStat polls the cache's counters until cond holds (bounded by hangGuard).
func waitStat(t *testing.T, c *Client, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened: %+v", what, c.cache.Stats())
		}
	}
}

func TestTelemetryBackgroundRefreshes(t *testing.T) {
	h := newOtel(t)
	a := startAuthority(t, sts.Options{RefreshIn: time.Second})
	seed := a.Seed()
	ft := &failingTransport{next: a.HTTPClient().Transport}
	c, err := New(a.TenantURL(seed.TenantID), seed.ClientID, FromSecret(seed.ClientSecret),
		append([]Option{WithTransport(ft), WithMaxRetries(0)}, h.options()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, scopes := context.Background(), []string{seed.Scope}
	first, err := c.AcquireTokenForClient(ctx, scopes)
	if err != nil {
		t.Fatal(err)
	}
	waitPast(t, first.RefreshOn)
	if _, err := c.AcquireTokenForClient(ctx, scopes); err != nil { // starts a refresh
		t.Fatal(err)
	}
	waitStat(t, c, "a successful refresh", func() bool { return c.cache.Stats().RefreshesOK == 1 })
	second, err := c.AcquireTokenForClient(ctx, scopes)
	if err != nil || second.AccessToken == first.AccessToken {
		t.Fatalf("after the refresh: same token %v, err %v", second.AccessToken == first.AccessToken, err)
	}
	ft.fail.Store(true)
	waitPast(t, second.RefreshOn)
	if _, err := c.AcquireTokenForClient(ctx, scopes); err != nil { // the old token, and a failing refresh
		t.Fatal(err)
	}
	waitStat(t, c, "a failed refresh", func() bool { return c.cache.Stats().RefreshFailures == 1 })

	rm := h.collect(t)
	wantValue(t, rm, 1, "appcred.cache.refreshes", attrOutcome.String(outcomeOK))
	wantValue(t, rm, 1, "appcred.cache.refreshes", attrOutcome.String(outcomeFailed))
	wantValue(t, rm, 2, "appcred.token.requests", attrOutcome.String(outcomeOK))
	wantValue(t, rm, 1, "appcred.token.requests", attrOutcome.String(outcomeFailed), attrErrType.String("other"))
	spans := h.spans.Ended()
	if len(spans) != 3 || spanAttr(spans[2], attrOutcome).AsString() != outcomeFailed {
		t.Fatalf("%d spans, want 3 (first request, refresh, failed refresh)", len(spans))
	}
	if spans[1].Parent().IsValid() || spans[2].Parent().IsValid() {
		t.Error("a background refresh's span has a parent; want a root span")
	}
	scanForSecrets(t, rm, spans, seed.ClientSecret, first.AccessToken, second.AccessToken)
}

func TestTelemetryCredentialAndRetries(t *testing.T) {
	h := newOtel(t)
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	var posts atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && posts.Add(1) == 1 {
			return nil, errors.New("test: connection reset") // retried
		}
		return a.HTTPClient().Transport.RoundTrip(r)
	})
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{
			AuthorityHost:    a.URL(),
			ClientOptions:    azcore.ClientOptions{Transport: &http.Client{Transport: rt}},
			TelemetryOptions: TelemetryOptions{MeterProvider: h.mp, TracerProvider: h.tp},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	ctx := context.Background()
	for _, cae := range []bool{false, false, true} {
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{seed.Scope}, EnableCAE: cae}); err != nil {
			t.Fatal(err)
		}
	}
	rm := h.collect(t)
	wantValue(t, rm, 2, "appcred.token.requests", attrOutcome.String(outcomeOK)) // plain and CAE clients
	wantValue(t, rm, 1, "appcred.cache.hits")
	wantValue(t, rm, 2, "appcred.cache.tokens")
	spans := h.spans.Ended()
	if len(spans) != 2 || spanAttr(spans[0], attrAttempts).AsInt64() != 2 || spanAttr(spans[1], attrAttempts).AsInt64() != 1 {
		t.Fatalf("%d spans, want 2 with 2 and 1 attempts", len(spans))
	}
	if err := cred.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := value(h.collect(t), "appcred.cache.hits"); ok {
		t.Error("a closed credential's cache is still observed")
	}
}

func TestTelemetryOptionsValidate(t *testing.T) {
	for name, o := range map[string]Option{"WithMeterProvider": WithMeterProvider(nil), "WithTracerProvider": WithTracerProvider(nil)} {
		if _, err := New("https://login.microsoftonline.com/contoso", "id", FromSecret("s"), o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s(nil): err %v, want one naming it", name, err)
		}
	}
	c, err := New("https://login.microsoftonline.com/contoso", "id", FromSecret("s"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.tel != nil {
		t.Error("telemetry is on without a provider")
	}
}

func TestTelemetryHitAllocatesNothing(t *testing.T) {
	h := newOtel(t)
	a, c, _ := seedClient(t, sts.Options{}, h.options()...)
	scopes := []string{a.Seed().Scope}
	ctx := context.Background()
	if _, err := c.AcquireTokenForClient(ctx, scopes); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.AcquireTokenForClient(ctx, scopes); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a cache hit with metrics and tracing on allocates %.1f times, want 0", allocs)
	}
	wantValue(t, h.collect(t), 1001, "appcred.cache.hits")
}

func BenchmarkCredentialGetTokenCachedTelemetry(b *testing.B) {
	h := newOtel(b)
	a := startAuthority(b, sts.Options{})
	seed := a.Seed()
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM(),
			TelemetryOptions: TelemetryOptions{MeterProvider: h.mp, TracerProvider: h.tp}}})
	if err != nil {
		b.Fatal(err)
	}
	defer cred.Close()
	ctx := context.Background()
	tro := policy.TokenRequestOptions{Scopes: []string{seed.Scope}}
	if _, err := cred.GetToken(ctx, tro); err != nil {
		b.Fatal(err)
	}
	b.Run("metrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cred.GetToken(ctx, tro); err != nil {
				b.Fatal(err)
			}
		}
	})
	if n, _ := value(h.collect(b), "appcred.cache.hits"); n < 2 {
		b.Fatalf("%d hits observed, want the benchmark's", n)
	}
}

// An on-behalf-of request gets its span, named by its grant; the user's
// assertion appears in no telemetry.
func TestTelemetryOnBehalfOf(t *testing.T) {
	h := newOtel(t)
	f := newOBOFixture(t, 1, sts.Options{})
	c := f.midClient(t, h.options()...)
	user := f.userToken(t, f.users[0])
	scope := []string{f.downstreamAPI + "/Orders.Read"}
	var tok Token
	for range 2 {
		var err error
		if tok, err = c.AcquireTokenOnBehalfOf(context.Background(), user, scope); err != nil {
			t.Fatal(err)
		}
	}
	spans := h.spans.Ended()
	if len(spans) != 1 || spanAttr(spans[0], attrGrant).AsString() != jwtBearerGrant ||
		spanAttr(spans[0], attrOutcome).AsString() != outcomeOK || spanAttr(spans[0], attrTenant).AsString() != f.tenant {
		t.Fatalf("%d spans, want one on-behalf-of request", len(spans))
	}
	rm := h.collect(t)
	wantValue(t, rm, 1, "appcred.token.requests", attrGrant.String(jwtBearerGrant), attrOutcome.String(outcomeOK))
	scanForSecrets(t, rm, spans, user, f.midSecret, tok.AccessToken)
}

// ClientOptions.TracingProvider (azcore's, a span per HTTP attempt) and
// TelemetryOptions.TracerProvider (a span per token request) meet through the
// context: each attempt starts inside its token request's span, which is what
// azcore's OpenTelemetry bridge needs to nest them.
func TestTelemetryAzcoreTracingNests(t *testing.T) {
	h := newOtel(t)
	a := startAuthority(t, sts.Options{})
	seed := a.Seed()
	var parents []trace.SpanContext
	var mu sync.Mutex
	azTracing := tracing.NewProvider(func(string, string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, _ string, _ *tracing.SpanOptions) (context.Context, tracing.Span) {
			mu.Lock()
			parents = append(parents, trace.SpanContextFromContext(ctx))
			mu.Unlock()
			return ctx, tracing.NewSpan(tracing.SpanImpl{})
		}, nil)
	}, nil)
	cred, err := NewClientSecretCredential(seed.TenantID, seed.ClientID, seed.ClientSecret,
		&ClientSecretCredentialOptions{CredentialOptions: CredentialOptions{AuthorityHost: a.URL(), CACertificates: a.CACertPEM(),
			ClientOptions:    azcore.ClientOptions{TracingProvider: azTracing},
			TelemetryOptions: TelemetryOptions{TracerProvider: h.tp}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{seed.Scope}}); err != nil {
		t.Fatal(err)
	}
	spans := h.spans.Ended()
	mu.Lock()
	defer mu.Unlock()
	if len(spans) != 1 || len(parents) == 0 {
		t.Fatalf("%d OpenTelemetry spans, %d azcore spans; want 1 and at least 1", len(spans), len(parents))
	}
	for i, p := range parents { // discovery GETs, then the token POST: all within the token request
		if p.SpanID() != spans[0].SpanContext().SpanID() {
			t.Errorf("azcore's attempt span %d started under %v, want the token request span %v", i, p.SpanID(), spans[0].SpanContext().SpanID())
		}
	}
}
