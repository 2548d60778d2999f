package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// notifier speaks systemd's notify protocol without cgo: one datagram per message to the
// unix socket systemd names in NOTIFY_SOCKET (a leading "@" is an abstract socket). The zero
// value (no socket) sends nothing, so the daemon runs the same outside systemd.
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier returns a notifier for the socket path ("" for none).
func newNotifier(socket string) *notifier {
	if socket == "" {
		return &notifier{}
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// send sends one message ("READY=1", "STATUS=…"); without a socket it does nothing.
func (n *notifier) send(msg string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", msg, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", msg, err)
	}
	return nil
}

// watchdogInterval returns half of WATCHDOG_USEC, as sd_watchdog_enabled advises, or 0 when
// the watchdog is off (unset, unparsable, or meant for another process by WATCHDOG_PID).
func watchdogInterval(usec, pid string, self int) time.Duration {
	if usec == "" {
		return 0
	}
	if pid != "" && pid != strconv.Itoa(self) {
		return 0
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0
	}
	return time.Duration(n) * time.Microsecond / 2
}

// runWatchdog sends WATCHDOG=1 every interval while healthy says the daemon works, until ctx
// is done. A poll loop that hangs, or an HTTP server that stops answering, stops the pings,
// and systemd restarts the daemon.
func (m *Main) runWatchdog(ctx context.Context, n *notifier, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.healthy(ctx); err != nil {
				m.Logger.Warn("watchdog: not healthy; no ping", "err", err)
				continue
			}
			if err := n.send("WATCHDOG=1"); err != nil {
				m.Logger.Warn("watchdog ping", "err", err)
			}
		}
	}
}

// healthy reports whether the poll loop has started a round lately (within three times the
// longest sensor interval, at least 5 s, counted from the start before the first round) and
// the HTTP server answers /healthz.
func (m *Main) healthy(ctx context.Context) error {
	st := m.monitor.Stats()
	last := st.LastRound
	if last.IsZero() {
		last = m.started
	}
	if age := time.Since(last); age > m.stallLimit() {
		return fmt.Errorf("no poll round for %s", age.Round(time.Millisecond))
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, "http://"+m.ln.Addr().String()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("http server: /healthz answered " + resp.Status)
	}
	return nil
}

// stallLimit is how long the poll loop may go without a round before it counts as hung:
// three times the longest sensor interval, at least 5 s (the monitor's own rule).
func (m *Main) stallLimit() time.Duration {
	var longest time.Duration
	for _, s := range m.monitor.Sensors() {
		longest = max(longest, s.Interval)
	}
	return max(3*longest, 5*time.Second)
}
