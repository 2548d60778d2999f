package hub_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
	"mask.services/maskservice/web/hub"
)

// waitTimeout bounds every wait for a condition: generous, because a loaded 2-core machine
// running -race can be slow, and a passing test never waits that long.
const waitTimeout = 15 * time.Second

// feed stands in for the monitor: it holds the current round and hands rounds to the hub.
type feed struct {
	cur atomic.Pointer[maskservice.Round]
	h   *hub.Hub
}

// current is the hub's Options.Current.
func (f *feed) current() *maskservice.Round { return f.cur.Load() }

// publish makes r current and hands it to the hub as Run does, returning once the hub has
// queued its frame for every client.
func (f *feed) publish(r *maskservice.Round) {
	f.cur.Store(r)
	f.h.Handle(r)
}

// testHub is a hub served over a real HTTP server and fed by a feed.
type testHub struct {
	*hub.Hub
	reg  *prometheus.Registry
	srv  *httptest.Server
	feed *feed
}

// mustHub starts a hub with opts (Current and Registerer are filled in) on a test server.
// Everything stops at the end of the test.
func mustHub(tb testing.TB, opts hub.Options) *testHub {
	tb.Helper()
	th := &testHub{reg: prometheus.NewRegistry(), feed: &feed{}}
	opts.Current = th.feed.current
	opts.Registerer = th.reg
	h, err := hub.New(opts)
	if err != nil {
		tb.Fatalf("new hub: %v", err)
	}
	th.Hub = h
	th.feed.h = h
	th.srv = httptest.NewServer(h)
	tb.Cleanup(th.srv.Close)
	tb.Cleanup(h.Close)
	return th
}

// makeRound returns round seq with P1, P2 and P3, each with fault (long faults make big frames).
func makeRound(seq uint64, fault string) *maskservice.Round {
	at := time.Unix(1712338478, 0).Add(time.Duration(seq) * time.Second)
	r := &maskservice.Round{Seq: seq, Time: at}
	for i, id := range []string{"P1", "P2", "P3"} {
		r.Current = append(r.Current, maskservice.Reading{
			SensorID: id, Time: at, Value: float64(i) + 0.5, Raw: float64(i)*1000 + 500, Unit: "bar",
			Status: maskservice.StatusNormal, Quality: maskservice.QualityGood, Fault: fault,
		})
	}
	r.Readings = r.Current
	return r
}

// dial connects a WebSocket client to the test server; it is closed at the end of the test.
func dial(tb testing.TB, th *testHub) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, th.srv.URL, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	tb.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// read reads the next message from c.
func read(tb testing.TB, c *websocket.Conn) ([]byte, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, b, err := c.Read(ctx)
	return b, err
}

// readFrame reads and decodes the next sensors frame from c.
func readFrame(tb testing.TB, c *websocket.Conn) wireFrame {
	tb.Helper()
	b, err := read(tb, c)
	if err != nil {
		tb.Fatalf("read frame: %v", err)
	}
	return decodeFrame(tb, b)
}

// readClose reads from c until the server closes it and returns the close status.
func readClose(tb testing.TB, c *websocket.Conn) websocket.StatusCode {
	tb.Helper()
	return readCloseError(tb, c).Code
}

// readCloseError reads from c until the server closes it and returns the close frame's code
// and reason (code -1 when the connection ended without one).
func readCloseError(tb testing.TB, c *websocket.Conn) websocket.CloseError {
	tb.Helper()
	for {
		_, err := read(tb, c)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				return websocket.CloseError{Code: -1, Reason: err.Error()}
			}
			return ce
		}
	}
}

// waitFor waits until cond holds, failing the test after waitTimeout.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// metricValue returns the value of a counter or gauge, or the sample count of a histogram,
// from reg; label, if not empty, selects the series with that label value.
func metricValue(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	tb.Fatalf("metric %s{%s} not found", name, label)
	return 0
}

// dropped returns websocket_dropped_clients_total{reason}.
func dropped(tb testing.TB, th *testHub, reason string) float64 {
	tb.Helper()
	return metricValue(tb, th.reg, "websocket_dropped_clients_total", reason)
}

// rawClient is a WebSocket client done by hand over TCP, so a test decides exactly what it
// reads and answers: the coder client always answers pings and close frames.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialRaw performs the upgrade handshake with addr (an http:// URL) over a TCP connection
// whose receive buffer is rcvbuf bytes (0: the system default).
func dialRaw(tb testing.TB, url string, rcvbuf int) *rawClient {
	tb.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	if rcvbuf > 0 {
		// Before connect, so the small window is what the server sees from the start.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	host := strings.TrimPrefix(url, "http://")
	conn, err := d.Dial("tcp", host)
	if err != nil {
		tb.Fatalf("dial raw: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_, err = fmt.Fprintf(conn, "GET /api/ws/sensors HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		host, base64.StdEncoding.EncodeToString(key))
	if err != nil {
		tb.Fatalf("write handshake: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatalf("read handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("handshake status %d, want 101", resp.StatusCode)
	}
	return &rawClient{conn: conn, br: br}
}

// readFrame reads one (unmasked, server) frame and returns its opcode and payload.
func (rc *rawClient) readFrame() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(rc.br, p)
	return h[0] & 0x0f, p, err
}

// readUntilClose reads frames until a close frame and returns its code and reason.
func (rc *rawClient) readUntilClose(tb testing.TB) (websocket.StatusCode, string) {
	tb.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		op, p, err := rc.readFrame()
		if err != nil {
			tb.Fatalf("read until the close frame: %v", err)
		}
		if op == 0x8 {
			if len(p) < 2 {
				tb.Fatalf("close frame without a code: %q", p)
			}
			return websocket.StatusCode(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

// writeClose answers a close frame with code, masked as a client must.
func (rc *rawClient) writeClose(code websocket.StatusCode) error {
	frame := []byte{0x88, 0x80 | 2, 0, 0, 0, 0, 0, 0} // FIN+close, masked, 2 bytes, zero mask key
	binary.BigEndian.PutUint16(frame[6:], uint16(code))
	_, err := rc.conn.Write(frame)
	return err
}

// smallSendBuffers shrinks the kernel send buffer of every accepted connection, so that a
// client that stops reading stalls the server's writes after a few kilobytes, not megabytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestHub_FirstFrameAndRounds(t *testing.T) {
	tests := []struct {
		name    string
		current uint64   // the round Current returns (0: nil)
		before  []uint64 // rounds published before the client connects
		after   []uint64 // rounds published after it connected
		want    []uint64 // the seqs the client gets
	}{
		{name: "current round first, then each newer round once", current: 5, after: []uint64{5, 4, 6, 7}, want: []uint64{5, 6, 7}},
		{name: "no round yet: the first round is the first frame", after: []uint64{1, 2}, want: []uint64{1, 2}},
		{name: "a round broadcast after Current was read wins", current: 3, before: []uint64{4}, after: []uint64{4, 5}, want: []uint64{4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1712338479, 5_000_000)
			th := mustHub(t, hub.Options{Now: func() time.Time { return now }})
			for _, seq := range tt.before {
				th.feed.publish(makeRound(seq, ""))
			}
			// Current may lag behind what Run has seen, as a stale monitor snapshot would.
			th.feed.cur.Store(nil)
			if tt.current > 0 {
				th.feed.cur.Store(makeRound(tt.current, ""))
			}
			c := dial(t, th)
			waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
			for _, seq := range tt.after {
				th.feed.publish(makeRound(seq, ""))
			}
			for i, want := range tt.want {
				f := readFrame(t, c)
				if f.Seq != want {
					t.Fatalf("frame %d has seq %d, want %d", i, f.Seq, want)
				}
				if f.Type != "sensors" || f.TS != "1712338479.005000" {
					t.Errorf("frame %d: type %q ts %s", i, f.Type, f.TS)
				}
				if got := fmt.Sprint(f.Keys); got != "[type seq ts P1 P2 P3]" {
					t.Errorf("frame %d keys %s, want type, seq, ts, P1, P2, P3", i, got)
				}
			}
		})
	}
}

func TestHub_AlertFrame(t *testing.T) {
	now := time.Unix(1712338478, 0)
	th := mustHub(t, hub.Options{Now: func() time.Time { return now }})
	th.feed.cur.Store(makeRound(1, ""))
	c := dial(t, th)
	waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
	alert := maskservice.Alert{ID: 7, SensorID: "P1", Type: maskservice.AlertCritical, State: maskservice.AlertActiveUnack,
		Value: 9.6, Threshold: math.NaN(), OpenedAt: now, UpdatedAt: now, EscalatedValue: math.NaN(), EscalatedThreshold: math.NaN()}
	th.Handle(maskservice.AlertEvent{Alert: alert})
	th.feed.publish(makeRound(2, ""))

	if f := readFrame(t, c); f.Seq != 1 {
		t.Errorf("first frame seq %d, want the current round 1", f.Seq)
	}
	want := string(hub.AppendAlertFrame(nil, alert, now))
	if b, err := read(t, c); err != nil || string(b) != want {
		t.Errorf("second frame %s (%v), want the alert %s", b, err, want)
	}
	if f := readFrame(t, c); f.Seq != 2 {
		t.Errorf("third frame seq %d, want 2", f.Seq)
	}
	if got := metricValue(t, th.reg, "websocket_frames_total", ""); got != 2 {
		t.Errorf("websocket_frames_total = %v, want 2 (one alert, one round)", got)
	}
}

// follower is a client that checks it gets every round, in order.
type follower struct {
	last atomic.Uint64 // seq of the newest frame read
	mu   sync.Mutex
	errs []error
}

func (f *follower) fail(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

// follow reads c until it closes, recording the newest seq and any gap.
func (f *follower) follow(c *websocket.Conn) {
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		var fr struct{ Seq uint64 }
		if err := json.Unmarshal(b, &fr); err != nil {
			f.fail(fmt.Errorf("frame is not JSON: %w", err))
			return
		}
		if prev := f.last.Load(); prev != 0 && fr.Seq != prev+1 {
			f.fail(fmt.Errorf("seq %d after %d", fr.Seq, prev))
		}
		f.last.Store(fr.Seq)
	}
}

func TestHub_StalledClientDropped(t *testing.T) {
	// A long write timeout: the stalled client must be dropped for its full queue, and its
	// blocked write must still be pending when the test reads the close frame.
	th := mustHub(t, hub.Options{QueueLen: 4, WriteTimeout: time.Minute})
	fault := strings.Repeat("x", 4000) // ~12 kB frames fill the small buffers quickly
	th.feed.cur.Store(makeRound(1, fault))

	const n = 100
	followers := make([]*follower, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for i := range followers {
		followers[i] = &follower{}
		c := dial(t, th)
		wg.Go(func() { followers[i].follow(c) })
	}
	// The stalled client reads the handshake and then nothing, through small buffers.
	slow := httptest.NewUnstartedServer(th.Hub)
	slow.Listener = smallSendBuffers{slow.Listener}
	slow.Start()
	t.Cleanup(slow.Close)
	stalled := dialRaw(t, slow.URL, 4096)
	waitFor(t, "101 clients", func() bool { return th.Clients() == n+1 })

	allHave := func(seq uint64) func() bool {
		return func() bool {
			for _, f := range followers {
				if f.last.Load() < seq {
					return false
				}
			}
			return true
		}
	}
	seq := uint64(1)
	waitFor(t, "every follower's first frame", allHave(seq))
	// Publish until the stalled client is dropped, then a few rounds more; each round only
	// once every follower has the previous one, so no healthy client ever lags.
	extra := 0
	for extra < 3 {
		if seq > 500 {
			t.Fatal("the stalled client was not dropped after 500 rounds")
		}
		seq++
		th.feed.publish(makeRound(seq, fault))
		waitFor(t, fmt.Sprintf("every follower to get seq %d", seq), allHave(seq))
		if dropped(t, th, "slow") > 0 {
			extra++
		}
	}
	if got := dropped(t, th, "slow"); got != 1 {
		t.Errorf("dropped{slow} = %v, want 1", got)
	}
	for _, r := range []string{"ping", "write", "limit"} {
		if got := dropped(t, th, r); got != 0 {
			t.Errorf("dropped{%s} = %v, want 0", r, got)
		}
	}

	// Reading again unblocks the server's pending write; the close frame follows the data.
	code, reason := stalled.readUntilClose(t)
	if code != hub.StatusTooSlow || reason != "too slow" {
		t.Errorf("stalled client closed with %d %q, want 4008 \"too slow\"", code, reason)
	}
	if err := stalled.writeClose(code); err != nil {
		t.Errorf("answer the close frame: %v", err)
	}
	t.Logf("the stalled client was dropped after %d rounds", seq-3)
	waitFor(t, "the stalled client to be gone", func() bool { return th.Clients() == n })
	for i, f := range followers {
		f.mu.Lock()
		if len(f.errs) > 0 {
			t.Errorf("follower %d: %v", i, errors.Join(f.errs...))
		}
		f.mu.Unlock()
		if got := f.last.Load(); got != seq {
			t.Errorf("follower %d ends at seq %d, want %d", i, got, seq)
		}
	}
}

func TestHub_WriteTimeoutDrops(t *testing.T) {
	// A queue too long to overflow: the write timeout must catch the stalled client first.
	th := mustHub(t, hub.Options{QueueLen: 10000, WriteTimeout: 200 * time.Millisecond})
	slow := httptest.NewUnstartedServer(th.Hub)
	slow.Listener = smallSendBuffers{slow.Listener}
	slow.Start()
	t.Cleanup(slow.Close)
	dialRaw(t, slow.URL, 4096)
	waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
	fault := strings.Repeat("y", 4000)
	for seq := uint64(1); dropped(t, th, "write") == 0; seq++ {
		if seq > 2000 {
			t.Fatal("no write timeout after 2000 rounds")
		}
		th.feed.publish(makeRound(seq, fault))
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "the client to be gone", func() bool { return th.Clients() == 0 })
	if got := dropped(t, th, "slow"); got != 0 {
		t.Errorf("dropped{slow} = %v, want 0", got)
	}
}

func TestHub_ConnectionLimit(t *testing.T) {
	th := mustHub(t, hub.Options{MaxClients: 2})
	th.feed.cur.Store(makeRound(1, ""))
	first := dial(t, th)
	dial(t, th)
	waitFor(t, "two clients", func() bool { return th.Clients() == 2 })

	over := dial(t, th) // the upgrade succeeds, then the server closes
	if code := readClose(t, over); code != websocket.StatusTryAgainLater {
		t.Errorf("client over the limit closed with %d, want 1013", code)
	}
	if got := dropped(t, th, "limit"); got != 1 {
		t.Errorf("dropped{limit} = %v, want 1", got)
	}
	if got := th.Clients(); got != 2 {
		t.Errorf("Clients() = %d, want 2", got)
	}

	// A place that frees up can be taken again.
	_ = first.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "one client", func() bool { return th.Clients() == 1 })
	again := dial(t, th)
	if f := readFrame(t, again); f.Seq != 1 {
		t.Errorf("client in the freed place got seq %d, want 1", f.Seq)
	}
}

func TestHub_Close(t *testing.T) {
	th := mustHub(t, hub.Options{})
	th.feed.cur.Store(makeRound(1, ""))
	var clients []*websocket.Conn
	for range 3 {
		c := dial(t, th)
		readFrame(t, c)
		clients = append(clients, c)
	}
	// A client that never reads nor answers the close handshake must not hold Close up.
	dialRaw(t, th.srv.URL, 0)
	waitFor(t, "four clients", func() bool { return th.Clients() == 4 })

	done := make(chan struct{})
	go func() {
		th.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	for i, c := range clients {
		if code := readClose(t, c); code != websocket.StatusGoingAway {
			t.Errorf("client %d closed with %d, want 1001", i, code)
		}
	}
	if got := th.Clients(); got != 0 {
		t.Errorf("Clients() after Close = %d, want 0", got)
	}
	late := dial(t, th)
	if code := readClose(t, late); code != websocket.StatusGoingAway {
		t.Errorf("client after Close closed with %d, want 1001", code)
	}
	th.Close() // idempotent
	if got := metricValue(t, th.reg, "websocket_connections_active", ""); got != 0 {
		t.Errorf("websocket_connections_active = %v, want 0", got)
	}
}

func TestHub_PingTimeout(t *testing.T) {
	th := mustHub(t, hub.Options{PingInterval: 20 * time.Millisecond, PingTimeout: 1500 * time.Millisecond})
	// A healthy client: its reader answers every ping.
	healthy := dial(t, th)
	healthyCtx := healthy.CloseRead(context.Background())
	// A client that never reads, so never answers.
	silent := dialRaw(t, th.srv.URL, 0)
	waitFor(t, "two clients", func() bool { return th.Clients() == 2 })

	waitFor(t, "the silent client to be dropped", func() bool { return dropped(t, th, "ping") == 1 })
	waitFor(t, "one client", func() bool { return th.Clients() == 1 })
	// By now the healthy client has been pinged dozens of times.
	if got := dropped(t, th, "ping"); got != 1 {
		t.Errorf("dropped{ping} = %v, want 1", got)
	}
	if healthyCtx.Err() != nil {
		t.Error("the healthy client was disconnected")
	}
	// The silent client's connection is cut: after the pings it finds the end.
	_ = silent.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		op, _, err := silent.readFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the silent client's connection stayed open")
			}
			break
		}
		if op != 0x9 {
			t.Errorf("silent client got opcode %#x, want only pings", op)
		}
	}
}

// A client written to the specification loops on receive_text() and sends keep-alives: its
// data messages, text or binary, are read and ignored, and it keeps getting every frame.
func TestHub_ClientMessagesTolerated(t *testing.T) {
	tests := []struct {
		name  string
		typ   websocket.MessageType
		msg   []byte
		count int           // messages the client sends
		every time.Duration // between two of them
	}{
		{"text keep-alive every 300 ms", websocket.MessageText, []byte(`{"type":"ping"}`), 10, 300 * time.Millisecond},
		{"binary keep-alive every 300 ms", websocket.MessageBinary, []byte{0x9, 0, 1}, 10, 300 * time.Millisecond},
		{"empty text every 250 ms", websocket.MessageText, nil, 12, 250 * time.Millisecond},
		{"a burst at once", websocket.MessageText, []byte("hello"), hub.MessageBurst, 0},
		// Steady, a little under the rate: the burst is the margin for messages that the
		// network or a busy server bunches up.
		{"a little under the rate for 4 s", websocket.MessageText, []byte("hi"), 20, time.Second/hub.MessageRate + 20*time.Millisecond},
		{"messages at the read limit", websocket.MessageBinary, []byte(strings.Repeat("x", 4096)), 5, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := mustHub(t, hub.Options{})
			c := dial(t, th)
			waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
			var f follower
			followed := make(chan struct{})
			go func() {
				defer close(followed)
				f.follow(c)
			}()
			sent := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				for i := range tt.count {
					if i > 0 {
						time.Sleep(tt.every)
					}
					if err := c.Write(ctx, tt.typ, tt.msg); err != nil {
						sent <- fmt.Errorf("message %d: %w", i, err)
						return
					}
				}
				sent <- nil
			}()
			// A round every 100 ms for as long as the client sends, as the poll loop would.
			var seq uint64
			for done := false; !done; {
				select {
				case err := <-sent:
					if err != nil {
						t.Fatalf("write: %v", err)
					}
					done = true
				case <-time.After(100 * time.Millisecond):
					seq++
					th.feed.publish(makeRound(seq, ""))
				}
			}
			// The pong comes after the server has read every message before the ping, so
			// any close it decided on is decided by now and would come before the next frame.
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping after the messages: %v", err)
			}
			seq++
			th.feed.publish(makeRound(seq, ""))
			waitFor(t, fmt.Sprintf("the client to get round %d", seq), func() bool {
				select {
				case <-followed:
					t.Fatalf("the client was closed after round %d", f.last.Load())
				default:
				}
				return f.last.Load() == seq
			})
			f.mu.Lock()
			if len(f.errs) > 0 {
				t.Errorf("frames: %v", errors.Join(f.errs...))
			}
			f.mu.Unlock()
			if got := th.Clients(); got != 1 {
				t.Errorf("Clients() = %d, want 1", got)
			}
		})
	}
}

// A client that sends with no pause is closed with 1008 and a reason that says why; a single
// message over 4 KiB still gets 1009, whatever came before it.
func TestHub_ClientMessagesClose(t *testing.T) {
	big := []byte(strings.Repeat("x", 5000))
	tests := []struct {
		name       string
		typ        websocket.MessageType
		msgs       [][]byte // sent in turn; the last one again and again until the close
		wantCode   websocket.StatusCode
		wantReason string // "" means any
	}{
		{"text flood", websocket.MessageText, [][]byte{[]byte(`{"type":"ping"}`)}, websocket.StatusPolicyViolation, "too many messages"},
		{"binary flood", websocket.MessageBinary, [][]byte{{0x9}}, websocket.StatusPolicyViolation, "too many messages"},
		{"flood of empty messages", websocket.MessageText, [][]byte{nil}, websocket.StatusPolicyViolation, "too many messages"},
		// Always 1009: the two closes once raced, and 1008 won about one time in twenty.
		{"message over the read limit", websocket.MessageText, [][]byte{big}, websocket.StatusMessageTooBig, ""},
		{"message over the read limit after a keep-alive", websocket.MessageText, [][]byte{[]byte("ka"), big}, websocket.StatusMessageTooBig, ""},
		{"binary message over the read limit", websocket.MessageBinary, [][]byte{big}, websocket.StatusMessageTooBig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := mustHub(t, hub.Options{})
			for i := range 50 {
				c := dial(t, th)
				sent := make(chan int, 1)
				go func() {
					// Until the close: a write fails once the close handshake is through.
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					n := 0
					for ; n < 10000; n++ {
						if c.Write(ctx, tt.typ, tt.msgs[min(n, len(tt.msgs)-1)]) != nil {
							break
						}
					}
					sent <- n
				}()
				ce := readCloseError(t, c)
				if ce.Code != tt.wantCode || (tt.wantReason != "" && ce.Reason != tt.wantReason) {
					t.Fatalf("client %d closed with %d %q, want %d %q", i, ce.Code, ce.Reason, tt.wantCode, tt.wantReason)
				}
				if n := <-sent; tt.wantCode == websocket.StatusPolicyViolation && n <= hub.MessageBurst {
					t.Fatalf("client %d closed after %d messages, within the burst of %d", i, n, hub.MessageBurst)
				}
			}
			waitFor(t, "the clients to be gone", func() bool { return th.Clients() == 0 })
			// A client's own doing, not a drop.
			for _, r := range []string{"slow", "ping", "write", "limit"} {
				if got := dropped(t, th, r); got != 0 {
					t.Errorf("dropped{%s} = %v, want 0", r, got)
				}
			}
		})
	}
}

// The message rate: MessageBurst back to back, then MessageRate a second.
func TestMessageBucket(t *testing.T) {
	every := time.Second / hub.MessageRate
	type burst struct {
		at   time.Duration // after the bucket was made
		n    int           // messages sent at once
		want int           // of them allowed
	}
	tests := []struct {
		name   string
		bursts []burst
	}{
		{"the burst at once, no more", []burst{{0, hub.MessageBurst + 5, hub.MessageBurst}}},
		{"one more each refill interval", []burst{{0, hub.MessageBurst, hub.MessageBurst}, {every / 2, 1, 0}, {every, 2, 1}, {3 * every, 3, 2}}},
		{"a second's refill", []burst{{0, hub.MessageBurst, hub.MessageBurst}, {time.Second, 10, hub.MessageRate}}},
		{"refill stops at the burst", []burst{{0, hub.MessageBurst, hub.MessageBurst}, {time.Hour, 2 * hub.MessageBurst, hub.MessageBurst}}},
		{"refused messages cost nothing", []burst{{0, 1000, hub.MessageBurst}, {every, 1, 1}}},
		{"a time before the last refills nothing", []burst{{time.Second, hub.MessageBurst, hub.MessageBurst}, {0, 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Unix(1712338478, 0)
			b := hub.NewMessageBucket(t0)
			for i, bu := range tt.bursts {
				got := 0
				for range bu.n {
					if b.Take(t0.Add(bu.at)) {
						got++
					}
				}
				if got != bu.want {
					t.Errorf("burst %d (%d at %v): %d allowed, want %d", i, bu.n, bu.at, got, bu.want)
				}
			}
		})
	}
	// A keep-alive every few seconds, for a day, is never refused.
	b := hub.NewMessageBucket(time.Unix(0, 0))
	for i := range 24 * 3600 / 3 {
		if !b.Take(time.Unix(int64(3*i), 0)) {
			t.Fatalf("keep-alive %d refused", i)
		}
	}
	// Counting allocates nothing: it runs for every message of every client.
	now := time.Unix(0, 0)
	if n := testing.AllocsPerRun(1000, func() { now = now.Add(every); b.Take(now) }); n != 0 {
		t.Errorf("Take allocates %v times", n)
	}
}

func TestHub_Origin(t *testing.T) {
	th := mustHub(t, hub.Options{})
	tests := []struct {
		name   string
		origin string
		want   int
	}{
		{"no Origin (non-browser client)", "", http.StatusSwitchingProtocols},
		{"same origin", th.srv.URL, http.StatusSwitchingProtocols},
		{"other origin", "http://evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			c, resp, err := websocket.Dial(ctx, th.srv.URL, &websocket.DialOptions{HTTPHeader: hdr})
			if c != nil {
				defer c.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestHub_Metrics(t *testing.T) {
	th := mustHub(t, hub.Options{})
	if got := metricValue(t, th.reg, "websocket_connections_active", ""); got != 0 {
		t.Errorf("active before any client = %v, want 0", got)
	}
	for _, r := range []string{"slow", "ping", "write", "limit"} {
		if got := dropped(t, th, r); got != 0 {
			t.Errorf("dropped{%s} = %v, want 0 from the start", r, got)
		}
	}
	c := dial(t, th)
	waitFor(t, "active = 1", func() bool {
		return metricValue(t, th.reg, "websocket_connections_active", "") == 1
	})
	for seq := uint64(1); seq <= 3; seq++ {
		th.feed.publish(makeRound(seq, ""))
		readFrame(t, c)
	}
	if got := metricValue(t, th.reg, "websocket_frames_total", ""); got != 3 {
		t.Errorf("frames_total = %v, want 3", got)
	}
	waitFor(t, "3 timed writes", func() bool {
		return metricValue(t, th.reg, "websocket_message_duration_seconds", "") == 3
	})
	_ = c.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "active = 0", func() bool {
		return metricValue(t, th.reg, "websocket_connections_active", "") == 0
	})
}

func TestNew_RegistrationFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "websocket_frames_total", Help: "taken"}))
	if _, err := hub.New(hub.Options{Registerer: reg}); err == nil {
		t.Fatal("New succeeded with a clashing metric")
	}
	// The collectors registered before the clash are taken back, so a retry can succeed.
	if _, err := hub.New(hub.Options{Registerer: prometheus.WrapRegistererWithPrefix("x_", reg)}); err != nil {
		t.Fatalf("New with a prefix after the failure: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "websocket_connections_active" {
			t.Error("websocket_connections_active stayed registered after the failed New")
		}
	}
}

func TestHub_ServerTimeoutsDoNotCutClients(t *testing.T) {
	th := mustHub(t, hub.Options{})
	// A server with short timeouts, as a hardened http.Server has. They must not reach the
	// hijacked connections (net/http clears its deadlines on hijack; this guards that).
	srv := httptest.NewUnstartedServer(th.Hub)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
	time.Sleep(300 * time.Millisecond) // past both timeouts
	th.feed.publish(makeRound(1, ""))
	if f := readFrame(t, c); f.Seq != 1 {
		t.Errorf("got seq %d, want 1", f.Seq)
	}
	if got := th.Clients(); got != 1 {
		t.Errorf("Clients() = %d, want 1", got)
	}
}

// TestHub_Authorize checks that a refused client is upgraded and closed with the code that
// Authorize gives, and that CloseSession closes exactly the clients of that session with 4001.
func TestHub_Authorize(t *testing.T) {
	th := mustHub(t, hub.Options{Authorize: func(r *http.Request) hub.Admission {
		switch tok := r.URL.Query().Get("token"); tok {
		case "":
			return hub.Admission{Code: hub.StatusUnauthorized, Reason: "sign in first"}
		case "no-view":
			return hub.Admission{Code: hub.StatusForbidden, Reason: "view_sensors needed"}
		default:
			return hub.Admission{Session: "session-" + tok}
		}
	}})
	th.feed.cur.Store(makeRound(1, ""))
	dialURL := func(query string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c, _, err := websocket.Dial(ctx, th.srv.URL+query, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", query, err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	for query, want := range map[string]websocket.StatusCode{"": hub.StatusUnauthorized, "?token=no-view": hub.StatusForbidden} {
		if code := readClose(t, dialURL(query)); code != want {
			t.Errorf("dial %q closed with %d, want %d", query, code, want)
		}
	}
	a1, a2, b := dialURL("?token=a"), dialURL("?token=a"), dialURL("?token=b")
	for _, c := range []*websocket.Conn{a1, a2, b} {
		if f := readFrame(t, c); f.Seq != 1 {
			t.Fatalf("first frame seq %d", f.Seq)
		}
	}
	th.CloseSession("session-a")
	for _, c := range []*websocket.Conn{a1, a2} {
		if code := readClose(t, c); code != hub.StatusUnauthorized {
			t.Errorf("client of the ended session closed with %d, want 4001", code)
		}
	}
	th.feed.publish(makeRound(2, ""))
	if f := readFrame(t, b); f.Seq != 2 {
		t.Errorf("the other session's client got seq %d, want 2", f.Seq)
	}
	waitFor(t, "one client left", func() bool { return th.Clients() == 1 })
	if got := dropped(t, th, "signed_out"); got != 2 {
		t.Errorf("dropped{signed_out} = %v, want 2", got)
	}
}

// Run is the production path: the hub takes its events from the bus, in the order they were
// published, so a round's alert frames follow its sensors frame; it ends when the bus closes.
func TestHub_RunFromBus(t *testing.T) {
	bus := maskservice.NewEventBus()
	th := mustHub(t, hub.Options{Events: bus})
	done := make(chan error, 1)
	go func() { done <- th.Run(context.Background()) }()
	c := dial(t, th)
	waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
	for seq := uint64(1); seq <= 3; seq++ {
		r := makeRound(seq, "")
		th.feed.cur.Store(r)
		bus.Publish(r)
		bus.Publish(maskservice.AlertEvent{Alert: maskservice.Alert{ID: seq, SensorID: "P1", State: maskservice.AlertActiveUnack}})
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if f := readFrame(t, c); f.Type != "sensors" || f.Seq != seq {
			t.Fatalf("frame %+v, want the sensors frame of round %d", f, seq)
		}
		b, err := read(t, c)
		var a struct {
			Type  string
			Alert struct{ ID uint64 }
		}
		if err != nil || json.Unmarshal(b, &a) != nil || a.Type != "alert" || a.Alert.ID != seq {
			t.Fatalf("frame %s (%v), want the alert %d after round %d", b, err, seq, seq)
		}
	}
	bus.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after the bus closed, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after the bus closed")
	}
}

// A hub that fell behind the bus has lost events for every client: each is closed with 4008,
// so that it reconnects and reloads what it missed.
func TestHub_RunClosesClientsAfterLostEvents(t *testing.T) {
	bus := maskservice.NewEventBus()
	th := mustHub(t, hub.Options{Events: bus, EventQueue: 1})
	th.feed.cur.Store(makeRound(1, ""))
	c := dial(t, th)
	waitFor(t, "the client to register", func() bool { return th.Clients() == 1 })
	for seq := uint64(2); seq <= 4; seq++ { // Run has not started: a queue of 1 keeps one
		bus.Publish(makeRound(seq, ""))
	}
	go func() { _ = th.Run(context.Background()) }()
	t.Cleanup(bus.Close)
	if code := readClose(t, c); code != hub.StatusTooSlow {
		t.Errorf("close code %d after lost events, want 4008", code)
	}
}

// One session, one user and the clients beyond the panel's slots are each bounded, so one
// signed-in user cannot take the LCD's live data away: the finding's 1100 sockets (the default
// limit then) of one OPERATOR token closed the LCD's with 1013.
func TestHub_Limits(t *testing.T) {
	th := mustHub(t, hub.Options{MaxClients: 20, MaxPerSession: 3, MaxPerUser: 5, PanelSlots: 4,
		Authorize: func(r *http.Request) hub.Admission {
			q := r.URL.Query()
			return hub.Admission{Session: q.Get("session"), User: q.Get("user"), Panel: q.Get("panel") == "1"}
		}})
	th.feed.cur.Store(makeRound(1, ""))
	// dial connects and reports whether the client was admitted (it gets the first frame)
	// or closed with 1013.
	dial := func(query string) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c, _, err := websocket.Dial(ctx, th.srv.URL+"?"+query, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", query, err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		b, err := read(t, c)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
				t.Fatalf("dial %s: closed with %d, want 1013", query, code)
			}
			return false
		}
		if f := decodeFrame(t, b); f.Seq != 1 {
			t.Fatalf("dial %s: first frame seq %d", query, f.Seq)
		}
		return true
	}
	for i := range 3 {
		if !dial("session=s1&user=alice") {
			t.Fatalf("client %d of session s1 refused", i+1)
		}
	}
	if dial("session=s1&user=alice") {
		t.Fatal("a fourth client of one session admitted")
	}
	for i := range 2 {
		if !dial("session=s2&user=alice") {
			t.Fatalf("client %d of alice's second session refused", i+1)
		}
	}
	if dial("session=s3&user=alice") {
		t.Fatal("a sixth client of one user admitted")
	}
	// The panel's clients of the same user are not held up by her phones.
	if !dial("session=lcd&user=alice&panel=1") {
		t.Fatal("the panel's client refused over the user's limit")
	}
	if got := dropped(t, th, "session_limit"); got != 1 {
		t.Errorf("dropped{session_limit} = %v, want 1", got)
	}
	if got := dropped(t, th, "user_limit"); got != 1 {
		t.Errorf("dropped{user_limit} = %v, want 1", got)
	}
	// 6 clients now; others fill up to 20-4 = 16, then only the panel gets in.
	for i := range 10 {
		if !dial(fmt.Sprintf("session=x%d&user=u%d", i, i)) {
			t.Fatalf("client %d of another user refused below the limit", i+1)
		}
	}
	if dial("session=y&user=bob") {
		t.Fatal("a client beyond the panel's slots admitted")
	}
	// The panel viewer (signed out on the LCD: no session, no user) takes them like a user's.
	for i := range 2 {
		if !dial("panel=1") {
			t.Fatalf("the panel viewer's client %d refused in the panel's slots", i+1)
		}
	}
	for i := range 2 {
		if !dial(fmt.Sprintf("session=lcd%d&user=op&panel=1", i)) {
			t.Fatalf("panel client %d refused in its own slots", i+1)
		}
	}
	if dial("panel=0") {
		t.Fatal("a client without session, user or panel admitted beyond the panel's slots")
	}
	if dial("session=lcd9&user=op&panel=1") {
		t.Fatal("a client beyond MaxClients admitted")
	}
	waitFor(t, "20 clients", func() bool { return th.Clients() == 20 })
}
