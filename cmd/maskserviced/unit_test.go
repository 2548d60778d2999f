package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mask.services/maskservice/cmd/internal/config"
)

// The systemd unit of the device: `systemd-analyze verify` must print nothing (it exits 0 even
// on unknown keys, so any output fails), and `systemd-analyze security --offline=yes` must
// rate it OK (2.0 or better). The unit is checked with ExecStart pointing at a freshly built
// binary, since verify wants the command to exist.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed (Debian package systemd; .ci/run installs it): the unit cannot be checked")
	}
	bin := filepath.Join(t.TempDir(), "maskserviced")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("../../systemd/maskservice.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/bin/maskserviced ")) {
		t.Fatal("the unit's ExecStart is not /usr/bin/maskserviced")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "maskservice.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/bin/maskserviced"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(analyze, "verify", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.Len()+stderr.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for maskservice.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze security: %s %s", m[1], m[2])
	if level := string(m[2]); level != "OK" && level != "SAFE" && !strings.HasPrefix(level, "OK") {
		t.Errorf("exposure %s %s, want OK or better", m[1], level)
	}
}

// The kiosk unit verifies too (cage exists only on the device image, so it is replaced by a
// program that exists here).
func TestSystemdKioskUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed (Debian package systemd; .ci/run installs it)")
	}
	unit, err := os.ReadFile("../../systemd/maskservice-kiosk.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/bin/cage ")) {
		t.Fatal("the kiosk unit does not run cage")
	}
	text := strings.ReplaceAll(string(unit), "/usr/bin/cage", "/usr/bin/env")
	path := filepath.Join(t.TempDir(), "maskservice-kiosk.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// The unit it wants (maskservice.service) is not installed here: only that may be said.
	var rest []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "maskservice.service") {
			rest = append(rest, line)
		}
	}
	if err != nil || len(rest) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The configuration the Buildroot image ships is valid.
func TestImageConfig(t *testing.T) {
	if _, err := config.Load("../../buildroot/board/maskservice/rootfs-overlay/etc/maskservice/maskservice.toml"); err != nil {
		t.Fatal(err)
	}
}
