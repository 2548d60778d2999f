package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemonConfig says how to start the daemon under test.
type daemonConfig struct {
	Bin          string        // path of the maskserviced binary
	ReadyTimeout time.Duration // bound on exec to /readyz 200
	StopTimeout  time.Duration // grace after SIGTERM before SIGKILL
	Env          []string      // added to this process's environment
	Demo         bool          // start with --demo, so the harness can sign in as operator1
	Args         []string      // more serve flags, such as --config FILE
}

// daemon is one running maskserviced child in its own process group with a temporary data
// directory. stop must be called (it is idempotent) so neither the process nor the directory
// outlives the measurement.
type daemon struct {
	cmd     *exec.Cmd
	dir     string
	addr    string        // host:port from the "http listening" log line
	ready   time.Duration // exec to the first /readyz 200
	done    chan struct{} // closed when Wait returns
	waitErr error         // valid after done
	log     *logTail
	cfg     daemonConfig

	stopOnce sync.Once
	stopDur  time.Duration
	stopErr  error
}

// startDaemon execs cfg.Bin serve on a loopback port 0 in a fresh temp dir and returns once
// /readyz answers 200. On any error the child is killed and the directory removed.
func startDaemon(ctx context.Context, cfg daemonConfig) (*daemon, error) {
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("daemon binary %s: %w (run make build first)", cfg.Bin, err)
	}
	dir, err := os.MkdirTemp("", "maskbench-data-")
	if err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	d := &daemon{dir: dir, done: make(chan struct{}), cfg: cfg}
	d.log = newLogTail(30)
	args := []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}
	if cfg.Demo {
		args = append(args, "--demo")
	}
	args = append(args, cfg.Args...)
	cmd := exec.CommandContext(ctx, cfg.Bin, args...)
	// Own process group so the whole tree can be killed at once; Pdeathsig so even a
	// SIGKILLed maskbench leaves no daemon behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Stderr = d.log
	cmd.Stdout = io.Discard
	if len(cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), cfg.Env...)
	}
	d.cmd = cmd

	start := time.Now()
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", cfg.Bin, err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	if err := d.awaitReady(ctx, start); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// awaitReady waits for the listening address in the log, checks that it is loopback, then
// polls /readyz until it answers 200.
func (d *daemon) awaitReady(ctx context.Context, start time.Time) error {
	deadline := time.NewTimer(d.cfg.ReadyTimeout)
	defer deadline.Stop()
	select {
	case d.addr = <-d.log.addr:
	case <-d.done:
		return fmt.Errorf("daemon exited before listening (%v); stderr:\n%s", d.waitErr, d.log.String())
	case <-deadline.C:
		return fmt.Errorf("daemon logged no \"http listening\" addr within %v; stderr:\n%s", d.cfg.ReadyTimeout, d.log.String())
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := checkLoopback(d.addr); err != nil {
		return err
	}

	// No proxy from the environment: loopback only, and a proxy would be measured too.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	url := "http://" + d.addr + "/readyz"
	for {
		if ok := probeOK(ctx, client, url); ok {
			d.ready = time.Since(start)
			return nil
		}
		select {
		case <-tick.C:
		case <-d.done:
			return fmt.Errorf("daemon exited before ready (%v); stderr:\n%s", d.waitErr, d.log.String())
		case <-deadline.C:
			return fmt.Errorf("GET %s: not 200 within %v", url, d.cfg.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// probeOK reports whether GET url answered 200.
func probeOK(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// checkLoopback refuses any address that is not a loopback IP: the harness must never load
// a machine other than this one.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("daemon addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("daemon addr %q is not a loopback address", addr)
	}
	return nil
}

// pid is the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// rss reads the daemon's resident set size in bytes.
func (d *daemon) rss() (int64, error) { return readRSS(d.pid()) }

// stop sends SIGTERM, waits up to StopTimeout, then SIGKILLs the process group, and removes
// the data dir. It records how long the graceful stop took and whether it failed.
func (d *daemon) stop() {
	d.stopOnce.Do(func() {
		start := time.Now()
		select {
		case <-d.done:
			d.stopErr = fmt.Errorf("daemon had exited before the stop (%v); stderr:\n%s", d.waitErr, d.log.String())
		default:
			// SIGTERM to the daemon alone: its graceful shutdown is what is being
			// exercised; the group is killed only after it exits or overstays.
			_ = syscall.Kill(d.pid(), syscall.SIGTERM)
			t := time.NewTimer(d.cfg.StopTimeout)
			select {
			case <-d.done:
				d.stopDur = time.Since(start)
			case <-t.C:
				d.stopErr = fmt.Errorf("daemon still running %v after SIGTERM, killed", d.cfg.StopTimeout)
				_ = killGroup(d.pid())
				<-d.done
			}
			t.Stop()
			if d.stopErr == nil && d.waitErr != nil {
				d.stopErr = fmt.Errorf("daemon exit after SIGTERM: %w", d.waitErr)
			}
		}
		// Anything the daemon left in its group goes too.
		_ = killGroup(d.pid())
		if err := os.RemoveAll(d.dir); err != nil && d.stopErr == nil {
			d.stopErr = fmt.Errorf("remove data dir: %w", err)
		}
	})
}

// killGroup SIGKILLs the process group led by pid; a group already gone is not an error.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// readRSS returns VmRSS of pid from /proc/PID/status, in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

// parseVmRSS finds the "VmRSS:  1234 kB" line of a /proc/PID/status text.
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS line %q: %w", sc.Text(), err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line in status")
}

// logTail is the daemon's stderr: it keeps the last lines for error messages and publishes
// the listening address from the first JSON line with msg "http listening".
type logTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	max     int
	found   bool
	addr    chan string
}

// newLogTail keeps the last maxLines lines.
func newLogTail(maxLines int) *logTail {
	return &logTail{max: maxLines, addr: make(chan string, 1)}
}

// Write splits p into lines; it never fails so the daemon never blocks on its stderr.
func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.line(t.partial[:i])
		t.partial = t.partial[i+1:]
	}
	// A line longer than 64 KiB is not a log line worth keeping whole.
	if len(t.partial) > 1<<16 {
		t.line(t.partial)
		t.partial = nil
	}
	if len(t.partial) == 0 {
		t.partial = nil
	}
	return len(p), nil
}

// line handles one complete stderr line; t.mu is held.
func (t *logTail) line(b []byte) {
	t.lines = append(t.lines, string(b))
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	if t.found {
		return
	}
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(b, &rec) == nil && rec.Msg == "http listening" && rec.Addr != "" {
		t.found = true
		t.addr <- rec.Addr
	}
}

// String is the last lines of stderr.
func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// signIn signs in to the daemon as the demo operator (it must run with --demo) and returns
// the access token, as the LCD does.
func (d *daemon) signIn(ctx context.Context) (string, error) {
	body := strings.NewReader(`{"username":"operator1","password":"password123","role":"OPERATOR"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.addr+"/api/auth/login", body)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("sign in as operator1: %d %.200s", resp.StatusCode, raw)
	}
	return out.AccessToken, nil
}
