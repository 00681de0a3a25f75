package intercept

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecide feeds arbitrary request heads to the proxy's parser: it must
// never panic, tunnel only CONNECTs to identity and ARM hosts on port 443,
// answer only the statuses it documents, and report a short, printable target.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{
		"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nHost: login.microsoftonline.com:443\r\n\r\n",
		"CONNECT westus.login.microsoft.com:443 HTTP/1.1\r\n\r\n",
		"CONNECT management.azure.com:443 HTTP/1.0\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
		"CONNECT [::1]:443 HTTP/1.1\r\n\r\n",
		"CONNECT login.microsoftonline.com HTTP/1.1\r\n\r\n",
		"GET http://user:pw@example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nX: " + strings.Repeat("a", 300) + "\r\n\r\n",
		"\x00\xff\r\n\r\n", "", "CONNECT \x7f:443 HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := &headLimit{r: bytes.NewReader(data), n: 256}
		d := decide(bufio.NewReader(lr), lr)
		switch d.status {
		case 0:
			if d.method == "" {
				return // nothing was sent
			}
			if d.method != http.MethodConnect || d.kind == Refused || Classify(d.host, 443) != d.kind {
				t.Fatalf("tunnels %+v", d)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestHeaderFieldsTooLarge:
			if d.reason == "" {
				t.Fatalf("refusal without a reason: %+v", d)
			}
		default:
			t.Fatalf("status %d: %+v", d.status, d)
		}
		if len(d.target) > 256 || !utf8.ValidString(d.target) ||
			strings.ContainsFunc(d.target+d.method, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("unsafe report: %q %q", d.method, d.target)
		}
	})
}
