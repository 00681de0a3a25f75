package wire

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPinLoopbackFallsBackToIPv6 posts to "api.localhost" at a port only ::1
// listens on: the refused 127.0.0.1 attempt is retried on ::1 with the body,
// and the Host header keeps the name.
func TestPinLoopbackFallsBackToIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback here (%v); only the IPv4 path is checked elsewhere", err)
		return
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Host+" "+string(b))
	})}}
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if l4, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
		l4.Close() // the port is free on IPv4: 127.0.0.1 refuses
	} else {
		t.Logf("port %s is taken on 127.0.0.1 too; cannot check the fallback", port)
		return
	}
	hc := &http.Client{Transport: PinLoopback(&http.Transport{})}
	resp, err := hc.Post("http://api.localhost:"+port+"/token", "text/plain", strings.NewReader("form-body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got, want := string(b), "api.localhost:"+port+" form-body"; got != want {
		t.Fatalf("server saw %q, want %q", got, want)
	}
}

func TestIsLoopbackName(t *testing.T) {
	for h, want := range map[string]bool{"localhost": true, "LOCALHOST.": true, "sts.localhost": true, "a.b.Localhost": true,
		"localhost.example.com": false, "notlocalhost": false, "127.0.0.1": false, "example.com": false} {
		if IsLoopbackName(h) != want {
			t.Errorf("IsLoopbackName(%q) = %t", h, !want)
		}
	}
}
