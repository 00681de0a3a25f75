package sts_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

func TestParseChaos(t *testing.T) {
	good := map[string]sts.Chaos{
		"":  {},
		" ": {},
		"429=0.1,503=0.05,reset=0.01,latency=200ms": {TooMany: 0.1, Unavailable: 0.05, Reset: 0.01, Latency: 200 * time.Millisecond},
		"503=1":                       {Unavailable: 1},
		" 429 = 0.5 , Retry-After=3s": {TooMany: 0.5, RetryAfter: 3 * time.Second},
	}
	for spec, want := range good {
		got, err := sts.ParseChaos(spec)
		if err != nil || got != want {
			t.Errorf("ParseChaos(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for spec, wantInErr := range map[string]string{
		"429":                     "key=value",
		"429=":                    "key=value",
		"404=0.1":                 "unknown key",
		"429=1.5":                 "probability",
		"429=-0.1":                "probability",
		"429=NaN":                 "probability",
		"503=x":                   "probability",
		"latency=fast":            "duration",
		"latency=-1s":             "duration",
		"latency=2h":              "duration",
		"retry-after=1500ms":      "whole",
		"429=0.6,503=0.6":         "more than 1",
		"429=0.1,429=0.2":         "twice",
		"reset=0.1,,503=0.1":      "key=value",
		"latency=1ms,latency=1ms": "twice",
	} {
		if _, err := sts.ParseChaos(spec); err == nil || !strings.Contains(err.Error(), wantInErr) {
			t.Errorf("ParseChaos(%q): err = %v, want one saying %q", spec, err, wantInErr)
		}
	}
}

// FuzzParseChaos: any spec parses or is refused with an error naming it,
// never a panic; what parses is within bounds and survives String.
func FuzzParseChaos(f *testing.F) {
	for _, s := range []string{"429=0.1,503=0.05,reset=0.01,latency=200ms", "retry-after=2s", "503=1", "", "a=b=c", "429=1e-3,reset=.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := sts.ParseChaos(spec)
		if err != nil {
			if c != (sts.Chaos{}) {
				t.Fatalf("error %v with a non-zero Chaos", err)
			}
			return
		}
		if c.TooMany+c.Unavailable+c.Reset > 1 || c.Latency < 0 || c.Latency > time.Minute || c.RetryAfter%time.Second != 0 {
			t.Fatalf("ParseChaos(%q) = %+v: out of bounds", spec, c)
		}
		again, err := sts.ParseChaos(c.String())
		if err != nil || again != c {
			t.Fatalf("ParseChaos(%q).String() = %q parses as %+v, %v", spec, c.String(), again, err)
		}
	})
}

// The faults hit the token endpoints only; discovery still answers.
func TestChaosFaults(t *testing.T) {
	f := start(t, sts.Options{Chaos: sts.Chaos{Unavailable: 1}})
	if r := f.post(t, f.tokenURL(), f.secretForm()); r.status != http.StatusServiceUnavailable || r.body["error"] != "temporarily_unavailable" {
		t.Fatalf("503=1: status %d, body %v", r.status, r.body)
	}
	if r := f.get(t, f.a.URL()+"/"+f.seed.TenantID+"/v2.0/.well-known/openid-configuration"); r.status != http.StatusOK {
		t.Fatalf("discovery under chaos: status %d", r.status)
	}
	f.a.SetChaos(sts.Chaos{TooMany: 1, RetryAfter: 7 * time.Second})
	if r := f.post(t, f.tokenURL(), f.secretForm()); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "7" {
		t.Fatalf("429=1: status %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	f.a.SetChaos(sts.Chaos{Reset: 1})
	res, err := f.hc.PostForm(f.tokenURL(), f.secretForm())
	if err == nil {
		res.Body.Close()
		t.Fatalf("reset=1: got status %d, want a dropped connection", res.StatusCode)
	}
	f.a.SetChaos(sts.Chaos{Latency: 300 * time.Millisecond})
	begin := time.Now()
	if r := f.post(t, f.tokenURL(), f.secretForm()); r.status != http.StatusOK {
		t.Fatalf("latency only: status %d", r.status)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Fatalf("latency=300ms: answered in %v", d)
	}
	f.a.SetChaos(sts.Chaos{})
	if r := f.post(t, f.tokenURL(), url.Values(f.secretForm())); r.status != http.StatusOK {
		t.Fatalf("chaos off: status %d", r.status)
	}
}
