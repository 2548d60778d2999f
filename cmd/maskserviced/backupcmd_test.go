package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/store/bolt"
)

// mustDataDir makes a data directory whose database holds the named users.
func mustDataDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	db := mustOpenDir(t, dir)
	addUsers(t, db, names...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustOpenDir(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(context.Background(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func addUsers(t *testing.T, db *bolt.DB, names ...string) {
	t.Helper()
	for _, name := range names {
		u := &maskservice.User{Username: name, Role: maskservice.RoleOperator, Active: true,
			PasswordHash: []byte("$2a$04$hash"), Created: time.Now().UTC()}
		if err := db.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

// usersIn returns the names of the users in the database in dir.
func usersIn(t *testing.T, dir string) []string {
	t.Helper()
	db := mustOpenDir(t, dir)
	defer db.Close()
	users, err := db.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

// runCLI runs the command line and returns its exit code and output (stdout on success,
// stderr otherwise).
func runCLI(args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	if code != exitOK {
		return code, stderr.String()
	}
	return code, stdout.String()
}

func TestBackupCmd(t *testing.T) {
	t.Run("daemon stopped: from the file", func(t *testing.T) {
		dir := mustDataDir(t, "anna")
		file := filepath.Join(t.TempDir(), "b.db")
		code, out := runCLI("backup", file, "--data", dir)
		if code != exitOK || !strings.HasPrefix(out, "backup: "+file+" (") || !strings.Contains(out, "bytes, schema ") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if _, err := bolt.Verify(context.Background(), file); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("daemon running: through the admin socket", func(t *testing.T) {
		dir := mustDataDir(t, "anna")
		db := mustOpenDir(t, dir) // the daemon's handle: the file is locked
		defer db.Close()
		admin, err := serveAdmin(context.Background(), filepath.Join(dir, adminSocketName), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		file := filepath.Join(t.TempDir(), "b.db")
		code, out := runCLI("backup", "--data", dir, file)
		if code != exitOK || !strings.Contains(out, "from the running daemon") {
			t.Fatalf("exit %d: %s", code, out)
		}
		addUsers(t, db, "bert") // the daemon goes on
		if err := admin.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := usersIn(t, filepath.Dir(restoreInto(t, file))); !slices.Equal(got, []string{"anna"}) {
			t.Errorf("users in the backup %v, want [anna]", got)
		}
	})
	t.Run("stale socket: from the file", func(t *testing.T) {
		dir := mustDataDir(t, "anna")
		ln, err := net.Listen("unix", filepath.Join(dir, adminSocketName))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		_ = ln.Close()
		file := filepath.Join(t.TempDir(), "b.db")
		if code, out := runCLI("backup", file, "--data", dir); code != exitOK || !strings.Contains(out, "from "+dir) {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("no database", func(t *testing.T) {
		dir := t.TempDir()
		code, out := runCLI("backup", filepath.Join(t.TempDir(), "b.db"), "--data", dir)
		if code != exitError || !strings.Contains(out, "no database") {
			t.Errorf("exit %d: %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, bolt.FileName)); err == nil {
			t.Error("backup created a database")
		}
	})
}

// restoreInto restores the backup file into a new data directory and returns the database's path.
func restoreInto(t *testing.T, file string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := bolt.Restore(context.Background(), dir, file); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, bolt.FileName)
}

func TestRestoreAndCompactCmd(t *testing.T) {
	dir := mustDataDir(t, "anna")
	file := filepath.Join(t.TempDir(), "b.db")
	if code, out := runCLI("backup", file, "--data", dir); code != exitOK {
		t.Fatalf("backup: exit %d: %s", code, out)
	}
	db := mustOpenDir(t, dir)
	addUsers(t, db, "bert")

	// While the daemon holds the database, both refuse.
	for _, args := range [][]string{{"restore", file, "--data", dir}, {"compact", "--data", dir}} {
		if code, out := runCLI(args...); code != exitError || !strings.Contains(out, "stop maskserviced first") {
			t.Errorf("%v with the daemon running: exit %d: %s", args, code, out)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI("restore", file, "--data", dir)
	if code != exitOK || !strings.Contains(out, "the previous database is kept as "+filepath.Join(dir, bolt.FileName)+".before-restore-") {
		t.Fatalf("restore: exit %d: %s", code, out)
	}
	if got := usersIn(t, dir); !slices.Equal(got, []string{"anna"}) {
		t.Errorf("users after the restore %v, want [anna]", got)
	}
	code, out = runCLI("compact", "--data", dir)
	if code != exitOK || !strings.Contains(out, "bytes before") {
		t.Fatalf("compact: exit %d: %s", code, out)
	}
	if got := usersIn(t, dir); !slices.Equal(got, []string{"anna"}) {
		t.Errorf("users after compaction %v, want [anna]", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI("restore", bad, "--data", dir); code != exitError || !strings.Contains(out, "not a bbolt file") {
		t.Errorf("restore of garbage: exit %d: %s", code, out)
	}
}

func TestBackupCmd_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"backup"},
		{"backup", "--data", "/tmp"},
		{"backup", "a.db", "b.db"},
		{"backup", "a.db", "--bogus"},
		{"restore"},
		{"restore", "a.db", "extra"},
		{"compact", "a.db"},
		{"compact", "--data"},
	} {
		if code, out := runCLI(args...); code != exitUsage || !strings.Contains(out, args[0]) {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, out)
		}
	}
}

// A backup taken through the admin socket while the daemon ingests restores to a working
// daemon that has the history of before the backup.
func TestBackup_DuringIngestRestoresToAWorkingDaemon(t *testing.T) {
	m := MustRunMain(t, "[storage]\ncommit_interval = \"50ms\"\n"+fastConfig(""))
	waitFor(t, 5*time.Second, "some history committed", func() bool { return m.history.Stats().Committed >= 30 })
	file := filepath.Join(t.TempDir(), "during-ingest.db")
	if code, out := runCLI("backup", file, "--data", m.DataDir); code != exitOK || !strings.Contains(out, "from the running daemon") {
		t.Fatalf("backup: exit %d: %s", code, out)
	}
	taken := time.Now()

	restored := filepath.Join(t.TempDir(), "restored")
	if code, out := runCLI("restore", file, "--data", restored); code != exitOK {
		t.Fatalf("restore: exit %d: %s", code, out)
	}
	m2 := NewMain()
	m2.DataDir, m2.Listen, m2.Stderr, m2.Demo, m2.BcryptCost = restored, "127.0.0.1:0", io.Discard, true, 4
	c, err := config.Parse("test.toml", []byte(fastConfig("")))
	if err != nil {
		t.Fatal(err)
	}
	m2.Config = c
	if err := m2.Run(context.Background()); err != nil {
		t.Fatalf("daemon on the restored data: %v", err)
	}
	defer m2.Close()
	token2 := signIn(t, m2.Addr().String())
	var h struct {
		Count  int `json:"count"`
		Points []struct {
			Timestamp string `json:"timestamp"`
		} `json:"points"`
	}
	start := taken.Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	end := taken.UTC().Format(time.RFC3339Nano) // before the restored daemon's own readings
	getJSON(t, baseURL(m2)+"/api/sensors/P1/history?max_points=10000&start_time="+start+"&end_time="+end, token2, &h)
	if h.Count < 10 {
		t.Fatalf("the restored daemon has %d readings of P1 from before the backup, want the ingested ones", h.Count)
	}
}

// A restore ends every session the backup held: a session that ended after the backup was
// taken (here, a logout) does not count again once the backup is back.
func TestRestore_EndsEverySession(t *testing.T) {
	m := MustRunMain(t, fastConfig(""))
	addr := m.Addr().String()
	resp, err := http.Post("http://"+addr+"/api/auth/login", "application/json",
		strings.NewReader(`{"username":"operator1","password":"password123","role":"OPERATOR"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tokens struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tokens); err != nil || tokens.Refresh == "" {
		t.Fatalf("sign in: %v %+v", err, tokens)
	}
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "signed-in.db")
	if code, out := runCLI("backup", file, "--data", m.DataDir); code != exitOK {
		t.Fatalf("backup: exit %d: %s", code, out)
	}
	if code, _ := send(t, http.MethodPost, "http://"+addr+"/api/auth/logout", tokens.Access, ""); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI("restore", file, "--data", m.DataDir)
	if code != exitOK || !strings.Contains(out, "sessions of the backup ended: 1 ") {
		t.Fatalf("restore: exit %d: %s", code, out)
	}

	m2 := NewMain()
	m2.DataDir, m2.Listen, m2.Stderr, m2.BcryptCost, m2.Config = m.DataDir, "127.0.0.1:0", io.Discard, 4, m.Config
	if err := m2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	req, _ := http.NewRequest(http.MethodGet, baseURL(m2)+"/api/sensors/current", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.Access)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the access token of before the restore: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Post(baseURL(m2)+"/api/auth/refresh", "application/json", strings.NewReader(`{"refresh_token":"`+tokens.Refresh+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the refresh token of before the restore: %d, want 401", resp.StatusCode)
	}
}
