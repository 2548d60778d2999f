// Package connlimit bounds the connections that one client may hold open on a listener, so
// that one phone on the hotspot (or one host beyond it) cannot take every connection, file
// descriptor and buffer of the daemon.
package connlimit

import (
	"net"
	"sync"
)

// ClientKey is the address a client is known by: the IPv4 address, or the /64 of an IPv6
// one, since a single IPv6 host may pick any address of its /64. Every loopback address (all
// of 127.0.0.0/8 and ::1) is one key: they are all this host. The sign-in rate limit and the
// connection limit both count clients by it.
func ClientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.IsLoopback():
		return "loopback"
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// Options configure a Listener.
type Options struct {
	// PerClient is how many connections one client (ClientKey) may hold open at once; a
	// connection beyond it is closed as soon as it is accepted. 0 means no limit.
	PerClient int
	// ExemptLoopback leaves this host's own clients unlimited: on the LCD's loopback
	// listener they are the kiosk and the device's own tools, which one key cannot tell
	// apart, so a limit on them would let any local process crowd the kiosk out.
	ExemptLoopback bool
	// Refused, when set, is told of every connection refused, with its client's key and
	// whether it is the first refusal of that client since it last got a connection (worth a
	// log line; the others are worth a counter).
	Refused func(key string, first bool)
}

// Listener is a net.Listener that keeps each client within Options.PerClient open
// connections. It is safe for concurrent use.
type Listener struct {
	net.Listener
	opts Options

	mu      sync.Mutex
	open    map[string]int  // open connections per client key
	refused map[string]bool // clients refused since their last accepted connection
}

// New wraps ln.
func New(ln net.Listener, opts Options) *Listener {
	return &Listener{Listener: ln, opts: opts, open: map[string]int{}, refused: map[string]bool{}}
}

// Accept returns the next connection of a client within its limit, closing the ones beyond.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ClientKey(c.RemoteAddr().String())
		if l.admit(key) {
			return &conn{Conn: c, release: func() { l.release(key) }}, nil
		}
		// Nothing is read or written: a TLS handshake or an HTTP answer would cost what the
		// limit is there to save.
		_ = c.Close()
	}
}

// admit counts a new connection of key, or refuses it.
func (l *Listener) admit(key string) bool {
	if l.opts.PerClient <= 0 || (l.opts.ExemptLoopback && key == "loopback") {
		return true
	}
	l.mu.Lock()
	ok := l.open[key] < l.opts.PerClient
	first := false
	if ok {
		l.open[key]++
		delete(l.refused, key)
	} else if !l.refused[key] {
		first = true
		l.refused[key] = true
	}
	l.mu.Unlock()
	if !ok && l.opts.Refused != nil {
		l.opts.Refused(key, first)
	}
	return ok
}

// release uncounts a closed connection of key.
func (l *Listener) release(key string) {
	if l.opts.PerClient <= 0 || (l.opts.ExemptLoopback && key == "loopback") {
		return
	}
	l.mu.Lock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
	l.mu.Unlock()
}

// Open returns how many connections the client of key holds open (0 for an exempt one).
func (l *Listener) Open(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

// conn is an admitted connection; closing it, once or many times, frees its slot once. The
// HTTP server closes the connections it serves, and a WebSocket's hijacked connection is
// this same value, closed by the hub.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
