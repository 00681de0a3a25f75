package sts

import (
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// adminSegment is the first path segment of the authority's own endpoints,
// which no tenant id (a GUID) or domain can be.
const adminSegment = "_appcred"

// SignInLogPath is the path of the sign-in log endpoint: GET, from loopback
// only, answers the records in memory as JSON lines, oldest first;
// ?failed=1 keeps failures, ?app=ID one client id, and ?follow=1 keeps the
// response open and streams each new record as it happens.
const SignInLogPath = "/" + adminSegment + "/log"

// admin serves the authority's own endpoints under /_appcred/.
func (a *Authority) admin(w http.ResponseWriter, r *http.Request, rc *reqCtx, rest string) {
	if !fromLoopback(r) {
		writeError(w, rc, newErr(http.StatusForbidden, "invalid_request", codeNotFound,
			"The endpoint %q answers loopback clients only.", adminSegment+rest))
		return
	}
	if rest != "/log" {
		writeError(w, rc, notFound("/"+adminSegment+rest))
		return
	}
	if !requireGET(w, r, rc) {
		return
	}
	q := r.URL.Query()
	app, failed, follow := q.Get("app"), q.Get("failed") == "1", q.Get("follow") == "1"
	backlog, ch, cancel := a.signins.ring.Follow(app, failed)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, rec := range backlog {
		if enc.Encode(rec) != nil {
			return
		}
	}
	if !follow {
		return
	}
	rcw := http.NewResponseController(w)
	_ = rcw.SetWriteDeadline(time.Time{}) // a follower stays as long as it likes
	if rcw.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case rec, ok := <-ch:
			if !ok {
				return
			}
			if !rec.Matches(app, failed) {
				continue
			}
			if enc.Encode(rec) != nil || rcw.Flush() != nil {
				return
			}
		}
	}
}

// fromLoopback reports whether the request came from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
