package connlimit

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"127.0.0.1:1", "loopback"},
		{"127.3.4.5:1", "loopback"},
		{"[::1]:1", "loopback"},
		{"[2001:db8:1:2::1]:1", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::7]:1", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	} {
		if got := ClientKey(tc.addr); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// A client at its limit has its next connection closed at once; closing one of its
// connections (twice, as the HTTP server and a hub may) frees exactly one slot. Real TCP
// connections on loopback.
func TestListener_PerClient(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refusals, firsts atomic.Int32
	ln := New(inner, Options{PerClient: 3, Refused: func(key string, first bool) {
		refusals.Add(1)
		if first {
			firsts.Add(1)
		}
	}})
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var server []net.Conn
	for range 3 {
		dial()
		server = append(server, <-accepted)
	}
	// The fourth and fifth are closed by the listener: the client reads EOF.
	for range 2 {
		c := dial()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("a connection past the limit was kept (read %d bytes)", n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a connection past the limit was kept open")
		}
	}
	if refusals.Load() != 2 || firsts.Load() != 1 {
		t.Errorf("refusals %d (first %d), want 2 (1)", refusals.Load(), firsts.Load())
	}
	if n := ln.Open("loopback"); n != 3 {
		t.Fatalf("Open = %d, want 3", n)
	}
	server[0].Close()
	server[0].Close()
	if n := ln.Open("loopback"); n != 2 {
		t.Fatalf("after a close: Open = %d, want 2", n)
	}
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not given to the next connection")
	}
	if n := ln.Open("loopback"); n != 3 {
		t.Errorf("Open = %d, want 3", n)
	}
}

func TestListener_ExemptLoopback(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(inner, Options{PerClient: 1, ExemptLoopback: true})
	defer ln.Close()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	if n := ln.Open("loopback"); n != 0 {
		t.Errorf("Open = %d, want 0: loopback is not counted", n)
	}
}
