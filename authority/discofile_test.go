package authority

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// discoIDP is a loopback TLS authority answering instance discovery and an
// Entra document for tenant contoso.example; doc may be replaced to serve
// another document.
type discoIDP struct {
	*idp
	mu  sync.Mutex
	doc string
}

func newDiscoIDP(t *testing.T) *discoIDP {
	d := &discoIDP{}
	d.idp = newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/common/discovery/instance":
			fmt.Fprintf(w, `{"tenant_discovery_endpoint":"x","metadata":[{"preferred_network":"%[1]s","aliases":["%[1]s"]}]}`,
				strings.TrimPrefix(d.URL, "https://"))
		case "/contoso.example/v2.0/.well-known/openid-configuration":
			d.mu.Lock()
			defer d.mu.Unlock()
			fmt.Fprint(w, d.doc)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	d.doc = entraDoc(d.URL)
	return d
}

// requests is how many requests the authority has answered in all.
func (d *discoIDP) requests() int {
	d.idp.mu.Lock()
	defer d.idp.mu.Unlock()
	n := 0
	for _, c := range d.hits {
		n += c
	}
	return n
}

func (d *discoIDP) authority(t *testing.T) Info { return mustParse(t, d.URL+"/contoso.example") }
func (d *discoIDP) docURL() string {
	return d.URL + "/contoso.example/v2.0/.well-known/openid-configuration"
}

// resolver returns a Resolver with instance discovery at d and the
// discovery file path; logs go to logs.
func (d *discoIDP) resolver(path string, logs *bytes.Buffer) (*Resolver, *DiscoveryFile) {
	log := slog.New(slog.NewTextHandler(logs, nil))
	df := NewDiscoveryFile(path, DiscoveryFileOptions{Logger: log})
	r := NewResolver(wireFor(d.Client()), ResolverOptions{ValidateAuthority: true,
		InstanceDiscoveryURL: d.URL + "/common/discovery/instance", Cache: df, Logger: log})
	return r, df
}

func (d *discoIDP) mustResolve(t *testing.T, r *Resolver) Endpoints {
	t.Helper()
	ep, err := r.Resolve(context.Background(), d.authority(t))
	if err != nil {
		t.Fatal(err)
	}
	if ep.TokenEndpoint != d.URL+"/contoso.example/oauth2/v2.0/token" {
		t.Fatalf("token endpoint %q, want the authority's", ep.TokenEndpoint)
	}
	return ep
}

// A second Resolver (another process) on the same discovery file makes no
// request and resolves the same endpoints; the file is 0600; an authority on
// another port does not share the entries.
func TestDiscoveryFileSecondResolverMakesNoRequest(t *testing.T) {
	d := newDiscoIDP(t)
	path := filepath.Join(t.TempDir(), "cache", DiscoveryFileName)
	var logs bytes.Buffer
	r1, _ := d.resolver(path, &logs)
	ep1 := d.mustResolve(t, r1)
	if n := d.requests(); n != 2 {
		t.Fatalf("the first resolve made %d requests, want 2 (instance discovery and the document)", n)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("discovery file mode %v, want 0600", fi.Mode().Perm())
	}
	r2, df2 := d.resolver(path, &logs)
	if ep2 := d.mustResolve(t, r2); !reflect.DeepEqual(ep1, ep2) {
		t.Errorf("endpoints from the file %+v, from the network %+v", ep2, ep1)
	}
	if n := d.requests(); n != 2 {
		t.Errorf("the second resolver made %d requests, want none", n-2)
	}
	entries, err := df2.Entries()
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %+v, %v; want instance discovery and the document", entries, err)
	}
	if logs.Len() != 0 {
		t.Errorf("warnings: %s", logs.String())
	}
	other := newDiscoIDP(t) // another loopback authority, same path and tenant, another port
	r3, _ := other.resolver(path, &logs)
	other.mustResolve(t, r3)
	if n := other.requests(); n != 2 {
		t.Errorf("an authority on another port made %d requests, want 2 (nothing shared)", n)
	}
}

// A damaged or unsafe file is ignored with one warning, the network answers,
// and the file is rewritten so the next process uses it.
func TestDiscoveryFileDamagedIsRewritten(t *testing.T) {
	cases := map[string]string{
		"not JSON":     `{"version":1,"entries":{`,
		"version":      `{"version":2,"entries":{}}`,
		"relative URL": `{"version":1,"entries":{"/x":{"fetched":"2024-01-01T00:00:00Z","body":{}}}}`,
		"body array":   `{"version":1,"entries":{"https://h/x":{"fetched":"2024-01-01T00:00:00Z","body":[]}}}`,
		"no time":      `{"version":1,"entries":{"https://h/x":{"body":{}}}}`,
		"empty":        ``,
	}
	if runtime.GOOS != "windows" {
		cases["writable by others"] = "" // mode set below
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDiscoIDP(t)
			path := filepath.Join(t.TempDir(), DiscoveryFileName)
			perm := os.FileMode(0o600)
			if name == "writable by others" {
				perm = 0o666
				content = `{"version":1,"entries":{}}`
			}
			if err := os.WriteFile(path, []byte(content), perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, perm); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r, _ := d.resolver(path, &logs)
			d.mustResolve(t, r)
			if n := strings.Count(logs.String(), "ignoring the discovery cache file"); n != 1 {
				t.Errorf("%d warnings about the file, want 1:\n%s", n, logs.String())
			}
			if n := d.requests(); n != 2 {
				t.Errorf("%d requests, want 2 (from the network)", n)
			}
			r2, _ := d.resolver(path, &logs)
			d.mustResolve(t, r2)
			if n := d.requests(); n != 2 {
				t.Errorf("the rewritten file served %d requests' worth less: %d requests, want 2", n-2, n)
			}
			if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
				t.Errorf("rewritten file mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

// Entries are used for the TTL from when they were fetched, not from when a
// process read them; older entries are fetched again and replaced.
func TestDiscoveryFileEntriesExpire(t *testing.T) {
	d := newDiscoIDP(t)
	path := filepath.Join(t.TempDir(), DiscoveryFileName)
	var logs bytes.Buffer
	t0 := time.Now()
	r1, _ := d.resolver(path, &logs)
	d.mustResolve(t, r1)

	now := t0.Add(23 * time.Hour)
	r2, df2 := d.resolver(path, &logs)
	r2.now, df2.now = func() time.Time { return now }, func() time.Time { return now }
	d.mustResolve(t, r2)
	if n := d.requests(); n != 2 {
		t.Fatalf("a 23-hour-old entry was not used: %d requests, want 2", n)
	}
	now = t0.Add(24*time.Hour + time.Second) // the memory entry expires with the file's
	d.mustResolve(t, r2)
	if n := d.requests(); n != 4 {
		t.Fatalf("an entry past 24 h was used: %d requests, want 4", n)
	}
	entries, err := df2.Entries()
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	for _, e := range entries {
		if !e.Fetched.Equal(now) {
			t.Errorf("entry %s fetched at %v, want the refetch time %v", e.URL, e.Fetched, now)
		}
	}
	r3, df3 := d.resolver(path, &logs) // a process at t0 + 48 h: everything is stale
	later := t0.Add(48*time.Hour + 2*time.Second)
	r3.now, df3.now = func() time.Time { return later }, func() time.Time { return later }
	d.mustResolve(t, r3)
	if n := d.requests(); n != 6 {
		t.Fatalf("stale entries were used: %d requests, want 6", n)
	}
}

// putDoc writes the file with doc as the authority's document and a fresh
// instance discovery answer.
func putDoc(t *testing.T, d *discoIDP, path, doc string, fetched time.Time) {
	t.Helper()
	inst := fmt.Sprintf(`{"metadata":[{"aliases":["%s"]}]}`, strings.TrimPrefix(d.URL, "https://"))
	df := NewDiscoveryFile(path, DiscoveryFileOptions{})
	q := "?" + url.Values{"api-version": {"1.1"}, "authorization_endpoint": {d.URL + "/contoso.example/oauth2/v2.0/authorize"}}.Encode()
	if err := df.Put(context.Background(),
		DiscoveryEntry{URL: d.URL + "/common/discovery/instance" + q, Body: json.RawMessage(inst), Fetched: fetched},
		DiscoveryEntry{URL: d.docURL(), Body: json.RawMessage(doc), Fetched: fetched}); err != nil {
		t.Fatal(err)
	}
}

// A document in the file is checked like one from the network: a token
// endpoint on another host, or an issuer elsewhere, is refused with a
// warning, fetched again and replaced.
func TestDiscoveryFileIsCheckedLikeTheNetwork(t *testing.T) {
	for name, doc := range map[string]string{
		"token endpoint host": `{"token_endpoint":"https://evil.example/contoso.example/oauth2/v2.0/token"}`,
		"issuer":              `{"token_endpoint":"%s/contoso.example/oauth2/v2.0/token","issuer":"https://evil.example/x/v2.0"}`,
		"http endpoint":       `{"token_endpoint":"http://evil.example/t"}`,
		"no token endpoint":   `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := newDiscoIDP(t)
			path := filepath.Join(t.TempDir(), DiscoveryFileName)
			if strings.Contains(doc, "%s") {
				doc = fmt.Sprintf(doc, d.URL)
			}
			putDoc(t, d, path, entraDoc(d.URL), time.Now())
			var logs bytes.Buffer
			r, _ := d.resolver(path, &logs)
			d.mustResolve(t, r)
			if n := d.requests(); n != 0 {
				t.Fatalf("a good document in the file: %d requests, want 0 (the test's URLs are wrong)", n)
			}
			putDoc(t, d, path, doc, time.Now())
			r, df := d.resolver(path, &logs)
			d.mustResolve(t, r)
			if n := d.requests(); n != 2 {
				t.Errorf("%d requests, want 2 (the refused document fetched again)", n)
			}
			if !strings.Contains(logs.String(), "cached discovery document was refused") {
				t.Errorf("no warning about the refused document:\n%s", logs.String())
			}
			e, ok := df.Get(context.Background(), d.docURL())
			if !ok || !strings.Contains(string(e.Body), d.URL+"/{tenant}/oauth2/v2.0/token") {
				t.Errorf("the file still holds %s", e.Body)
			}
		})
	}
}

// Only validated results are stored: a refused document leaves no file.
// Forget makes the next discovery skip the file.
func TestDiscoveryFileStoresOnlyValidResults(t *testing.T) {
	d := newDiscoIDP(t)
	path := filepath.Join(t.TempDir(), DiscoveryFileName)
	d.doc = `{"token_endpoint":"https://evil.example/contoso.example/oauth2/v2.0/token"}`
	var logs bytes.Buffer
	r, _ := d.resolver(path, &logs)
	if _, err := r.Resolve(context.Background(), d.authority(t)); !errors.Is(err, ErrTokenEndpointHost) {
		t.Fatalf("err = %v, want ErrTokenEndpointHost", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused discovery was saved: %v", err)
	}
	d.mu.Lock()
	d.doc = entraDoc(d.URL)
	d.mu.Unlock()
	d.mustResolve(t, r)
	before := d.requests()
	r.Forget(d.authority(t))
	d.mustResolve(t, r)
	if n := d.requests() - before; n != 2 {
		t.Errorf("after Forget: %d requests, want 2 (the file skipped)", n)
	}
	d.mustResolve(t, r)
	if n := d.requests() - before; n != 2 {
		t.Errorf("after Forget and a fetch: %d more requests, want none", n-2)
	}
}

// Remove deletes the file and counts its entries; Entries reports a damaged
// file as an error.
func TestDiscoveryFileRemoveAndEntries(t *testing.T) {
	d := newDiscoIDP(t)
	path := filepath.Join(t.TempDir(), DiscoveryFileName)
	putDoc(t, d, path, entraDoc(d.URL), time.Now())
	df := NewDiscoveryFile(path, DiscoveryFileOptions{})
	if n, err := df.Remove(); n != 2 || err != nil {
		t.Fatalf("Remove = %d, %v; want 2", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if n, err := df.Remove(); n != 0 || err != nil {
		t.Fatalf("Remove of a missing file = %d, %v", n, err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := df.Entries(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Entries of a damaged file: %v, want an error naming it", err)
	}
	if DiscoveryFileBeside(filepath.Join("a", "b", "tokens.json")) != filepath.Join("a", "b", DiscoveryFileName) {
		t.Error("DiscoveryFileBeside")
	}
}

// BenchmarkResolveNewProcess is the discovery a new process pays for one
// authority (a new Resolver each time): from the network at a loopback TLS
// server (instance discovery and the document, connections reused), or from
// a DiscoveryFile that holds both.
func BenchmarkResolveNewProcess(b *testing.B) {
	d := &discoIDP{}
	d.idp = newIDP(b, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/common/discovery/instance" {
			fmt.Fprint(w, `{"metadata":[]}`)
			return
		}
		fmt.Fprint(w, entraDoc(d.URL))
	})
	a, err := Parse(d.URL+"/contoso.example", ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), DiscoveryFileName)
	var logs bytes.Buffer
	r, _ := d.resolver(path, &logs)
	if _, err := r.Resolve(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"network", "file"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				o := ResolverOptions{ValidateAuthority: true, InstanceDiscoveryURL: d.URL + "/common/discovery/instance"}
				if mode == "file" {
					o.Cache = NewDiscoveryFile(path, DiscoveryFileOptions{})
				}
				if _, err := NewResolver(wireFor(d.Client()), o).Resolve(context.Background(), a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if n := d.requests(); n < 2 {
		b.Fatalf("%d requests", n)
	}
}
