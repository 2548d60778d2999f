package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// fakeDaemonEnv set to "fail" makes the test binary a daemon that exits at once.
const fakeDaemonEnv = "MASKBENCH_FAKE_DAEMON"

// TestMain lets the test binary stand in for the daemon, as main does for -baseline-proc.
func TestMain(m *testing.M) {
	if os.Getenv(fakeDaemonEnv) == "fail" {
		fmt.Fprintln(os.Stderr, `{"level":"ERROR","msg":"open data dir: boom"}`)
		os.Exit(3)
	}
	if os.Getenv(baselineIntervalEnv) != "" {
		os.Exit(serveBaselineProcess(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// runMain runs maskbench against the test binary as daemon and returns its exit code and
// stdout.
func runMain(t *testing.T, mode string, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	// The test binary serves the baseline at 50 ms as the daemon: see TestMain.
	t.Setenv(baselineIntervalEnv, "50ms")
	t.Setenv(fakeDaemonEnv, mode)
	var out, errw bytes.Buffer
	code := run(append([]string{"-daemon", exe}, args...), &out, &errw)
	t.Logf("stderr:\n%s", errw.String())
	return code, out.String()
}

func TestRun_FakeDaemon(t *testing.T) {
	// modbus, history and alerts need the real daemon (and transducer-sim); make bench runs them.
	code, out := runMain(t, "run", "-only", "ws,baseline,current,idle",
		"-clients", "10", "-frames", "3", "-interval", "50ms", "-baseline-interval", "50ms",
		"-concurrency", "4", "-warmup", "50ms", "-duration", "300ms", "-idle-wait", "50ms")
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s", code, out)
	}
	for _, want := range []string{
		"BENCH ws_missing_frames 0 count",
		"BENCH baseline_missing_frames 0 count",
		"BENCH ws_spread_p99 ",
		"BENCH ws_spread_ratio_p99 ",
		"BENCH ws_rss ",
		"BENCH current_rps ",
		"BENCH current_errors 0 count",
		"BENCH idle_rss ",
		"BENCH start_to_ready ",
		"WS fan-out spread p99, 10 clients",
		"idle RSS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q; stdout:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("stdout reports a failure:\n%s", out)
	}
}

func TestRun_BaselineProcess(t *testing.T) {
	code, out := runMain(t, "run", "-only", "baseline", "-baseline-proc",
		"-clients", "10", "-frames", "3", "-baseline-interval", "50ms")
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s", code, out)
	}
	for _, want := range []string{"(separate process)", "BENCH baseline_missing_frames 0 count", "BENCH baseline_spread_p99 "} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q; stdout:\n%s", want, out)
		}
	}
}

func TestRun_HarnessFailures(t *testing.T) {
	tests := []struct {
		name string
		mode string
		args []string
		want string
	}{
		{"daemon exits at start", "fail", []string{"-only", "idle"}, "daemon exited before listening"},
		{"daemon binary missing", "run", []string{"-only", "current", "-daemon", "/nonexistent/maskserviced"}, "run make build first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runMain(t, tt.mode, tt.args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(out, "FAIL") || !strings.Contains(out, tt.want) {
				t.Errorf("stdout lacks a FAIL line with %q:\n%s", tt.want, out)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		only    []string
		wantErr string
	}{
		{"defaults", nil, []string{"ws", "baseline", "current", "idle", "modbus", "history", "alerts"}, ""},
		{"only, deduplicated", []string{"-only", "idle, ws,idle"}, []string{"idle", "ws"}, ""},
		{"unknown measurement", []string{"-only", "ws,bogus"}, nil, `unknown measurement "bogus"`},
		{"empty only", []string{"-only", ","}, nil, "no measurement"},
		{"too many clients", []string{"-clients", "1000000"}, nil, "-clients"},
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			if !slices.Equal(cfg.Only, tt.only) {
				t.Errorf("only = %v, want %v", cfg.Only, tt.only)
			}
		})
	}
}
