package cache

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func slogLogger(h slog.Handler) *slog.Logger { return slog.New(h) }

func TestKeyCanonical(t *testing.T) {
	base := KeyParts{ClientID: "Client-ID", Host: "Login.Example.COM", Tenant: "Contoso", Kind: KindApp,
		Scopes: []string{"https://graph/.default", "API://x/Read"}}
	same := []KeyParts{
		{ClientID: "client-id", Host: "login.example.com", Tenant: "contoso", Scopes: []string{"api://x/read", "https://graph/.default"}},
		{ClientID: "CLIENT-ID", Host: "LOGIN.EXAMPLE.COM", Tenant: "CONTOSO", Scopes: []string{" https://GRAPH/.default ", "api://X/READ", "api://x/read", ""}},
	}
	want := string(AppendKey(nil, base))
	for _, p := range same {
		if got := string(AppendKey(nil, p)); got != want {
			t.Errorf("AppendKey(%+v) = %q, want %q", p, got, want)
		}
	}
	if want != "client-id|login.example.com|contoso|app||api://x/read https://graph/.default" {
		t.Errorf("layout changed: %q", want)
	}
	differ := map[string]func(*KeyParts){
		"tenant": func(p *KeyParts) { p.Tenant = "fabrikam" },
		"client": func(p *KeyParts) { p.ClientID = "other" },
		"host":   func(p *KeyParts) { p.Host = "login.other" },
		"kind":   func(p *KeyParts) { p.Kind = KindOBO },
		"extra":  func(p *KeyParts) { p.Extra = "claimshash" },
		"extra case": func(p *KeyParts) {
			p.Extra = "ClaimsHash"
		},
		"scopes":         func(p *KeyParts) { p.Scopes = []string{"https://graph/.default"} },
		"separator":      func(p *KeyParts) { p.Tenant, p.ClientID = "client-id|login.example.com", "contoso" },
		"scope w/ space": func(p *KeyParts) { p.Scopes = []string{"api://x/read https://graph/.default"} },
	}
	seen := map[string]string{want: "base"}
	for name, mut := range differ {
		p := base
		mut(&p)
		k := string(AppendKey(nil, p))
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: key %q equals that of %s", name, k, prev)
		}
		seen[k] = name
	}
	if a, b := AppendKey(nil, KeyParts{Extra: "abc"}), AppendKey(nil, KeyParts{Extra: "ABC"}); string(a) == string(b) {
		t.Error("extra must stay case-sensitive")
	}
}

func TestKeyManyScopesAndUnicode(t *testing.T) {
	var scopes, rev []string
	for i := range 40 {
		scopes = append(scopes, fmt.Sprintf("Scope%02d", i))
		rev = append([]string{fmt.Sprintf("scope%02d", i)}, rev...)
	}
	if a, b := AppendKey(nil, KeyParts{Scopes: scopes}), AppendKey(nil, KeyParts{Scopes: rev}); string(a) != string(b) {
		t.Errorf("40 scopes: %q != %q", a, b)
	}
	if a, b := AppendKey(nil, KeyParts{Tenant: "ÄBC", Scopes: []string{"Ü", "a"}}), AppendKey(nil, KeyParts{Tenant: "äbc", Scopes: []string{"a", "ü"}}); string(a) != string(b) {
		t.Errorf("unicode case: %q != %q", a, b)
	}
}

func TestExactScopesKeepCase(t *testing.T) {
	base := KeyParts{ClientID: "Client", Host: "IdP.Example", Tenant: "", ExactScopes: true,
		Scopes: []string{"Read", "read", " write ", "Read", ""}}
	k := string(AppendKey(nil, base))
	if want := "Client|idp.example||app-cs||Read read write"; k != want {
		t.Fatalf("exact key = %q, want %q", k, want)
	}
	if got := string(MakePrefix("Client", "IDP.example", "").ExactScopes().AppendKey(nil, KindApp, "", []string{"write", "read", "Read"})); got != k {
		t.Errorf("Prefix.ExactScopes().AppendKey = %q, want %q", got, k)
	}
	one := func(exact bool, scopes ...string) string {
		return string(AppendKey(nil, KeyParts{ClientID: "c", Host: "h", ExactScopes: exact, Scopes: scopes}))
	}
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"case apart when exact", one(true, "Read"), one(true, "read"), false},
		{"case apart among several", one(true, "a", "Read"), one(true, "a", "read"), false},
		{"order and spaces still ignored", one(true, "B", " a"), one(true, "a", "B "), true},
		{"case folded otherwise", one(false, "Read"), one(false, "read"), true},
		{"exact never equals folded", one(true, "read"), one(false, "read"), false},
	} {
		if (tc.a == tc.b) != tc.same {
			t.Errorf("%s: %q vs %q", tc.name, tc.a, tc.b)
		}
	}
	p, err := ParseKey(k)
	want := KeyParts{ClientID: "Client", Host: "idp.example", ExactScopes: true, Scopes: []string{"Read", "read", "write"}}
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("ParseKey = %+v, %v; want %+v", p, err, want)
	}
	exact := MakePrefix("c", "h", "t").ExactScopes()
	allocs := testing.AllocsPerRun(50, func() {
		var buf [256]byte
		exact.AppendKey(buf[:0], KindApp, "", []string{"B", "a", "C"})
	})
	if allocs != 0 {
		t.Errorf("exact Prefix.AppendKey: %v allocations", allocs)
	}
}

// Client ids are case-sensitive at a generic issuer: MyApp and myapp sharing
// a store must not get each other's tokens. Entra and AD FS ids (GUIDs) stay
// case-insensitive.
func TestExactClientIDKeepsCase(t *testing.T) {
	mk := func(id string, exact bool) string {
		p := MakePrefix(id, "idp.example", "https://idp.example/")
		if exact {
			p = p.ExactScopes()
		}
		return string(p.AppendKey(nil, KindApp, "", []string{"read"}))
	}
	if mk("MyApp", true) == mk("myapp", true) {
		t.Errorf("generic issuer: MyApp and myapp share the key %q", mk("MyApp", true))
	}
	if mk("MyApp", false) != mk("myapp", false) {
		t.Errorf("Entra: client ids differing in case got different keys")
	}
	parts := KeyParts{ClientID: "MyApp", Host: "idp.example", Tenant: "https://idp.example/", ExactScopes: true, Scopes: []string{"read"}}
	if k := string(AppendKey(nil, parts)); k != mk("MyApp", true) {
		t.Errorf("AppendKey = %q, Prefix.AppendKey = %q", k, mk("MyApp", true))
	}
	for _, tc := range []struct {
		prefix string
		key    string
		want   bool
	}{
		{MakePrefix("MyApp", "h", "t").ExactScopes().Client(), mk("MyApp", true), true},
		{MakePrefix("MyApp", "h", "t").ExactScopes().Client(), mk("myapp", true), false},
		{MakePrefix("MyApp", "h", "t").Client(), mk("myapp", false), true},
	} {
		if got := strings.HasPrefix(tc.key, tc.prefix); got != tc.want {
			t.Errorf("HasPrefix(%q, %q) = %v, want %v", tc.key, tc.prefix, got, tc.want)
		}
	}
}

func TestParseKeyRoundTrip(t *testing.T) {
	p := KeyParts{ClientID: "c|1", Host: "h%x", Tenant: "t 1", Kind: KindOBO, Extra: "Hash|X", Scopes: []string{"b s", "a"}}
	got, err := ParseKey(string(AppendKey(nil, p)))
	if err != nil {
		t.Fatal(err)
	}
	want := KeyParts{ClientID: "c|1", Host: "h%x", Tenant: "t 1", Kind: KindOBO, Extra: "Hash|X", Scopes: []string{"a", "b s"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseKey = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "a|b", "c|h|t|xyz||s", "c|h|t|app|%zz|s", "c|h|t|app||%"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestPrefixes(t *testing.T) {
	parts := KeyParts{ClientID: "C", Host: "H", Tenant: "T", Kind: KindOBO, Extra: "x", Scopes: []string{"s2", "S1"}}
	k := string(AppendKey(nil, parts))
	p := MakePrefix("C", "H", "T")
	if got := string(p.AppendKey(nil, KindOBO, "x", []string{"S1", "s2"})); got != k {
		t.Errorf("Prefix.AppendKey = %q, want %q", got, k)
	}
	for _, p := range []string{ClientPrefix("c"), p.String()} {
		if !strings.HasPrefix(k, p) {
			t.Errorf("key %q lacks prefix %q", k, p)
		}
	}
	if strings.HasPrefix(string(AppendKey(nil, KeyParts{ClientID: "cc"})), ClientPrefix("c")) {
		t.Error("prefix of client c matches client cc")
	}
}

func TestAppendKeyAllocations(t *testing.T) {
	for _, n := range []int{1, 3, maxStackScopes} {
		var scopes []string
		for i := range n {
			scopes = append(scopes, fmt.Sprintf("api://S%d/.default", n-i))
		}
		p := KeyParts{ClientID: "Client", Host: "Host", Tenant: "Tenant", Scopes: scopes}
		allocs := testing.AllocsPerRun(50, func() {
			var buf [1024]byte
			AppendKey(buf[:0], p)
		})
		if allocs != 0 {
			t.Errorf("%d scopes: %v allocations", n, allocs)
		}
	}
}

func TestComputeRefreshOn(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name      string
		life      time.Duration
		refreshIn time.Duration
		want      time.Duration // after issue
	}{
		{"refresh_in sent", 24 * h, 3 * h, 3 * h},
		{"refresh_in just before expiry", h, h - time.Second, h - time.Second}, // the cache clamps it
		{"refresh_in at expiry: lifetime rules", h, h, 55 * time.Minute},
		{"refresh_in past expiry: lifetime rules", h, 2 * h, 55 * time.Minute},
		{"refresh_in past expiry, long-lived", 24 * h, 48 * h, 12 * h},
		{"long-lived: half", 24 * h, 0, 12 * h},
		{"exactly 2h: half", 2 * h, 0, h},
		{"short: 5 min before", h, 0, 55 * time.Minute},
		{"10 min: 5 min before is half", 10 * time.Minute, 0, 5 * time.Minute},
		{"6 min: half, not 1 min", 6 * time.Minute, 0, 3 * time.Minute},
		{"5 min: half, not at issue", 5 * time.Minute, 0, 150 * time.Second},
		{"shorter than 5 min: half", 3 * time.Minute, 0, 90 * time.Second},
		{"seconds: half", 2 * time.Second, 0, time.Second},
	} {
		if got := ComputeRefreshOn(t0, t0.Add(tc.life), tc.refreshIn); !got.Equal(t0.Add(tc.want)) {
			t.Errorf("%s: got %v, want issue+%v", tc.name, got.Sub(t0), tc.want)
		}
	}
}

func TestTokenFormattingRedacts(t *testing.T) {
	tok := tokenAt("eyJ-very-secret", t0, time.Hour, 50*time.Minute)
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "token", tok, "value", *tok)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "token", tok, "value", *tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), b.String(),
		fmt.Sprint(*tok), fmt.Sprintf("%+v", *tok), fmt.Sprintf("%#v", *tok), fmt.Sprintf("%v", []Token{*tok})} {
		if strings.Contains(s, "very-secret") || !strings.Contains(s, "Bearer") {
			t.Errorf("formatted token %q", s)
		}
	}
	if KindApp.String() != "app" || KindOBO.String() != "obo" || Kind(9).String() != "kind(9)" {
		t.Error("Kind.String")
	}
}

func TestKeyInvalidUTF8StaysDistinct(t *testing.T) {
	a := AppendKey(nil, KeyParts{Tenant: "t\xff", Scopes: []string{"s\xfe", "s\xfd"}})
	b := AppendKey(nil, KeyParts{Tenant: "t\xfe", Scopes: []string{"s\xfe", "s\xfd"}})
	c := AppendKey(nil, KeyParts{Tenant: "t\xff", Scopes: []string{"s\xfe"}})
	if string(a) == string(b) || string(a) == string(c) {
		t.Fatalf("invalid bytes collapsed: %q %q %q", a, b, c)
	}
	if !utf8.Valid(a) {
		t.Fatalf("key %q is not valid UTF-8", a)
	}
	p, err := ParseKey(string(a))
	if err != nil || p.Tenant != "t\xff" || len(p.Scopes) != 2 {
		t.Fatalf("ParseKey = %+v, %v", p, err)
	}
}

// FuzzKey checks that every key parses back and that canonicalising a parsed
// key reproduces it; and that ParseKey never panics on outside input.
func FuzzKey(f *testing.F) {
	f.Add("Client", "Login.Host", "Tenant", "Extra|x", "API://A/.default", " b ", "app|x", false)
	f.Add("c|1", "h%2", "t 3", "", "\xff", "ß", "||||||", false)
	f.Add("c", "h", "", "", "Read", "read", "c|h||app-cs||a", true)
	f.Fuzz(func(t *testing.T, client, host, tenant, extra, s1, s2, raw string, exact bool) {
		ParseKey(raw)
		k := AppendKey(nil, KeyParts{ClientID: client, Host: host, Tenant: tenant, Kind: KindOBO, Extra: extra, Scopes: []string{s1, s2}, ExactScopes: exact})
		p, err := ParseKey(string(k))
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", k, err)
		}
		if p.Extra != extra || p.Kind != KindOBO || p.ExactScopes != exact {
			t.Fatalf("ParseKey(%q) = %+v", k, p)
		}
		if again := AppendKey(nil, p); string(again) != string(k) {
			t.Fatalf("not canonical: %q -> %+v -> %q", k, p, again)
		}
	})
}

// A Stem builds the same keys as its Prefix with the same kind and extra.
func TestStemMatchesPrefix(t *testing.T) {
	for _, p := range []Prefix{MakePrefix("App|1", "Host", "T"), MakePrefix("a", "h", "t").ExactScopes()} {
		for _, extra := range []string{"", "hash=|%x y", "AbC"} {
			st := p.Stem(KindOBO, extra)
			for _, scopes := range [][]string{{"B", "a"}, {" Read|x "}, {}} {
				want := string(p.AppendKey(nil, KindOBO, extra, scopes))
				if got := string(st.AppendKey(nil, scopes)); got != want {
					t.Errorf("stem key %q, want %q", got, want)
				}
			}
		}
	}
}

// A session key (kind obo-rt, no scopes) parses back to its parts, apart
// from token keys of the same partition, and its Session never prints the
// refresh token.
func TestSessionKey(t *testing.T) {
	for _, p := range []Prefix{MakePrefix("App", "Host:8443", "T"), MakePrefix("a", "h", "t").ExactScopes()} {
		key := string(p.AppendKey(nil, KindOBOSession, "hash=|x", nil))
		got, err := ParseKey(key)
		if err != nil || got.Kind != KindOBOSession || got.Extra != "hash=|x" || len(got.Scopes) != 0 ||
			got.Kind.String() != "obo-rt" {
			t.Fatalf("ParseKey(%q) = %+v, %v", key, got, err)
		}
		if again := string(AppendKey(nil, got)); again != key {
			t.Fatalf("not canonical: %q -> %q", key, again)
		}
		if tok := string(p.AppendKey(nil, KindOBO, "hash=|x", nil)); tok == key || !strings.HasPrefix(key, p.Client()) {
			t.Fatalf("session key %q vs token key %q, client prefix %q", key, tok, p.Client())
		}
	}
	s := Session{RefreshToken: "rt-very-secret", HomeAccountID: "u.t", Username: "user@x"}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "s", s, "p", &s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", &s), fmt.Sprintf("%#v", s), b.String()} {
		if strings.Contains(out, "very-secret") || !strings.Contains(out, "u.t") {
			t.Errorf("formatted session %q", out)
		}
	}
}
