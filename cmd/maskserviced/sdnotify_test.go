package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice/cmd/internal/config"
)

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 15 * time.Second},
		{"30000000", "42", 15 * time.Second},
		{"30000000", "43", 0}, // meant for another process
		{"abc", "", 0},
		{"0", "", 0},
	}
	for _, tt := range tests {
		if got := watchdogInterval(tt.usec, tt.pid, 42); got != tt.want {
			t.Errorf("watchdogInterval(%q, %q) = %v, want %v", tt.usec, tt.pid, got, tt.want)
		}
	}
}

// notifySocket listens on a unixgram socket like systemd's and records what arrives.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []struct {
		at  time.Time
		msg string
	}
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	ns := &notifySocket{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, struct {
				at  time.Time
				msg string
			}{time.Now(), string(buf[:n])})
			ns.mu.Unlock()
		}
	}()
	return ns
}

func (ns *notifySocket) all() []string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	out := make([]string, len(ns.msgs))
	for i, m := range ns.msgs {
		out[i] = m.msg
	}
	return out
}

// lastWatchdog returns when the last WATCHDOG=1 arrived (zero if none).
func (ns *notifySocket) lastWatchdog() time.Time {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var at time.Time
	for _, m := range ns.msgs {
		if m.msg == "WATCHDOG=1" {
			at = m.at
		}
	}
	return at
}

func runNotifying(t *testing.T, ns *notifySocket, text string) *Main {
	t.Helper()
	m := NewMain()
	m.DataDir, m.Listen, m.Stderr, m.BcryptCost = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", io.Discard, 4
	m.NotifySocket, m.WatchdogInterval = ns.path, 50*time.Millisecond
	c, err := config.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	m.Config = c
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// READY once the listener is up, WATCHDOG while healthy, STOPPING at shutdown, in order.
func TestNotify_ReadyWatchdogStopping(t *testing.T) {
	ns := listenNotify(t)
	m := runNotifying(t, ns, fastConfig(""))
	waitFor(t, 5*time.Second, "three watchdog pings", func() bool {
		return strings.Count(strings.Join(ns.all(), "|"), "WATCHDOG=1") >= 3
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "STOPPING=1", func() bool {
		msgs := ns.all()
		return len(msgs) > 0 && msgs[len(msgs)-1] == "STOPPING=1"
	})
	msgs := ns.all()
	if !strings.HasPrefix(msgs[0], "READY=1\nSTATUS=serving 3 sensors on 127.0.0.1:") {
		t.Errorf("first message %q, want READY=1 with a STATUS", msgs[0])
	}
	for _, msg := range msgs[1 : len(msgs)-1] {
		if msg != "WATCHDOG=1" {
			t.Errorf("message %q between READY and STOPPING", msg)
		}
	}
}

// A poll loop that hangs stops the watchdog pings: here every read takes 10 s, so no round
// comes after the start, and after the 5 s stall limit the pings stop.
func TestNotify_NoWatchdogWhenThePollLoopHangs(t *testing.T) {
	ns := listenNotify(t)
	text := strings.Replace(fastConfig(""), "sim_seed = 7", "sim_seed = 7\nsim_latency = \"10s\"", 1)
	m := runNotifying(t, ns, text)
	defer m.Close()
	start := time.Now()
	waitFor(t, 3*time.Second, "a ping while the start is recent", func() bool { return !ns.lastWatchdog().IsZero() })
	time.Sleep(9 * time.Second)
	last := ns.lastWatchdog()
	// A ping decided just before the 5 s stall limit may arrive up to the /healthz timeout
	// (2 s) later on a loaded machine.
	if since := last.Sub(start); since > 7200*time.Millisecond {
		t.Errorf("a watchdog ping %v after the start, with no poll round: the hang must stop the pings after 5 s", since)
	}
	if time.Since(last) < 1500*time.Millisecond {
		t.Errorf("pings go on %v ago although the poll loop hangs", time.Since(last))
	}
}
