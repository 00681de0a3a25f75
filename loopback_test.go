package appcred

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestInsecureLoopbackNeverResolvesLocalhostNames runs a plain-http authority
// on 127.0.0.1 addressed as "sts.localhost" (WithInsecureLoopback). Go would
// resolve that name through DNS, which may answer with any address; every
// connection must instead be dialled at a loopback IP, with the name kept in
// the Host header. The transport records what it is asked to dial (and dials
// the test server, so the test never depends on DNS either way).
func TestInsecureLoopbackNeverResolvesLocalhostNames(t *testing.T) {
	var srv *httptest.Server
	var hostSeen sync.Map
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hostSeen.Store(r.Host, true)
		base := "http://" + r.Host + "/t1"
		if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			_ = json.NewEncoder(w).Encode(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token", "issuer": base + "/v2.0"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var mu sync.Mutex
	var dialed []string
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	defer tr.CloseIdleConnections()
	c, err := New("http://sts.localhost:"+port+"/t1", "app", FromSecret("loopback-secret-value"),
		WithInsecureLoopback(), WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AcquireTokenForClient(context.Background(), []string{"api://x/.default"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 {
		t.Fatal("nothing was dialled")
	}
	for _, addr := range dialed {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("dialled %q: a loopback name was resolved instead of dialling 127.0.0.1 / ::1", addr)
		}
	}
	if _, ok := hostSeen.Load("sts.localhost:" + port); !ok {
		t.Error("the authority did not see its name in the Host header")
	}
}
