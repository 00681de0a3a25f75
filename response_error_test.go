package appcred

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/internal/wire"
)

// sameFields fails unless re carries every field of we with the same value,
// and has no exported field we lacks (so the two types cannot drift apart).
func sameFields(t *testing.T, re *ResponseError, we *wire.Error) {
	t.Helper()
	rv, wv := reflect.ValueOf(re).Elem(), reflect.ValueOf(we).Elem()
	exported := 0
	for i := range rv.NumField() {
		if rv.Type().Field(i).IsExported() {
			exported++
		}
	}
	if exported != wv.NumField() {
		t.Errorf("ResponseError has %d exported fields, wire.Error %d", exported, wv.NumField())
	}
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		f := rv.FieldByName(name)
		if !f.IsValid() || f.Type() != wv.Field(i).Type() {
			t.Errorf("ResponseError lacks field %s %s", name, wv.Field(i).Type())
			continue
		}
		if !reflect.DeepEqual(f.Interface(), wv.Field(i).Interface()) {
			t.Errorf("field %s = %v, want %v", name, f.Interface(), wv.Field(i).Interface())
		}
	}
}

// Every field of the internal error reaches the public one, whose text and
// chain are the original error's.
func TestResponseErrorCarriesEveryField(t *testing.T) {
	cause := errors.New("connection reset")
	we := &wire.Error{Op: "token request", Endpoint: "https://login.example/t/oauth2/v2.0/token", StatusCode: 400,
		OAuthError: "invalid_grant", SubError: "token_expired", Codes: []aadsts.Code{50013, 7000215},
		Description: "AADSTS50013: Assertion failed.\r\nTrace ID: t1", TraceID: "t1", CorrelationID: "c1",
		Timestamp: "2016-01-09 02:02:12Z", ErrorURI: "https://login.example/error?code=50013",
		Claims: `{"access_token":{}}`, RetryAfter: 3 * time.Second, Attempts: 2, Err: cause}
	failure := fmt.Errorf("outer: %w", we)
	err := responseError(failure)
	re, ok := err.(*ResponseError)
	if !ok {
		t.Fatalf("responseError returned %T, want *ResponseError", err)
	}
	sameFields(t, re, we)
	if re.Error() != failure.Error() {
		t.Errorf("text %q, want the failure's %q", re.Error(), failure.Error())
	}
	var got *wire.Error
	if !errors.As(err, &got) || got != we || !errors.Is(err, cause) {
		t.Error("the original chain is not reachable through the ResponseError")
	}
	if !re.HasCode(aadsts.InvalidClientSecret) || re.HasCode(aadsts.InvalidScope) || !HasCode(err, 50013) {
		t.Errorf("HasCode wrong for codes %v", re.Codes)
	}
	if responseError(err) != err {
		t.Error("a ResponseError was wrapped twice")
	}
	plain := errors.New("assertion callback: no token file")
	if responseError(plain) != plain || HasCode(plain, 50013) {
		t.Error("an error without an authority answer became a ResponseError")
	}
	if responseError(nil) != nil {
		t.Error("responseError(nil) is not nil")
	}
}

// A ResponseError built by hand (a test double) formats its own fields and
// unwraps to its cause.
func TestResponseErrorByHand(t *testing.T) {
	re := &ResponseError{StatusCode: 401, OAuthError: "invalid_client", Codes: []aadsts.Code{aadsts.InvalidClientSecret},
		Description: "Invalid client secret provided.\r\nTrace ID: abc", TraceID: "abc"}
	want := "request failed: 401 invalid_client AADSTS7000215: Invalid client secret provided. (trace abc)"
	if got := re.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	re.Err = context.DeadlineExceeded
	if !errors.Is(re, context.DeadlineExceeded) {
		t.Error("a hand-made ResponseError does not unwrap to Err")
	}
	if (*ResponseError)(nil).HasCode(aadsts.InvalidClientSecret) {
		t.Error("a nil ResponseError has a code")
	}
}

// Through a Client: a refused discovery is a *ResponseError that still
// matches authority.ErrDiscovery; an oversized token response is one whose
// cause is wire.ErrBodyTooLarge; an error of the caller's assertion callback
// is not one.
func TestResponseErrorThroughClient(t *testing.T) {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /missing/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprint(w, `{"error":"invalid_request","error_codes":[90002],"error_description":"AADSTS90002: Tenant not found.","trace_id":"tr-9"}`)
	})
	mux.HandleFunc("GET /big/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"token_endpoint_auth_methods_supported":["client_secret_post"]}`,
			srv.URL+"/big", srv.URL+"/big/token")
	})
	mux.HandleFunc("POST /big/token", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"access_token":"` + strings.Repeat("a", 2<<20) + `"}`))
	})
	srv = httptest.NewTLSServer(mux)
	defer srv.Close()
	acquire := func(path string, p Proof) error {
		t.Helper()
		c, err := New(srv.URL+path, "client-1", p, WithGenericIssuer(), WithHTTPClient(srv.Client()), WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.AcquireTokenForClient(context.Background(), []string{"read"})
		return err
	}

	err := acquire("/missing", FromSecret("s3cret-never-shown"))
	var re *ResponseError
	if !errors.As(err, &re) || !errors.Is(err, authority.ErrDiscovery) {
		t.Fatalf("refused discovery: %T %v, want a *ResponseError matching ErrDiscovery", err, err)
	}
	if re.Op != "discovery request" || re.StatusCode != 404 || re.OAuthError != "invalid_request" ||
		!re.HasCode(aadsts.TenantNotFound) || re.TraceID != "tr-9" || re.Error() != err.Error() {
		t.Errorf("refused discovery: %+v", re)
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatal("the internal error left the chain")
	}
	sameFields(t, re, we)

	err = acquire("/big", FromSecret("s3cret-never-shown"))
	re = nil
	if !errors.As(err, &re) || !errors.Is(err, wire.ErrBodyTooLarge) || !errors.Is(re.Err, wire.ErrBodyTooLarge) {
		t.Fatalf("oversized response: %T %v, want a *ResponseError caused by ErrBodyTooLarge", err, err)
	}
	if strings.Contains(err.Error(), "s3cret-never-shown") || strings.Contains(err.Error(), "aaaa") {
		t.Errorf("error text leaks the secret or the body: %v", err)
	}

	mine := errors.New("no token file yet")
	err = acquire("/big", FromAssertion(func(context.Context, AssertionRequest) (string, error) { return "", mine }))
	if !errors.Is(err, mine) || errors.As(err, &re) {
		t.Fatalf("callback failure: %T %v, want the callback's error and no *ResponseError", err, err)
	}
}
