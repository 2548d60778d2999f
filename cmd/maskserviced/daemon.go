package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

	started   time.Time
	notify    *notifier
	tlsLn     net.Listener
	tlsServer *http.Server

	monitor *maskservice.Monitor
	source  *hal.Buses // the buses; closed after the poll loop stops
	db      *bolt.DB
	admin   io.Closer // the admin socket (DIR/admin.sock)
	history *bolt.HistoryWriter
	alarms  *maskservice.AlarmEngine
	// historyDone is closed when the history writer has made its last commit; the database
	// must not close before.
	historyDone chan struct{}
	auth        *auth.Service
	hub         *hub.Hub
	server      *http.Server
	ln          net.Listener
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closing     atomic.Bool
	failed      chan error
	closed      sync.Once
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
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Config == nil {
		m.Config = config.Default()
	}
	if m.Stderr == nil {
		m.Stderr = os.Stderr
	}
	if m.failed == nil {
		m.failed = make(chan error, 1)
	}
	cfg := m.Config
	if m.Logger == nil {
		level, err := parseLevel(cfg.Log.Level)
		if err != nil {
			return err
		}
		m.Logger = slog.New(slog.NewJSONHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	}
	log := m.Logger
	start := time.Now()
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()

	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Mapping the whole allowed size at once means a read (a history query, a backup
	// download) never holds up a commit that grows the file: bbolt remaps only beyond it.
	m.db, err = bolt.Open(ctx, m.DataDir, bolt.Options{MmapSize: int64(cfg.Storage.MaxSize)})
	if err != nil {
		return err
	}
	m.admin, err = serveAdmin(ctx, filepath.Join(m.DataDir, adminSocketName), m.db, log)
	if err != nil {
		return err
	}
	// The hotspot's certificate is made (at the first start) before the web server, which
	// shows its fingerprint in the device status.
	var tlsCert tls.Certificate
	if cfg.HTTP.TLSListen != "" {
		var replaced string
		if tlsCert, m.TLSFingerprint, replaced, err = loadOrCreateCert(m.DataDir, cfg.DeviceID, cfg.HTTP.TLSListen, time.Now()); err != nil {
			return err
		}
		if replaced != "" {
			log.Warn("new HTTPS certificate: technicians will see a new fingerprint", "why", replaced, "certificate_sha256", m.TLSFingerprint)
		}
	}
	m.history = m.db.NewHistoryWriter(bolt.HistoryOptions{
		CommitInterval: time.Duration(cfg.Storage.CommitInterval),
		Retention:      time.Duration(cfg.Storage.Retention),
		MaxSize:        int64(cfg.Storage.MaxSize),
		Log:            log,
	})
	sensors := cfg.DomainSensors()
	m.source, err = config.OpenBuses(cfg, log)
	if err != nil {
		return err
	}
	src := m.source
	m.monitor, err = maskservice.NewMonitor(sensors, src)
	if err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}

	// Every committed change goes to the WebSocket clients in commit order, from the engine
	// itself: an acknowledgement's frame can never overtake the change before it.
	m.alarms, err = maskservice.NewAlarmEngine(ctx, m.db, sensors, maskservice.AlarmOptions{
		RepeatInterval: time.Duration(cfg.Alarms.RepeatInterval), OnChange: m.publishAlert})
	if err != nil {
		return fmt.Errorf("start alarm engine: %w", err)
	}

	// Each ring holds ringSpan of its own sensor's readings, and at least the default count.
	ids := make([]string, len(sensors))
	capacity := make(map[string]int, len(sensors))
	for i, s := range sensors {
		ids[i] = s.ID
		capacity[s.ID] = max(ring.DefaultCapacity, int(ringSpan/s.Interval))
	}
	recent := ring.NewSetFunc(ids, func(id string) int { return capacity[id] })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := m.startAuth(ctx, reg); err != nil {
		return err
	}
	m.hub, err = hub.New(hub.Options{
		MaxClients: cfg.HTTP.MaxWSClients,
		Current:    m.monitor.Current,
		Logger:     log,
		Registerer: reg,
		// web checks the token before the upgrade; the hub learns the verdict from it.
		Authorize: web.AuthorizeWebSocket,
	})
	if err != nil {
		return fmt.Errorf("start websocket hub: %w", err)
	}
	// A revoked session (logout, a reused refresh token) loses its live sockets at once.
	m.auth.OnRevoke(m.hub.CloseSession)
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
		Storage:        m.storageStatus,
		Recent:         recent,
		Auth:           m.auth,
		Audit:          m.db,
		TLSFingerprint: m.TLSFingerprint,
		CORSOrigins:    cfg.HTTP.CORSOrigins,
		Host:           hal.Host{},
		WebSocket:      m.hub,
		Registry:       reg,
		Logger:         log,
		Ready:          m.ready,
		UIDir:          m.UIDir,
		MetricsToken:   cfg.HTTP.MetricsToken,
		StartTime:      start,
	})
	if err != nil {
		return fmt.Errorf("start web server: %w", err)
	}

	listen := cfg.HTTP.Listen
	if m.Listen != "" {
		listen = m.Listen
	}
	m.ln, err = new(net.ListenConfig).Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	if cfg.HTTP.TLSListen != "" {
		// HTTPS for the technicians on the hotspot, with the device's own certificate.
		// IP_FREEBIND: the hotspot's address may come up after the daemon (Wi-Fi firmware,
		// networkd) or not at all; the listener waits for it instead of failing the start.
		lc := net.ListenConfig{Control: freebind}
		tln, err := lc.Listen(ctx, "tcp", cfg.HTTP.TLSListen)
		if err != nil {
			return fmt.Errorf("listen on %s (https): %w", cfg.HTTP.TLSListen, err)
		}
		m.tlsLn = tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12})
		log.Info("https listening", "addr", tln.Addr().String(), "certificate_sha256", m.TLSFingerprint)
	}
	if !isLoopback(m.ln.Addr()) {
		log.Warn("plain HTTP beyond loopback: passwords and tokens cross the network unencrypted (serve the hotspot with http.tls_listen instead)",
			"addr", m.ln.Addr().String())
	}

	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	// The ring and the hub each get their own bounded queue: a slow consumer loses rounds
	// (counted in the monitor's stats) and never stalls polling.
	ringSub := m.monitor.Subscribe("ring", 64)
	// The WebSocket hub and the alarm engine share one queue: each round's sensors frame goes
	// out, then its alert changes are committed and their frames follow.
	hubSub := m.monitor.Subscribe("alarms+websocket", 64)
	// The history writer's queue holds a minute of rounds, so a slow commit (an SD card
	// busy for seconds) does not lose readings; what overflows is counted as dropped.
	histSub := m.monitor.Subscribe(historySubscriber, historyQueue(sensors))
	m.wg.Add(5)
	m.historyDone = make(chan struct{})
	go func() {
		defer m.wg.Done()
		defer close(m.historyDone)
		if err := m.history.Run(runCtx, histSub.C); err != nil {
			log.Error("history: last commit failed", "err", err)
		}
	}()
	if dir := cfg.Storage.BackupDir; dir != "" {
		sched := &backupSchedule{db: m.db, dir: dir, keepDaily: *cfg.Storage.BackupKeepDaily,
			keepWeekly: *cfg.Storage.BackupKeepWeekly, now: time.Now, log: log}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			log.Error("scheduled backups off: cannot create backup_dir", "dir", dir, "err", err)
		} else {
			m.wg.Go(func() { sched.run(runCtx, m.DataDir) })
		}
	}
	go func() {
		defer m.wg.Done()
		m.cleanSessions(runCtx)
	}()
	go func() {
		defer m.wg.Done()
		for r := range ringSub.C {
			for _, rd := range r.Readings {
				recent.Push(rd)
			}
		}
	}()
	go func() {
		defer m.wg.Done()
		m.runAlarms(runCtx, hubSub.C, log)
	}()
	go func() {
		defer m.wg.Done()
		if err := m.monitor.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			m.fail(fmt.Errorf("monitor: %w", err))
		}
	}()

	m.server = &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10, // bounds the query string too; no route needs more
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.server.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.fail(fmt.Errorf("http server: %w", err))
		}
	}()
	if m.tlsLn != nil {
		// The same routes; answers to requests over TLS get Secure cookies (web does that
		// per request).
		m.tlsServer = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
			IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		m.wg.Go(func() {
			if err := m.tlsServer.Serve(m.tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.fail(fmt.Errorf("https server: %w", err))
			}
		})
	}
	m.started = start
	m.notify = newNotifier(m.NotifySocket)
	// The listener and the store are up: systemd may start what waits for the daemon.
	status := fmt.Sprintf("STATUS=serving %d sensors on %s", len(sensors), m.ln.Addr())
	if err := m.notify.send("READY=1\n" + status); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	if m.WatchdogInterval > 0 {
		m.wg.Go(func() { m.runWatchdog(runCtx, m.notify, m.WatchdogInterval) })
	}
	log.Info("http listening", "addr", m.ln.Addr().String(), "device_id", cfg.DeviceID,
		"sensors", len(sensors), "config", configName(cfg), "data", m.DataDir, "version", version,
		"start_ms", time.Since(start).Milliseconds())
	return nil
}

// runAlarms publishes every round to the WebSocket clients and then judges it for alarms
// (the engine commits each change and publishes its frame through OnChange), until rounds is
// closed or ctx is done. After rounds were lost (the queue overflowed) it judges the newest
// reading of every sensor, so no condition goes unseen. A failure to store an alert is
// logged; the condition is judged again with the next round.
func (m *Main) runAlarms(ctx context.Context, rounds <-chan *maskservice.Round, log *slog.Logger) {
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-rounds:
			if !ok {
				return
			}
			m.hub.PublishRound(r)
			judged := r
			if last != 0 && r.Seq != last+1 {
				judged = &maskservice.Round{Seq: r.Seq, Time: r.Time, Readings: readSince(r.Current)}
			}
			last = r.Seq
			changed, err := m.alarms.Process(ctx, judged)
			if err != nil && ctx.Err() == nil {
				log.Error("alarm engine: storing an alert failed", "err", err)
			}
			for _, a := range changed {
				log.Info("alert", "id", a.ID, "sensor", a.SensorID, "type", string(a.Type), "state", string(a.State), "message", a.Message)
			}
		}
	}
}

// readSince returns the readings of current that were taken (not the placeholders of
// sensors not read yet).
func readSince(current []maskservice.Reading) []maskservice.Reading {
	out := make([]maskservice.Reading, 0, len(current))
	for _, rd := range current {
		if rd.Fault != maskservice.FaultNotReadYet {
			out = append(out, rd)
		}
	}
	return out
}

// publishAlert sends an alert's change to every WebSocket client.
func (m *Main) publishAlert(a maskservice.Alert) {
	m.hub.Broadcast(web.AlertFrame(a, time.Now()))
}

// historyStopTimeout bounds the wait for the history writer's last commit at shutdown: an
// fsync on a busy SD card, not more.
const historyStopTimeout = 10 * time.Second

// historySubscriber names the history writer's subscription in the monitor's stats.
const historySubscriber = "history"

// historyQueue is the history writer's queue: a minute of rounds at the fastest interval,
// between 64 and 8192 rounds.
func historyQueue(sensors []maskservice.Sensor) int {
	fastest := time.Minute
	for _, s := range sensors {
		fastest = min(fastest, s.Interval)
	}
	return min(max(int(time.Minute/fastest), 64), 8192)
}

// storageStatus reports the history log's health: the writer's state, plus the rounds its
// queue lost.
func (m *Main) storageStatus() maskservice.StorageStatus {
	st := m.history.Stats()
	size, used := m.db.HistoryFileBytes()
	out := maskservice.StorageStatus{State: string(st.State), Pending: st.Pending, Dropped: st.Dropped,
		LastCommit: st.LastCommit, LastError: st.LastError, FileBytes: size, UsedBytes: used,
		MaxBytes: int64(m.Config.Storage.MaxSize)}
	for _, sub := range m.monitor.Stats().Subscribers {
		if sub.Name == historySubscriber {
			out.DroppedRounds = sub.Dropped
		}
	}
	return out
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
// WebSocket clients are closed with 1001, the listener stops and in-flight requests finish,
// then polling stops and the consumers drain. It is safe to call more than once.
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
		if m.server != nil {
			if e := m.server.Shutdown(ctx); e != nil {
				err = fmt.Errorf("stop http server: %w", e)
				_ = m.server.Close()
			}
		} else if m.ln != nil {
			_ = m.ln.Close()
		}
		if m.tlsServer != nil {
			if e := m.tlsServer.Shutdown(ctx); e != nil {
				err = errors.Join(err, fmt.Errorf("stop https server: %w", e))
				_ = m.tlsServer.Close()
			}
		} else if m.tlsLn != nil {
			_ = m.tlsLn.Close()
		}
		if m.cancel != nil {
			m.cancel()
		}
		done := make(chan struct{})
		go func() { m.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, errors.New("shutdown timed out waiting for the poll loop"))
		}
		if m.historyDone != nil {
			// The last commit must reach the file before it closes, whatever the wait above
			// used up of the shutdown time (a long download, say).
			select {
			case <-m.historyDone:
			case <-time.After(historyStopTimeout):
				err = errors.Join(err, errors.New("shutdown timed out waiting for the last history commit"))
			}
		}
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

// startAuth loads (or creates) the token signing key, starts the sign-in service and, with
// --demo, creates the demo users that do not exist yet.
func (m *Main) startAuth(ctx context.Context, reg prometheus.Registerer) error {
	keyPath := m.Config.Auth.KeyFile
	if keyPath == "" {
		keyPath = filepath.Join(m.DataDir, "jwt-key.pem")
	}
	keys, err := auth.LoadOrCreateKey(keyPath)
	if err != nil {
		return err
	}
	tokens := auth.NewTokens(keys, "maskserviced", m.Config.DeviceID, nil)
	m.auth, err = auth.NewService(auth.Options{Users: m.db, Sessions: m.db, Tokens: tokens,
		Logger: m.Logger, BcryptCost: m.BcryptCost, Registerer: reg})
	if err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	if !m.Demo {
		if n, err := m.db.CountUsers(ctx); err == nil && n == 0 {
			m.Logger.Warn("no users yet: create the first with 'maskserviced user add NAME --role SUPERUSER' (daemon stopped)")
		}
		return nil
	}
	for _, d := range demoUsers {
		if _, err := m.db.User(ctx, d.name); err == nil {
			continue
		}
		if _, err := m.auth.CreateUser(ctx, d.name, maskservice.DemoPassword, d.role, true); err != nil {
			return fmt.Errorf("create demo user %s: %w", d.name, err)
		}
	}
	m.Logger.Warn("DEMO USERS ENABLED: operator1, admin1, super1, serwis1 with password " + maskservice.DemoPassword +
		"; never run --demo on a production device")
	return nil
}

// sessionCleanupEvery is how often ended sessions are deleted from the database.
const sessionCleanupEvery = time.Hour

// cleanSessions deletes ended sessions (revoked, or past their 7 days) and trims the audit
// log to storage.retention at start and then every sessionCleanupEvery, until ctx is done. Sessions that ended within the last day are
// kept a little, so a reused refresh token still finds its session and is told it ended.
func (m *Main) cleanSessions(ctx context.Context) {
	t := time.NewTicker(sessionCleanupEvery)
	defer t.Stop()
	for {
		if n, err := m.db.DeleteSessionsBefore(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			m.Logger.Warn("delete ended sessions", "err", err)
		} else if n > 0 {
			m.Logger.Info("deleted ended sessions", "count", n)
		}
		// The audit trail is kept as long as the history (storage.retention).
		if n, err := m.db.TrimAudit(ctx, time.Now().Add(-time.Duration(m.Config.Storage.Retention))); err != nil && ctx.Err() == nil {
			m.Logger.Warn("audit retention", "err", err)
		} else if n > 0 {
			m.Logger.Info("audit retention", "deleted_entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// demoUsers are the accounts --demo creates, one per role.
var demoUsers = []struct {
	name string
	role maskservice.Role
}{
	{"operator1", maskservice.RoleOperator},
	{"admin1", maskservice.RoleAdmin},
	{"super1", maskservice.RoleSuperuser},
	{"serwis1", maskservice.RoleServiceTech},
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
