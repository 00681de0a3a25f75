package console

import (
	"bufio"
	"bytes"
	"net/http"
	"time"

	"github.com/appcred/appcred/sts/signin"
)

// keepAlive is how often an idle event stream sends a comment, so proxies
// and browsers keep it open.
const keepAlive = 20 * time.Second

// events streams, as server-sent events named "signin", the rendered table
// rows of each sign-in that matches the filter: first those stored after the
// record named by ?after= or Last-Event-ID (all stored ones when neither is
// given), then each new one as it happens.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	f, ok := parseFilter(r)
	if !ok {
		http.Error(w, "Bad filter: outcome must be failed or success, app a client id.", http.StatusBadRequest)
		return
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	backlog, ch, cancel := f.follow(h.log)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a console stays open as long as it likes
	for _, rec := range since(backlog, after) {
		if writeEvent(w, rec) != nil {
			return
		}
	}
	if _, err := w.Write([]byte(": live\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			_, err = w.Write([]byte(": ping\n\n"))
		case rec, ok := <-ch:
			if !ok {
				return
			}
			if !f.match(rec) {
				continue
			}
			err = writeEvent(w, rec)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

// since returns the records after the one whose trace id is after (all of
// them when after is "", none when it is no longer stored).
func since(recs []*signin.Record, after string) []*signin.Record {
	if after == "" {
		return recs
	}
	for i, r := range recs {
		if r.TraceID == after {
			return recs[i+1:]
		}
	}
	return nil
}

// writeEvent writes rec's rendered rows as one "signin" event, one data
// line per line of HTML, with the trace id as the event id.
func writeEvent(w http.ResponseWriter, rec *signin.Record) error {
	var buf bytes.Buffer
	if err := pageTmpl().ExecuteTemplate(&buf, "row", rec); err != nil {
		return err
	}
	out := bufio.NewWriter(w)
	out.WriteString("event: signin\nid: " + rec.TraceID + "\n")
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out.WriteString("data: ")
		out.Write(sc.Bytes())
		out.WriteString("\n")
	}
	out.WriteString("\n")
	return out.Flush()
}
