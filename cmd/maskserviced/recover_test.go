package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mask.services/maskservice/store/bolt"
)

// damagedDir is a data directory for the damaged-database tests: a database with the users
// anna and bert and a session of anna, and, when backups is set, a scheduled backup taken
// before bert was added.
type damagedDir struct {
	data, backups string
	backup        string // the backup, "" without one
}

func newDamagedDir(t *testing.T, withBackup bool) *damagedDir {
	t.Helper()
	d := &damagedDir{data: filepath.Join(t.TempDir(), "data"), backups: filepath.Join(t.TempDir(), "backups")}
	if code, out := runCLIStdin("correct horse battery\n", "user", "add", "anna", "--role", "OPERATOR", "--data", d.data); code != exitOK {
		t.Fatalf("user add anna: %d %s", code, out)
	}
	openSession(t, d.data, "s-anna", "anna")
	if withBackup {
		db := mustOpenDir(t, d.data)
		if err := os.MkdirAll(d.backups, 0o700); err != nil {
			t.Fatal(err)
		}
		d.backup = filepath.Join(d.backups, "maskservice-daily-2026-11-26.db")
		if err := db.BackupToFile(context.Background(), d.backup); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db := mustOpenDir(t, d.data)
	addUsers(t, db, "bert") // after the backup: lost with the damaged file
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return d
}

func runCLIStdin(stdin string, args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func (d *damagedDir) dbPath() string { return filepath.Join(d.data, bolt.FileName) }

// truncate cuts the database to 4 pages, as a power cut on a card that lies about its
// writes may leave it; it returns the bytes left.
func (d *damagedDir) truncate(t *testing.T) []byte {
	t.Helper()
	if err := os.Truncate(d.dbPath(), int64(4*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, d.dbPath())
}

// garbage overwrites one page in use with random bytes (the first whose loss Verify sees),
// as `dd if=/dev/urandom of=maskservice.db bs=4096 seek=N count=1 conv=notrunc` does, and
// returns the damaged file's bytes.
func (d *damagedDir) garbage(t *testing.T) []byte {
	t.Helper()
	good := mustRead(t, d.dbPath())
	ps := os.Getpagesize()
	for off := 2 * ps; off+ps <= len(good); off += ps {
		bad := bytes.Clone(good)
		for i := off; i < off+ps; i++ {
			bad[i] = byte(i*7919 + off>>12) // not random, but no page header survives it
		}
		probe := filepath.Join(t.TempDir(), "probe.db")
		if err := os.WriteFile(probe, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := bolt.Verify(context.Background(), probe); err != nil {
			if err := os.WriteFile(d.dbPath(), bad, 0o600); err != nil {
				t.Fatal(err)
			}
			return bad
		}
	}
	t.Fatal("no page of the database is damage when overwritten")
	return nil
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// kept returns the files the daemon kept the damaged database as.
func (d *damagedDir) kept(t *testing.T) []string {
	t.Helper()
	kept, err := filepath.Glob(filepath.Join(d.data, bolt.FileName+".damaged-*"))
	if err != nil {
		t.Fatal(err)
	}
	return kept
}

// daemon is the real binary serving a data directory, as systemd runs it.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   string
	done   chan struct{} // closed when the process has exited, with err
	err    error
}

// startDaemon runs bin on the data directory with the backups folder configured, and waits
// for it to listen.
func startDaemon(t *testing.T, bin string, d *damagedDir) *daemon {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "plant.toml")
	text := fmt.Sprintf("[storage]\ncommit_interval = \"100ms\"\nbackup_dir = %q\n", d.backups) + fastConfig("")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	dm := &daemon{stderr: &syncBuffer{}, done: make(chan struct{})}
	dm.cmd = exec.Command(bin, "serve", "--config", cfg, "--data", d.data, "--listen", "127.0.0.1:0", "--demo")
	dm.cmd.Stderr = dm.stderr
	if err := dm.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		dm.err = dm.cmd.Wait()
		close(dm.done)
	}()
	t.Cleanup(func() {
		_ = dm.cmd.Process.Kill()
		<-dm.done
	})
	deadline := time.After(30 * time.Second)
	for dm.addr == "" {
		select {
		case <-dm.done:
			t.Fatalf("the daemon exited (%v) before it listened:\n%s", dm.err, dm.stderr.String())
		case <-deadline:
			t.Fatalf("no listening line in 30 s:\n%s", dm.stderr.String())
		case <-time.After(20 * time.Millisecond):
			for _, line := range strings.Split(dm.stderr.String(), "\n") {
				if strings.Contains(line, `"msg":"http listening"`) {
					dm.addr = strings.SplitN(strings.SplitN(line, `"addr":"`, 2)[1], `"`, 2)[0]
				}
			}
		}
	}
	return dm
}

// stop ends the daemon with SIGTERM and checks that it exits 0.
func (dm *daemon) stop(t *testing.T) {
	t.Helper()
	if err := dm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dm.done:
		if dm.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", dm.err, dm.stderr.String())
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("the daemon did not stop")
	}
}

// deviceFault is an alert of the API as the tests read it.
type deviceFault struct {
	ID       uint64 `json:"id"`
	SensorID string `json:"sensor_id"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Message  string `json:"message"`
}

// servesWithAlarm checks that the daemon polls and serves, and that it raised one device
// fault about its storage; it returns the fault.
func (dm *daemon) servesWithAlarm(t *testing.T) deviceFault {
	t.Helper()
	token := signIn(t, dm.addr)
	var cur currentBody
	waitFor(t, 10*time.Second, "live values", func() bool {
		getJSON(t, "http://"+dm.addr+"/api/sensors/current", token, &cur)
		return cur.Seq > 0 && cur.Sensors["P1"].Value != nil
	})
	var list struct{ Alerts []deviceFault }
	getJSON(t, "http://"+dm.addr+"/api/alerts?state=ACTIVE_UNACK", token, &list)
	var faults []deviceFault
	for _, a := range list.Alerts {
		if a.Type == "DEVICE_FAULT" {
			faults = append(faults, a)
		}
	}
	if len(faults) != 1 || faults[0].SensorID != "storage" {
		t.Fatalf("alerts %+v, want one DEVICE_FAULT of storage", list.Alerts)
	}
	return faults[0]
}

// TestServe_DamagedDatabase runs the real binary, as systemd does, on a data directory whose
// database is damaged. It must come up, poll and serve, with the damaged file kept aside
// and a device fault that says what happened and what it started on; or, when nothing can
// be opened, exit 1, never 2 (a bad configuration), nor crash.
func TestServe_DamagedDatabase(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "maskserviced")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		damage func(d *damagedDir, t *testing.T) []byte
	}{
		{"truncated", (*damagedDir).truncate},
		{"a page of garbage", (*damagedDir).garbage},
	} {
		t.Run(tc.name+", no backup: an empty database", func(t *testing.T) {
			d := newDamagedDir(t, false)
			bad := tc.damage(d, t)
			dm := startDaemon(t, bin, d)
			fault := dm.servesWithAlarm(t)
			kept := d.kept(t)
			if len(kept) != 1 || !bytes.Equal(mustRead(t, kept[0]), bad) {
				t.Fatalf("kept %v: want the damaged file, as it was", kept)
			}
			for _, w := range []string{d.dbPath() + " was damaged", "kept as " + kept[0], "Started on an empty database"} {
				if !strings.Contains(fault.Message, w) {
					t.Errorf("alarm %q lacks %q", fault.Message, w)
				}
			}
			// Logged at ERROR with what happened, and counted in /metrics.
			if log := dm.stderr.String(); !strings.Contains(log, `"level":"ERROR","msg":"database damaged: kept aside, started on an empty database"`) ||
				!strings.Contains(log, `"kept_as":"`+kept[0]+`"`) {
				t.Errorf("no ERROR line about the recovery:\n%s", log)
			}
			metrics := httpGet(t, "http://"+dm.addr+"/metrics")
			for _, w := range []string{`alerts_total{type="DEVICE_FAULT"} 1`, `alerts_active{sensor_id="storage",type="DEVICE_FAULT"} 1`} {
				if !strings.Contains(metrics, w) {
					t.Errorf("/metrics lacks %s", w)
				}
			}
			// One touch acknowledges it, and it closes: nothing can bring it back to normal.
			status, raw := post(t, fmt.Sprintf("http://%s/api/alerts/%d/ack", dm.addr, fault.ID), signIn(t, dm.addr), `{}`)
			if status != http.StatusOK || !strings.Contains(string(raw), `"state":"CLOSED"`) {
				t.Errorf("acknowledge: %d %s", status, raw)
			}
			dm.stop(t)
			// The next start opens the replacement as it is: no second recovery.
			dm = startDaemon(t, bin, d)
			dm.stop(t)
			if got := d.kept(t); len(got) != 1 {
				t.Errorf("kept %v after a second start", got)
			}
		})
	}

	t.Run("a scheduled backup: started on it, its sessions ended", func(t *testing.T) {
		d := newDamagedDir(t, true)
		d.garbage(t)
		dm := startDaemon(t, bin, d)
		fault := dm.servesWithAlarm(t)
		for _, w := range []string{"Started on the backup " + d.backup + " of ", "sessions of the backup were ended"} {
			if !strings.Contains(fault.Message, w) {
				t.Errorf("alarm %q lacks %q", fault.Message, w)
			}
		}
		// anna is in the backup and signs in; bert came after it.
		sessionOf(t, dm.addr, "anna", "correct horse battery")
		if status, _ := send(t, "POST", "http://"+dm.addr+"/api/auth/login", "",
			`{"username":"bert","password":"password123","role":"OPERATOR"}`); status != http.StatusUnauthorized {
			t.Errorf("bert, added after the backup, signs in: %d", status)
		}
		dm.stop(t)
		db := mustOpenDir(t, d.data)
		defer db.Close()
		s, err := db.Session(context.Background(), "s-anna")
		if err != nil || s.Revoked.IsZero() {
			t.Errorf("the backup's session of anna %+v (%v): want it ended", s, err)
		}
		users, err := db.Users(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		if !slices.Contains(names, "anna") || slices.Contains(names, "bert") {
			t.Errorf("users %v: want the backup's (anna), not bert, added after it", names)
		}
	})

	t.Run("the newest backup damaged: started on an older one", func(t *testing.T) {
		d := newDamagedDir(t, true)
		older := filepath.Join(d.backups, "maskservice-weekly-2026-W47.db")
		if err := os.Rename(d.backup, older); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(older, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		newest := d.backup
		if err := os.WriteFile(newest, mustRead(t, older)[:3*os.Getpagesize()], 0o600); err != nil {
			t.Fatal(err)
		}
		d.truncate(t)
		dm := startDaemon(t, bin, d)
		fault := dm.servesWithAlarm(t)
		for _, w := range []string{"Started on the backup " + older, "Backups passed over: " + filepath.Base(newest)} {
			if !strings.Contains(fault.Message, w) {
				t.Errorf("alarm %q lacks %q", fault.Message, w)
			}
		}
		sessionOf(t, dm.addr, "anna", "correct horse battery")
		dm.stop(t)
	})

	t.Run("damaged while running: exit 1, the restart recovers", func(t *testing.T) {
		d := newDamagedDir(t, false)
		dm := startDaemon(t, bin, d)
		// The card loses the file under the running daemon: the next commit meets it.
		if err := os.Truncate(d.dbPath(), int64(2*os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
		select {
		case <-dm.done:
			var exit *exec.ExitError
			if !errors.As(dm.err, &exit) || exit.ExitCode() != exitError {
				t.Fatalf("exit %v, want code 1\n%s", dm.err, dm.stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("still running on a damaged database\n%s", dm.stderr.String())
		}
		if !strings.Contains(dm.stderr.String(), "the database is damaged, stopping so that the restart recovers it") {
			t.Errorf("no word of the damage:\n%s", dm.stderr.String())
		}
		dm = startDaemon(t, bin, d)
		dm.servesWithAlarm(t)
		dm.stop(t)
	})

	t.Run("nothing can be opened: exit 1", func(t *testing.T) {
		d := newDamagedDir(t, false)
		bad := d.truncate(t)
		ro := mountTmpfs(t)
		if err := os.WriteFile(filepath.Join(ro, bolt.FileName), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v: %s", err, out)
		}
		var stderr syncBuffer
		cmd := exec.Command(bin, "serve", "--data", ro, "--listen", "127.0.0.1:0")
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitError {
			t.Fatalf("exit %v, want code 1\n%s", err, stderr.String())
		}
		if s := stderr.String(); !strings.Contains(s, "not a maskservice database or damaged") || !strings.Contains(s, "read-only file system") {
			t.Errorf("stderr does not say what failed:\n%s", s)
		}
		if !bytes.Equal(mustRead(t, filepath.Join(ro, bolt.FileName)), bad) {
			t.Error("the damaged file changed")
		}
	})
}

// httpGet returns the body of a GET without a token.
func httpGet(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// mountTmpfs mounts a small tmpfs at a new directory for the test and returns it. It needs
// root (CI runs as root) to make a data directory that even root cannot write; elsewhere the
// test fails saying so, since a skipped test would be counted as passing.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a read-only tmpfs and needs root (CI runs as root): run make test as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}
