package appcred

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/appcred/appcred/internal/wire"
)

// instrumentation is the name of appcred's OpenTelemetry meter and tracer.
const instrumentation = "github.com/appcred/appcred"

// grantClientCredentials is the grant of app token requests, named in spans
// and metrics (on-behalf-of requests name theirs: jwt-bearer or refresh_token).
const grantClientCredentials = "client_credentials"

// Attribute keys of appcred's spans and metrics. None carries a secret, an
// assertion or a token: only the authority host, the tenant, the client id,
// the grant type, the attempt count, the outcome and the error's OAuth code.
const (
	attrHost     = attribute.Key("server.address")
	attrTenant   = attribute.Key("appcred.tenant")
	attrClientID = attribute.Key("appcred.client_id")
	attrGrant    = attribute.Key("appcred.grant_type")
	attrAttempts = attribute.Key("appcred.attempts")
	attrOutcome  = attribute.Key("appcred.outcome")
	attrErrType  = attribute.Key("error.type")
	attrAADSTS   = attribute.Key("appcred.aadsts")
)

// Outcomes of token requests and background refreshes.
const (
	outcomeOK     = "ok"
	outcomeFailed = "failed"
)

// WithMeterProvider records appcred's metrics with mp (off by default):
//   - appcred.cache.hits, appcred.cache.misses: cache lookups (counters);
//   - appcred.cache.refreshes: background refreshes by appcred.outcome (ok, failed);
//   - appcred.cache.tokens: tokens held in memory (an asynchronous up-down counter, summed over clients);
//   - appcred.token.requests: token requests to the authority by
//     appcred.outcome, appcred.grant_type, error.type (the OAuth error, an
//     "http_<status>", "timeout", "canceled" or "other") and appcred.aadsts (the first AADSTS code);
//   - appcred.token.request.duration: their duration in seconds, retries included (histogram).
//
// Every metric carries appcred.client_id and server.address (the authority
// host). Hits and misses are read from the cache's own atomic counters when mp
// collects, so a cache hit costs nothing more and still allocates nothing.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("WithMeterProvider: provider is nil")
		}
		c.meterProvider = mp
		return nil
	}
}

// WithTracerProvider records a span "appcred.TokenRequest" with tp for every
// token request sent to the authority (never for a cache hit; off by
// default), with the attributes server.address, appcred.tenant,
// appcred.grant_type, appcred.attempts (HTTP attempts, retries included) and
// appcred.outcome, plus error.type and appcred.aadsts when it failed. Spans
// never carry a secret, an assertion or a token, nor the authority's error
// text. The span of a request a cache miss starts is a child of the caller's
// span (of the first caller's, when concurrent misses share one request); a
// background refresh's span is a root span, since it outlives its caller.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("WithTracerProvider: provider is nil")
		}
		c.tracerProvider = tp
		return nil
	}
}

// telemetry is a Client's OpenTelemetry instruments; nil when neither
// provider was given.
type telemetry struct {
	tracer   trace.Tracer // nil without a tracer provider
	host     string
	common   []attribute.KeyValue // client id and host, on every metric
	requests metric.Int64Counter  // nil without a meter provider
	duration metric.Float64Histogram
	reg      metric.Registration
}

// newTelemetry builds c's instruments. Cache metrics are observed from
// c.cache's counters at collection time; the registration ends with Close.
func newTelemetry(c *Client) (*telemetry, error) {
	cfg := c.cfg
	if cfg.meterProvider == nil && cfg.tracerProvider == nil {
		return nil, nil
	}
	t := &telemetry{host: c.info.Host,
		common: []attribute.KeyValue{attrClientID.String(c.clientID), attrHost.String(c.info.Host)}}
	if cfg.tracerProvider != nil {
		t.tracer = cfg.tracerProvider.Tracer(instrumentation, trace.WithInstrumentationVersion(wire.Version))
	}
	if cfg.meterProvider == nil {
		return t, nil
	}
	if err := t.instruments(cfg.meterProvider.Meter(instrumentation, metric.WithInstrumentationVersion(wire.Version)), c); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) instruments(m metric.Meter, c *Client) error {
	var errs [6]error
	t.requests, errs[0] = m.Int64Counter("appcred.token.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Token requests sent to the authority (not cache hits), by outcome."))
	t.duration, errs[1] = m.Float64Histogram("appcred.token.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of token requests to the authority, retries included."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	hits, e2 := m.Int64ObservableCounter("appcred.cache.hits", metric.WithUnit("{lookup}"),
		metric.WithDescription("Cache lookups that returned a token."))
	misses, e3 := m.Int64ObservableCounter("appcred.cache.misses", metric.WithUnit("{lookup}"),
		metric.WithDescription("Cache lookups that found no usable token."))
	refreshes, e4 := m.Int64ObservableCounter("appcred.cache.refreshes", metric.WithUnit("{refresh}"),
		metric.WithDescription("Background refreshes ahead of expiry, by outcome."))
	// An up-down counter, not a gauge: the SDK sums it over the clients that
	// share attributes (a credential's plain and CAE clients), where a gauge
	// would keep the last one observed.
	tokens, e5 := m.Int64ObservableUpDownCounter("appcred.cache.tokens", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens held in the in-memory cache."))
	errs[2], errs[3], errs[4], errs[5] = e2, e3, e4, e5
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	base := metric.WithAttributeSet(attribute.NewSet(t.common...))
	ok := metric.WithAttributeSet(attribute.NewSet(append(t.common[:len(t.common):len(t.common)], attrOutcome.String(outcomeOK))...))
	failed := metric.WithAttributeSet(attribute.NewSet(append(t.common[:len(t.common):len(t.common)], attrOutcome.String(outcomeFailed))...))
	var err error
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.cache.Stats()
		o.ObserveInt64(hits, int64(st.Hits), base)
		o.ObserveInt64(misses, int64(st.Misses), base)
		o.ObserveInt64(refreshes, int64(st.RefreshesOK), ok)
		o.ObserveInt64(refreshes, int64(st.RefreshFailures), failed)
		o.ObserveInt64(tokens, int64(c.cache.Len()), base)
		return nil
	}, hits, misses, refreshes, tokens)
	return err
}

// requestSpan is one token request being recorded.
type requestSpan struct {
	t        *telemetry
	span     trace.Span
	start    time.Time
	grant    string
	attempts int
}

// start begins recording a token request for tenant with grant; it returns
// ctx unchanged and a nil *requestSpan when telemetry is off.
func (t *telemetry) start(ctx context.Context, tenant, grant string) (context.Context, *requestSpan) {
	if t == nil {
		return ctx, nil
	}
	r := &requestSpan{t: t, start: time.Now(), grant: grant}
	if t.tracer != nil {
		ctx, r.span = t.tracer.Start(ctx, "appcred.TokenRequest", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attrHost.String(t.host), attrTenant.String(tenant), attrGrant.String(grant)))
	}
	return ctx, r
}

// attempt counts one HTTP attempt (the form builder runs once per attempt).
func (r *requestSpan) attempt() {
	if r != nil {
		r.attempts++
	}
}

// end records the request's outcome. err has been scrubbed; only its kind
// and AADSTS code are recorded, never its text.
func (r *requestSpan) end(ctx context.Context, err error) {
	if r == nil {
		return
	}
	attrs := []attribute.KeyValue{attrGrant.String(r.grant), attrOutcome.String(outcomeOK)}
	if err != nil {
		attrs[1] = attrOutcome.String(outcomeFailed)
		errType, code := classify(err)
		attrs = append(attrs, attrErrType.String(errType))
		if code != "" {
			attrs = append(attrs, attrAADSTS.String(code))
		}
	}
	if r.span != nil {
		r.span.SetAttributes(append(attrs[1:len(attrs):len(attrs)], attrAttempts.Int(r.attempts))...)
		if err != nil {
			r.span.SetStatus(codes.Error, attrs[2].Value.AsString())
		}
		r.span.End()
	}
	if r.t.requests != nil {
		set := metric.WithAttributes(append(attrs, r.t.common...)...)
		r.t.requests.Add(ctx, 1, set)
		r.t.duration.Record(ctx, time.Since(r.start).Seconds(), set)
	}
}

// classify names a failed token request's kind (the OAuth error, the HTTP
// status, a timeout or cancellation, else "other") and its first AADSTS code.
func classify(err error) (errType, code string) {
	var we *wire.Error
	var re *ResponseError
	switch {
	case errors.As(err, &re) && re.OAuthError != "":
		errType = re.OAuthError
	case errors.As(err, &we) && we.OAuthError != "":
		errType = we.OAuthError
	case we != nil && we.StatusCode != 0:
		errType = "http_" + strconv.Itoa(we.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		errType = "timeout"
	case errors.Is(err, context.Canceled):
		errType = "canceled"
	default:
		errType = "other"
	}
	if len(errType) > 64 { // an authority's error code is short; bound what one can make up
		errType = "other"
	}
	switch {
	case re != nil && len(re.Codes) > 0:
		code = re.Codes[0].String()
	case we != nil && len(we.Codes) > 0:
		code = we.Codes[0].String()
	}
	return errType, code
}

// close stops observing the cache.
func (t *telemetry) close() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// TelemetryOptions are a credential's OpenTelemetry providers
// (CredentialOptions embeds them); nil providers record nothing.
type TelemetryOptions struct {
	// MeterProvider records the credential's cache and token request metrics
	// (see WithMeterProvider).
	MeterProvider metric.MeterProvider
	// TracerProvider records a span per token request sent to the authority,
	// never per cache hit (see WithTracerProvider). It complements
	// ClientOptions.TracingProvider, azcore's tracing abstraction, which gets a
	// span per HTTP attempt: both follow the request's context, so with azcore's
	// OpenTelemetry bridge (azotel) over the same provider each attempt's span
	// is a child of its token request's span.
	TracerProvider trace.TracerProvider
}

// telemetry applies o to a credential's Client configuration.
func (o TelemetryOptions) telemetry(cfg *config) error {
	cfg.meterProvider, cfg.tracerProvider = o.MeterProvider, o.TracerProvider
	return nil
}
