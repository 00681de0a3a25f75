// Package intercept is the CONNECT proxy of the authority's intercept mode:
// an unmodified app that sends its HTTPS traffic through it (HTTPS_PROXY)
// reaches the local authority when it asks for a Microsoft identity host
// (login.microsoftonline.com and the like) and the local Resource Manager
// endpoints when it asks for management.azure.com, while every other
// destination is refused with 403 and reported, so nothing leaves the
// machine. The proxy listens on loopback only and is bounded: a header size
// limit, a deadline for the request head, an idle timeout for tunnels and a
// limit on concurrent tunnels.
package intercept

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Proxy's limits.
const (
	DefaultMaxTunnels     = 256
	DefaultMaxHeaderBytes = 16 << 10
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultDialTimeout    = 10 * time.Second
)

// Dialer opens the connection a tunnel to host (the name the client asked
// for) is joined to. TCP and (*Listener).Dial are Dialers.
type Dialer func(ctx context.Context, host string) (net.Conn, error)

// Refusal describes a request the proxy did not tunnel. It never holds a
// path, query, header or credential: only the destination as asked.
type Refusal struct {
	Time   time.Time
	Client string // the client's address
	Method string // CONNECT, or the method of a plain-HTTP proxy request
	Target string // host:port as asked (sanitized, at most 256 bytes); empty when unreadable
	Status int    // the HTTP status sent: 400, 403, 408, 431, 502 or 503
	Reason string
}

// Proxy is the intercept CONNECT proxy. Set Identity (and ARM, which
// defaults to Identity) before Serve; the other fields are optional.
type Proxy struct {
	Identity Dialer // where tunnels to Microsoft identity hosts go
	ARM      Dialer // where tunnels to Resource Manager hosts go; nil means Identity

	// OnRefuse, when set, is called for every refused request (in the
	// connection's goroutine; it must not block for long).
	OnRefuse func(Refusal)
	// Logger receives one record per tunnel and per refusal; nil means slog.Default().
	Logger *slog.Logger

	MaxTunnels     int           // concurrent tunnels; more get 503 (default 256)
	MaxHeaderBytes int           // request line + headers; more get 431 (default 16 KiB)
	HeaderTimeout  time.Duration // to read the request head; slower clients get 408 (default 10 s)
	IdleTimeout    time.Duration // a tunnel idle both ways this long is closed (default 5 min)
	DialTimeout    time.Duration // to reach the destination; else 502 (default 10 s)

	once    sync.Once
	tunnels chan struct{} // tunnel slots
	pending chan struct{} // connections being read or refused
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	lns     map[net.Listener]struct{}
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

func (p *Proxy) init() {
	p.once.Do(func() {
		p.tunnels = make(chan struct{}, orDefault(p.MaxTunnels, DefaultMaxTunnels))
		p.pending = make(chan struct{}, 64)
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.lns = map[net.Listener]struct{}{}
		p.conns = map[net.Conn]struct{}{}
	})
}

func orDefault[T int | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

// Listen listens on addr, which must be a loopback address (127.0.0.1:PORT,
// [::1]:PORT or localhost:PORT): the proxy never listens on the network.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("intercept address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("intercept address %q: not a loopback address (use 127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("intercept address %q: %w", addr, err)
	}
	if !isLoopback(ln.Addr()) {
		_ = ln.Close()
		return nil, fmt.Errorf("intercept address %q: resolved to %s, not a loopback address", addr, ln.Addr())
	}
	return ln, nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Serve answers proxy requests on ln until Close, then returns nil. It
// refuses (closing ln) a listener whose address is not loopback.
func (p *Proxy) Serve(ln net.Listener) error {
	p.init()
	if !isLoopback(ln.Addr()) {
		_ = ln.Close()
		return fmt.Errorf("intercept: listener %s is not on a loopback address", ln.Addr())
	}
	if p.Identity == nil {
		_ = ln.Close()
		return errors.New("intercept: Proxy.Identity is not set")
	}
	if !p.track(ln, nil) {
		_ = ln.Close()
		return nil
	}
	defer p.untrack(ln, nil)
	for {
		select {
		case p.pending <- struct{}{}:
		case <-p.ctx.Done():
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			<-p.pending
			if p.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !p.track(nil, c) {
			<-p.pending
			_ = c.Close()
			return nil
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// track registers a listener or connection for Close; false once closed.
func (p *Proxy) track(ln net.Listener, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if ln != nil {
		p.lns[ln] = struct{}{}
	}
	if c != nil {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(ln net.Listener, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.lns, ln)
	delete(p.conns, c)
}

// Close stops every listener and closes every connection and tunnel, then
// waits for their goroutines.
func (p *Proxy) Close() error {
	p.init()
	p.mu.Lock()
	p.closed = true
	p.cancel()
	for ln := range p.lns {
		_ = ln.Close()
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// handle serves one client connection: one request head, then a tunnel or
// a refusal.
func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(nil, c)
	defer c.Close()
	released := false
	release := func() {
		if !released {
			released = true
			<-p.pending
		}
	}
	defer release()
	lr := &headLimit{r: c, n: orDefault(p.MaxHeaderBytes, DefaultMaxHeaderBytes)}
	br := bufio.NewReaderSize(lr, 4096)
	_ = c.SetReadDeadline(time.Now().Add(orDefault(p.HeaderTimeout, DefaultHeaderTimeout)))
	d := decide(br, lr)
	if d.status == 0 && d.method == "" { // the client left without a request
		return
	}
	if d.status != 0 {
		p.refuse(c, d)
		return
	}
	select {
	case p.tunnels <- struct{}{}:
	default:
		p.refuse(c, decision{method: d.method, target: d.target, status: http.StatusServiceUnavailable,
			reason: fmt.Sprintf("too many tunnels (at most %d at once)", cap(p.tunnels))})
		return
	}
	defer func() { <-p.tunnels }()
	release() // a tunnel holds a tunnel slot, not a pending one
	lr.n = -1
	_ = c.SetReadDeadline(time.Time{})
	p.tunnel(c, br, d)
}

// refuse answers d's status, reports it and closes the connection.
func (p *Proxy) refuse(c net.Conn, d decision) {
	r := Refusal{Time: time.Now(), Client: c.RemoteAddr().String(), Method: d.method, Target: d.target,
		Status: d.status, Reason: d.reason}
	p.logger().Warn("intercept: refused", "client", r.Client, "method", r.Method, "target", r.Target,
		"status", r.Status, "reason", r.Reason)
	if p.OnRefuse != nil {
		p.OnRefuse(r)
	}
	writeStatus(c, d.status, "appcred intercept: "+d.reason+"\n")
	lingerClose(c)
}

// tunnel joins the client to the destination d names.
func (p *Proxy) tunnel(c net.Conn, br *bufio.Reader, d decision) {
	dial := p.Identity
	if d.kind == ARM && p.ARM != nil {
		dial = p.ARM
	}
	ctx, cancel := context.WithTimeout(p.ctx, orDefault(p.DialTimeout, DefaultDialTimeout))
	backend, err := dial(ctx, d.host)
	cancel()
	if err != nil {
		d.status, d.reason = http.StatusBadGateway, fmt.Sprintf("the local %s endpoint for %s is not reachable", d.kind, d.target)
		p.logger().Error("intercept: dial", "target", d.target, "kind", d.kind.String(), "err", err)
		p.refuse(c, d)
		return
	}
	if !p.track(nil, backend) {
		_ = backend.Close()
		return
	}
	defer p.untrack(nil, backend)
	defer backend.Close()
	p.logger().Info("intercept: tunnel", "client", c.RemoteAddr().String(), "target", d.target, "kind", d.kind.String())
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	splice(c, br, backend, orDefault(p.IdleTimeout, DefaultIdleTimeout))
}

// writeStatus writes a small plain-text response that closes the connection.
func writeStatus(c net.Conn, status int, body string) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"+
		"Connection: close\r\n\r\n%s", status, http.StatusText(status), len(body), body)
}

// lingerClose half-closes c and drains what the client still sends (at most
// 64 KiB or 1 s), so the response is not lost to a reset.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
}

// sanitize keeps a reported target printable and short.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "")
	}
	return s
}
