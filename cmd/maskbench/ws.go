package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsConfig is one fan-out measurement: Clients connect to URL, and once all have their first
// frame the next Frames frames are recorded at every client.
type wsConfig struct {
	URL            string
	Clients        int
	Frames         int
	Interval       time.Duration // the server's frame period; only bounds the waits
	ConnectTimeout time.Duration // bound on dialing all clients and their first frames
	DialParallel   int           // dials in flight at once
	// BeforeClose, if set, runs after the frames are recorded while every client is still
	// connected (the daemon's RSS is read there).
	BeforeClose func()
	Progress    func(format string, args ...any)
}

// wsResult is the outcome of one fan-out measurement.
type wsResult struct {
	Clients     int
	Frames      int
	First, Last int64         // the recorded seq range
	Connect     time.Duration // first dial to every client holding its first frame
	FrameBytes  int           // size of the last recorded frame
	Dropped     int           // clients whose connection ended while recording
	DropErr     string        // the first such error
	Stats       frameStats
	Spread      summary
	Latency     summary
}

// wsClient is one connection and what it received.
type wsClient struct {
	conn  *websocket.Conn
	done  chan struct{} // closed when the reader returns
	got   atomic.Bool   // the first frame arrived
	last  atomic.Int64  // highest seq received so far, valid once got
	bytes atomic.Int64  // size of the last frame

	mu   sync.Mutex
	recv []recv
	err  error
}

// recording is the seq window the readers keep; before it is known they keep a short tail.
type recording struct {
	set         atomic.Bool
	first, last atomic.Int64
}

// tailKeep bounds the records a client holds before the recording window is known.
const tailKeep = 64

// runWS connects the clients, records the frames and closes the clients again. An error
// means the harness could not run (a dial failed, a client was refused); frames that did not
// arrive are counted in the result, not returned as an error.
func runWS(ctx context.Context, cfg wsConfig) (wsResult, error) {
	res := wsResult{Clients: cfg.Clients, Frames: cfg.Frames}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}

	clients := make([]*wsClient, cfg.Clients)
	var rec recording
	var failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		failed.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	defer closeAll(clients)

	start := time.Now()
	connectCtx, connectCancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer connectCancel()
	// Bounded dialing: a thousand simultaneous SYNs would measure the listen backlog and
	// SYN retransmits (1 s, 3 s) rather than the server.
	sem := make(chan struct{}, max(1, cfg.DialParallel))
	var dials sync.WaitGroup
	for i := range clients {
		if failed.Load() > 0 || connectCtx.Err() != nil {
			break
		}
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			conn, _, err := websocket.Dial(connectCtx, cfg.URL, opts)
			if err != nil {
				fail(fmt.Errorf("dial client %d: %w", i, err))
				return
			}
			// Frames grow with the sensor count; 32 KiB (the default) must not end a run.
			conn.SetReadLimit(1 << 20)
			c := &wsClient{conn: conn, done: make(chan struct{})}
			clients[i] = c
			go c.read(ctx, &rec)
		}()
	}
	dials.Wait()
	if failed.Load() > 0 {
		return res, fmt.Errorf("%d of %d clients failed to connect: %w", failed.Load(), cfg.Clients, firstErr)
	}

	// Connected means holding the first frame: only then is the server sending to it.
	if err := waitUntil(connectCtx, 10*time.Millisecond, func() (bool, error) {
		n := 0
		for i, c := range clients {
			if c == nil {
				return false, fmt.Errorf("client %d not connected", i)
			}
			if c.got.Load() {
				n++
				continue
			}
			select {
			case <-c.done:
				return false, fmt.Errorf("client %d closed before its first frame: %w", i, c.error())
			default:
			}
		}
		return n == len(clients), nil
	}); err != nil {
		return res, fmt.Errorf("connect %d clients: %w", cfg.Clients, err)
	}
	res.Connect = time.Since(start)
	cfg.Progress("%d clients connected in %v; recording %d frames", cfg.Clients, res.Connect.Round(time.Millisecond), cfg.Frames)

	// Record from the frame after the newest any client has seen, so no client's
	// connect-time first frame falls in the window.
	var newest int64
	for _, c := range clients {
		newest = max(newest, c.last.Load())
	}
	res.First, res.Last = newest+1, newest+int64(cfg.Frames)
	// The harness must not measure itself: its garbage collections (one every 20 s or so,
	// of 1000 clients' buffers) stretched the spread of whichever server it was measuring
	// at the time by 10-25 ms, which made the p99 of 100 frames, its worst frame or two, a
	// draw between the daemon and the baseline. So the logs are sized for the window, and
	// the collector is off while recording (with a memory limit as the backstop).
	for _, c := range clients {
		c.mu.Lock()
		c.recv = slices.Grow(c.recv, cfg.Frames+tailKeep)
		c.mu.Unlock()
	}
	runtime.GC()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	rec.first.Store(res.First)
	rec.last.Store(res.Last)
	rec.set.Store(true)

	recordCtx, recordCancel := context.WithTimeout(ctx, cfg.Interval*time.Duration(cfg.Frames+2)+10*time.Second)
	defer recordCancel()
	err := waitUntil(recordCtx, 10*time.Millisecond, func() (bool, error) {
		for _, c := range clients {
			if c.last.Load() >= res.Last {
				continue
			}
			select {
			case <-c.done:
			default:
				return false, nil
			}
		}
		return true, nil
	})
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil {
		cfg.Progress("not every client reached seq %d: %v", res.Last, err)
	}
	if cfg.BeforeClose != nil {
		cfg.BeforeClose()
	}

	logs := make([][]recv, len(clients))
	for i, c := range clients {
		c.mu.Lock()
		logs[i] = slices.Clone(c.recv)
		if c.err != nil {
			res.Dropped++
			if res.DropErr == "" {
				res.DropErr = fmt.Sprintf("client %d: %v", i, c.err)
			}
		}
		c.mu.Unlock()
		res.FrameBytes = int(c.bytes.Load())
	}
	res.Stats = computeFrames(logs, res.First, res.Last)
	res.Spread = summarize(res.Stats.Spreads)
	res.Latency = summarize(res.Stats.Latencies)
	return res, nil
}

// read receives frames until the connection ends, stamping each on arrival.
func (c *wsClient) read(ctx context.Context, rec *recording) {
	defer close(c.done)
	var buf bytes.Buffer
	for {
		typ, r, err := c.conn.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		// Stamp before decoding so the decode cost is not part of the spread.
		at := time.Now()
		if typ != websocket.MessageText {
			continue
		}
		var f struct {
			Type string  `json:"type"`
			Seq  int64   `json:"seq"`
			TS   float64 `json:"ts"`
		}
		if json.Unmarshal(buf.Bytes(), &f) != nil || f.Type != "sensors" {
			continue
		}
		c.keep(recv{seq: f.Seq, at: at, sent: f.TS}, rec)
		c.bytes.Store(int64(buf.Len()))
		if !c.got.Load() || f.Seq > c.last.Load() {
			c.last.Store(f.Seq)
		}
		c.got.Store(true)
	}
}

// keep stores r if it can matter: inside the window once known, else in a short tail.
func (c *wsClient) keep(r recv, rec *recording) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec.set.Load() {
		if r.seq >= rec.first.Load() && r.seq <= rec.last.Load() {
			c.recv = append(c.recv, r)
		}
		return
	}
	c.recv = append(c.recv, r)
	if len(c.recv) > 2*tailKeep {
		c.recv = append(c.recv[:0], c.recv[len(c.recv)-tailKeep:]...)
	}
}

// error is why the reader stopped, or nil while it runs.
func (c *wsClient) error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closeAll closes every connected client with a normal closure, many at once, and waits a
// bounded time for the readers to end.
func closeAll(clients []*wsClient) {
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for _, c := range clients {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Close bounds its own handshake wait (5 s); CloseNow frees what is left.
			_ = c.conn.Close(websocket.StatusNormalClosure, "bench done")
			_ = c.conn.CloseNow()
		}()
	}
	wg.Wait()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-t.C:
			return
		}
	}
}

// errNotYet is what waitUntil returns when ctx ends before cond holds.
var errNotYet = errors.New("condition not met in time")

// waitUntil polls cond every period until it reports true or an error, or ctx ends.
func waitUntil(ctx context.Context, period time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errNotYet, ctx.Err())
		}
	}
}
