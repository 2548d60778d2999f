// Package hub serves the live sensors WebSocket, /api/ws/sensors. Each poll round is encoded
// once and the same bytes go to every client through a bounded queue of its own, so a slow
// client loses its connection rather than holding up the others or the poll loop.
//
// The hub is a service on the domain's event bus: it subscribes in New and Run encodes every
// event it takes once (a round as a "sensors" frame, an alert change as an "alert" frame; the
// frames of later features are encoded here too) and queues the same bytes for every client.
// Events reach the hub in the order they were published, so a round's alert frames follow its
// sensors frame.
//
// A client's first frame is the current sensors frame; after that it gets one frame per poll
// round, in seq order, plus the frame of every other event. Clients have nothing to say, but
// may speak: the server answers their pings and close frames, and reads and ignores their
// data messages, text or binary (a keep-alive every few seconds, say), up to MessageBurst at
// once and MessageRate a second after that. A client over that rate is closed with 1008
// (policy violation) "too many messages", one whose message is over 4 KiB with 1009 (message
// too big). The server closes a client with 4008 "too slow" when its queue overflows, 1013
// "try again later" over the connection limit and 1001 "server shutting down" on Close; it
// drops without a close handshake a client that does not answer a ping in time or whose
// frame write times out. The codes 4001 and 4003 belong to authentication, which wraps this
// handler.
//
// Two things for whoever mounts the handler: http.Server.Shutdown does not know hijacked
// connections, so call Hub.Close on shutdown; and a middleware that wraps the
// http.ResponseWriter must keep it hijackable (implement http.Hijacker or an Unwrap method
// returning the original), or the upgrade fails with 501.
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
)

// Close codes of our own (DESIGN.md "WebSocket frames").
const (
	StatusUnauthorized websocket.StatusCode = 4001 // no valid token, or the session ended
	StatusForbidden    websocket.StatusCode = 4003 // signed in without view_sensors
	StatusTooSlow      websocket.StatusCode = 4008 // the client's queue overflowed
)

// The defaults of Options.
const (
	DefaultMaxClients    = 1000 // the specification's MAX_WEBSOCKET_CONNECTIONS
	DefaultMaxPerSession = 8
	DefaultMaxPerUser    = 32
	// DefaultPanelSlots are the connections of MaxClients kept for the LCD's panel: a
	// tenth of the limit, at most this many.
	DefaultPanelSlots   = 10
	DefaultQueueLen     = 16
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 10 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultEventQueue   = 64
)

// What a client may send. Its data messages are read and thrown away, so they cost the server
// only their reading; the bound is for a client gone wrong (a loop that sends with no pause),
// which would otherwise keep a goroutine of the daemon busy for as long as it likes. Each
// client has a token bucket of MessageBurst messages, refilled at MessageRate a second: a
// keep-alive every few seconds, or a few a second, never comes near it, and a client that
// sends a burst on connect (a hello, a subscription the server does not know) has room.
const (
	// MessageBurst is how many data messages a client may send back to back.
	MessageBurst = 20
	// MessageRate is how many data messages a second a client may send once its burst is
	// spent; faster, and it is closed with 1008 "too many messages".
	MessageRate = 5
)

const (
	// closeGrace bounds a close handshake: a peer that has not answered by then has its
	// connection cut (the library alone would wait up to 10 s).
	closeGrace = 2 * time.Second
	// shutdownWait is how long Close waits for clients to finish their close handshakes
	// before it cuts the connections that remain; cutWait is how long it then waits for their
	// goroutines to end.
	shutdownWait = 1500 * time.Millisecond
	cutWait      = 500 * time.Millisecond
	// readLimit bounds a message from a client: a keep-alive is a few bytes.
	readLimit = 4096
	// Reasons to close a client that are not drops and are not counted: Hub.Close, and a
	// client that sent more messages than MessageBurst and MessageRate allow.
	reasonShutdown = "shutdown"
	reasonFlood    = "flood"
	// floodText is the close reason of a client over the message rate.
	floodText = "too many messages"
)

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// MaxClients is the connection limit (default 1000). A client over it is upgraded and
	// closed at once with 1013 "try again later".
	MaxClients int
	// MaxPerSession and MaxPerUser bound the clients of one session (default 8) and of one
	// user (default 32; the panel's clients are not counted, so that a user's token on the
	// hotspot cannot keep the LCD from its live data); PanelSlots (default a tenth of
	// MaxClients, at most 10) of MaxClients admit only the panel's clients. A client over a
	// limit is upgraded and closed at once with 1013 "try again later".
	MaxPerSession int
	MaxPerUser    int
	PanelSlots    int
	// QueueLen is the number of frames queued per client (default 16). A client whose queue
	// is full when a frame arrives is closed with 4008 "too slow".
	QueueLen int
	// PingInterval is the time between pings (default 30 s); a client that does not answer a
	// ping within PingTimeout (default 10 s) is dropped.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds the write of one frame to one client (default 5 s); a write that
	// times out drops the client.
	WriteTimeout time.Duration
	// Current returns the newest round, or nil before the first one. Nil means always nil.
	Current func() *maskservice.Round
	// Events is the bus whose events Run sends to the clients; New subscribes to it, with a
	// queue of EventQueue events (default 64) whose overflow the bus counts. Nil: Run fails,
	// and only Handle feeds the clients.
	Events     *maskservice.EventBus
	EventQueue int
	// Logger gets connects and disconnects at debug level and drops at info; nil discards.
	Logger *slog.Logger
	// Registerer, if not nil, gets the hub's metrics: websocket_connections_active,
	// websocket_message_duration_seconds, websocket_frames_total and
	// websocket_dropped_clients_total{reason} with reason slow, ping, write, limit or
	// signed_out.
	Registerer prometheus.Registerer
	// Now returns the time written as a frame's ts; nil means time.Now.
	Now func() time.Time
	// Authorize decides on a connecting client from its upgrade request: it returns the
	// client's session, user and whether it is the panel's, or a close code
	// (StatusUnauthorized, StatusForbidden) and reason. A refused client is upgraded and
	// then closed with that code, so that a browser sees why.
	// Behind the web server use web.AuthorizeWebSocket: web checks the token before the hub
	// runs and this hands the hub the session, which CloseSession goes by. Nil admits
	// everyone without a session.
	//
	// The session decides for as long as the connection lasts: a client is closed when its
	// session ends (CloseSession), not when the access token it connected with expires, since
	// the browser cannot hand a refreshed token to an open WebSocket.
	Authorize func(r *http.Request) Admission
}

// Admission is what Options.Authorize decides on a connecting client.
type Admission struct {
	Session string // the session the client signed in with ("" without sign-in)
	User    string // the user of the session
	Panel   bool   // the LCD's own client: it may take the slots kept for the panel
	// Code, when not 0, refuses the client with this close code and Reason.
	Code   websocket.StatusCode
	Reason string
}

// Hub is the WebSocket endpoint for live sensor frames. Create it with New, mount it as an
// http.Handler, run it with Run and stop it with Close. Its methods are safe for concurrent
// use.
type Hub struct {
	opts       Options
	events     *maskservice.Subscription[maskservice.Event] // nil without Options.Events
	log        *slog.Logger
	m          *metrics
	base       context.Context // every client's connection dies when it is cancelled
	cancelBase context.CancelFunc
	wg         sync.WaitGroup // the goroutines of registered clients and their pings
	closeOnce  sync.Once

	mu         sync.Mutex
	clients    []*client          // registered clients, in no order
	last       *maskservice.Round // the newest round broadcast
	perSession map[string]int     // registered clients by session
	perUser    map[string]int     // registered clients by user, the panel's left out

	sizeMu    sync.Mutex // the size of the next frame buffer, grown to fit the frames
	frameSize int
	closed    bool
}

// client is one connection. The fields after kill are guarded by Hub.mu.
type client struct {
	conn  *websocket.Conn
	addr  string
	queue chan []byte   // frames waiting to be written, shared with every other client
	kick  chan struct{} // closed when the hub decides to close the client with code and text
	kill  context.CancelFunc

	session string // the session the client signed in with ("" without sign-in)
	user    string // its user ("" without sign-in)
	panel   bool   // the LCD's own

	idx    int    // position in Hub.clients
	minSeq uint64 // the seq of the client's first frame: older rounds are not sent
	reason string // why the hub dropped or closes the client; "" while it is wanted
	code   websocket.StatusCode
	text   string
}

// New returns a hub with opts, registering its metrics with opts.Registerer. It fails only if
// the registration does.
func New(opts Options) (*Hub, error) {
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.MaxPerSession <= 0 {
		opts.MaxPerSession = DefaultMaxPerSession
	}
	if opts.MaxPerUser <= 0 {
		opts.MaxPerUser = DefaultMaxPerUser
	}
	if opts.PanelSlots <= 0 {
		opts.PanelSlots = min(DefaultPanelSlots, opts.MaxClients/10)
	}
	opts.PanelSlots = min(opts.PanelSlots, opts.MaxClients-1)
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = DefaultPingTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Current == nil {
		opts.Current = func() *maskservice.Round { return nil }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	h := &Hub{frameSize: 256, opts: opts, log: log, m: m, base: base, cancelBase: cancel,
		perSession: map[string]int{}, perUser: map[string]int{}}
	if opts.Events != nil {
		if opts.EventQueue <= 0 {
			opts.EventQueue = DefaultEventQueue
		}
		h.events = maskservice.Subscribe[maskservice.Event](opts.Events, "websocket", opts.EventQueue)
	}
	return h, nil
}

// ServeHTTP upgrades the request to a WebSocket and serves the client until it goes away or
// is closed. Requests with an Origin header from another host are refused with 403 (requests
// without one, from non-browser clients, are accepted).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var adm Admission
	if h.opts.Authorize != nil {
		adm = h.opts.Authorize(r)
	}
	// Compression off: the shared frame bytes go out as they are, with no per-client work.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		// Accept has answered with an HTTP error already.
		h.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// Not the request's context: it is not meant for use after the hijack. A client that
	// arrives after Close gets a context of its own, bounded, since the hub's is cancelled
	// and would cut the connection before the 1001 close frame is through.
	base := h.base
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		var cancel context.CancelFunc
		base, cancel = context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
	}
	ctx, kill := context.WithCancel(base)
	c := &client{
		conn:  conn,
		addr:  r.RemoteAddr,
		queue: make(chan []byte, h.opts.QueueLen),
		kick:  make(chan struct{}),
		kill:  kill,

		session: adm.Session,
		user:    adm.User,
		panel:   adm.Panel,
	}
	conn.SetReadLimit(readLimit)
	gone := make(chan struct{})
	go h.read(ctx, c, gone)
	defer func() {
		kill() // ends a read in progress, which closes the connection
		_ = conn.CloseNow()
		<-gone
	}()
	if adm.Code != 0 {
		h.log.Info("websocket client refused", "remote", c.addr, "code", int(adm.Code), "reason", adm.Reason)
		closeConn(c, adm.Code, adm.Reason)
		return
	}
	if code, text := h.add(c); code != 0 {
		closeConn(c, code, text)
		return
	}
	defer h.wg.Done()
	start := time.Now()
	h.log.Debug("websocket client connected", "remote", c.addr)
	why := h.serve(ctx, gone, c)
	h.remove(c)
	h.log.Debug("websocket client disconnected", "remote", c.addr, "reason", why, "duration", time.Since(start))
}

// add registers c and queues its first frame, or returns the close code and text that refuse
// it. On success it has added one to h.wg.
func (h *Hub) add(c *client) (websocket.StatusCode, string) {
	// Encode outside the lock; the rare newer round found under the lock is encoded there.
	cur := h.opts.Current()
	var first []byte
	if cur != nil {
		first = AppendSensorsFrame(nil, cur, h.opts.Now())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return websocket.StatusGoingAway, "server shutting down"
	}
	if why, text := h.overLimit(c); why != "" {
		h.m.dropped.WithLabelValues(why).Inc()
		h.log.Info("websocket client dropped", "remote", c.addr, "reason", why, "clients", len(h.clients),
			"session_clients", h.perSession[c.session], "user", c.user, "user_clients", h.perUser[c.user])
		return websocket.StatusTryAgainLater, text
	}
	// A round broadcast after Current was read is newer: starting older would skip it.
	if h.last != nil && (cur == nil || h.last.Seq > cur.Seq) {
		cur = h.last
		first = AppendSensorsFrame(nil, cur, h.opts.Now())
	}
	if cur != nil {
		c.queue <- first // the queue is new, so this never blocks
		c.minSeq = cur.Seq
	}
	c.idx = len(h.clients)
	h.clients = append(h.clients, c)
	h.count(c, 1)
	h.wg.Add(1)
	h.m.active.Inc()
	return 0, ""
}

// overLimit returns why c may not be added (a reason label and the close text), "" if it
// may. h.mu must be held.
func (h *Hub) overLimit(c *client) (reason, text string) {
	switch {
	case len(h.clients) >= h.opts.MaxClients:
		return reasonLimit, "try again later"
	case !c.panel && len(h.clients) >= h.opts.MaxClients-h.opts.PanelSlots:
		// The last slots are the LCD's: its live view must not depend on how many phones
		// are watching.
		return reasonLimit, "try again later"
	case c.session != "" && h.perSession[c.session] >= h.opts.MaxPerSession:
		return reasonSessionLimit, "try again later: this session has " + strconv.Itoa(h.opts.MaxPerSession) + " live views open"
	case c.user != "" && !c.panel && h.perUser[c.user] >= h.opts.MaxPerUser:
		return reasonUserLimit, "try again later: this user has " + strconv.Itoa(h.opts.MaxPerUser) + " live views open"
	}
	return "", ""
}

// count adds delta to c's counts per session and user. h.mu must be held.
func (h *Hub) count(c *client, delta int) {
	if c.session != "" {
		if h.perSession[c.session] += delta; h.perSession[c.session] <= 0 {
			delete(h.perSession, c.session)
		}
	}
	if c.user != "" && !c.panel {
		if h.perUser[c.user] += delta; h.perUser[c.user] <= 0 {
			delete(h.perUser, c.user)
		}
	}
}

// remove unregisters c.
func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := len(h.clients) - 1
	h.clients[c.idx] = h.clients[last]
	h.clients[c.idx].idx = c.idx
	h.clients[last] = nil
	h.clients = h.clients[:last]
	h.count(c, -1)
	h.m.active.Dec()
}

// read reads c's connection until it ends, then closes gone. Pongs and close frames reach
// Ping and Close only through a reader; data messages, text or binary, are read and thrown
// away. A client that sends them faster than its msgBucket allows is closed with 1008, one
// whose message is over readLimit with 1009. This is CloseRead done by hand: in
// coder/websocket v1.8.15 the CloseRead goroutine answers a data message with Close, which
// then waits 15 s for that same goroutine.
func (h *Hub) read(ctx context.Context, c *client, gone chan<- struct{}) {
	defer close(gone)
	allowance := newMsgBucket(time.Now())
	flooded := false
	for {
		_, r, err := c.conn.Reader(ctx)
		if err != nil {
			return
		}
		// The whole message first: over readLimit, the library fails the read and has sent
		// 1009 itself. Asking for 1008 before that would race it for the one close frame.
		// io.Discard reads into a pooled buffer. (The library arms a context.AfterFunc for
		// each frame it reads, about 8 allocations a message; the rate bounds those too.)
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
		// The bucket is this goroutine's alone: a message within the rate takes no lock.
		if flooded || allowance.take(time.Now()) {
			continue
		}
		flooded = true
		h.mu.Lock()
		h.dropLocked(c, reasonFlood, websocket.StatusPolicyViolation, floodText)
		h.mu.Unlock()
		h.log.Info("websocket client sends too many messages; closing it", "remote", c.addr,
			"burst", MessageBurst, "per_second", MessageRate)
		// Read on, so that the reply to the close frame is seen.
	}
}

// msgBucket is a client's allowance of data messages: a token bucket of MessageBurst tokens
// refilled at MessageRate a second. It is a small value kept by the client's read
// goroutine, so taking a token neither locks nor allocates.
type msgBucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// newMsgBucket returns a full bucket at now.
func newMsgBucket(now time.Time) msgBucket {
	return msgBucket{tokens: MessageBurst, at: now}
}

// take spends one token at now and reports whether there was one.
func (b *msgBucket) take(now time.Time) bool {
	// A time before the last (not from the monotonic clock the hub uses) refills nothing.
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(MessageBurst, b.tokens+elapsed.Seconds()*MessageRate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// serve writes c's frames and pings it until the connection ends, and returns why it ended.
func (h *Hub) serve(ctx context.Context, gone <-chan struct{}, c *client) string {
	ping := time.NewTicker(h.opts.PingInterval)
	defer ping.Stop()
	// One timer bounds every write. A context with a timeout per write would cost a dozen
	// allocations per client and frame (the library arms an AfterFunc for each), which adds
	// up at 1000 clients.
	deadline := time.AfterFunc(time.Hour, func() { _ = c.conn.CloseNow() })
	deadline.Stop()
	var pong chan error // non-nil while a ping is outstanding
	for {
		// A decided close comes before queued frames: a client being closed gets no more.
		select {
		case <-c.kick:
			return closeConn(c, c.code, c.text)
		default:
		}
		select {
		case <-c.kick:
			return closeConn(c, c.code, c.text)
		case <-gone:
			return "connection closed"
		case frame := <-c.queue:
			deadline.Reset(h.opts.WriteTimeout)
			start := time.Now()
			err := c.conn.Write(context.Background(), websocket.MessageText, frame)
			if !deadline.Stop() {
				// The timer fired and cut the connection, whatever err says.
				if h.drop(c, reasonWrite) {
					return "write timeout"
				}
				return "write cut"
			}
			if err != nil {
				return fmt.Sprintf("write: %v", err)
			}
			h.m.duration.Observe(time.Since(start).Seconds())
		case <-ping.C:
			if pong == nil {
				pong = h.ping(ctx, c)
			}
		case err := <-pong:
			pong = nil
			// Other errors mean the connection is gone, which gone reports next.
			if errors.Is(err, context.DeadlineExceeded) && h.drop(c, reasonPing) {
				return "ping timeout"
			}
		}
	}
}

// ping pings c in a goroutine of its own, so frames keep flowing while it waits for the pong,
// and returns the channel that gets its result.
func (h *Hub) ping(ctx context.Context, c *client) chan error {
	done := make(chan error, 1)
	h.wg.Add(1) // c's own count is held, so the counter is not zero here
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(ctx, h.opts.PingTimeout)
		defer cancel()
		done <- c.conn.Ping(ctx)
	}()
	return done
}

// closeConn closes c's connection with a close handshake bounded by closeGrace, and returns
// a description for the log.
func closeConn(c *client, code websocket.StatusCode, text string) string {
	t := time.AfterFunc(closeGrace, c.kill)
	defer t.Stop()
	_ = c.conn.Close(code, text) // fails only when the connection is gone anyway
	return fmt.Sprintf("closed with %d %s", code, text)
}

// drop records that the hub drops c for reason and reports whether it is the first reason
// given for c. The caller ends the connection.
func (h *Hub) drop(c *client, reason string) bool {
	h.mu.Lock()
	ok := h.dropLocked(c, reason, 0, "")
	h.mu.Unlock()
	if ok {
		h.log.Info("websocket client dropped", "remote", c.addr, "reason", reason)
	}
	return ok
}

// dropLocked is drop with h.mu held; a non-zero code also asks c's goroutine to close the
// connection with code and text.
func (h *Hub) dropLocked(c *client, reason string, code websocket.StatusCode, text string) bool {
	if c.reason != "" {
		return false
	}
	c.reason = reason
	if reason != reasonShutdown && reason != reasonFlood {
		h.m.dropped.WithLabelValues(reason).Inc()
	}
	if code != 0 {
		c.code, c.text = code, text
		close(c.kick)
	}
	return true
}

// enqueueLocked queues frame for c without blocking, or marks c too slow and reports false.
func (h *Hub) enqueueLocked(c *client, frame []byte) bool {
	select {
	case c.queue <- frame:
		return true
	default:
		h.dropLocked(c, reasonSlow, StatusTooSlow, "too slow")
		return false
	}
}

// Run sends every event of the bus (Options.Events) to the clients through Handle, until
// the bus closes or ctx is done; it returns nil, or ctx's error. Call it once. When the hub's
// own queue has lost events (it fell behind the bus), every client has missed them, an alert
// change perhaps: each is closed with 4008 "too slow", so that it reconnects and reloads
// rather than show a state that is no longer true.
func (h *Hub) Run(ctx context.Context) error {
	if h.events == nil {
		return errors.New("websocket hub: Run needs Options.Events")
	}
	var dropped uint64
	return h.events.Each(ctx, func(e maskservice.Event) {
		if d := h.events.Dropped(); d != dropped {
			dropped = d
			h.closeAll(reasonSlow, StatusTooSlow, "too slow: events were missed")
		}
		h.Handle(e)
	})
}

// closeAll closes every client with code and text, for reason.
func (h *Hub) closeAll(reason string, code websocket.StatusCode, text string) {
	h.mu.Lock()
	n := 0
	for _, c := range h.clients {
		if h.dropLocked(c, reason, code, text) {
			n++
		}
	}
	h.mu.Unlock()
	if n > 0 {
		h.log.Warn("websocket hub fell behind the event bus: clients closed to reload", "clients", n)
	}
}

// Handle encodes e once, with ts the time of encoding, and queues the same bytes for every
// client: a *Round as a sensors frame, an AlertEvent as an alert frame; other events have no
// frame yet and are ignored. Rounds not newer than the last one sent are skipped, and a
// client never gets a round older than or equal to its first frame. Call it from one
// goroutine (Run does): frames reach each client in the order of the calls.
func (h *Hub) Handle(e maskservice.Event) {
	switch e := e.(type) {
	case *maskservice.Round:
		h.publishRound(e)
	case maskservice.AlertEvent:
		h.broadcast(AppendAlertFrame(nil, e.Alert, h.opts.Now()))
	}
}

// publishRound encodes r once and queues it for every client.
func (h *Hub) publishRound(r *maskservice.Round) {
	if r == nil {
		return
	}
	h.sizeMu.Lock()
	frame := AppendSensorsFrame(make([]byte, 0, h.frameSize), r, h.opts.Now())
	h.frameSize = max(h.frameSize, len(frame)+len(frame)/8)
	h.sizeMu.Unlock()
	h.publish(r, frame)
}

// publish queues frame, the encoding of r, for every client that should get it.
func (h *Hub) publish(r *maskservice.Round, frame []byte) {
	var slow []*client
	h.mu.Lock()
	if h.last != nil && r.Seq <= h.last.Seq {
		h.mu.Unlock()
		return
	}
	h.last = r
	h.m.frames.Inc()
	for _, c := range h.clients {
		if c.reason == "" && r.Seq > c.minSeq && !h.enqueueLocked(c, frame) {
			slow = append(slow, c)
		}
	}
	h.mu.Unlock()
	h.logSlow(slow)
}

// broadcast queues frame, an encoded JSON frame such as an alert, for every client under the
// same queue rules as rounds. The hub keeps frame. A client that has not had its first
// sensors frame yet (no round existed when it connected) gets it too.
func (h *Hub) broadcast(frame []byte) {
	var slow []*client
	h.mu.Lock()
	h.m.frames.Inc()
	for _, c := range h.clients {
		if c.reason == "" && !h.enqueueLocked(c, frame) {
			slow = append(slow, c)
		}
	}
	h.mu.Unlock()
	h.logSlow(slow)
}

// logSlow logs clients dropped as too slow; it runs outside the lock, away from the fan-out.
func (h *Hub) logSlow(slow []*client) {
	for _, c := range slow {
		h.log.Info("websocket client dropped", "remote", c.addr, "reason", reasonSlow)
	}
}

// CloseSession closes every client of the session with 4001 "signed out": the sign-in service
// calls it when a session is revoked (logout, a reused refresh token). It walks the client
// list, which is bounded by MaxClients; sessions end far too rarely for an index to pay.
func (h *Hub) CloseSession(sessionID string) {
	if sessionID == "" {
		return
	}
	h.mu.Lock()
	n := 0
	for _, c := range h.clients {
		if c.session == sessionID && h.dropLocked(c, reasonSignedOut, StatusUnauthorized, "signed out") {
			n++
		}
	}
	h.mu.Unlock()
	if n > 0 {
		h.log.Info("websocket clients of an ended session closed", "clients", n)
	}
}

// Clients returns the number of open client connections, including those being closed.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close refuses new clients (they are closed with 1001), closes every client with 1001
// "server shutting down" and waits for their goroutines to end. Connections whose close
// handshake has not finished after 1.5 s are cut, so Close returns within about 2 s. It is
// safe to call more than once; later calls return at once.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, c := range h.clients {
			h.dropLocked(c, reasonShutdown, websocket.StatusGoingAway, "server shutting down")
		}
		n := len(h.clients)
		h.mu.Unlock()
		h.log.Debug("websocket hub closing", "clients", n)
		if !wait(&h.wg, shutdownWait) {
			h.log.Info("websocket clients slow to close; cutting their connections", "clients", h.Clients())
		}
		// Cancelling also ends refused connections that are still in their close handshake.
		// The clients' own connections are cut outright: a close handshake waiting on a
		// peer that never answers would otherwise hold its goroutine for the library's 5 s.
		h.cancelBase()
		h.mu.Lock()
		for _, c := range h.clients {
			_ = c.conn.CloseNow()
		}
		h.mu.Unlock()
		if !wait(&h.wg, cutWait) {
			h.log.Warn("websocket client goroutines still running after close", "clients", h.Clients())
		}
	})
}

// wait waits for wg for at most d and reports whether it finished.
func wait(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
