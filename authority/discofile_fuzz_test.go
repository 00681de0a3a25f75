package authority

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDiscoveryFile feeds discovery file contents to the parser: no panic;
// what it accepts holds only absolute http(s) URLs with JSON-object bodies
// fetched within maxAge of now, and written back it parses to the same entries.
func FuzzDiscoveryFile(f *testing.F) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		`{"version":1,"entries":{"https://127.0.0.1:8443/t/v2.0/.well-known/openid-configuration":` +
			`{"fetched":"2025-06-01T11:00:00Z","body":{"token_endpoint":"https://127.0.0.1:8443/t/oauth2/v2.0/token"}}}}`,
		`{"version":1,"entries":{"https://h/x":{"fetched":"2025-05-01T00:00:00Z","body":{}}}}`, // stale
		`{"version":1,"entries":{"https://h/x":{"fetched":"2030-01-01T00:00:00Z","body":{}}}}`, // future
		`{"version":1,"entries":{"ftp://h/x":{"fetched":"2025-06-01T11:00:00Z","body":{}}}}`,
		`{"version":1,"entries":{"https://h/x":{"fetched":"2025-06-01T11:00:00Z","body":"x"}}}`,
		`{"version":1,"entries":{"https://h/x":{"fetched":"2025-06-01T11:00:00Z","body": {"a":1} }}}`,
		`{"version":1,"entries":{"https://h/x":{"fetched":"not a time","body":{}}}}`,
		`{"version":1,"entries":null}`, `{"version":2}`, `{"version":1}`, `null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseDiscoveryFile(data, now, 24*time.Hour)
		if err != nil {
			return
		}
		if len(entries) > MaxDiscoveryFileEntries {
			t.Fatalf("%d entries, bound %d", len(entries), MaxDiscoveryFileEntries)
		}
		for u, e := range entries {
			if err := checkEntry(u, e.Body); err != nil {
				t.Fatalf("accepted a bad entry: %v", err)
			}
			if !now.Before(e.Fetched.Add(24*time.Hour)) || e.Fetched.After(now.Add(maxClockSkew)) {
				t.Fatalf("accepted an entry fetched at %v (now %v)", e.Fetched, now)
			}
		}
		out, err := json.Marshal(discoveryFile{Version: discoveryFileVersion, Entries: entries})
		if err != nil {
			t.Fatalf("accepted entries do not marshal: %v", err)
		}
		again, err := parseDiscoveryFile(out, now, 24*time.Hour)
		if err != nil || len(again) != len(entries) {
			t.Fatalf("written back: %d entries, %v; want %d", len(again), err, len(entries))
		}
		for u, e := range entries {
			var b1, b2 any
			_ = json.Unmarshal(e.Body, &b1)
			_ = json.Unmarshal(again[u].Body, &b2)
			if !again[u].Fetched.Equal(e.Fetched) || !reflect.DeepEqual(b1, b2) {
				t.Fatalf("entry %q changed when written back", u)
			}
		}
	})
}
