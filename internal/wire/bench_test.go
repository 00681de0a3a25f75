package wire

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// benchServer answers every request with a ~1.2 KB token, like the measurements.
func benchServer(b *testing.B) *faultServer {
	tok := strings.Repeat("x", 1200)
	body := []byte(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` + tok + `"}`)
	return newFaultServer(b, func(n int, w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// BenchmarkPostForm is one token request through Client over loopback TLS.
func BenchmarkPostForm(b *testing.B) {
	fs := benchServer(b)
	c := New(fs.Client())
	form := tokenForm()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.PostForm(ctx, fs.URL+"/t/oauth2/v2.0/token", form, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor is the same request with bare net/http and encoding/json.
func BenchmarkFloor(b *testing.B) {
	fs := benchServer(b)
	hc := fs.Client()
	form := tokenForm()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := hc.PostForm(fs.URL+"/t/oauth2/v2.0/token", form)
		if err != nil {
			b.Fatal(err)
		}
		var t struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		err = json.NewDecoder(resp.Body).Decode(&t)
		resp.Body.Close()
		if err != nil || t.AccessToken == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedact1MiB scrubs a 1 MiB error description (with %-escapes, so
// all three views are scanned) of a token request's secrets.
func BenchmarkRedact1MiB(b *testing.B) {
	var s Secrets
	s.AddRequest(tokenForm(), nil)
	text := strings.Repeat("abc%41defgh ", 1<<20/12)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_ = s.Redact(text)
	}
}
