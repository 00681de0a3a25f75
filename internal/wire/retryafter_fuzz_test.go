package wire

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseRetryAfter checks the Retry-After family of headers (milliseconds,
// delta seconds, HTTP dates): never negative, and never more than a day unless
// the value is an HTTP date (the caller caps those with MaxRetryAfter).
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range [][3]string{
		{"", "", "5"}, {"", "", "0"}, {"", "", "-1"}, {"", "", "99999999999999999999"}, {"", "", " 7 "},
		{"", "", now.Add(time.Minute).Format(http.TimeFormat)}, {"", "", "Mon, 02 Jan 2006 15:04:05 GMT"},
		{"", "", "Fri, 31 Dec 9999 23:59:59 GMT"}, {"1500", "", "60"}, {"", "250", ""}, {"-5", "abc", "x"},
		{"86400001", "", "3"}, {"1e3", "0x10", "1.5"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, ms, xms, ra string) {
		h := http.Header{}
		for k, v := range map[string]string{"Retry-After-Ms": ms, "X-Ms-Retry-After-Ms": xms, "Retry-After": ra} {
			if v != "" {
				h.Set(k, v)
			}
		}
		d := parseRetryAfter(h, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q, %q, %q) = %v", ms, xms, ra, d)
		}
		if _, err := http.ParseTime(strings.TrimSpace(ra)); err != nil && d > 24*time.Hour {
			t.Fatalf("parseRetryAfter(%q, %q, %q) = %v, more than a day", ms, xms, ra, d)
		}
	})
}
