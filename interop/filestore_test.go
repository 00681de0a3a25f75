package interop_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	msalcache "github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/cache/filestore"
)

// appcredWithFile returns an appcred client whose tokens persist in the
// cache file at path, and its token-request counter.
func (f *fixture) appcredWithFile(t *testing.T, path string) (*appcred.Client, *countingTransport) {
	t.Helper()
	fs, err := filestore.Open(path, filestore.Options{})
	if err != nil {
		t.Fatalf("filestore.Open: %v", err)
	}
	hc, counter := f.countingClient(t)
	c, err := appcred.New(f.a.TenantURL(f.seed.TenantID), f.seed.ClientID, appcred.FromSecret(f.seed.ClientSecret),
		appcred.WithHTTPClient(hc), appcred.WithCacheStore(fs))
	if err != nil {
		t.Fatalf("appcred.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, counter
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestFileStoreMSALPython: MSAL Python 1.21 (SerializableTokenCache) answers
// acquire_token_silent from a file appcred wrote, with no token request; and
// appcred answers from a file MSAL Python wrote, with no token request.
func TestFileStoreMSALPython(t *testing.T) {
	t.Parallel()
	py := pythonInterpreter(t)
	f := startAuthority(t)
	cfg := func(mode, path string) map[string]any {
		return map[string]any{"authority": f.a.URL(), "tenant": f.seed.TenantID, "client_id": f.seed.ClientID,
			"secret": f.seed.ClientSecret, "scope": f.seed.Scope, "cache_path": path, "mode": mode}
	}
	t.Run("appcred writes, MSAL Python reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "msal.cache.json")
		c, counter := f.appcredWithFile(t, path)
		tok, err := c.AcquireTokenForClient(testCtx(t), []string{f.seed.Scope})
		if err != nil || counter.tokens.Load() != 1 {
			t.Fatalf("appcred: %v, %d token requests", err, counter.tokens.Load())
		}
		r := onePyResult(t, runPython(t, py, "msal_cache.py", f.a.CAFile(), cfg("read", path), f.seed.ClientSecret))
		if r.Error != "" || r.TokenRequests != 0 || r.AccessToken != tok.AccessToken {
			t.Errorf("MSAL Python: error %q, %d token requests, same token %v; want appcred's token from the file",
				r.Error, r.TokenRequests, r.AccessToken == tok.AccessToken)
		}
	})
	t.Run("MSAL Python writes, appcred reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "msal.cache.json")
		r := onePyResult(t, runPython(t, py, "msal_cache.py", f.a.CAFile(), cfg("write", path), f.seed.ClientSecret))
		if r.Error != "" || r.AccessToken == "" || r.TokenRequests != 1 {
			t.Fatalf("MSAL Python: error %q, %d token requests; want a token from 1 request", r.Error, r.TokenRequests)
		}
		c, counter := f.appcredWithFile(t, path)
		tok, err := c.AcquireTokenForClient(testCtx(t), []string{f.seed.Scope})
		if err != nil || counter.tokens.Load() != 0 || tok.AccessToken != r.AccessToken {
			t.Errorf("appcred: %v, %d token requests, same token %v; want MSAL Python's token from the file",
				err, counter.tokens.Load(), tok.AccessToken == r.AccessToken)
		}
	})
}

func onePyResult(t *testing.T, rs []pyResult) pyResult {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("script printed %d results, want 1", len(rs))
	}
	return rs[0]
}

// fileAccessor is MSAL Go's cache.ExportReplace over one file, as a
// persistence extension would do it.
type fileAccessor struct{ path string }

func (a fileAccessor) Replace(_ context.Context, u msalcache.Unmarshaler, _ msalcache.ReplaceHints) error {
	data, err := os.ReadFile(a.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.Unmarshal(data)
}

func (a fileAccessor) Export(_ context.Context, m msalcache.Marshaler, _ msalcache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(a.path, data, 0o600)
}

// msalGoWithFile returns an MSAL Go confidential client over the cache file.
func (f *fixture) msalGoWithFile(t *testing.T, path string) (confidential.Client, *countingTransport) {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(f.seed.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	hc, counter := f.countingClient(t)
	c, err := confidential.New(f.a.TenantURL(f.seed.TenantID), f.seed.ClientID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false),
		confidential.WithCache(fileAccessor{path}))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return c, counter
}

// TestFileStoreMSALGo: MSAL Go (WithCache over the file) serves a token
// appcred wrote from its cache, and appcred serves a token MSAL Go wrote,
// neither making a token request.
func TestFileStoreMSALGo(t *testing.T) {
	f := startAuthority(t)
	scopes := []string{f.seed.Scope}
	t.Run("appcred writes, MSAL Go reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "msal.cache.json")
		c, counter := f.appcredWithFile(t, path)
		tok, err := c.AcquireTokenForClient(testCtx(t), scopes)
		if err != nil || counter.tokens.Load() != 1 {
			t.Fatalf("appcred: %v, %d token requests", err, counter.tokens.Load())
		}
		m, mc := f.msalGoWithFile(t, path)
		r, err := m.AcquireTokenByCredential(testCtx(t), scopes)
		if err != nil || mc.tokens.Load() != 0 || r.AccessToken != tok.AccessToken ||
			r.Metadata.TokenSource != confidential.TokenSourceCache {
			t.Errorf("MSAL Go: %v, %d token requests, source %v, same token %v; want appcred's token from the file",
				err, mc.tokens.Load(), r.Metadata.TokenSource, r.AccessToken == tok.AccessToken)
		}
	})
	t.Run("MSAL Go writes, appcred reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "msal.cache.json")
		m, _ := f.msalGoWithFile(t, path)
		r, err := m.AcquireTokenByCredential(testCtx(t), scopes)
		if err != nil {
			t.Fatalf("MSAL Go: %v", err)
		}
		c, counter := f.appcredWithFile(t, path)
		tok, err := c.AcquireTokenForClient(testCtx(t), scopes)
		if err != nil || counter.tokens.Load() != 0 || tok.AccessToken != r.AccessToken {
			t.Errorf("appcred: %v, %d token requests, same token %v; want MSAL Go's token from the file",
				err, counter.tokens.Load(), tok.AccessToken == r.AccessToken)
		}
	})
}
