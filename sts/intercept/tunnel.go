package intercept

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCP returns a Dialer that connects to addr, a loopback address such as
// the authority's 127.0.0.1:8443, whatever host the client named. It refuses
// to connect anywhere else.
func TCP(addr string) Dialer {
	return func(ctx context.Context, _ string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("tunnel address %q: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("tunnel address %q: not a loopback address", addr)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if !isLoopback(c.RemoteAddr()) {
			_ = c.Close()
			return nil, fmt.Errorf("tunnel address %q: reached %s, not a loopback address", addr, c.RemoteAddr())
		}
		return c, nil
	}
}

// splice copies both ways between the client (read through r, which holds
// any bytes read past the request head) and the backend until either side
// ends or both have been idle for idle; then it closes both.
func splice(client net.Conn, r io.Reader, backend net.Conn, idle time.Duration) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	pump := func(dst net.Conn, src io.Reader, srcConn net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			_ = srcConn.SetReadDeadline(time.Now().Add(idle))
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				_ = dst.SetWriteDeadline(time.Now().Add(idle))
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
					continue // the other direction is busy
				}
				return
			}
		}
	}
	go pump(backend, r, client)
	go pump(client, backend, backend)
	<-done
	_ = client.Close()
	_ = backend.Close()
	<-done
}

// Listener is an in-process net.Listener that tunnels can be joined to
// without a second TCP port: pass its Dial as a Proxy's Identity or ARM and
// serve it (with TLS) like any listener. Its connections' local address is
// 127.0.0.1:443, so a server that checks the Host header against the port
// the request arrived on accepts the port-less Host ("login.microsoftonline.com")
// that clients send through the tunnel.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// tunnelAddr is the local address of a Listener's connections.
var tunnelAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}

// NewListener returns an open Listener.
func NewListener() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next tunnel.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; Accept and Dial then fail.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is 127.0.0.1:443.
func (l *Listener) Addr() net.Addr { return tunnelAddr }

// Dial hands the server end of a new in-memory connection to Accept and
// returns the client end. It is a Dialer.
func (l *Listener) Dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- &pipeConn{Conn: server}:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, net.ErrClosed
}

// pipeConn is the server end of a Listener's connection.
type pipeConn struct{ net.Conn }

func (pipeConn) LocalAddr() net.Addr  { return tunnelAddr }
func (pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
