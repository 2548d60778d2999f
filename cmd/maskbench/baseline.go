package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// baselineQueue is each baseline client's queue length; a client that falls this far behind
// is closed with 4008, as the daemon does.
const baselineQueue = 16

// baseline is the reference for the fan-out budget: the least a Go server must do to send
// one frame to every client (encode once, one goroutine and channel per client), served on
// loopback by maskbench itself so the same harness measures both in the same run.
type baseline struct {
	interval  time.Duration
	frameSize int // pad frames to at least this many bytes; 0 leaves them as encoded

	ln     net.Listener // nil without startBaseline
	srv    *http.Server
	ctx    context.Context // ends the broadcaster and every handler
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	clients map[chan []byte]struct{}
	current []byte
	seq     int64

	dropped atomic.Int64 // clients closed for a full queue
}

// startBaseline listens on a loopback port and broadcasts a frame every interval until
// close. frameSize should be the daemon's frame size so both send the same bytes per client.
func startBaseline(interval time.Duration, frameSize int) (*baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for baseline: %w", err)
	}
	b := newBaseline(interval, frameSize)
	b.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/ws/sensors", b.serveWS)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.cancel()
		}
	}()
	return b, nil
}

// newBaseline starts the broadcaster without a listener; serveWS is the handler to mount.
func newBaseline(interval time.Duration, frameSize int) *baseline {
	b := &baseline{
		interval:  interval,
		frameSize: frameSize,
		clients:   make(map[chan []byte]struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.current = b.encode(time.Now())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.broadcast()
	}()
	return b
}

// url is the WebSocket address of the baseline.
func (b *baseline) url() string { return "ws://" + b.ln.Addr().String() + "/api/ws/sensors" }

// close stops broadcasting, closes every client with 1001 and waits for the goroutines.
func (b *baseline) close() {
	b.cancel()
	if b.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(ctx)
	}
	b.wg.Wait()
}

// broadcast encodes one frame per tick and offers the same bytes to every client's queue.
func (b *baseline) broadcast() {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-t.C:
			b.mu.Lock()
			b.seq++
			frame := b.encode(now)
			b.current = frame
			for ch := range b.clients {
				select {
				case ch <- frame:
				default:
					delete(b.clients, ch)
					close(ch)
					b.dropped.Add(1)
				}
			}
			b.mu.Unlock()
		}
	}
}

// baselineReading mirrors one sensor of the daemon's frame.
type baselineReading struct {
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Status    string  `json:"status"`
	Quality   string  `json:"quality"`
	Timestamp string  `json:"timestamp"`
}

// baselineFrame mirrors the daemon's sensors frame (DESIGN.md §4).
type baselineFrame struct {
	Type string          `json:"type"`
	Seq  int64           `json:"seq"`
	TS   float64         `json:"ts"`
	P1   baselineReading `json:"P1"`
	P2   baselineReading `json:"P2"`
	P3   baselineReading `json:"P3"`
}

// encode builds frame b.seq; b.mu is held (or b is not yet shared).
func (b *baseline) encode(now time.Time) []byte {
	ts := now.UTC().Format(time.RFC3339Nano)
	// Values wobble a little so the frame is not the same bytes every round.
	w := float64(b.seq%7) * 0.01
	f := baselineFrame{
		Type: "sensors",
		Seq:  b.seq,
		TS:   float64(now.UnixNano()) / 1e9,
		P1:   baselineReading{Value: 5.02 + w, Unit: "bar", Status: "normal", Quality: "good", Timestamp: ts},
		P2:   baselineReading{Value: 2.51 + w, Unit: "bar", Status: "normal", Quality: "good", Timestamp: ts},
		P3:   baselineReading{Value: 503.2 + w, Unit: "mbar", Status: "normal", Quality: "good", Timestamp: ts},
	}
	out, err := json.Marshal(f)
	if err != nil {
		// A fixed struct of strings and finite floats always encodes.
		panic(fmt.Sprintf("encode baseline frame: %v", err))
	}
	return padFrame(out, b.frameSize)
}

// padFrame grows a JSON object to size bytes with a "pad" member, when it is shorter.
func padFrame(obj []byte, size int) []byte {
	const member = `,"pad":""`
	n := size - len(obj) - len(member)
	if n < 0 {
		return obj
	}
	out := make([]byte, 0, size)
	out = append(out, obj[:len(obj)-1]...)
	out = append(out, `,"pad":"`...)
	out = append(out, strings.Repeat("x", n)...)
	out = append(out, `"}`...)
	return out
}

// serveWS sends the current frame, then every broadcast frame, until the client goes away,
// falls behind (4008) or the baseline closes (1001).
func (b *baseline) serveWS(w http.ResponseWriter, r *http.Request) {
	b.wg.Add(1)
	defer b.wg.Done()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.CloseNow() }()
	ch := make(chan []byte, baselineQueue)
	b.mu.Lock()
	if b.ctx.Err() != nil {
		b.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "shutdown")
		return
	}
	ch <- b.current
	b.clients[ch] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.clients, ch)
		b.mu.Unlock()
	}()

	// Not b.ctx: a cancelled read context would drop the connection before the 1001.
	gone := conn.CloseRead(context.Background())
	for {
		select {
		case frame, ok := <-ch:
			if !ok {
				_ = conn.Close(4008, "too slow")
				return
			}
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			err := conn.Write(ctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				return
			}
		case <-gone.Done():
			return
		case <-b.ctx.Done():
			_ = conn.Close(websocket.StatusGoingAway, "shutdown")
			return
		}
	}
}

// Environment of a maskbench started as a stand-in daemon (-baseline-proc): with
// baselineIntervalEnv set it serves the baseline instead of measuring.
const (
	baselineIntervalEnv = "MASKBENCH_BASELINE_INTERVAL"   // the frame period, a Go duration
	baselineSizeEnv     = "MASKBENCH_BASELINE_FRAME_SIZE" // pad frames to this many bytes
)

// baselineEnv is the environment that makes a child maskbench serve the baseline.
func baselineEnv(interval time.Duration, frameSize int) []string {
	return []string{baselineIntervalEnv + "=" + interval.String(), baselineSizeEnv + "=" + strconv.Itoa(frameSize)}
}

// serveBaselineProcess runs the baseline as a process with the daemon's command line and
// contract (serve --data DIR --listen ADDR; the "http listening" log line; /readyz;
// /api/sensors/current; /api/ws/sensors; SIGTERM closes clients with 1001), so the harness
// measures it exactly as it measures the daemon. It returns the exit code.
func serveBaselineProcess(args []string, stderr io.Writer) int {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	interval, err := time.ParseDuration(os.Getenv(baselineIntervalEnv))
	if err != nil || interval <= 0 {
		log.Error("bad "+baselineIntervalEnv, "value", os.Getenv(baselineIntervalEnv))
		return 2
	}
	size, _ := strconv.Atoi(os.Getenv(baselineSizeEnv))
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	fs.Bool("demo", false, "accepted like the daemon's; the baseline has no users")
	fs.String("data", "", "ignored: the baseline keeps no state")
	fs.String("config", "", "ignored: the baseline has no settings and no limits")
	if len(args) == 0 || args[0] != "serve" || fs.Parse(args[1:]) != nil {
		log.Error("usage: serve --data DIR --listen ADDR", "args", args)
		return 2
	}
	if err := checkLoopback(*listen); err != nil {
		log.Error("listen", "err", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	b := newBaseline(interval, size)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/ws/sensors", b.serveWS)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	// Like the daemon's sign-in, so the harness runs unchanged against the stand-in; the
	// baseline checks no tokens.
	mux.HandleFunc("POST /api/auth/login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"baseline"}`)
	})
	mux.HandleFunc("GET /api/sensors/current", func(w http.ResponseWriter, _ *http.Request) {
		b.mu.Lock()
		frame := b.current
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(frame)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("http listening", "addr", ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	b.close()
	_ = srv.Close()
	return 0
}
