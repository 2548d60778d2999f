package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// modbusBenchConfig is three int16 transducers in contiguous registers of one slave, polled
// every 10 ms (the shortest interval the config allows) over a 115200 baud line: each poll is
// one request of 3 registers.
const modbusBenchConfig = `
[[bus]]
name = "rs485"
driver = "modbus-rtu"
device = "%s"
baud = 115200
parity = "N"
stop_bits = 1
timeout = "200ms"
retries = 0
[[sensor]]
id = "P1"
bus = "rs485"
slave = 1
address = 0
scale = 0.001
interval = "10ms"
[[sensor]]
id = "P2"
bus = "rs485"
slave = 1
address = 1
scale = 0.001
interval = "10ms"
[[sensor]]
id = "P3"
bus = "rs485"
slave = 1
address = 2
scale = 0.1
interval = "10ms"
`

// measureModbus runs the daemon against transducer-sim on a pty and measures the polls per
// second it sustains and the daemon's CPU time per poll.
func (b *bench) measureModbus(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "maskbench-modbus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, "ttyRS485")
	cfgFile := filepath.Join(dir, "rs485.toml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, modbusBenchConfig, link), 0o600); err != nil {
		return err
	}
	if _, err := os.Stat(b.cfg.TransducerSim); err != nil {
		return fmt.Errorf("transducer-sim binary %s: %w (run make build first)", b.cfg.TransducerSim, err)
	}
	sim := exec.CommandContext(ctx, b.cfg.TransducerSim, "--config", cfgFile, "--link", link, "--seed", "1")
	sim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	simLog := newLogTail(10)
	sim.Stderr = simLog
	if err := sim.Start(); err != nil {
		return fmt.Errorf("start transducer-sim: %w", err)
	}
	defer func() { _ = sim.Process.Kill(); _ = sim.Wait() }()
	if err := waitForLink(ctx, link, 5*time.Second); err != nil {
		return fmt.Errorf("%w; transducer-sim said:\n%s", err, simLog.String())
	}

	d, err := b.startDaemon(ctx, "modbus", false, "--config", cfgFile)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "modbus")
	if err := sleepCtx(ctx, b.cfg.Warmup+time.Second); err != nil {
		return err
	}
	m0, err := scrapeBus(ctx, d.addr)
	if err != nil {
		return err
	}
	cpu0, err := processCPU(d.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	b.progressf("modbus: polling for %v", b.cfg.Duration)
	if err := sleepCtx(ctx, b.cfg.Duration); err != nil {
		return err
	}
	m1, err := scrapeBus(ctx, d.addr)
	if err != nil {
		return err
	}
	cpu1, err := processCPU(d.pid())
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	polls := m1.successes - m0.successes
	if failed := (m1.requests - m0.requests) - polls; failed > 0 || polls <= 0 {
		return fmt.Errorf("%v polls succeeded, %v failed; the line should be clean", polls, failed)
	}
	rate := polls / elapsed.Seconds()
	cpuPerPoll := (cpu1 - cpu0) / time.Duration(polls)
	meanRTT := time.Duration((m1.rttSum - m0.rttSum) / polls * float64(time.Second))
	fmt.Fprintf(b.out, "\n== modbus: daemon polling transducer-sim over a pty, 3 registers in one request, 115200 baud, 10 ms interval ==\n")
	fmt.Fprintf(b.out, "  polls: %.0f in %v (%.1f/s; the interval allows 100/s)\n", polls, elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(b.out, "  mean transaction round-trip: %s\n", ms(meanRTT))
	fmt.Fprintf(b.out, "  daemon CPU per poll (user+system, whole process): %.0f µs\n", float64(cpuPerPoll)/1e3)
	b.fig("modbus_polls_per_s", rate, "polls/s", 1)
	b.fig("modbus_rtt_mean", msf(meanRTT), "ms", 2)
	b.fig("modbus_daemon_cpu_per_poll", float64(cpuPerPoll)/1e3, "µs", 0)
	return nil
}

// busCounters are the sums over every slave of a few bus metrics.
type busCounters struct{ requests, successes, rttSum float64 }

// scrapeBus reads the bus counters from the daemon's /metrics (open to loopback).
func scrapeBus(ctx context.Context, addr string) (busCounters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return busCounters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return busCounters{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return busCounters{}, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	return parseBusCounters(resp.Body)
}

// parseBusCounters sums bus_requests_total, bus_successes_total and bus_rtt_seconds_sum over
// their label sets in a Prometheus text exposition.
func parseBusCounters(r io.Reader) (busCounters, error) {
	var c busCounters
	targets := map[string]*float64{"bus_requests_total": &c.requests, "bus_successes_total": &c.successes, "bus_rtt_seconds_sum": &c.rttSum}
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		name, _, ok := strings.Cut(line, "{")
		if !ok || targets[name] == nil {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return c, fmt.Errorf("metrics line %q: %w", line, err)
		}
		*targets[name] += v
		found++
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if found == 0 {
		return c, errors.New("no bus metrics: is the daemon polling a modbus bus?")
	}
	return c, nil
}

// processCPU is the user plus system CPU time of process pid so far.
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after its ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat CPU times: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// waitForLink waits until path is a symbolic link (transducer-sim made its pty).
func waitForLink(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Readlink(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transducer-sim made no pty link at %s within %v", path, timeout)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleepCtx sleeps d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
