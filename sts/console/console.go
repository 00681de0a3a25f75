// Package console is the local authority's web console: its tenants, apps
// (client ids, secret hints and expiry, certificate thumbprints, API roles
// and scopes, grants and consents) and users, and the sign-in log, newest
// first, updating live over server-sent events. Pages are rendered on the
// server from embedded templates with a little plain JavaScript and no
// external resources, so the console works offline. It shows no secret,
// password, assertion or token: the directory lister it reads returns
// secrets by hint and users without passwords, and sign-in records hold
// neither.
package console

import (
	"embed"
	"html/template"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/signin"
)

// Path is where the console is served; EventsPath streams new sign-ins.
const (
	Path       = "/console"
	EventsPath = Path + "/events"
	assetsPath = Path + "/assets/"
)

// Directory lists the tenants, apps and users to show (directory.State
// does): secrets by id and hint only, users without passwords.
type Directory interface {
	List() ([]directory.Tenant, error)
	ListUsers(tenant string) ([]directory.User, error)
}

// Log is the sign-in log (signin.Ring is one): the stored records matching
// a filter, oldest first, and a channel of every later record.
type Log interface {
	Follow(app string, failedOnly bool) ([]*signin.Record, <-chan *signin.Record, func())
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageTmpl is the console's page templates, parsed by New (not when a program
// linking the package starts: most runs of the CLI never serve the console).
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page.html").Funcs(template.FuncMap{
		"when": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"unix": func(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) },
		"ms":   func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() },
		"join": strings.Join,
	}).ParseFS(templateFS, "templates/*.html"))
})

// Handler serves the console under Path.
type Handler struct {
	dir    Directory
	log    Log
	allow  []netip.Prefix
	assets http.Handler
}

// New returns the console over dir and log, answering loopback clients and
// those whose address is in one of allow.
func New(dir Directory, log Log, allow []netip.Prefix) *Handler {
	pageTmpl() // parsed now: a defective template fails the start, not a page
	return &Handler{dir: dir, log: log, allow: slices.Clone(allow), assets: http.FileServerFS(assetFS)}
}

// Allowed reports whether a client at remoteAddr (host:port) may use the console.
func (h *Handler) Allowed(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() {
		return true
	}
	for _, p := range h.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ServeHTTP serves the page, the event stream and the script and style sheet.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	if !h.Allowed(r.RemoteAddr) {
		http.Error(w, "The console answers loopback clients only (see serve --console-allow).", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "The console only answers GET requests.", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == Path || p == Path+"/":
		h.page(w, r)
	case p == EventsPath:
		h.events(w, r)
	case strings.HasPrefix(p, assetsPath):
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(p, Path)
		h.assets.ServeHTTP(w, r2)
	default:
		http.NotFound(w, r)
	}
}

// filter is the sign-in log's filter: a client id and an outcome.
type filter struct {
	App     string // client id; "" for all
	Outcome string // "", "failed" or "success"
}

func parseFilter(r *http.Request) (filter, bool) {
	q := r.URL.Query()
	f := filter{App: strings.TrimSpace(q.Get("app")), Outcome: q.Get("outcome")}
	switch f.Outcome {
	case "", "failed", "success":
		return f, len(f.App) <= 128
	}
	return f, false
}

// follow subscribes to the log with the filter, returning matching stored records oldest first.
func (f filter) follow(l Log) ([]*signin.Record, <-chan *signin.Record, func()) {
	recs, ch, cancel := l.Follow(f.App, f.Outcome == "failed")
	return slices.DeleteFunc(recs, func(r *signin.Record) bool { return !f.match(r) }), ch, cancel
}

func (f filter) match(r *signin.Record) bool {
	return r.Matches(f.App, f.Outcome == "failed") && (f.Outcome != "success" || !r.Failed())
}

// tenantView is a tenant with its users.
type tenantView struct {
	directory.Tenant
	Users    []directory.User
	UsersErr string
	Now      time.Time // for the secrets' expiry
}

// pageData is what page.html renders.
type pageData struct {
	Tenants []tenantView
	Apps    []*directory.App // every app, for the filter
	Filter  filter
	Records []*signin.Record // newest first
	After   string           // trace id of the newest record shown
	Now     time.Time
	Err     string
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	f, ok := parseFilter(r)
	if !ok {
		http.Error(w, "Bad filter: outcome must be failed or success, app a client id.", http.StatusBadRequest)
		return
	}
	d := pageData{Filter: f, Now: time.Now()}
	tenants, err := h.dir.List()
	if err != nil {
		d.Err = "Reading the directory: " + err.Error()
	}
	for _, t := range tenants {
		tv := tenantView{Tenant: t, Now: d.Now}
		if tv.Users, err = h.dir.ListUsers(t.ID); err != nil {
			tv.UsersErr = err.Error()
		}
		d.Tenants = append(d.Tenants, tv)
		d.Apps = append(d.Apps, t.Apps...)
	}
	recs, _, cancel := f.follow(h.log)
	cancel()
	slices.Reverse(recs)
	d.Records = recs
	if len(recs) > 0 {
		d.After = recs[0].TraceID
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl().Execute(w, d); err != nil {
		http.Error(w, "rendering the console failed", http.StatusInternalServerError)
	}
}
