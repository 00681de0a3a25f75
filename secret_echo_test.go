package appcred

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoSecret is a client secret shaped like Entra's, with characters that form
// encoding changes.
const echoSecret = "Zt7Q~pLmN.oQrS_tUvW-xYz0aBcD+9/8=7E"

// secretRun returns the first run of 12 characters of secret found in text in
// any letter case, or "".
func secretRun(text, secret string) string {
	lt, ls := strings.ToLower(text), strings.ToLower(secret)
	for i := 0; i+12 <= len(ls); i++ {
		if strings.Contains(lt, ls[i:i+12]) {
			return ls[i : i+12]
		}
	}
	return ""
}

// TestEchoedBasicSecretNeverReachesErrorsOrLogs runs a client sending its
// secret with client_secret_basic to a generic issuer (TLS on 127.0.0.1) that
// issues one token due for refresh at once and then refuses every request,
// echoing the decoded secret in its error in several spellings. Neither the
// error returned to the caller nor the cache's "background refresh failed"
// warning may hold any 12-character run of the secret.
func TestEchoedBasicSecretNeverReachesErrorsOrLogs(t *testing.T) {
	var tokens atomic.Int32
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		sec, _ := url.QueryUnescape(pass)
		if !ok || sec != echoSecret {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		if tokens.Add(1) == 1 {
			fmt.Fprint(w, `{"access_token":"opaque-first","token_type":"Bearer","expires_in":3600,"refresh_in":1}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		desc := fmt.Sprintf("client secret %s expired (was %s, %s)", sec, strings.ToUpper(sec[:30]), url.PathEscape(sec))
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
	})
	srv = httptest.NewTLSServer(mux)
	defer srv.Close()
	var logs logBuffer
	c, err := New(srv.URL, "svc-echo", FromSecret(echoSecret), WithGenericIssuer(), WithHTTPClient(srv.Client()),
		WithMaxRetries(-1), WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.AcquireTokenForClient(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AcquireTokenForClient(ctx, []string{"billing"})
	if err == nil {
		t.Fatal("no error from a refused request")
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("the echo was not redacted (the test would prove nothing): %v", err)
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if run := secretRun(text, echoSecret); run != "" {
			t.Errorf("%q of the secret reached the error %s", run, text)
		}
	}
	// The first token is due for refresh after 1 s: a hit then starts a
	// background refresh, which fails and is logged by the cache.
	for deadline := time.Now().Add(hangGuard); !strings.Contains(logs.String(), "refresh failed"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no background refresh failure was logged: %s", logs.String())
		}
		if _, err := c.AcquireTokenForClient(ctx, []string{"orders"}); err != nil {
			t.Fatal(err)
		}
	}
	if run := secretRun(logs.String(), echoSecret); run != "" {
		t.Errorf("%q of the secret reached the log:\n%s", run, logs.String())
	}
}
