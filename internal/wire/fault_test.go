package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Values that must never show up in error text or logs.
const (
	testSecret    = "s3cr3t~VALUE+with/odd=chars"
	testAssertion = "eyJhbGciOiJQUzI1NiJ9.ASSERTION-PAYLOAD.SIG-PART"
	testToken     = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.TOKEN-BODY.TOKEN-SIG"
	testRefresh   = "0.REFRESH-TOKEN-VALUE"
)

// faultServer is a real TLS server on 127.0.0.1 whose handler is chosen per
// test; it counts the requests it receives.
type faultServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newFaultServer(t testing.TB, h func(n int, w http.ResponseWriter, r *http.Request)) *faultServer {
	t.Helper()
	fs := &faultServer{}
	fs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(fs.hits.Add(1))
		h(n, w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

// recorder collects the delays the retry loop asked for, without sleeping.
type recorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

// testClient returns a Client for fs with tiny backoff; when rec is non-nil
// the client records delays instead of sleeping.
func testClient(fs *faultServer, rec *recorder) *Client {
	c := New(fs.Client())
	c.BaseDelay = time.Millisecond
	c.MaxDelay = 5 * time.Millisecond
	if rec != nil {
		c.sleep = rec.sleep
	}
	return c
}

func tokenForm() url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {"11111111-2222-3333-4444-555555555555"},
		"client_secret":         {testSecret},
		"client_assertion":      {testAssertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"scope":                 {"api://res/.default"},
	}
}

func writeToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, testToken)
}

func writeJSONError(w http.ResponseWriter, status int, code string, aadsts int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":"AADSTS%d: failure.\r\nTrace ID: t1\r\nCorrelation ID: c1\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[%d],"trace_id":"t1","correlation_id":"c1"}`, code, aadsts, aadsts)
}

// resetConn hijacks the connection and closes it with an RST (SO_LINGER 0).
func resetConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		if tcp, ok := nc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
	}
	conn.Close()
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	return e
}

func TestRetryAfterSecondsThenSuccess(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.Header().Set("Retry-After", "2")
			writeJSONError(w, http.StatusTooManyRequests, "temporarily_unavailable", 90055)
			return
		}
		writeToken(w)
	})
	rec := &recorder{}
	tok, err := testClient(fs, rec).PostForm(context.Background(), fs.URL+"/t/oauth2/v2.0/token", tokenForm(), nil)
	if err != nil {
		t.Fatalf("PostForm: %v", err)
	}
	if tok.AccessToken != testToken || fs.hits.Load() != 3 {
		t.Fatalf("token %q after %d attempts, want the token after 3", tok.AccessToken, fs.hits.Load())
	}
	if len(rec.delays) != 2 || rec.delays[0] != 2*time.Second || rec.delays[1] != 2*time.Second {
		t.Fatalf("delays %v, want [2s 2s] from Retry-After", rec.delays)
	}
}

func TestRetryAfterHTTPDateThenSuccess(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", time.Now().Add(5*time.Second).UTC().Format(http.TimeFormat))
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, "Too Many Requests")
			return
		}
		writeToken(w)
	})
	rec := &recorder{}
	if _, err := testClient(fs, rec).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil); err != nil {
		t.Fatalf("PostForm: %v", err)
	}
	if fs.hits.Load() != 2 || len(rec.delays) != 1 {
		t.Fatalf("%d attempts, delays %v; want 2 attempts, 1 delay", fs.hits.Load(), rec.delays)
	}
	if d := rec.delays[0]; d <= 3*time.Second || d > 5*time.Second {
		t.Fatalf("delay %v, want (3s, 5s] from the HTTP-date Retry-After", d)
	}
}

func TestRetryAfterMillisecondHeaders(t *testing.T) {
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		t.Run(name, func(t *testing.T) {
			fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.Header().Set(name, "250")
					w.Header().Set("Retry-After", "30")
					writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 1)
					return
				}
				writeToken(w)
			})
			rec := &recorder{}
			if _, err := testClient(fs, rec).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil); err != nil {
				t.Fatal(err)
			}
			if len(rec.delays) != 1 || rec.delays[0] != 250*time.Millisecond {
				t.Fatalf("delays %v, want [250ms]", rec.delays)
			}
		})
	}
}

func TestRetryAfterBeyondCapReturnsAtOnce(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		writeJSONError(w, http.StatusTooManyRequests, "temporarily_unavailable", 90055)
	})
	rec := &recorder{}
	_, err := testClient(fs, rec).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	e := asError(t, err)
	if e.StatusCode != 429 || e.RetryAfter != 120*time.Second || fs.hits.Load() != 1 || len(rec.delays) != 0 {
		t.Fatalf("status %d retry-after %v after %d attempts, delays %v; want 429, 2m0s, 1 attempt, none",
			e.StatusCode, e.RetryAfter, fs.hits.Load(), rec.delays)
	}
}

// A retry resends the same form through PostForm, and calls the builder again
// through PostFormFunc, so each attempt carries a freshly built proof.
func Test503ThenSuccessRebuildsForm(t *testing.T) {
	var bodies []url.Values
	var mu sync.Mutex
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("ParseForm: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, r.PostForm)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeToken(w)
	})
	tok, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 3599 || fs.hits.Load() != 2 {
		t.Fatalf("expires_in %d after %d attempts", tok.ExpiresIn, fs.hits.Load())
	}
	want := tokenForm().Encode()
	if len(bodies) != 2 || bodies[0].Encode() != want || bodies[1].Encode() != want {
		t.Fatalf("PostForm retry did not resend the same form: %d bodies", len(bodies))
	}

	fs.hits.Store(0)
	bodies = nil
	var built int
	build := func(ctx context.Context) (url.Values, http.Header, error) {
		built++
		f := tokenForm()
		f.Set("client_assertion", fmt.Sprintf("assertion-jti-%d", built))
		return f, http.Header{"X-Attempt": {strconv.Itoa(built)}}, nil
	}
	if _, err := testClient(fs, nil).PostFormFunc(context.Background(), fs.URL+"/token", build); err != nil {
		t.Fatal(err)
	}
	if built != 2 || len(bodies) != 2 {
		t.Fatalf("builder called %d times for %d attempts, want 2 and 2", built, len(bodies))
	}
	for i, b := range bodies {
		if got, want := b.Get("client_assertion"), fmt.Sprintf("assertion-jti-%d", i+1); got != want {
			t.Fatalf("attempt %d sent assertion %q, want %q", i+1, got, want)
		}
	}
}

// A builder error ends the request at once, returned as is; nothing is sent.
func TestFormBuilderErrorStopsRequest(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	boom := errors.New("signing failed")
	var built int
	_, err := testClient(fs, nil).PostFormFunc(context.Background(), fs.URL+"/token",
		func(context.Context) (url.Values, http.Header, error) {
			built++
			if built == 2 {
				return nil, nil, boom
			}
			return tokenForm(), nil, nil
		})
	if !errors.Is(err, boom) || built != 2 || fs.hits.Load() != 1 {
		t.Fatalf("err %v after %d builds and %d requests; want the builder's error after 2 and 1", err, built, fs.hits.Load())
	}
	if _, err := testClient(fs, nil).PostFormFunc(context.Background(), fs.URL+"/token", nil); err == nil {
		t.Fatal("nil builder accepted")
	}
}

func TestRetriesAreBounded(t *testing.T) {
	for _, status := range []int{429, 500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				writeJSONError(w, status, "temporarily_unavailable", 1)
			})
			_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
			e := asError(t, err)
			if e.StatusCode != status || fs.hits.Load() != 1+DefaultMaxRetries || e.Attempts != 1+DefaultMaxRetries {
				t.Fatalf("status %d, server saw %d, error says %d attempts; want %d, %d", e.StatusCode, fs.hits.Load(), e.Attempts, status, 1+DefaultMaxRetries)
			}
		})
	}
}

func TestNoRetryOn400(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusUnauthorized, "invalid_client", 7000215)
	})
	_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	e := asError(t, err)
	if fs.hits.Load() != 1 || e.OAuthError != "invalid_client" || !HasCode(err, 7000215) || HasCode(err, 70011) {
		t.Fatalf("%d attempts, code %q, codes %v", fs.hits.Load(), e.OAuthError, e.Codes)
	}
}

func TestConnectionReset(t *testing.T) {
	t.Run("then success", func(t *testing.T) {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				resetConn(t, w)
				return
			}
			writeToken(w)
		})
		if _, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil); err != nil {
			t.Fatalf("PostForm after resets: %v", err)
		}
		if fs.hits.Load() != 3 {
			t.Fatalf("%d attempts, want 3", fs.hits.Load())
		}
	})
	t.Run("always", func(t *testing.T) {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) { resetConn(t, w) })
		_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
		e := asError(t, err)
		if e.StatusCode != 0 || e.Err == nil || fs.hits.Load() != 1+DefaultMaxRetries {
			t.Fatalf("status %d err %v after %d attempts", e.StatusCode, e.Err, fs.hits.Load())
		}
	})
}

func TestTruncatedBody(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"access_token":"abc`)
	})
	_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	if !errors.Is(err, ErrTruncatedBody) {
		t.Fatalf("err = %v, want ErrTruncatedBody", err)
	}
	if e := asError(t, err); e.Attempts != 1+DefaultMaxRetries || fs.hits.Load() != 1+DefaultMaxRetries {
		t.Fatalf("attempts %d / server %d", e.Attempts, fs.hits.Load())
	}
}

func TestNonJSONBodies(t *testing.T) {
	t.Run("200 html", func(t *testing.T) {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>proxy login</html>")
		})
		_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
		if !errors.Is(err, ErrNotJSON) || fs.hits.Load() != 1 {
			t.Fatalf("err = %v after %d attempts, want ErrNotJSON after 1", err, fs.hits.Load())
		}
		if e := asError(t, err); e.StatusCode != 200 {
			t.Fatalf("status %d", e.StatusCode)
		}
	})
	t.Run("plain-text 429", func(t *testing.T) {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, "Too Many Requests")
		})
		_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
		e := asError(t, err)
		if e.StatusCode != 429 || !errors.Is(err, ErrNotJSON) || fs.hits.Load() != 1+DefaultMaxRetries {
			t.Fatalf("status %d err %v after %d attempts", e.StatusCode, err, fs.hits.Load())
		}
	})
	t.Run("wrong types", func(t *testing.T) {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"access_token":["x"],"expires_in":3599}`)
		})
		_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
		if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "access_token") {
			t.Fatalf("err = %v, want ErrInvalidResponse naming access_token", err)
		}
	})
}

func TestHugeBody(t *testing.T) {
	chunk := strings.Repeat("x", 64<<10)
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if withLength {
					w.Header().Set("Content-Length", strconv.Itoa(10<<20))
				}
				fmt.Fprint(w, `{"access_token":"`)
				for i := 0; i < (10<<20)/len(chunk)-1; i++ {
					if _, err := fmt.Fprint(w, chunk); err != nil {
						return // client hung up, as it should
					}
				}
			})
			_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
			if !errors.Is(err, ErrBodyTooLarge) || fs.hits.Load() != 1 {
				t.Fatalf("err = %v after %d attempts, want ErrBodyTooLarge after 1", err, fs.hits.Load())
			}
		})
	}
}

func TestServerNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := testClient(fs, nil).PostForm(ctx, fs.URL+"/token", tokenForm(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	asError(t, err)
	if ctx.Err() == nil {
		t.Fatal("returned before the context deadline without an answer")
	}
	if fs.hits.Load() != 1 {
		t.Fatalf("%d attempts, want 1", fs.hits.Load())
	}
}

func TestWaitPastDeadlineReturnsAtOnce(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 1)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &recorder{}
	_, err := testClient(fs, rec).PostForm(ctx, fs.URL+"/token", tokenForm(), nil)
	e := asError(t, err)
	if e.StatusCode != 503 || len(rec.delays) != 0 || fs.hits.Load() != 1 || ctx.Err() != nil {
		t.Fatalf("status %d, delays %v, %d attempts, ctx %v", e.StatusCode, rec.delays, fs.hits.Load(), ctx.Err())
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	rec := &recorder{}
	c := testClient(fs, rec)
	c.BaseDelay, c.MaxDelay = 100*time.Millisecond, 250*time.Millisecond
	_, _ = c.PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	if len(rec.delays) != DefaultMaxRetries {
		t.Fatalf("delays %v", rec.delays)
	}
	limits := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}
	for i, d := range rec.delays {
		if d < 0 || d > limits[i] {
			t.Fatalf("delay %d = %v, want within [0, %v]", i, d, limits[i])
		}
	}
}
