package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/store/ring"
	"mask.services/maskservice/web"
	"mask.services/maskservice/web/auth"
	"mask.services/maskservice/web/connlimit"
	"mask.services/maskservice/web/hub"
)

// ShutdownTimeout bounds a graceful shutdown: listeners stop, WebSocket clients get 1001,
// in-flight requests finish, buffers are flushed.
const ShutdownTimeout = 5 * time.Second

// ringSpan is how much recent history the RAM ring keeps per sensor.
const ringSpan = time.Hour

// Main is the daemon: ParseFlags (or set the fields), Run, then Close. Tests run it whole on
// port 0 in a temporary data directory.
type Main struct {
	Config  *config.Config // nil: config.Default()
	DataDir string
	Listen  string // overrides Config.HTTP.Listen when set
	Demo    bool   // create the demo users (operator1, admin1, super1, serwis1; never in production)
	UIDir   string // serve the UI from this directory instead of the embedded build
	Stderr  io.Writer
	Logger  *slog.Logger // set by Run from Config.Log.Level unless already set
	// BcryptCost hashes the demo users' passwords; 0 means auth.DefaultBcryptCost. Tests
	// lower it.
	BcryptCost int
	// NotifySocket is systemd's notify socket (NOTIFY_SOCKET); "" sends nothing.
	// WatchdogInterval is how often to ping systemd's watchdog while healthy (half of
	// WATCHDOG_USEC); 0 sends no pings.
	NotifySocket     string
	WatchdogInterval time.Duration

	// TLSFingerprint is the SHA-256 fingerprint of the HTTPS certificate, "" without HTTPS.
	TLSFingerprint string

	started  time.Time
	notify   *notifier
	panelUID *uint32 // http.panel_user's uid; nil: any local user

	connsRefused *prometheus.CounterVec // http_connections_refused_total{listener}
	timeouts     serverTimeouts

	// The parts, in the order Run makes them.
	db       *bolt.DB
	admin    io.Closer // the admin socket (DIR/admin.sock)
	sensors  *maskservice.LiveSensors
	source   *hal.Buses // the buses; closed after the poll loop stops
	events   *maskservice.EventBus
	monitor  *maskservice.Monitor
	alarms   *maskservice.AlarmEngine
	history  *bolt.HistoryWriter
	accounts *maskservice.Accounts
	tokens   *auth.Tokens
	hub      *hub.Hub
	services []service // the long-running parts, in their start order
	running  []*running

	ln, tlsLn         net.Listener
	server, tlsServer *http.Server
	httpDone          sync.WaitGroup // the Serve goroutines

	closing atomic.Bool
	failed  chan error
	closed  sync.Once
}

// NewMain returns a Main with the defaults of the serve command.
func NewMain() *Main {
	return &Main{Stderr: os.Stderr, failed: make(chan error, 1)}
}

// ParseFlags reads the serve command's flags and loads the configuration file.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	configPath := fs.String("config", "", "configuration file (TOML); none: the three specification sensors on the simulator")
	fs.StringVar(&m.DataDir, "data", defaultDataDir(), "data directory (created if missing)")
	fs.StringVar(&m.Listen, "listen", "", "HTTP listen address, overrides http.listen (default "+config.DefaultListen+")")
	fs.BoolVar(&m.Demo, "demo", false, "create the demo users (never in production)")
	fs.StringVar(&m.UIDir, "ui-dir", "", "serve the UI from this directory (development) instead of the embedded build")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	if err := fs.Parse(args); err != nil {
		return usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		m.Config = config.Default()
	} else {
		c, err := config.Load(*configPath)
		if err != nil {
			return configError(err)
		}
		m.Config = c
	}
	if *logLevel != "" {
		m.Config.Log.Level = *logLevel
	}
	if _, err := parseLevel(m.Config.Log.Level); err != nil {
		return configError(err)
	}
	return nil
}

// defaultDataDir is systemd's StateDirectory when the unit sets one.
func defaultDataDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	return "/var/lib/maskservice"
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// TLSAddr returns the address of the HTTPS listener, nil without one.
func (m *Main) TLSAddr() net.Addr {
	if m.tlsLn == nil {
		return nil
	}
	return m.tlsLn.Addr()
}

// Addr returns the address the HTTP listener is bound to (useful with port 0), nil before Run.
func (m *Main) Addr() net.Addr {
	if m.ln == nil {
		return nil
	}
	return m.ln.Addr()
}

// Failed delivers an error if a part of the daemon stops on its own (the HTTP server failing).
func (m *Main) Failed() <-chan error { return m.failed }

// Run starts the daemon and returns once it is serving. ctx bounds the start only; call Close
// to stop. On error everything started is stopped again.
//
// The order: the store, the services (each subscribed to the event bus before anything
// publishes on it), the listeners; then the services start, consumers first and the
// monitor, which makes the rounds, last; then the HTTP servers; then systemd hears READY.
// Close undoes it in the reverse order.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := m.init(); err != nil {
		return err
	}
	m.started = time.Now()
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	if err := m.openStore(ctx); err != nil {
		return err
	}
	tlsConfig, err := m.loadTLS()
	if err != nil {
		return err
	}
	handler, err := m.build(ctx)
	if err != nil {
		return err
	}
	if err := m.listen(ctx, tlsConfig); err != nil {
		return err
	}
	m.running = startAll(m.services, m.fail)
	m.serve(handler)
	m.notifyReady()
	return nil
}

// init fills in the defaults of the fields left unset.
func (m *Main) init() error {
	if m.Config == nil {
		m.Config = config.Default()
	}
	if m.Stderr == nil {
		m.Stderr = os.Stderr
	}
	if m.failed == nil {
		m.failed = make(chan error, 1)
	}
	m.notify = newNotifier(m.NotifySocket)
	// Before anything is created: a key file that is no key is a mistake in the
	// configuration (exit 2), not a failure of the running daemon.
	if err := checkKeyFile(m.Config); err != nil {
		return err
	}
	if m.Logger == nil {
		level, err := parseLevel(m.Config.Log.Level)
		if err != nil {
			return err
		}
		m.Logger = slog.New(slog.NewJSONHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	}
	var err error
	if m.panelUID, err = panelUID(m.Config); err != nil {
		m.Logger.Error("the LCD's panel user is unknown", "err", err)
	}
	return nil
}

// openStore opens the data directory's database and its admin socket. A damaged database
// does not stop the start: bolt.OpenRecovering keeps it aside and starts on the newest
// verified scheduled backup, or an empty database, which prepareRecovered readies first; the
// error left (nothing could be opened: the data directory is unwritable, another daemon
// holds it) exits 1.
func (m *Main) openStore(ctx context.Context) error {
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Mapping the whole allowed size at once means a read (a history query, a backup
	// download) never holds up a commit that grows the file: bbolt remaps only beyond it.
	var err error
	m.db, _, err = bolt.OpenRecovering(ctx, m.DataDir, bolt.RecoverOptions{
		Options: bolt.Options{MmapSize: int64(m.Config.Storage.MaxSize), OnDamage: m.storeDamaged},
		// Only the scheduled copies: a file named on a command line is the operator's.
		BackupDir: m.Config.Storage.BackupDir,
		Prepare:   prepareRecovered,
		Log:       m.Logger,
	})
	if err != nil {
		return err
	}
	m.admin, err = serveAdmin(ctx, filepath.Join(m.DataDir, adminSocketName), m.db, m.Logger)
	return err
}

// prepareRecovered readies the database that replaces a damaged one, before it does, so that
// both changes are on disk with it: the sessions a backup brings back are ended, as restore
// ends them, and the device fault that tells the operator what happened is raised in it
// (the alarm engine loads it with the other alerts).
func prepareRecovered(ctx context.Context, db *bolt.DB, r maskservice.StorageRecovery) error {
	if _, err := endSessions(ctx, db, "database damaged: started on a backup or an empty database"); err != nil {
		return err
	}
	_, err := maskservice.RaiseDeviceFault(ctx, db, r.Fault())
	return err
}

// storeDamaged stops the daemon when a transaction meets a damaged page while it runs:
// alerts that cannot be committed are never raised, so polling on would be unsafe. The
// restart (systemd's Restart=) checks the file and recovers it.
func (m *Main) storeDamaged(err error) {
	m.fail(fmt.Errorf("the database is damaged, stopping so that the restart recovers it: %w", err))
}

// loadTLS makes (at the first start) or loads the hotspot's certificate, before the web
// server, which shows its fingerprint in the device status; nil without HTTPS.
func (m *Main) loadTLS() (*tls.Config, error) {
	cfg := m.Config
	if cfg.HTTP.TLSListen == "" {
		return nil, nil
	}
	cert, fingerprint, replaced, err := loadOrCreateCert(m.DataDir, cfg.DeviceID, cfg.HTTP.TLSListen, time.Now())
	if err != nil {
		return nil, err
	}
	m.TLSFingerprint = fingerprint
	if replaced != "" {
		m.Logger.Warn("new HTTPS certificate: technicians will see a new fingerprint", "why", replaced, "certificate_sha256", fingerprint)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// build makes the services and the web server over them, and lists the services to start.
// Every consumer subscribes to the event bus here, before the monitor can publish.
func (m *Main) build(ctx context.Context) (http.Handler, error) {
	cfg, log := m.Config, m.Logger
	var err error
	if m.sensors, err = maskservice.LiveSensorsOf(cfg.DomainSensors()); err != nil {
		return nil, configError(err)
	}
	if m.source, err = config.OpenBuses(cfg, m.sensors, log); err != nil {
		return nil, err
	}
	m.events = maskservice.NewEventBus()
	if m.monitor, err = maskservice.NewMonitor(m.sensors, m.source, m.events); err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	recent := ring.ForSpan(m.sensors.Load(), ringSpan)
	recorder := ring.NewRecorder(recent, m.events)
	m.history = m.db.NewHistoryWriter(bolt.HistoryOptions{
		CommitInterval: time.Duration(cfg.Storage.CommitInterval),
		Retention:      time.Duration(cfg.Storage.Retention),
		MaxSize:        int64(cfg.Storage.MaxSize),
		Log:            log,
		Events:         m.events,
		Sensors:        m.sensors.Load(),
	})
	// The engine publishes every committed change on the bus, after the round that caused
	// it: an alert frame never overtakes its sensors frame, nor an acknowledgement the change
	// before it.
	m.alarms, err = maskservice.NewAlarmEngine(ctx, m.db, m.sensors, maskservice.AlarmOptions{
		RepeatInterval: time.Duration(cfg.Alarms.RepeatInterval), Events: m.events, Logger: log, Audit: m.db})
	if err != nil {
		return nil, fmt.Errorf("start alarm engine: %w", err)
	}

	reg := prometheus.NewRegistry()
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_connections_refused_total",
		Help: "Connections closed at once because their client already held http.max_conns_per_client, by listener.",
	}, []string{"listener"})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.connsRefused)
	if err := m.startAuth(ctx); err != nil {
		return nil, err
	}
	m.hub, err = hub.New(hub.Options{
		MaxClients:    cfg.HTTP.MaxWSClients,
		MaxPerSession: cfg.HTTP.MaxWSPerSession,
		MaxPerUser:    cfg.HTTP.MaxWSPerUser,
		Current:       m.monitor.Current,
		Events:        m.events,
		Logger:        log,
		Registerer:    reg,
		// web checks the token before the upgrade; the hub learns the verdict from it.
		Authorize: web.AuthorizeWebSocket,
	})
	if err != nil {
		return nil, fmt.Errorf("start websocket hub: %w", err)
	}
	// A revoked session (logout, a reused refresh token) loses its live sockets at once.
	m.accounts.OnRevoke(m.hub.CloseSession)
	srv, err := web.New(web.Options{
		DeviceID:       cfg.DeviceID,
		Version:        version,
		Monitor:        m.monitor,
		Buses:          m.source,
		Alarms:         m.alarms,
		Alerts:         m.db,
		Backup:         m.db.WriteBackup,
		BackupSize:     m.db.BackupSize,
		History:        m.db,
		Storage:        m.history.Status,
		Recent:         recent,
		Accounts:       m.accounts,
		Tokens:         m.tokens,
		Audit:          m.db,
		TLSFingerprint: m.TLSFingerprint,
		CORSOrigins:    cfg.HTTP.CORSOrigins,
		PanelUID:       m.panelUID,
		PanelLiveView:  *cfg.HTTP.PanelLiveView,
		AllowedHosts:   deviceHosts(cfg),
		Host:           hal.Host{},
		WebSocket:      m.hub,
		Registry:       reg,
		Logger:         log,
		Ready:          m.ready,
		UIDir:          m.UIDir,
		MetricsToken:   cfg.HTTP.MetricsToken,
		StartTime:      m.started,
	})
	if err != nil {
		return nil, fmt.Errorf("start web server: %w", err)
	}

	// Consumers first, the producer last; Close stops them in the reverse order, so the
	// monitor stops first, the bus closes and every consumer drains its queue.
	m.services = []service{
		{"ring", recorder.Run, true},
		{"history", m.history.Run, true},
		{"alarms", m.alarms.Run, true},
		{"websocket", m.hub.Run, true},
		{"accounts", m.accounts.Run, false},
	}
	if dir := cfg.Storage.BackupDir; dir != "" {
		m.services = append(m.services, service{name: "backups", run: m.db.NewBackupSchedule(bolt.BackupScheduleOptions{
			Dir: dir, KeepDaily: *cfg.Storage.BackupKeepDaily, KeepWeekly: *cfg.Storage.BackupKeepWeekly, Log: log}).Run})
	}
	if m.WatchdogInterval > 0 {
		m.services = append(m.services, service{name: "watchdog", run: func(ctx context.Context) error {
			m.runWatchdog(ctx, m.notify, m.WatchdogInterval)
			return nil
		}})
	}
	m.services = append(m.services, service{name: "monitor", run: m.monitor.Run})
	return srv.Handler(), nil
}

// listen opens the HTTP listener and, with tlsConfig, the HTTPS one.
func (m *Main) listen(ctx context.Context, tlsConfig *tls.Config) error {
	cfg, log := m.Config, m.Logger
	listen := cfg.HTTP.Listen
	if m.Listen != "" {
		listen = m.Listen
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	// The panel's listener: its loopback clients are this host (the kiosk and local tools),
	// which no address tells apart, so only clients beyond loopback are counted.
	m.ln = m.limitConns("http", ln, true)
	if tlsConfig != nil {
		// HTTPS for the technicians on the hotspot, with the device's own certificate.
		// IP_FREEBIND: the hotspot's address may come up after the daemon (Wi-Fi firmware,
		// networkd) or not at all; the listener waits for it instead of failing the start.
		lc := net.ListenConfig{Control: freebind}
		tln, err := lc.Listen(ctx, "tcp", cfg.HTTP.TLSListen)
		if err != nil {
			return fmt.Errorf("listen on %s (https): %w", cfg.HTTP.TLSListen, err)
		}
		// Counted below TLS, so a refused client costs no handshake.
		m.tlsLn = tls.NewListener(m.limitConns("https", tln, false), tlsConfig)
		log.Info("https listening", "addr", tln.Addr().String(), "certificate_sha256", m.TLSFingerprint)
	}
	if !isLoopback(m.ln.Addr()) {
		log.Warn("plain HTTP beyond loopback: passwords and tokens cross the network unencrypted (serve the hotspot with http.tls_listen instead)",
			"addr", m.ln.Addr().String())
	}
	return nil
}

// serve starts the HTTP servers on the listeners. The HTTPS one serves the same routes;
// answers to requests over TLS get Secure cookies (web does that per request).
func (m *Main) serve(handler http.Handler) {
	m.server = m.httpServer(handler)
	// The plain listener is the panel's: its loopback clients may be the LCD. The HTTPS
	// one's never are, whatever their address.
	m.server.ConnContext = web.PanelConnContext
	m.startServing("http server", m.server, m.ln)
	if m.tlsLn != nil {
		m.tlsServer = m.httpServer(handler)
		m.startServing("https server", m.tlsServer, m.tlsLn)
	}
}

// limitConns keeps each client of ln within http.max_conns_per_client open connections,
// loopback clients exempt when exemptLoopback.
func (m *Main) limitConns(name string, ln net.Listener, exemptLoopback bool) net.Listener {
	refused := m.connsRefused.WithLabelValues(name)
	return connlimit.New(ln, connlimit.Options{
		PerClient: m.Config.HTTP.MaxConnsPerClient, ExemptLoopback: exemptLoopback,
		Refused: func(key string, first bool) {
			refused.Inc()
			if first {
				m.Logger.Warn("a client holds as many connections as it may: further ones are closed",
					"listener", name, "client", key, "max_conns_per_client", m.Config.HTTP.MaxConnsPerClient)
			}
		},
	})
}

// The HTTP servers' time limits. A request must arrive whole (headers and body: no route
// takes more than a small JSON body) within requestReadTimeout, so a client that trickles a
// body ties up nothing for long; an answer must be written within responseWriteTimeout,
// except the downloads, which extend it while the client keeps reading (web does that); an
// idle keep-alive connection is closed after idleTimeout. A WebSocket leaves them behind
// when it is upgraded, and the hub bounds its own writes.
const (
	headerReadTimeout    = 10 * time.Second
	requestReadTimeout   = 20 * time.Second
	responseWriteTimeout = 30 * time.Second
	idleTimeout          = time.Minute
)

// httpServer returns a server of handler with the daemon's limits.
func (m *Main) httpServer(handler http.Handler) *http.Server {
	t := m.timeouts
	if t == (serverTimeouts{}) {
		t = serverTimeouts{header: headerReadTimeout, read: requestReadTimeout, write: responseWriteTimeout, idle: idleTimeout}
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: t.header,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    64 << 10, // bounds the query string too; no route needs more
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
}

// serverTimeouts are the HTTP servers' time limits; the zero value means the constants
// above. Tests shorten them.
type serverTimeouts struct{ header, read, write, idle time.Duration }

// startServing serves srv on ln until it is shut down; a failure ends the daemon.
func (m *Main) startServing(name string, srv *http.Server, ln net.Listener) {
	m.httpDone.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
}

// notifyReady tells systemd the daemon is up (the listener and the store are), and logs it.
func (m *Main) notifyReady() {
	n := m.sensors.Load().Len()
	status := fmt.Sprintf("STATUS=serving %d sensors on %s", n, m.ln.Addr())
	if err := m.notify.send("READY=1\n" + status); err != nil {
		m.Logger.Warn("sd_notify", "err", err)
	}
	m.Logger.Info("http listening", "addr", m.ln.Addr().String(), "device_id", m.Config.DeviceID,
		"sensors", n, "config", configName(m.Config), "data", m.DataDir, "version", version,
		"start_ms", time.Since(m.started).Milliseconds())
}

func configName(c *config.Config) string {
	if c.File() == "" {
		return "built-in (simulator)"
	}
	return c.File()
}

func (m *Main) fail(err error) {
	select {
	case m.failed <- err:
	default:
	}
}

// ready reports whether the daemon can serve readings: polling has produced a round and no
// shutdown is under way.
func (m *Main) ready() error {
	switch {
	case m.closing.Load():
		return errors.New("shutting down")
	case m.monitor.Current() == nil:
		return errors.New("waiting for the first poll round")
	}
	return nil
}

// Close shuts the daemon down gracefully within ShutdownTimeout: /readyz turns 503, the
// WebSocket clients are closed with 1001, the listeners stop and in-flight requests finish;
// then the services stop in the reverse order of their start (the monitor first, so every
// consumer drains its queue; the history writer makes its last commit), the buses close and
// the database last. It is safe to call more than once.
func (m *Main) Close() error {
	var err error
	m.closed.Do(func() {
		m.closing.Store(true)
		if m.notify != nil {
			_ = m.notify.send("STOPPING=1")
		}
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if m.hub != nil {
			m.hub.Close()
		}
		err = errors.Join(shutdown(ctx, "http server", m.server, m.ln), shutdown(ctx, "https server", m.tlsServer, m.tlsLn))
		m.httpDone.Wait()
		// The last commit must reach the file before it closes, whatever the shutdown above
		// used up of the time (a long download, say).
		err = errors.Join(err, stopAll(m.running, max(time.Until(deadline(ctx)), historyStopTimeout)))
		if m.source != nil {
			// The poll loop has stopped: nothing reads the ports any more.
			if e := m.source.Close(); e != nil {
				err = errors.Join(err, fmt.Errorf("close buses: %w", e))
			}
		}
		if m.admin != nil {
			// Ends downloads in flight, which would otherwise keep the database from closing.
			if e := m.admin.Close(); e != nil {
				err = errors.Join(err, fmt.Errorf("close admin socket: %w", e))
			}
		}
		if m.db != nil {
			// Every answered write is committed already; closing releases the file lock.
			if e := m.db.Close(); e != nil {
				err = errors.Join(err, fmt.Errorf("close database: %w", e))
			}
		}
	})
	return err
}

// shutdown stops srv gracefully within ctx, or closes ln if srv never started.
func shutdown(ctx context.Context, name string, srv *http.Server, ln net.Listener) error {
	switch {
	case srv != nil:
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("stop %s: %w", name, err)
		}
	case ln != nil:
		_ = ln.Close()
	}
	return nil
}

// deadline returns ctx's deadline, now if it has none.
func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now()
}

// historyStopTimeout bounds the wait for the services to stop at shutdown, whatever the
// HTTP shutdown used up: the history writer's last commit is an fsync on a busy SD card.
const historyStopTimeout = 10 * time.Second

// checkKeyFile checks a configured auth.key_file that exists: it must be a signing key the
// daemon can use (one that does not exist yet is made at the first start). The error is a
// configuration error, so that config check and serve refuse alike.
func checkKeyFile(c *config.Config) error {
	path := c.Auth.KeyFile
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := auth.LoadOrCreateKey(path); err != nil {
		return configError(fmt.Errorf("%s: auth.key_file: %w", c.File(), err))
	}
	return nil
}

// noUID is (uid_t)-1, which no process has.
const noUID = ^uint32(0)

// panelUID looks up http.panel_user, the kiosk's user; nil when none is named. A user the
// system does not know leaves the panel to nobody (every client is remote) and is reported
// in err: the station must still poll and serve, so it is no reason not to start.
func panelUID(c *config.Config) (*uint32, error) {
	name := c.HTTP.PanelUser
	if name == "" {
		return nil, nil
	}
	id := noUID
	u, err := user.Lookup(name)
	if err != nil {
		return &id, fmt.Errorf("%s: http.panel_user: %w: no client is the panel", configName(c), err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return &id, fmt.Errorf("%s: http.panel_user: uid %q: %w: no client is the panel", configName(c), u.Uid, err)
	}
	id = uint32(uid)
	return &id, nil
}

// deviceHosts are the names a request's Host may carry besides the device's addresses:
// the names of the HTTPS certificate, the machine's host name with its .local, and
// http.allowed_hosts.
func deviceHosts(c *config.Config) []string {
	name := dnsName(c.DeviceID)
	hosts := []string{name, name + ".local"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h, h+".local")
	}
	return append(hosts, c.HTTP.AllowedHosts...)
}

// startAuth loads (or creates) the token signing key, starts the accounts service and, with
// --demo, creates the demo users that do not exist yet.
func (m *Main) startAuth(ctx context.Context) error {
	keyPath := m.Config.Auth.KeyFile
	if keyPath == "" {
		keyPath = filepath.Join(m.DataDir, "jwt-key.pem")
	}
	keys, err := auth.LoadOrCreateKey(keyPath)
	if err != nil {
		return err
	}
	m.tokens = auth.NewTokens(keys, "maskserviced", m.Config.DeviceID, nil)
	m.accounts, err = maskservice.NewAccounts(maskservice.AccountsOptions{Users: m.db, Sessions: m.db, Audit: m.db,
		Passwords: auth.Bcrypt{Cost: m.BcryptCost}, Tokens: m.tokens, Logger: m.Logger, Panel: m.db})
	if err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	if !m.Demo {
		if n, err := m.db.CountUsers(ctx); err == nil && n == 0 {
			m.Logger.Warn("no users yet: create the first with 'maskserviced user add NAME --role SUPERUSER' (daemon stopped)")
		}
		return nil
	}
	if _, err := m.accounts.CreateDemoUsers(ctx); err != nil {
		return err
	}
	m.Logger.Warn("DEMO USERS ENABLED: operator1, admin1, super1, serwis1 with password " + maskservice.DemoPassword +
		"; never run --demo on a production device")
	return nil
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
