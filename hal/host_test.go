package hal_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

func TestHost_Info(t *testing.T) {
	got, err := hal.Host{Proc: filepath.Join("testdata", "proc-good")}.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	want := maskservice.HostInfo{
		Uptime:       35042*time.Second + 170*time.Millisecond,
		MemTotal:     1012564 * 1024,
		MemAvailable: 731220 * 1024,
		ProcessRSS:   18432 * 1024,
	}
	if got != want {
		t.Errorf("Info = %+v, want %+v", got, want)
	}
}

func TestHost_InfoErrors(t *testing.T) {
	tests := []struct {
		name     string
		proc     string
		wantIn   []string // substrings of the error message
		notExist bool     // the error wraps fs.ErrNotExist
	}{
		{
			name:   "malformed meminfo",
			proc:   filepath.Join("testdata", "proc-bad-meminfo"),
			wantIn: []string{"parse ", filepath.Join("proc-bad-meminfo", "meminfo"), "MemAvailable", `"lots"`},
		},
		{
			name:     "missing status",
			proc:     filepath.Join("testdata", "proc-missing-status"),
			wantIn:   []string{"read ", filepath.Join("proc-missing-status", "self", "status")},
			notExist: true,
		},
		{
			name:     "missing tree",
			proc:     filepath.Join("testdata", "no-such-dir"),
			wantIn:   []string{"read ", filepath.Join("no-such-dir", "uptime")},
			notExist: true,
		},
		{
			name:   "uptime not a number",
			proc:   withFile(t, "uptime", "soon 1.0\n"),
			wantIn: []string{"parse ", "uptime", `"soon"`},
		},
		{
			name:   "uptime empty",
			proc:   withFile(t, "uptime", ""),
			wantIn: []string{"parse ", "uptime", "empty file"},
		},
		{
			name:   "meminfo without MemAvailable",
			proc:   withFile(t, "meminfo", "MemTotal: 1024 kB\nMemFree: 10 kB\n"),
			wantIn: []string{"parse ", "meminfo", "no MemAvailable line"},
		},
		{
			name:   "meminfo in another unit",
			proc:   withFile(t, "meminfo", "MemTotal: 1024 MB\nMemAvailable: 10 kB\n"),
			wantIn: []string{"parse ", "meminfo", "MemTotal", `want "<number> kB"`},
		},
		{
			name:   "status without VmRSS",
			proc:   withFile(t, filepath.Join("self", "status"), "Name:\tkthreadd\nVmPeak:\t0 kB\n"),
			wantIn: []string{"parse ", "status", "no VmRSS line"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := hal.Host{Proc: tt.proc}.Info()
			if err == nil {
				t.Fatalf("Info = %+v, want an error", info)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(%q, fs.ErrNotExist) = %v, want %v", err, got, tt.notExist)
			}
			if info != (maskservice.HostInfo{}) {
				t.Errorf("Info returned %+v with an error, want the zero value", info)
			}
		})
	}
}

// withFile copies the good fixture tree into a temporary directory, replaces the file at rel
// with content and returns the tree's root.
func withFile(tb testing.TB, rel, content string) string {
	tb.Helper()
	root := tb.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", "proc-good"))); err != nil {
		tb.Fatalf("copy fixture: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
		tb.Fatalf("write %s: %v", rel, err)
	}
	return root
}

func TestHost_InfoRealProc(t *testing.T) {
	var h hal.Host // reads /proc
	info, err := h.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Uptime <= 0 {
		t.Errorf("Uptime = %s, want > 0", info.Uptime)
	}
	if !(info.MemTotal > info.MemAvailable && info.MemAvailable > 0) {
		t.Errorf("MemTotal = %d, MemAvailable = %d, want MemTotal > MemAvailable > 0", info.MemTotal, info.MemAvailable)
	}
	// A running Go test binary holds at least a megabyte, and never more than the machine has.
	if info.ProcessRSS < 1<<20 || info.ProcessRSS > info.MemTotal {
		t.Errorf("ProcessRSS = %d, want between 1 MiB and MemTotal (%d)", info.ProcessRSS, info.MemTotal)
	}
}
