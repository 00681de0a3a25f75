package bearer

import (
	"net/http"
	"reflect"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for in, want := range map[string][]Challenge{
		``: nil,
		`Bearer realm="", error="insufficient_claims", claims="eyJ9"`: {
			{Scheme: "Bearer", Params: map[string]string{"realm": "", "error": "insufficient_claims", "claims": "eyJ9"}},
		},
		`Basic realm="a, b", Bearer error=invalid_token, Error_Description="x \"y\""`: {
			{Scheme: "Basic", Params: map[string]string{"realm": "a, b"}},
			{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "error_description": `x "y"`}},
		},
		`Negotiate, Bearer`: {
			{Scheme: "Negotiate", Params: map[string]string{}},
			{Scheme: "Bearer", Params: map[string]string{}},
		},
		`Basic abc==, Bearer a = "b"`: {
			{Scheme: "Basic", Params: map[string]string{"": "abc=="}},
			{Scheme: "Bearer", Params: map[string]string{"a": "b"}},
		},
		`Bearer claims="unterminated`: {
			{Scheme: "Bearer", Params: map[string]string{"claims": "unterminated"}},
		},
		`"junk", Bearer error="e"`: {
			{Scheme: "Bearer", Params: map[string]string{"error": "e"}},
		},
	} {
		if got := ParseChallenges(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseChallenges(%q)\n got %#v\nwant %#v", in, got, want)
		}
	}
}

func TestClaimsChallenge(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="x"`)
	h.Add("WWW-Authenticate", `Bearer realm="", error="insufficient_claims", claims="eyJhIjoxfQ=="`)
	if c, ok := ClaimsChallenge(h); !ok || c != `{"a":1}` {
		t.Fatalf("%q %t", c, ok)
	}
	// Unpadded base64 is accepted too.
	h.Set("WWW-Authenticate", `Bearer error="insufficient_claims", claims="eyJhIjoxfQ"`)
	if c, ok := ClaimsChallenge(h); !ok || c != `{"a":1}` {
		t.Fatalf("unpadded: %q %t", c, ok)
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="", error="insufficient_claims", claims="eyJ9"`, `Basic abc==`,
		`a="\`, `,,=,"`, `Bearer x="y\"z", Basic`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range ParseChallenges(s) {
			if c.Scheme == "" || c.Params == nil {
				t.Fatalf("empty scheme or nil params in %#v", c)
			}
		}
	})
}
