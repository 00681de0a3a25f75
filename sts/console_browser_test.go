package sts_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/appcred/appcred/sts"
)

// chromiumPath is Debian's Chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium trusting only the authority's server
// certificate (by its public key), bounded to 60 s; it skips without
// Chromium, or fails under CI=true.
func browser(t *testing.T, f *fixture) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the browser test needs Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium); skipping the browser test", chromiumPath)
	}
	res, err := f.hc.Get(f.a.URL() + "/common/discovery/instance")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	spki := sha256.Sum256(res.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Headless, chromedp.WindowSize(1280, 1100), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	return bctx
}

// artifactDir is where the screenshot goes: $APPCRED_ARTIFACTS, else a temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("APPCRED_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// pollAcrossNavigation waits for a JavaScript predicate while the page may
// be navigating (a poll in a page being left fails, and is retried).
func pollAcrossNavigation(ctx context.Context, predicate string) error {
	for {
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](predicate))
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestConsoleInBrowser drives the console in headless Chromium against the
// real authority: a token request made after the page loaded appears
// without a reload, its row opens (by keyboard) to the decoded roles, and
// the failures filter shows failures only, still live.
func TestConsoleInBrowser(t *testing.T) {
	f := start(t, sts.Options{})
	ctx := browser(t, f)
	live := chromedp.WaitVisible(chromedp.CSS(`body[data-live="on"]`))
	if err := chromedp.Do(ctx, chromedp.Navigate(f.a.ConsoleURL()), live); err != nil {
		t.Fatalf("opening the console: %v", err)
	}
	res, okID := postWithID(t, f, f.tokenURL(), f.secretForm())
	if res.status != http.StatusOK {
		t.Fatalf("token request: %d %s", res.status, res.raw)
	}
	ok := lastSignIn(t, f, okID).TraceID
	row := `tr[data-trace="` + ok + `"]`
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.Focus(chromedp.CSS(row+` button.open`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#d-`+ok+` .claim-roles`)))
	if err != nil {
		t.Fatalf("the new sign-in's row: %v", err)
	}
	roles, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#d-`+ok+` .claim-roles`)))
	if err != nil {
		t.Fatalf("the new sign-in's row: %v", err)
	}
	if strings.TrimSpace(roles) != f.seed.Role {
		t.Errorf("decoded roles %q, want %q", roles, f.seed.Role)
	}
	wrong := f.secretForm()
	wrong.Set("client_secret", "Wrong"+f.seed.ClientSecret[5:])
	_, badID := postWithID(t, f, f.tokenURL(), wrong)
	bad := lastSignIn(t, f, badID).TraceID
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`tr[data-trace="`+bad+`"]`)),
		chromedp.SetValue(chromedp.ID("f-outcome"), "failed"),
		chromedp.Click(chromedp.ID("f-apply")))
	if err == nil {
		err = pollAcrossNavigation(ctx, `location.search.includes("outcome=failed") && document.body.dataset.live === "on"`)
	}
	if err != nil {
		t.Fatalf("filtering to failures: %v", err)
	}
	outcomes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("tr.signin")).map(r => r.dataset.outcome + " " + r.dataset.trace)`))
	if err != nil {
		t.Fatalf("filtering to failures: %v", err)
	}
	if len(outcomes) != 1 || outcomes[0] != "failed "+bad {
		t.Errorf("filtered rows %q, want only the failure %s", outcomes, bad)
	}
	_, bad2ID := postWithID(t, f, f.tokenURL(), wrong)
	bad2 := lastSignIn(t, f, bad2ID).TraceID
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`tr[data-trace="`+bad2+`"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-trace="`+bad2+`"] button.open`)),
		chromedp.WaitVisible(chromedp.CSS(`#d-`+bad2+` .hint`)))
	if err != nil {
		t.Fatalf("a failure arriving in the filtered view: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("a failure arriving in the filtered view: %v", err)
	}
	path := filepath.Join(artifactDir(t), "console.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshot: %s", path)
}
