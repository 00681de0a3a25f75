package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// longSecret looks like an Entra client secret and has characters that form
// encoding changes.
const longSecret = "Xq8Q~aBcD.eFgH_iJkL-mN0pQrStUvWxYz+12/34=56"

// spellings are the ways an authority may echo a secret it received: as sent,
// decoded, in other letter cases, in part, percent-encoded in other ways,
// base64-encoded. cred is the Authorization credential as it arrived.
func spellings(secret, cred string) map[string]string {
	full := func(hexFmt string) string {
		var b strings.Builder
		for i := range len(secret) {
			fmt.Fprintf(&b, hexFmt, secret[i])
		}
		return b.String()
	}
	s := map[string]string{
		"as is":               secret,
		"upper case":          strings.ToUpper(secret),
		"lower case":          strings.ToLower(secret),
		"30-character prefix": secret[:30],
		"inner part, upper":   strings.ToUpper(secret[7:27]),
		"query-escaped":       url.QueryEscape(secret),
		"path-escaped":        url.PathEscape(secret),
		"all %xx lower hex":   full("%%%02x"),
		"all %XX upper hex":   full("%%%02X"),
		"double-escaped":      url.QueryEscape(url.QueryEscape(secret)),
		"base64":              base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64url, shifted":  base64.RawURLEncoding.EncodeToString([]byte("x" + secret)),
	}
	if cred != "" {
		raw, _ := base64.StdEncoding.DecodeString(cred)
		s["basic credential"] = cred
		s["basic credential, lower"] = strings.ToLower(cred)
		s["basic credential, decoded"] = string(raw)
	}
	return s
}

// leaks returns the first run of MinSecretRun characters of spelling found
// (in any ASCII letter case) in text, or "".
func leaks(text, spelling string) string {
	lower := func(s string) string { // ASCII only, as strings.ToLower rewrites invalid UTF-8
		b := []byte(s)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	lt, ls := lower(text), lower(spelling)
	for i := 0; i+MinSecretRun <= len(ls); i++ {
		if strings.Contains(lt, ls[i:i+MinSecretRun]) {
			return ls[i : i+MinSecretRun]
		}
	}
	return ""
}

// TestEchoedSecretSpellingsAreScrubbed sends a secret with client_secret_post
// and with client_secret_basic to a TLS server on 127.0.0.1 that echoes it back
// in error_description in each spelling, and scans the error's text, its %#v
// form and a JSON log line of it for any 12-character run of the spelling.
func TestEchoedSecretSpellingsAreScrubbed(t *testing.T) {
	ctx := context.Background()
	for _, method := range []string{"client_secret_post", "client_secret_basic"} {
		for name := range spellings(longSecret, "x") {
			if method == "client_secret_post" && strings.HasPrefix(name, "basic") {
				continue // no Authorization header to echo
			}
			fs := newFaultServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				secret, cred := r.PostForm.Get("client_secret"), ""
				if _, pass, ok := r.BasicAuth(); ok {
					secret, _ = url.QueryUnescape(pass)
					cred = strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
				}
				desc := "AADSTS7000215: Invalid client secret provided: " + spellings(secret, cred)[name] + " (see docs)"
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": desc,
					"error_codes": []int{7000215}, "claims": desc})
			})
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"api://x/.default"}}
			var hdr http.Header
			if method == "client_secret_post" {
				form.Set("client_secret", longSecret)
			} else {
				req := http.Request{Header: http.Header{}}
				req.SetBasicAuth("app", url.QueryEscape(longSecret))
				hdr = req.Header
			}
			_, err := testClient(fs, nil).PostForm(ctx, fs.URL+"/token", form, hdr)
			if err == nil {
				t.Fatalf("%s, %s: no error", method, name)
			}
			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Warn("cache: background refresh failed", "err", err)
			we := asError(t, err)
			if !strings.Contains(we.Description, "[REDACTED]") || !strings.Contains(we.Description, "(see docs)") {
				t.Errorf("%s, %s: description %q is not redacted in place", method, name, we.Description)
			}
			cred := ""
			if hdr != nil {
				cred = strings.TrimPrefix(hdr.Get("Authorization"), "Basic ")
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%#v", we), logs.String()} {
				for sn, sp := range spellings(longSecret, cred) {
					if run := leaks(text, sp); run != "" {
						t.Errorf("%s, echo %s: %q (of spelling %s) leaked into %s", method, name, run, sn, text)
					}
				}
			}
		}
	}
}

// TestScrubErrorRedactsWrappersAndCauses checks that a secret quoted by a
// wrapper or by a transport error's cause is removed too, and that the
// *Error stays reachable.
func TestScrubErrorRedactsWrappersAndCauses(t *testing.T) {
	var s Secrets
	s.Add(longSecret)
	we := &Error{Op: "token request", Err: errors.New("proxy said: " + strings.ToUpper(longSecret))}
	err := s.ScrubError(fmt.Errorf("refresh for %s: %w", longSecret[3:20], we))
	if run := leaks(err.Error(), longSecret); run != "" {
		t.Fatalf("%q leaked into %q", run, err)
	}
	if !errors.As(err, new(*Error)) {
		t.Fatal("the scrubbed error no longer unwraps to *wire.Error")
	}
	clean := errors.New("nothing secret here")
	if s.ScrubError(clean) != clean {
		t.Fatal("an error without secrets was replaced")
	}
	if got := s.Redact("short 8Q~ab ok"); got != "short 8Q~ab ok" {
		t.Fatalf("a run shorter than 12 characters was redacted: %q", got)
	}
}

// FuzzRedact checks the rule on any secret and text: after Redact no run of 12
// characters of the secret, in any case, is left in the text.
func FuzzRedact(f *testing.F) {
	f.Add(longSecret, "echo "+longSecret+" end")
	f.Add(longSecret, url.QueryEscape(strings.ToUpper(longSecret)))
	f.Add("abcdefghijklmnop", "xxABCDEFGHIJKLmnopxx%61bcdefghijklm")
	f.Fuzz(func(t *testing.T, secret, text string) {
		if len(secret) < MinSecretRun || strings.ContainsAny(secret, "[]") {
			return
		}
		var s Secrets
		s.Add(secret)
		if run := leaks(s.Redact(text), secret); run != "" {
			t.Fatalf("%q of the secret survived in %q", run, s.Redact(text))
		}
	})
}

// TestSecretsAddedAfterUse checks that the runs built on first use take in
// values added later, and that Empty tells exactly whether a value of 4 bytes
// or more was added.
func TestSecretsAddedAfterUse(t *testing.T) {
	var s Secrets
	if !s.Empty() || !(*Secrets)(nil).Empty() {
		t.Fatal("a zero or nil Secrets is not empty")
	}
	s.Add("", "abc")
	if !s.Empty() {
		t.Fatal("values shorter than 4 bytes made the set non-empty")
	}
	s.Add("wxyz")
	if s.Empty() {
		t.Fatal("a 4-byte value left the set empty")
	}
	if got := s.Redact("a WXYZ b"); got != "a [REDACTED] b" {
		t.Fatalf("Redact = %q", got)
	}
	s.Add(longSecret)
	if s.Empty() {
		t.Fatal("the set is empty after use and another Add")
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(longSecret))
	if got := s.Redact("x " + b64 + " wxyz"); !strings.HasPrefix(got, "x [REDACTED]") || !strings.HasSuffix(got, " [REDACTED]") || len(got) > 30 {
		t.Fatalf("a value added after the first Redact was not scrubbed: %q", got)
	}
	if !s.Contains(strings.ToUpper(longSecret[10:30])) {
		t.Fatal("Contains missed a run of the later value")
	}
}

// TestSecretsConcurrentAddRedact adds values while other goroutines redact
// (run with -race); every value added before a Redact starts is scrubbed by it.
func TestSecretsConcurrentAddRedact(t *testing.T) {
	var s Secrets
	const n = 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			s.Add(fmt.Sprintf("secret-value-%04d", i))
		}
	}()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				_ = s.Redact(fmt.Sprintf("error secret-value-%04d here", i))
				_ = s.Empty()
			}
		}()
	}
	<-done
	for i := range n {
		text := fmt.Sprintf("error SECRET-value-%04d here", i)
		if got := s.Redact(text); got != "error [REDACTED] here" {
			t.Errorf("value %d added before Redact survived: %q", i, got)
		}
	}
	wg.Wait()
}
