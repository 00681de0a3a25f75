package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/filestore"
)

const (
	// writerEnv, when set, makes the test binary a Go cache-file writer: its
	// value is the writer's JSON config (see goWriter).
	writerEnv = "APPCRED_INTEROP_FILE_WRITER"
	// concurrentTimeout bounds the whole concurrent-writers test.
	concurrentTimeout = 5 * time.Minute
	// Every writer writes keysPerWriter keys for this client, tenant and host.
	concurrentClient = "7d3c1f7e-0000-4000-8000-00000000c0de"
	concurrentTenant = "11111111-2222-3333-4444-555555555555"
	concurrentHost   = "login.microsoftonline.com"
	keysPerWriter    = 250
	// writerPauseMS is each writer's pause between writes, as between token
	// requests. Without it four writers keep the lock file present nearly
	// all the time, and msal-extensions 1.0, which polls for it every 250 ms,
	// gives up after 5 s and writes without the lock (it then loses tokens
	// even with only Python writers: 479 of 1,000 keys lost with four
	// Python writers and no pause, measured here).
	writerPauseMS = 100
)

// writerConfig is one writer's job, for both the Go and the Python writer
// (testdata/msal_ext_writer.py).
type writerConfig struct {
	CachePath     string `json:"cache_path"`
	ClientID      string `json:"client_id"`
	TokenEndpoint string `json:"token_endpoint"`
	ScopePrefix   string `json:"scope_prefix"`
	Count         int    `json:"count"`
	PauseMS       int    `json:"pause_ms"`
	ReadyPath     string `json:"ready_path"`
	StartPath     string `json:"start_path"`
}

// writerScope is the scope of a writer's i-th key.
func writerScope(prefix string, i int) string { return prefix + strconv.Itoa(i) + "/.default" }

// writerToken is the (fake) access token a writer stores for scope.
func writerToken(lang, scope string) string { return lang + "-token-" + scope }

// concurrentKey is appcred's cache key for scope.
func concurrentKey(scope string) string {
	return string(cache.AppendKey(nil, cache.KeyParts{ClientID: concurrentClient, Host: concurrentHost,
		Tenant: concurrentTenant, Kind: cache.KindApp, Scopes: []string{scope}}))
}

// TestFileStoreConcurrentWriters: two appcred processes (this test binary
// re-executed as a writer) and two MSAL Python processes with msal-extensions
// (PersistedTokenCache over FilePersistence, whose CrossPlatLock takes
// "{file}.lockfile") write 250 keys each into one cache file at the same
// time. At the end the file parses, and every one of the 1,000 tokens is in
// it and served by appcred.
func TestFileStoreConcurrentWriters(t *testing.T) {
	if cfg := os.Getenv(writerEnv); cfg != "" {
		if err := goWriter(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "go writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	py := pythonInterpreter(t)
	ctx, cancel := context.WithTimeout(context.Background(), concurrentTimeout)
	defer cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "msal.cache.json")
	start := filepath.Join(dir, "start")
	script, err := filepath.Abs(filepath.Join("testdata", "msal_ext_writer.py"))
	if err != nil {
		t.Fatal(err)
	}
	type writer struct {
		lang string
		cfg  writerConfig
		cmd  *exec.Cmd
		out  bytes.Buffer
	}
	var writers []*writer
	for i, lang := range []string{"go", "py", "go", "py"} {
		w := &writer{lang: lang, cfg: writerConfig{
			CachePath: path, ClientID: concurrentClient, Count: keysPerWriter, PauseMS: writerPauseMS,
			TokenEndpoint: "https://" + concurrentHost + "/" + concurrentTenant + "/oauth2/v2.0/token",
			ScopePrefix:   fmt.Sprintf("api://%s-%d-", lang, i), StartPath: start,
			ReadyPath: filepath.Join(dir, fmt.Sprintf("ready-%d", i)),
		}}
		cfg, err := json.Marshal(w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if lang == "go" {
			w.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileStoreConcurrentWriters$", "-test.count=1")
			w.cmd.Env = append(os.Environ(), writerEnv+"="+string(cfg))
		} else {
			w.cmd = exec.CommandContext(ctx, py, "-I", script)
			w.cmd.Stdin = bytes.NewReader(cfg)
			w.cmd.Env = pythonEnv("")
		}
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		w.cmd.WaitDelay = 5 * time.Second
		if err := w.cmd.Start(); err != nil {
			t.Fatalf("start %s writer: %v", lang, err)
		}
		writers = append(writers, w)
	}
	errs := make([]error, len(writers))
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Go(func() { errs[i] = w.cmd.Wait() })
	}
	waitReady(ctx, t, writers[0].cfg.ReadyPath, writers[1].cfg.ReadyPath, writers[2].cfg.ReadyPath, writers[3].cfg.ReadyPath)
	began := time.Now()
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, w := range writers {
		var exit *exec.ExitError
		if w.lang == "py" && errors.As(errs[i], &exit) && exit.ExitCode() == 3 {
			missing(t, "%s: msal-extensions not installed (install python3-msal-extensions): %s", py, tail(w.out.String(), 400))
		}
		if errs[i] != nil {
			t.Fatalf("%s writer %d: %v (timeout %v)\n%s", w.lang, i, errs[i], concurrentTimeout, tail(w.out.String(), 4000))
		}
	}
	t.Logf("4 writers, %d keys in all, wrote in %v", 4*keysPerWriter, time.Since(began).Round(time.Millisecond))
	lost := checkAllWritten(t, path, writers[0].cfg.ScopePrefix, writers[1].cfg.ScopePrefix,
		writers[2].cfg.ScopePrefix, writers[3].cfg.ScopePrefix)
	if lost == nil {
		return
	}
	for i, w := range writers {
		t.Logf("%s writer %d output:\n%s", w.lang, i, tail(w.out.String(), 2000))
		// msal-extensions 1.0 waits 5 s for the lock file to go away, then
		// writes without the lock (it logs this): its writes then race every
		// other writer's, Python's included, so the run tells nothing about
		// appcred's lock. Only a machine too loaded to finish a write in
		// that time gets there.
		// That is msal-extensions' behaviour, not a fault of appcred's lock,
		// so it makes the run inconclusive (a skip, logged), CI or not.
		if w.lang == "py" && strings.Contains(w.out.String(), "failed to create lock file") {
			t.Skipf("inconclusive: MSAL Python writer %d gave up waiting for the lock (5 s) and wrote without it; "+
				"the machine is too loaded for this test: %v", i, lost)
		}
	}
	t.Error(lost)
}

// waitReady waits until every path exists (each writer is set up).
func waitReady(ctx context.Context, t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("writer never got ready (%s): %v", filepath.Base(p), ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// checkAllWritten checks that the file at path is MSAL JSON holding every
// writer's tokens, and that appcred's file store serves each of them; the
// error says how many are not.
func checkAllWritten(t *testing.T, path string, prefixes ...string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessToken map[string]struct {
			Secret string `json:"secret"`
			Target string `json:"target"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the shared cache file does not parse: %v", err)
	}
	secrets := map[string]string{} // target → secret
	for _, e := range doc.AccessToken {
		secrets[e.Target] = e.Secret
	}
	s, err := filestore.Open(path, filestore.Options{})
	if err != nil {
		t.Fatalf("filestore.Open: %v", err)
	}
	lost, wrong := 0, 0
	perWriter := make([]int, len(prefixes))
	for w, prefix := range prefixes {
		lang := prefix[len("api://") : len("api://")+2]
		for i := range keysPerWriter {
			scope := writerScope(prefix, i)
			want := writerToken(lang, scope)
			if secrets[scope] != want {
				lost++
				perWriter[w]++
				continue
			}
			tok, err := s.Get(context.Background(), concurrentKey(scope))
			if err != nil || tok == nil || tok.AccessToken != want {
				wrong++
			}
		}
	}
	if lost != 0 || wrong != 0 {
		return fmt.Errorf("of %d tokens written, %d are missing from the file (per writer %v: %v) and %d more are not served by appcred (%d AccessToken entries)",
			len(prefixes)*keysPerWriter, lost, prefixes, perWriter, wrong, len(doc.AccessToken))
	}
	return nil
}

// goWriter is the Go writer process: it writes its keys through appcred's
// file store, one Put each, once the start file exists.
func goWriter(cfgJSON string) error {
	var cfg writerConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return err
	}
	s, err := filestore.Open(cfg.CachePath, filestore.Options{LockTimeout: time.Minute})
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.ReadyPath, nil, 0o600); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for _, err := os.Stat(cfg.StartPath); err != nil; _, err = os.Stat(cfg.StartPath) {
		if time.Now().After(deadline) {
			return errors.New("no start signal in 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	for i := range cfg.Count {
		scope := writerScope(cfg.ScopePrefix, i)
		tok := &cache.Token{AccessToken: writerToken("go", scope), TokenType: "Bearer",
			ExpiresOn: time.Now().Add(time.Hour).Truncate(time.Second)}
		if err := s.Put(ctx, concurrentKey(scope), tok); err != nil {
			return fmt.Errorf("put key %d: %w", i, err)
		}
		time.Sleep(time.Duration(cfg.PauseMS) * time.Millisecond)
	}
	return nil
}
