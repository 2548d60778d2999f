// Command maskbench is the loopback load harness behind make bench. It starts the daemon
// (bin/maskserviced) on 127.0.0.1 port 0 in a temp dir and measures WebSocket fan-out to many
// clients against an in-process encode-once baseline server, GET /api/sensors/current under
// concurrent load, and the idle daemon's RSS and start-to-ready time. It prints a readable
// report, one "BENCH name value unit" line per figure and a table against the budgets of
// DESIGN.md §5.
//
// With -baseline-proc the baseline runs as a second maskbench process (selected by the
// MASKBENCH_BASELINE_INTERVAL environment variable) with the daemon's command line, so it is
// measured exactly like the daemon instead of sharing the harness's Go runtime.
//
// It measures and does not gate: figures over budget still exit 0. It exits 1 when the
// harness itself fails (the daemon does not start, a client cannot connect, frames go
// missing, requests fail) and 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// measurementNames are the values -only accepts, in the order they run.
// budgetRPS is the throughput DESIGN.md §5 asks of GET /api/sensors/current; its p99 budget
// is checked at this rate.
const budgetRPS = 5000.0

var measurementNames = []string{"ws", "baseline", "current", "idle", "modbus", "history", "alerts"}

// config is the parsed command line.
type config struct {
	Daemon           string
	TransducerSim    string
	Only             []string
	Clients          int
	SpreadLog        string
	Frames           int
	Interval         time.Duration
	BaselineInterval time.Duration
	BaselineProc     bool
	ConnectTimeout   time.Duration
	Concurrency      int
	Duration         time.Duration
	Warmup           time.Duration
	IdleWait         time.Duration
	ReadyTimeout     time.Duration
}

// main serves the baseline when started as -baseline-proc's child, else measures.
func main() {
	if os.Getenv(baselineIntervalEnv) != "" {
		os.Exit(serveBaselineProcess(os.Args[1:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so the exit code is a return value.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "maskbench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{cfg: cfg, out: stdout, errw: stderr}
	b.raiseFileLimit()
	b.runAll(ctx)
	b.printSummary()
	if len(b.failures) > 0 {
		return 1
	}
	return 0
}

// parseFlags reads the flags and checks their bounds, so every loop stays bounded.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("maskbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Daemon, "daemon", "bin/maskserviced", "path of the daemon binary to start")
	fs.StringVar(&cfg.TransducerSim, "transducer-sim", "bin/transducer-sim", "path of the transducer-sim binary, for modbus")
	only := fs.String("only", strings.Join(measurementNames, ","), "comma-separated measurements to run: "+strings.Join(measurementNames, ", "))
	fs.IntVar(&cfg.Clients, "clients", 1000, "WebSocket clients for ws and baseline")
	fs.StringVar(&cfg.SpreadLog, "spread-log", "", "append every frame's first arrival time and spread to this file, per run")
	fs.IntVar(&cfg.Frames, "frames", 100, "frames recorded at every client (the WebSocket budget is over 100)")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "the daemon's frame period (bounds the waits)")
	fs.DurationVar(&cfg.BaselineInterval, "baseline-interval", time.Second, "the baseline server's frame period")
	fs.BoolVar(&cfg.BaselineProc, "baseline-proc", false, "run the baseline server as a separate maskbench process, like the daemon, instead of in-process")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", time.Minute, "bound on connecting all clients")
	fs.IntVar(&cfg.Concurrency, "concurrency", 50, "concurrent workers for current")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time for current and modbus")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before current")
	fs.DurationVar(&cfg.IdleWait, "idle-wait", 5*time.Second, "idle time before reading the idle RSS")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 10*time.Second, "bound on the daemon becoming ready")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for name := range strings.SplitSeq(*only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(measurementNames, name) {
			return cfg, fmt.Errorf("-only: unknown measurement %q (valid: %s)", name, strings.Join(measurementNames, ", "))
		}
		if !slices.Contains(cfg.Only, name) {
			cfg.Only = append(cfg.Only, name)
		}
	}
	if len(cfg.Only) == 0 {
		return cfg, errors.New("-only: no measurement selected")
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{cfg.Clients >= 1 && cfg.Clients <= 20000, "-clients must be 1..20000"},
		{cfg.Frames >= 1 && cfg.Frames <= 3600, "-frames must be 1..3600"},
		{cfg.Interval > 0 && cfg.Interval <= time.Minute, "-interval must be in (0, 1m]"},
		{cfg.BaselineInterval >= time.Millisecond && cfg.BaselineInterval <= time.Minute, "-baseline-interval must be in [1ms, 1m]"},
		{cfg.ConnectTimeout > 0 && cfg.ConnectTimeout <= 10*time.Minute, "-connect-timeout must be in (0, 10m]"},
		{cfg.Concurrency >= 1 && cfg.Concurrency <= 10000, "-concurrency must be 1..10000"},
		{cfg.Duration > 0 && cfg.Duration <= time.Hour, "-duration must be in (0, 1h]"},
		{cfg.Warmup >= 0 && cfg.Warmup <= time.Hour, "-warmup must be in [0, 1h]"},
		{cfg.IdleWait >= 0 && cfg.IdleWait <= time.Hour, "-idle-wait must be in [0, 1h]"},
		{cfg.ReadyTimeout > 0 && cfg.ReadyTimeout <= 10*time.Minute, "-ready-timeout must be in (0, 10m]"},
	}
	for _, c := range checks {
		if !c.ok {
			return cfg, errors.New(c.msg)
		}
	}
	return cfg, nil
}

// figure is one machine-readable result.
type figure struct {
	name  string
	value float64
	unit  string
	prec  int // decimals printed
}

// bench runs the selected measurements and collects what the report prints.
type bench struct {
	cfg  config
	out  io.Writer // the report
	errw io.Writer // progress

	ws, base   *wsResult
	wsRSS      int64 // bytes, 0 when not read
	current    *loadResult
	paced      *loadResult // current at the budget's rate
	idleRSS    int64
	ready      time.Duration
	readyMonth time.Duration // start to ready on a month of history
	// alertLatency is from the poll that crosses a threshold to the alert frame.
	alertLatency *summary
	frameBytes   int // the daemon's frame size, for the baseline's frames

	figures  []figure
	failures []string
}

// progressf writes a progress line to stderr.
func (b *bench) progressf(format string, args ...any) {
	fmt.Fprintf(b.errw, "maskbench: "+format+"\n", args...)
}

// failf records a harness failure: it is printed at the end and makes the exit code 1.
func (b *bench) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.failures = append(b.failures, msg)
	b.progressf("FAIL: %s", msg)
}

// fig records a figure for the BENCH lines.
func (b *bench) fig(name string, value float64, unit string, prec int) {
	b.figures = append(b.figures, figure{name: name, value: value, unit: unit, prec: prec})
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: N clients need N fds here
// (2N with the in-process baseline) and N in the daemon, which inherits the limit. Calling
// syscall.Setrlimit also stops os/exec from restoring the original limit in the child.
func (b *bench) raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.progressf("warning: read open files limit: %v", err)
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.progressf("warning: raise open files limit to %d: %v", rl.Max, err)
	}
	if need := uint64(2*b.cfg.Clients + 256); rl.Cur < need {
		b.progressf("warning: open files limit %d is below the %d that %d clients need", rl.Cur, need, b.cfg.Clients)
	}
	fmt.Fprintf(b.out, "maskbench: %s %s/%s GOMAXPROCS=%d, open files limit %d\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), rl.Cur)
}

// runAll runs the selected measurements in order; a failed one does not stop the others,
// an interrupt does.
func (b *bench) runAll(ctx context.Context) {
	steps := map[string]func(context.Context) error{
		"ws":       b.measureWS,
		"baseline": b.measureBaseline,
		"current":  b.measureCurrent,
		"idle":     b.measureIdle,
		"modbus":   b.measureModbus,
		"history":  b.measureHistory,
		"alerts":   b.measureAlerts,
	}
	for _, name := range measurementNames {
		if !slices.Contains(b.cfg.Only, name) {
			continue
		}
		// Start each measurement from a collected heap, so the garbage of the one before
		// (a thousand closed clients) does not put a GC cycle into its window.
		runtime.GC()
		err := steps[name](ctx)
		if ctx.Err() != nil {
			b.failf("%s: interrupted", name)
			return
		}
		if err != nil {
			b.failf("%s: %v", name, err)
		}
	}
}

// startDaemon starts the daemon for one measurement.
// With demo it runs with --demo so that the load can sign in; the idle measurement runs
// without, since creating the demo users (bcrypt) is no part of a production start.
func (b *bench) startDaemon(ctx context.Context, what string, demo bool, args ...string) (*daemon, error) {
	b.progressf("%s: starting %s", what, b.cfg.Daemon)
	d, err := startDaemon(ctx, daemonConfig{Bin: b.cfg.Daemon, ReadyTimeout: b.cfg.ReadyTimeout, StopTimeout: 5 * time.Second, Demo: demo, Args: args})
	if err != nil {
		return nil, err
	}
	b.progressf("%s: daemon pid %d ready on %s in %v", what, d.pid(), d.addr, d.ready.Round(time.Millisecond))
	return d, nil
}

// stopDaemon stops d and reports a slow or unclean stop as a warning: it is the daemon's
// contract, not the harness's.
func (b *bench) stopDaemon(d *daemon, what string) {
	d.stop()
	if d.stopErr != nil {
		b.progressf("%s: warning: %v", what, d.stopErr)
		return
	}
	b.progressf("%s: daemon stopped in %v after SIGTERM", what, d.stopDur.Round(time.Millisecond))
}

// measureWS is fan-out from the daemon.
func (b *bench) measureWS(ctx context.Context) error {
	// The harness's clients are one user's one session on this host: raise the limits a
	// phone would meet (http.max_ws_per_session and per_user) to the number of clients.
	dir, err := os.MkdirTemp("", "maskbench-ws-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgFile := filepath.Join(dir, "ws.toml")
	limits := fmt.Sprintf("[http]\nmax_ws_clients = %d\nmax_ws_per_session = %d\nmax_ws_per_user = %d\n",
		min(b.cfg.Clients+100, 10000), min(b.cfg.Clients, 10000), min(b.cfg.Clients, 10000)) +
		"[[bus]]\nname = \"sim\"\ndriver = \"sim\"\n" // the built-in configuration's sensors
	for _, id := range []string{"P1", "P2", "P3"} {
		limits += "[[sensor]]\nid = \"" + id + "\"\nbus = \"sim\"\n"
	}
	if err := os.WriteFile(cfgFile, []byte(limits), 0o600); err != nil {
		return err
	}
	d, err := b.startDaemon(ctx, "ws", true, "--config", cfgFile)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "ws")
	token, err := d.signIn(ctx)
	if err != nil {
		return err
	}
	var rssErr error
	res, err := runWS(ctx, wsConfig{
		URL:            "ws://" + d.addr + "/api/ws/sensors?token=" + token,
		Clients:        b.cfg.Clients,
		Frames:         b.cfg.Frames,
		Interval:       b.cfg.Interval,
		ConnectTimeout: b.cfg.ConnectTimeout,
		DialParallel:   64,
		BeforeClose:    func() { b.wsRSS, rssErr = d.rss() },
		Progress:       func(f string, a ...any) { b.progressf("ws: "+f, a...) },
	})
	if err != nil {
		return err
	}
	b.ws = &res
	b.frameBytes = res.FrameBytes
	b.reportWS("ws", "daemon", res)
	if rssErr != nil {
		return rssErr
	}
	fmt.Fprintf(b.out, "  daemon RSS with %d clients: %s\n", res.Clients, mb(b.wsRSS))
	b.fig("ws_rss", float64(b.wsRSS)/1e6, "MB", 1)
	return nil
}

// measureBaseline is fan-out from the encode-once baseline server, in-process or, with
// -baseline-proc, as a child process started like the daemon.
func (b *bench) measureBaseline(ctx context.Context) error {
	url, what := "", "encode-once baseline server (in-process)"
	if b.cfg.BaselineProc {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find maskbench binary: %w", err)
		}
		b.progressf("baseline: starting %s as the baseline server", exe)
		d, err := startDaemon(ctx, daemonConfig{
			Bin:          exe,
			ReadyTimeout: b.cfg.ReadyTimeout,
			StopTimeout:  5 * time.Second,
			Env:          baselineEnv(b.cfg.BaselineInterval, b.frameBytes),
		})
		if err != nil {
			return err
		}
		defer b.stopDaemon(d, "baseline")
		url, what = "ws://"+d.addr+"/api/ws/sensors", "encode-once baseline server (separate process)"
	} else {
		srv, err := startBaseline(b.cfg.BaselineInterval, b.frameBytes)
		if err != nil {
			return err
		}
		defer func() {
			srv.close()
			if n := srv.dropped.Load(); n > 0 {
				b.progressf("baseline: closed %d slow clients (4008)", n)
			}
		}()
		url = srv.url()
	}
	b.progressf("baseline: serving on %s", url)
	res, err := runWS(ctx, wsConfig{
		URL:            url,
		Clients:        b.cfg.Clients,
		Frames:         b.cfg.Frames,
		Interval:       b.cfg.BaselineInterval,
		ConnectTimeout: b.cfg.ConnectTimeout,
		DialParallel:   64,
		Progress:       func(f string, a ...any) { b.progressf("baseline: "+f, a...) },
	})
	if err != nil {
		return err
	}
	b.base = &res
	b.reportWS("baseline", what, res)
	if b.ws != nil {
		r50, r99 := ratio(b.ws.Spread.P50, res.Spread.P50), ratio(b.ws.Spread.P99, res.Spread.P99)
		fmt.Fprintf(b.out, "  daemon/baseline spread: p50 %.2fx  p99 %.2fx\n", r50, r99)
		b.fig("ws_spread_ratio_p50", r50, "x", 2)
		b.fig("ws_spread_ratio_p99", r99, "x", 2)
	}
	return nil
}

// logSpreads appends one line per frame of r to -spread-log: the run's name, when the frame
// first arrived (Unix seconds) and its first-to-last spread in ms, so that the slow frames
// can be set against the daemon's own log (a GC trace, a checkpoint) by time.
func (b *bench) logSpreads(name string, r wsResult) {
	f, err := os.OpenFile(b.cfg.SpreadLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		b.progressf("%s: spread log: %v", name, err)
		return
	}
	defer f.Close()
	for i, d := range r.Stats.Spreads {
		fmt.Fprintf(f, "%s %.6f %.3f\n", name, float64(r.Stats.Earliest[i].UnixNano())/1e9, float64(d)/1e6)
	}
}

// reportWS prints one fan-out result and records its figures and failures.
func (b *bench) reportWS(name, what string, r wsResult) {
	fmt.Fprintf(b.out, "\n== %s: %s, %d clients, %d frames (seq %d..%d) ==\n", name, what, r.Clients, r.Frames, r.First, r.Last)
	fmt.Fprintf(b.out, "  all connected in %v; frame %d bytes\n", r.Connect.Round(time.Millisecond), r.FrameBytes)
	fmt.Fprintf(b.out, "  frames missing: %d (seqs no client got: %d, clients dropped: %d)\n", r.Stats.Missing, r.Stats.Gaps, r.Dropped)
	if r.DropErr != "" {
		fmt.Fprintf(b.out, "  first drop: %s\n", r.DropErr)
	}
	fmt.Fprintf(b.out, "  first-to-last spread per frame: p50 %s  p99 %s  max %s\n", ms(r.Spread.P50), ms(r.Spread.P99), ms(r.Spread.Max))
	if b.cfg.SpreadLog != "" {
		b.logSpreads(name, r)
	}
	fmt.Fprintf(b.out, "  ts-to-receive latency (%d samples): p50 %s  p99 %s  max %s\n", r.Latency.N, ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max))
	b.fig(name+"_missing_frames", float64(r.Stats.Missing), "count", 0)
	b.fig(name+"_seq_gaps", float64(r.Stats.Gaps), "count", 0)
	b.fig(name+"_connect", r.Connect.Seconds(), "s", 3)
	b.fig(name+"_spread_p50", msf(r.Spread.P50), "ms", 3)
	b.fig(name+"_spread_p99", msf(r.Spread.P99), "ms", 3)
	b.fig(name+"_spread_max", msf(r.Spread.Max), "ms", 3)
	b.fig(name+"_latency_p50", msf(r.Latency.P50), "ms", 3)
	b.fig(name+"_latency_p99", msf(r.Latency.P99), "ms", 3)
	if r.Stats.Missing > 0 || r.Stats.Gaps > 0 {
		b.failf("%s: %d frames missing at clients, %d seqs received by no client (of %d frames x %d clients)", name, r.Stats.Missing, r.Stats.Gaps, r.Frames, r.Clients)
	}
}

// measureCurrent is the GET /api/sensors/current load.
func (b *bench) measureCurrent(ctx context.Context) error {
	d, err := b.startDaemon(ctx, "current", true)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "current")
	// Every request carries the token and is checked (signature and session), as in use.
	token, err := d.signIn(ctx)
	if err != nil {
		return err
	}
	url := "http://" + d.addr + "/api/sensors/current"
	// Twice: closed-loop for the most the daemon can serve, then at the budget's rate for the
	// latency a client sees at that load (closed-loop latency at 8x the budgeted rate is mostly
	// the queue of 50 workers on 2 shared cores).
	for _, run := range []struct {
		name string
		rate float64
		dst  **loadResult
	}{{"current", 0, &b.current}, {"current_paced", budgetRPS, &b.paced}} {
		mode := "closed loop"
		if run.rate > 0 {
			mode = fmt.Sprintf("paced at %.0f req/s", run.rate)
		}
		b.progressf("%s: %d workers, %s, %v warm-up, %v measured", run.name, b.cfg.Concurrency, mode, b.cfg.Warmup, b.cfg.Duration)
		res, err := runLoad(ctx, loadConfig{
			URL:         url,
			Token:       token,
			Concurrency: b.cfg.Concurrency,
			Rate:        run.rate,
			Warmup:      b.cfg.Warmup,
			Duration:    b.cfg.Duration,
			MaxRequests: 10_000_000,
			Timeout:     5 * time.Second,
		})
		if err != nil {
			return err
		}
		*run.dst = &res
		fmt.Fprintf(b.out, "\n== %s: GET /api/sensors/current, %d concurrent, %s, %v ==\n", run.name, b.cfg.Concurrency, mode, res.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(b.out, "  %d requests, %.0f req/s, %d errors\n", res.Requests, res.rps(), res.Errors)
		fmt.Fprintf(b.out, "  latency: p50 %s  p99 %s  max %s\n", ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.Max))
		b.fig(run.name+"_rps", res.rps(), "req/s", 0)
		b.fig(run.name+"_requests", float64(res.Requests), "count", 0)
		b.fig(run.name+"_p50", msf(res.Latency.P50), "ms", 3)
		b.fig(run.name+"_p99", msf(res.Latency.P99), "ms", 3)
		b.fig(run.name+"_max", msf(res.Latency.Max), "ms", 3)
		b.fig(run.name+"_errors", float64(res.Errors), "count", 0)
		if res.Errors > 0 {
			b.failf("%s: %d requests failed, first: %s", run.name, res.Errors, res.FirstErr)
		}
	}
	return nil
}

// measureIdle is a fresh daemon's start-to-ready time and RSS after it idled.
func (b *bench) measureIdle(ctx context.Context) error {
	d, err := b.startDaemon(ctx, "idle", false)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "idle")
	b.ready = d.ready
	b.progressf("idle: waiting %v", b.cfg.IdleWait)
	t := time.NewTimer(b.cfg.IdleWait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	rss, err := d.rss()
	if err != nil {
		return err
	}
	b.idleRSS = rss
	fmt.Fprintf(b.out, "\n== idle: fresh daemon, empty data dir ==\n")
	fmt.Fprintf(b.out, "  start to ready (exec to /readyz 200): %s\n", ms(d.ready))
	fmt.Fprintf(b.out, "  RSS after %v idle: %s\n", b.cfg.IdleWait, mb(rss))
	b.fig("start_to_ready", msf(d.ready), "ms", 1)
	b.fig("idle_rss", float64(rss)/1e6, "MB", 1)
	return nil
}

// budgetRow is one line of the budget table.
type budgetRow struct {
	what, measured, budget string // an empty budget: a figure shown for context only
	pass                   bool
}

// budgetRows compares what ran with DESIGN.md §5.
func (b *bench) budgetRows() []budgetRow {
	var rows []budgetRow
	if b.ws != nil {
		p99 := b.ws.Spread.P99
		// The budget is relative: the same harness against a minimal encode-once server in
		// the same run. Without that run there is nothing to compare with.
		row := budgetRow{
			what:     fmt.Sprintf("WS fan-out spread p99, %d clients", b.ws.Clients),
			measured: ms(p99) + " (no baseline run: add -only ...,baseline)",
			budget:   "<= 1.2x baseline",
		}
		if b.base != nil && b.base.Spread.P99 > 0 {
			r := ratio(p99, b.base.Spread.P99)
			row.measured = fmt.Sprintf("%s (%.2fx baseline %s)", ms(p99), r, ms(b.base.Spread.P99))
			row.pass = r <= 1.2
		}
		rows = append(rows, row, budgetRow{
			what:     "WS frames delivered to every client",
			measured: fmt.Sprintf("%d missing", b.ws.Stats.Missing+b.ws.Stats.Gaps),
			budget:   "0 missing",
			pass:     b.ws.Stats.Missing+b.ws.Stats.Gaps == 0,
		})
		if b.wsRSS > 0 {
			rows = append(rows, budgetRow{
				what:     fmt.Sprintf("RSS with %d WS clients", b.ws.Clients),
				measured: mb(b.wsRSS),
				budget:   "<= 80 MB (1000 clients)",
				pass:     b.wsRSS <= 80e6,
			})
		}
	}
	if c := b.current; c != nil {
		rows = append(rows,
			budgetRow{"GET /api/sensors/current throughput", fmt.Sprintf("%.0f req/s", c.rps()), ">= 15000 req/s", c.rps() >= 15000},
			budgetRow{"GET /api/sensors/current p99, closed loop", ms(c.Latency.P99), "", true},
		)
	}
	if p := b.paced; p != nil {
		rows = append(rows,
			budgetRow{fmt.Sprintf("GET /api/sensors/current p99 at %.0f req/s", budgetRPS), ms(p.Latency.P99), "<= 5 ms", p.Latency.P99 <= 5*time.Millisecond})
	}
	if b.idleRSS > 0 {
		rows = append(rows,
			budgetRow{"idle RSS", mb(b.idleRSS), "<= 20 MB", b.idleRSS <= 20e6},
			budgetRow{"start to ready (empty data dir)", ms(b.ready), "", true},
		)
	}
	if b.alertLatency != nil {
		rows = append(rows, budgetRow{"alert latency p99, poll to WebSocket alert frame", ms(b.alertLatency.P99), "< 50 ms", b.alertLatency.P99 < 50*time.Millisecond})
	}
	if b.readyMonth > 0 {
		rows = append(rows, budgetRow{"start to ready (30 days of history)", ms(b.readyMonth), "<= 200 ms", b.readyMonth <= 200*time.Millisecond})
	}
	return rows
}

// printSummary prints the BENCH lines, the budget table and the failures.
func (b *bench) printSummary() {
	fmt.Fprintf(b.out, "\n== figures ==\n")
	for _, f := range b.figures {
		fmt.Fprintf(b.out, "BENCH %s %.*f %s\n", f.name, f.prec, f.value, f.unit)
	}
	fmt.Fprintf(b.out, "\n== budgets (DESIGN.md §5) ==\n")
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tmeasured\tbudget\tverdict")
	for _, r := range b.budgetRows() {
		verdict := "OVER"
		switch {
		case r.budget == "":
			verdict, r.budget = "-", "(no budget)"
		case r.pass:
			verdict = "PASS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.measured, r.budget, verdict)
	}
	_ = tw.Flush()
	for _, f := range b.failures {
		fmt.Fprintf(b.out, "FAIL %s\n", f)
	}
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", msf(d)) }

// msf is d in milliseconds as a float.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mb formats a byte count in MB (10^6 bytes, the stricter reading of the budgets).
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// ratio is a/b, or 0 when b is 0 (no meaningful ratio).
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
