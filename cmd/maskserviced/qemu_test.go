package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The linux/arm64 binary of the device, built as make cross builds it (static, trimmed,
// version stamped), runs under Debian's qemu-aarch64: it prints its version and serves
// /healthz.
func TestCross_Arm64UnderQemu(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatal("qemu-aarch64-static is not installed (Debian package qemu-user-static; .ci/run installs it): the arm64 binary cannot be run")
	}
	bin := filepath.Join(t.TempDir(), "maskserviced-linux-arm64")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=qemu-test", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build for arm64: %v\n%s", err, out)
	}
	out, err := exec.Command(qemu, bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "qemu-test") {
		t.Fatalf("version under qemu: %v: %s", err, out)
	}

	var stderr syncBuffer
	cmd := exec.Command(qemu, bin, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := listenAddr(t, &stderr)
	var resp *http.Response
	waitFor(t, 20*time.Second, "/healthz under qemu", func() bool {
		resp, err = http.Get("http://" + addr + "/healthz")
		return err == nil
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit under qemu: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM under qemu:\n%s", stderr.String())
	}
}
