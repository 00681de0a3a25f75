package wire

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MaxBodyBytes is the largest response body a Client reads (1 MiB).
const MaxBodyBytes = 1 << 20

// SKU is sent as x-client-SKU; Version as x-client-VER.
const SKU = "appcred.Go"

// Version is appcred's version, sent as x-client-VER.
var Version = "0.1.0"

// Client sends token and discovery requests. The zero value is not usable;
// create one with New. Fields may be changed before first use, not after.
type Client struct {
	// HTTP sends the requests. New fills in DefaultHTTPClient when given nil.
	HTTP *http.Client
	// AppName and AppVersion, when set, are sent as x-app-name and x-app-ver.
	AppName, AppVersion string
	// MaxRetries is the number of retries after the first attempt: 0 means
	// DefaultMaxRetries, a negative value disables retries.
	MaxRetries int
	// BaseDelay is the first backoff step (0 means DefaultBaseDelay, a
	// negative value no delay).
	BaseDelay time.Duration
	// MaxDelay caps a computed backoff step (0 means DefaultMaxDelay, a
	// negative value no cap but NoCap).
	MaxDelay time.Duration
	// MaxRetryAfter is the longest server-requested wait honoured (0 means
	// DefaultMaxRetryAfter, a negative value NoCap). A longer Retry-After
	// returns the error at once.
	MaxRetryAfter time.Duration
	// TryTimeout bounds each attempt (sending and reading the answer); an
	// attempt that runs out is retried like a transport error. 0: no bound
	// beyond the HTTP client's own.
	TryTimeout time.Duration
	// RetryStatusCodes, when not nil, replaces the retried statuses (429,
	// 500, 502, 503, 504); an empty, non-nil slice retries no status.
	RetryStatusCodes []int
	// ShouldRetry, when set, decides whether to retry instead of the status
	// and transport-error rules (resp and err are never both set). A
	// cancelled or expired context still ends the retries first.
	ShouldRetry func(resp *http.Response, err error) bool
	// UserAgent, when set, is sent as User-Agent (see UserAgent).
	UserAgent string
	// Send, when set, sends each attempt instead of HTTP.Do (credentials
	// route attempts through an azcore pipeline whose transport is HTTP).
	// The response body is read under MaxBodyBytes as usual.
	Send func(*http.Request) (*http.Response, error)
	// Logger receives one debug record per retry (endpoint without query,
	// status, delay); nil disables logging. Form values are never logged.
	Logger *slog.Logger

	// sleep waits between attempts; tests replace it to observe delays.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client that sends through hc, or through DefaultHTTPClient()
// when hc is nil.
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = DefaultHTTPClient()
	}
	return &Client{HTTP: hc}
}

// DefaultHTTPClient returns an *http.Client with bounded timeouts (10 s TLS
// handshake, 30 s for response headers, 60 s per attempt overall), TLS 1.2 or
// newer, and redirects disabled so a token request is never re-sent elsewhere.
// It trusts the system roots plus the PEM certificates in extraCAs (for
// example a local authority's CA).
func DefaultHTTPClient(extraCAs ...[]byte) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 16
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(extraCAs) > 0 {
		t.TLSClientConfig = lazyRootsConfig(extraCAs)
	}
	return &http.Client{
		Transport:     t,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lazyRootsConfig verifies servers against the system roots plus extraCAs,
// loading the roots on the first handshake rather than now: a process that
// answers from its token cache never pays for parsing them. Verification is
// what crypto/tls does itself (chain to the roots, the server name, any key
// usage as Go's default), done in VerifyConnection because the pool is built
// late.
func lazyRootsConfig(extraCAs [][]byte) *tls.Config {
	roots := sync.OnceValue(func() *x509.CertPool { return TrustingPool(extraCAs...) })
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below, never skipped
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: server sent no certificate")
			}
			opts := x509.VerifyOptions{DNSName: cs.ServerName, Roots: roots(), Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}
}

// TrustingPool returns the system roots (an empty pool where the system has
// none) plus the PEM certificates in extraCAs.
func TrustingPool(extraCAs ...[]byte) *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, pem := range extraCAs {
		pool.AppendCertsFromPEM(pem)
	}
	return pool
}

// response is a fully read HTTP response.
type response struct {
	status   int
	header   http.Header
	body     []byte
	attempts int
}

// FormBuilder builds the form and extra headers (for example Authorization
// for client_secret_basic) of one attempt of a token request. PostFormFunc
// calls it before every attempt, so a client assertion, whose jti an
// authority accepts once, is signed afresh for each retry.
type FormBuilder func(ctx context.Context) (url.Values, http.Header, error)

// PostForm posts form to endpoint (a token endpoint) with the telemetry
// headers plus hdr, retrying transient failures with the same form, and
// decodes the token response. Every failure is an *Error. Use PostFormFunc
// when the form holds a single-use proof such as a client assertion.
func (c *Client) PostForm(ctx context.Context, endpoint string, form url.Values, hdr http.Header) (*TokenResponse, error) {
	return c.PostFormFunc(ctx, endpoint, func(context.Context) (url.Values, http.Header, error) { return form, hdr, nil })
}

// PostFormFunc is PostForm with the form and headers built by build before
// each attempt (retries included). An error from build ends the request and is
// returned as is; every other failure is an *Error.
func (c *Client) PostFormFunc(ctx context.Context, endpoint string, build FormBuilder) (*TokenResponse, error) {
	const op = "token request"
	if build == nil {
		return nil, &Error{Op: op, Endpoint: redactURL(endpoint), Err: errors.New("no form builder given")}
	}
	resp, sent, err := c.do(ctx, op, http.MethodPost, endpoint, build)
	if err != nil {
		return nil, err
	}
	tok, perr := ParseTokenResponse(resp.body)
	if perr == nil {
		return tok, nil
	}
	e := c.newError(op, endpoint, resp)
	var oauth Error
	if ParseError(resp.body, &oauth) == nil && oauth.OAuthError != "" {
		_ = ParseError(resp.body, e) // a 200 carrying an OAuth error
	} else {
		e.Err = perr
	}
	scrub(e, sent.form, sent.hdr)
	return nil, e
}

// GetJSON fetches rawURL and decodes its JSON object body into v (a pointer),
// with the same headers, retries and limits as PostForm. Every failure is an
// *Error; a non-2xx response has its OAuth / Entra error body parsed.
func (c *Client) GetJSON(ctx context.Context, rawURL string, v any) error {
	const op = "discovery request"
	resp, _, err := c.do(ctx, op, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	if err := decodeObject(resp.body, v); err != nil {
		e := c.newError(op, rawURL, resp)
		e.Err = err
		return e
	}
	return nil
}

// sentForm is the form and headers of the last attempt, kept to scrub them
// from error text.
type sentForm struct {
	form url.Values
	hdr  http.Header
}

// do runs the shared retry loop and returns a 2xx response or an error: an
// *Error, or build's own error. A POST builds its form with build before every
// attempt; a GET has no body (build is nil).
func (c *Client) do(ctx context.Context, op, method, endpoint string, build FormBuilder) (*response, sentForm, error) {
	var sent sentForm
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sent, &Error{Op: op, Endpoint: redactURL(endpoint), Err: errors.New("invalid endpoint URL: want an absolute http(s) URL")}
	}
	requestID := uuid.NewString()
	maxRetries := c.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	var last *Error
	for attempt := 0; ; attempt++ {
		body := ""
		if build != nil {
			form, hdr, err := build(ctx)
			if err != nil {
				return nil, sent, err
			}
			sent = sentForm{form: form, hdr: hdr}
			body = form.Encode()
		}
		resp, err := c.attempt(ctx, method, endpoint, body, sent.hdr, requestID)
		var retry bool
		switch {
		case err != nil:
			last = &Error{Op: op, Endpoint: redactURL(endpoint), CorrelationID: requestID, Err: err}
			retry = c.retryable(ctx, nil, err)
		case resp.status >= 200 && resp.status < 300:
			resp.attempts = attempt + 1
			return resp, sent, nil
		default:
			last = c.newError(op, endpoint, resp)
			if perr := ParseError(resp.body, last); perr != nil {
				last.Err = perr
			}
			if last.CorrelationID == "" {
				last.CorrelationID = requestID
			}
			retry = c.retryable(ctx, resp, nil)
		}
		last.Attempts = attempt + 1
		scrub(last, sent.form, sent.hdr)
		if !retry || attempt >= maxRetries {
			return nil, sent, last
		}
		wait := backoff(attempt, c.baseDelay(), c.maxDelay())
		if last.RetryAfter > 0 {
			if last.RetryAfter > c.maxRetryAfter() {
				return nil, sent, last
			}
			wait = last.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return nil, sent, last
		}
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "appcred: retrying request",
				slog.String("op", op), slog.String("endpoint", last.Endpoint),
				slog.Int("status", last.StatusCode), slog.Int("attempt", attempt+1),
				slog.Duration("delay", wait), slog.String("client_request_id", requestID))
		}
		sleep := c.sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if sleep(ctx, wait) != nil {
			return nil, sent, last
		}
	}
}

// attempt sends one request and reads its body under the size cap.
func (c *Client) attempt(ctx context.Context, method, endpoint, body string, hdr http.Header, requestID string) (*response, error) {
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	if c.TryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.TryTimeout)
		defer cancel() // the body is read before returning
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return nil, errors.New("cannot build request")
	}
	h := req.Header
	h["Accept"] = acceptJSON
	if method == http.MethodPost {
		h["Content-Type"] = formType
	}
	h["Client-Request-Id"] = []string{requestID}
	h["Return-Client-Request-Id"] = trueVal
	h["X-Client-Sku"] = skuVal
	h["X-Client-Ver"] = []string{Version}
	h["X-Client-Os"] = osVal
	h["X-Client-Cpu"] = cpuVal
	if c.UserAgent != "" {
		h["User-Agent"] = []string{c.UserAgent}
	}
	if c.AppName != "" {
		h.Set("x-app-name", c.AppName)
	}
	if c.AppVersion != "" {
		h.Set("x-app-ver", c.AppVersion)
	}
	for k, vs := range hdr {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	send := c.Send
	if send == nil {
		hc := c.HTTP
		if hc == nil {
			hc = http.DefaultClient
		}
		send = hc.Do
	}
	resp, err := send(req)
	if err != nil {
		return nil, transportCause(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	data, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// readBody reads at most MaxBodyBytes; a longer body is ErrBodyTooLarge, one
// cut short of its Content-Length (length ≥ 0) is ErrTruncatedBody.
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if length >= 0 {
		data := make([]byte, length)
		n, err := io.ReadFull(body, data)
		if err != nil && !(err == io.EOF && length == 0) {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: got %d of %d bytes", ErrTruncatedBody, n, length)
			}
			return nil, fmt.Errorf("reading response body: %w", transportCause(err))
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxBodyBytes+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: got %d bytes", ErrTruncatedBody, len(data))
		}
		return nil, fmt.Errorf("reading response body: %w", transportCause(err))
	}
	if len(data) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return data, nil
}

// UserAgent is the User-Agent of appcred's credentials, led by the
// application's id when given: "[appID ]appcred.Go/0.1.0 (go1.26.0; linux)".
func UserAgent(appID string) string {
	ua := SKU + "/" + Version + " (" + runtime.Version() + "; " + runtime.GOOS + ")"
	if appID != "" {
		ua = appID + " " + ua
	}
	return ua
}

// Shared, never-modified header values (the transport only reads them).
var (
	acceptJSON = []string{"application/json"}
	formType   = []string{"application/x-www-form-urlencoded"}
	trueVal    = []string{"true"}
	skuVal     = []string{SKU}
	osVal      = []string{runtime.GOOS}
	cpuVal     = []string{runtime.GOARCH}
)

// transportCause strips *url.Error, whose text repeats the full URL (query
// included), keeping the underlying cause.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// newError starts an *Error from a response: status, Retry-After, and the
// trace / correlation ids from headers (the body, parsed later, overrides them).
func (c *Client) newError(op, endpoint string, resp *response) *Error {
	e := &Error{Op: op, Endpoint: redactURL(endpoint), StatusCode: resp.status,
		RetryAfter: parseRetryAfter(resp.header, time.Now())}
	e.TraceID = resp.header.Get("x-ms-request-id")
	e.CorrelationID = resp.header.Get("client-request-id")
	e.Attempts = resp.attempts
	return e
}

func (c *Client) baseDelay() time.Duration {
	return orDefault(c.BaseDelay, DefaultBaseDelay, 0)
}

func (c *Client) maxDelay() time.Duration {
	return orDefault(c.MaxDelay, DefaultMaxDelay, NoCap)
}

func (c *Client) maxRetryAfter() time.Duration {
	return orDefault(c.MaxRetryAfter, DefaultMaxRetryAfter, NoCap)
}

// orDefault is d when positive, def when 0, negative when negative.
func orDefault(d, def, negative time.Duration) time.Duration {
	switch {
	case d > 0:
		return d
	case d < 0:
		return negative
	}
	return def
}

// scrub removes the secret values of the request (form and headers) from e,
// in case an authority echoes the request back in its error text.
func scrub(e *Error, form url.Values, hdr http.Header) {
	var s Secrets
	s.AddRequest(form, hdr)
	if !s.Empty() {
		s.scrubFields(e)
	}
}
