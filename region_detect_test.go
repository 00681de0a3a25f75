package appcred

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/appcred/appcred/authority"
)

// imdsStandIn is a loopback server answering IMDS's region question, reached
// through a transport that maps 169.254.169.254:80 to it: no packet ever goes
// to the real link-local address.
type imdsStandIn struct {
	srv   *httptest.Server
	asked atomic.Int32
}

func newIMDS(t *testing.T, status int, region string) *imdsStandIn {
	t.Helper()
	m := &imdsStandIn{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.asked.Add(1)
		if r.Header.Get("Metadata") != "true" || r.URL.Path != "/metadata/instance/compute/location" ||
			r.URL.Query().Get("format") != "text" || r.URL.Query().Get("api-version") == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, region)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// transport sends IMDS traffic to m and everything else to f.
func (m *imdsStandIn) transport(f *fakeRegionalEntra) *http.Transport {
	t := f.transport.Clone()
	toEntra := f.transport.DialContext
	var d net.Dialer
	imds := m.srv.Listener.Addr().String()
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "169.254.169.254:80" {
			return d.DialContext(ctx, network, imds)
		}
		return toEntra(ctx, network, addr)
	}
	return t
}

func acquireInTenants(t *testing.T, opts []Option, tenants ...string) []string {
	t.Helper()
	var got []string
	for _, tenant := range tenants {
		c, err := New(authority.PublicCloud+"/"+tenant, "11111111-2222-3333-4444-555555555555", FromSecret("s3cret-value"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.AcquireTokenForClient(context.Background(), []string{"api://orders/.default"})
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok.AccessToken)
	}
	return got
}

// TryAutoDetect asks IMDS (through the client's transport) and uses the
// regional host it names.
func TestRegionAutoDetectFromIMDS(t *testing.T) {
	t.Setenv("REGION_NAME", "")
	f := newFakeRegionalEntra(t)
	m := newIMDS(t, http.StatusOK, "EastUS2\n")
	got := acquireInTenants(t, []Option{WithAzureRegion(AutoDetectRegion), WithTransport(m.transport(f))}, "t1")
	if got[0] != "from-eastus2.login.microsoft.com" {
		t.Fatalf("token from %q, want the eastus2 regional host", got[0])
	}
	if n := m.asked.Load(); n != 1 {
		t.Fatalf("IMDS asked %d times, want 1", n)
	}
	// Once per client: a second tenant's discovery does not ask again.
	c, err := New(authority.PublicCloud+"/t2", "11111111-2222-3333-4444-555555555555", FromSecret("s3cret-value"),
		WithAzureRegion("tryautodetect"), WithTransport(m.transport(f)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, scope := range []string{"api://a/.default", "api://b/.default"} {
		if _, err := c.AcquireTokenForClient(context.Background(), []string{scope}); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.asked.Load(); n != 2 {
		t.Fatalf("IMDS asked %d times after a second client, want 2 (once per client)", n)
	}
}

// REGION_NAME wins over IMDS, which is then not asked.
func TestRegionAutoDetectFromEnv(t *testing.T) {
	t.Setenv("REGION_NAME", "WestEurope")
	f := newFakeRegionalEntra(t)
	m := newIMDS(t, http.StatusOK, "eastus2")
	got := acquireInTenants(t, []Option{WithAzureRegion(AutoDetectRegion), WithTransport(m.transport(f))}, "t1")
	if got[0] != "from-westeurope.login.microsoft.com" || m.asked.Load() != 0 {
		t.Fatalf("token from %q, IMDS asked %d times; want westeurope and 0", got[0], m.asked.Load())
	}
}

// Off Azure (IMDS refuses, or answers nonsense) the central host is used,
// with one warning.
func TestRegionAutoDetectFallsBack(t *testing.T) {
	t.Setenv("REGION_NAME", "")
	for _, tc := range []struct {
		status int
		body   string
	}{{http.StatusNotFound, "no"}, {http.StatusOK, "not a region!"}} {
		f := newFakeRegionalEntra(t)
		m := newIMDS(t, tc.status, tc.body)
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		got := acquireInTenants(t, []Option{WithAzureRegion(AutoDetectRegion), WithTransport(m.transport(f)), WithLogger(log),
			WithInstanceDiscovery(false)}, "t1")
		if got[0] != "from-login.microsoftonline.com" {
			t.Fatalf("IMDS %d %q: token from %q, want the central host", tc.status, tc.body, got[0])
		}
		if n := strings.Count(logs.String(), "auto-detection failed"); n != 1 {
			t.Fatalf("IMDS %d %q: %d warnings, want 1:\n%s", tc.status, tc.body, n, logs.String())
		}
	}
}
