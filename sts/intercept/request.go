package intercept

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// decision is what the proxy does with one request head: tunnel (status 0
// and a method) or refuse with status.
type decision struct {
	method string
	target string // sanitized host:port as asked, for reports
	host   string
	kind   Kind
	status int
	reason string
}

// headLimit passes at most n bytes to the request parser; n < 0 lifts the
// limit (for the tunnel that follows).
type headLimit struct {
	r io.Reader
	n int
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, io.EOF
	}
	if l.n > 0 && len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	if l.n > 0 {
		l.n -= n
	}
	return n, err
}

// decide reads one request head from br (which reads through lr) and says
// what to do with it. A client that leaves before sending anything gets the
// zero decision (nothing to answer).
func decide(br *bufio.Reader, lr *headLimit) decision {
	req, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		switch {
		case lr.n == 0:
			return decision{status: http.StatusRequestHeaderFieldsTooLarge, reason: "the request head is too large"}
		case errors.As(err, &ne) && ne.Timeout():
			return decision{status: http.StatusRequestTimeout, reason: "the request head did not arrive in time"}
		case errors.Is(err, io.EOF):
			return decision{}
		}
		return decision{status: http.StatusBadRequest, reason: "malformed request: want CONNECT host:443 HTTP/1.1"}
	}
	d := decision{method: sanitize(req.Method)}
	if d.method == "" {
		d.method = "?"
	}
	if req.ProtoMajor != 1 {
		d.status, d.reason = http.StatusBadRequest, "malformed request: want HTTP/1.x"
		return d
	}
	if req.Method != http.MethodConnect {
		if req.URL.IsAbs() && req.URL.Host != "" {
			d.target = sanitize(req.URL.Host) // never the path, query or user info
			d.status = http.StatusForbidden
			d.reason = fmt.Sprintf("plain-HTTP request to %s refused: only CONNECT to Microsoft identity and "+
				"Resource Manager hosts is tunnelled; nothing leaves this machine", d.target)
			return d
		}
		d.status, d.reason = http.StatusBadRequest, "this is a CONNECT proxy (set HTTPS_PROXY to it); want CONNECT host:443"
		return d
	}
	d.target = sanitize(req.RequestURI)
	host, port, ok := splitTarget(req.RequestURI)
	if !ok {
		d.status, d.reason = http.StatusBadRequest, fmt.Sprintf("bad CONNECT target %q: want host:port", d.target)
		return d
	}
	d.host, d.kind = host, Classify(host, port)
	if d.kind == Refused {
		d.status = http.StatusForbidden
		d.reason = fmt.Sprintf("CONNECT to %s refused: only Microsoft identity and Resource Manager hosts on port "+
			"443 are tunnelled; nothing leaves this machine", d.target)
	}
	return d
}
