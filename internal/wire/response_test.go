package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// entraExample is the documented error body (entra-protocol.md §5.2).
const entraExample = `{"error":"invalid_scope",
 "error_description":"AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope https://example.contoso.com/activity.read isn't valid.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z",
 "error_codes":[70011],"timestamp":"2016-01-09 02:02:12Z","trace_id":"0000aaaa-11bb-cccc-dd22-eeeeee333333","correlation_id":"aaaa0000-bb11-2222-33cc-444444dddddd",
 "error_uri":"https://login.microsoftonline.com/error?code=70011"}`

func TestParseTokenResponseNumbersAndStrings(t *testing.T) {
	cases := []struct {
		name, body      string
		in, on, refresh Number
		resource, scope string
	}{
		{"v2 numbers", `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"refresh_in":1800,"access_token":"a"}`, 3599, 0, 1800, "", ""},
		{"v1 strings", `{"token_type":"Bearer","expires_in":"3599","expires_on":"1388452167","not_before":"1388448267","resource":"https://service.contoso.com/","access_token":"a"}`, 3599, 1388452167, 0, "https://service.contoso.com/", ""},
		{"float", `{"access_token":"a","expires_in":3599.7}`, 3599, 0, 0, "", ""},
		{"only expires_on", `{"access_token":"a","expires_on":1700000000}`, 0, 1700000000, 0, "", ""},
		{"empty string ignored", `{"access_token":"a","expires_in":"60","refresh_in":""}`, 60, 0, 0, "", ""},
		{"obo", `{"access_token":"a","expires_in":60,"scope":"api://x/.default openid","refresh_token":"r","id_token":"i","client_info":"e30"}`, 60, 0, 0, "", "api://x/.default openid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := ParseTokenResponse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if tok.ExpiresIn != c.in || tok.ExpiresOn != c.on || tok.RefreshInSeconds != c.refresh || tok.Resource != c.resource || tok.Scope != c.scope {
				t.Fatalf("got %+v", tok)
			}
		})
	}
}

// token_type is case-insensitive (RFC 6749 §5.1): any case of "bearer" becomes
// "Bearer", other types are kept as sent.
func TestParseTokenResponseNormalizesBearer(t *testing.T) {
	for sent, want := range map[string]string{"bearer": "Bearer", "BEARER": "Bearer", " Bearer ": "Bearer",
		"Bearer": "Bearer", "": "", "DPoP": "DPoP", "pop": "pop"} {
		tok, err := ParseTokenResponse([]byte(`{"access_token":"a","expires_in":60,"token_type":"` + sent + `"}`))
		if err != nil {
			t.Fatalf("token_type %q: %v", sent, err)
		}
		if tok.TokenType != want {
			t.Errorf("token_type %q: got %q, want %q", sent, tok.TokenType, want)
		}
	}
}

func TestParseTokenResponseRejects(t *testing.T) {
	cases := map[string]struct {
		body string
		want error
		name string // a word the message must contain
	}{
		"empty":            {"", ErrNotJSON, "empty"},
		"array":            {`[1]`, ErrNotJSON, "not JSON"},
		"text":             {"Too Many Requests", ErrNotJSON, `"T"`},
		"truncated":        {`{"access_token":"abc`, ErrNotJSON, "malformed"},
		"no token":         {`{"expires_in":3599}`, ErrInvalidResponse, "access_token"},
		"blank token":      {`{"access_token":"  ","expires_in":3599}`, ErrInvalidResponse, "access_token"},
		"no expiry":        {`{"access_token":"a"}`, ErrInvalidResponse, "expires_in"},
		"token wrong type": {`{"access_token":5,"expires_in":1}`, ErrInvalidResponse, "access_token"},
		"number as bool":   {`{"access_token":"a","expires_in":true}`, ErrInvalidResponse, "boolean"},
		"number as word":   {`{"access_token":"a","expires_in":"soon"}`, ErrInvalidResponse, "non-numeric"},
		"oauth error":      {`{"error":"invalid_client"}`, ErrInvalidResponse, "OAuth error"},
		"negative refresh": {`{"access_token":"a","expires_in":5,"refresh_in":-1}`, ErrInvalidResponse, "refresh_in"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTokenResponse([]byte(c.body))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("err = %v, want %v mentioning %q", err, c.want, c.name)
			}
		})
	}
}

func TestExpiresAtAndRefreshIn(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tok := &TokenResponse{AccessToken: "a", ExpiresIn: 3600, ExpiresOn: 1, RefreshInSeconds: 1800}
	if got := tok.ExpiresAt(now); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("ExpiresAt = %v", got)
	}
	if tok.RefreshIn() != 30*time.Minute {
		t.Fatalf("RefreshIn = %v", tok.RefreshIn())
	}
	v1 := &TokenResponse{AccessToken: "a", ExpiresOn: 1_700_000_600}
	if got := v1.ExpiresAt(now); !got.Equal(now.Add(10*time.Minute)) || v1.RefreshIn() != 0 {
		t.Fatalf("ExpiresAt = %v, RefreshIn = %v", got, v1.RefreshIn())
	}
}

func TestParseErrorEntraExample(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, entraExample)
	})
	_, err := testClient(fs, nil).PostForm(context.Background(), fs.URL+"/contoso/oauth2/v2.0/token?x=1", tokenForm(), nil)
	e := asError(t, err)
	if e.StatusCode != 400 || e.OAuthError != "invalid_scope" || len(e.Codes) != 1 || e.Codes[0] != 70011 ||
		e.TraceID != "0000aaaa-11bb-cccc-dd22-eeeeee333333" || e.CorrelationID != "aaaa0000-bb11-2222-33cc-444444dddddd" ||
		e.Timestamp != "2016-01-09 02:02:12Z" || e.ErrorURI != "https://login.microsoftonline.com/error?code=70011" ||
		!strings.HasPrefix(e.Description, "AADSTS70011: The provided value") || e.Err != nil {
		t.Fatalf("parsed %+v", e)
	}
	want := "token request to " + fs.URL + "/contoso/oauth2/v2.0/token failed: 400 invalid_scope AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope https://example.contoso.com/activity.read isn't valid. (trace 0000aaaa-11bb-cccc-dd22-eeeeee333333, correlation aaaa0000-bb11-2222-33cc-444444dddddd)"
	if err.Error() != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", err.Error(), want)
	}
}

func TestParseErrorClaimsAndSubError(t *testing.T) {
	var e Error
	body := `{"error":"invalid_grant","suberror":"token_expired","error_codes":["50013",500133],"claims":"{\"access_token\":{\"capolids\":{\"essential\":true}}}"}`
	if err := ParseError([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if e.SubError != "token_expired" || len(e.Codes) != 2 || e.Codes[0] != 50013 || e.Claims != `{"access_token":{"capolids":{"essential":true}}}` {
		t.Fatalf("parsed %+v", e)
	}
	var o Error
	if err := ParseError([]byte(`{"error":"x","claims":{"a": 1}}`), &o); err != nil || o.Claims != `{"a":1}` {
		t.Fatalf("object claims: %q, %v", o.Claims, err)
	}
	if err := ParseError([]byte(`{"error":7}`), &o); !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("wrong type: %v", err)
	}
}

func TestHeadersSent(t *testing.T) {
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	var ids []string
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		h := r.Header
		ids = append(ids, h.Get("client-request-id"))
		if !uuidRE.MatchString(h.Get("client-request-id")) || h.Get("return-client-request-id") != "true" ||
			h.Get("x-client-SKU") != SKU || h.Get("x-client-VER") != Version || h.Get("x-client-OS") != runtime.GOOS ||
			h.Get("x-client-CPU") != runtime.GOARCH || h.Get("x-app-name") != "svc" || h.Get("x-app-ver") != "1.2" ||
			h.Get("Content-Type") != "application/x-www-form-urlencoded" || h.Get("X-Extra") != "yes" {
			t.Errorf("headers: %v", h)
		}
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		writeToken(w)
	})
	c := testClient(fs, nil)
	c.AppName, c.AppVersion = "svc", "1.2"
	if _, err := c.PostForm(context.Background(), fs.URL+"/token", tokenForm(), http.Header{"X-Extra": {"yes"}}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("client-request-id should be stable across retries of one call: %v", ids)
	}
}

func TestGetJSON(t *testing.T) {
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/doc":
			if r.Method != http.MethodGet {
				t.Errorf("method %s", r.Method)
			}
			fmt.Fprint(w, `{"token_endpoint":"https://x/token"}`)
		case "/instance":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance.","error_codes":[50049]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	c := testClient(fs, nil)
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := c.GetJSON(context.Background(), fs.URL+"/doc", &doc); err != nil || doc.TokenEndpoint != "https://x/token" {
		t.Fatalf("GetJSON: %+v, %v", doc, err)
	}
	err := c.GetJSON(context.Background(), fs.URL+"/instance?api-version=1.1", &doc)
	if e := asError(t, err); e.OAuthError != "invalid_instance" || !HasCode(err, 50049) || e.Op != "discovery request" {
		t.Fatalf("invalid_instance: %+v", e)
	}
	err = c.GetJSON(context.Background(), fs.URL+"/missing", &doc)
	if e := asError(t, err); e.StatusCode != 404 || !errors.Is(err, ErrNotJSON) {
		t.Fatalf("404: %v", err)
	}
	if err := c.GetJSON(context.Background(), "ftp://x/y", &doc); err == nil || !strings.Contains(err.Error(), "invalid endpoint URL") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestDefaultHTTPClientDoesNotFollowRedirects(t *testing.T) {
	var redirected bool
	fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			redirected = true
			writeToken(w)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	hc := DefaultHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig = fs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	_, err := New(hc).PostForm(context.Background(), fs.URL+"/token", tokenForm(), nil)
	if e := asError(t, err); e.StatusCode != http.StatusTemporaryRedirect || redirected {
		t.Fatalf("status %d, redirected %v", e.StatusCode, redirected)
	}
}

// TestErrorsNeverLeakSecrets drives every failure mode with a request carrying
// a secret, an assertion and Basic credentials, and responses carrying tokens,
// then scans each error string, its %+v / %#v forms and the debug log.
func TestErrorsNeverLeakSecrets(t *testing.T) {
	responses := []func(w http.ResponseWriter, r *http.Request){
		func(w http.ResponseWriter, r *http.Request) { // echoes the request into the description
			_ = r.ParseForm()
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: %s %s %s","error_codes":[7000215]}`,
				r.PostForm.Get("client_secret"), r.PostForm.Encode(), r.Header.Get("Authorization"))
		},
		func(w http.ResponseWriter, r *http.Request) { // token without expiry
			fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q}`, testToken, testRefresh)
		},
		func(w http.ResponseWriter, r *http.Request) { // wrong type next to a token
			fmt.Fprintf(w, `{"access_token":%q,"expires_in":{"v":%q}}`, testToken, testToken)
		},
		func(w http.ResponseWriter, r *http.Request) { // truncated token
			w.Header().Set("Content-Length", "4096")
			fmt.Fprintf(w, `{"access_token":%q`, testToken)
		},
		func(w http.ResponseWriter, r *http.Request) { // text body with a token in it
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unavailable %s %s", testToken, testSecret)
		},
		func(w http.ResponseWriter, r *http.Request) { // OAuth error sent with 200
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"bad %s","refresh_token":%q}`, testAssertion, testRefresh)
		},
		func(w http.ResponseWriter, r *http.Request) { resetConn(t, w) },
	}
	basic := http.Header{"Authorization": {"Basic " + "Y2xpZW50OnMzY3IzdA=="}}
	secrets := []string{testSecret, testAssertion, testToken, testRefresh, "Y2xpZW50OnMzY3IzdA==", "TOKEN-BODY", "ASSERTION-PAYLOAD", "REFRESH-TOKEN"}
	for i, h := range responses {
		fs := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) { h(w, r) })
		var logs bytes.Buffer
		c := testClient(fs, nil)
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		_, err := c.PostForm(context.Background(), fs.URL+"/token?secret="+testSecret, tokenForm(), basic)
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", asError(t, err)), logs.String()}
		for _, text := range texts {
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("case %d: %q leaked into %q", i, s, text)
				}
			}
		}
	}
}
