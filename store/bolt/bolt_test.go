package bolt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

var ctx = context.Background()

// MustOpenDB opens a database in a new temporary directory and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*bolt.DB, string) {
	tb.Helper()
	dir := tb.TempDir()
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db, dir
}

func newUser(name string, role maskservice.Role) *maskservice.User {
	return &maskservice.User{Username: name, Role: role, Active: true, PasswordHash: []byte("$2a$04$hash"),
		Created: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
}

func TestOpen_FileModeAndSchema(t *testing.T) {
	db, dir := MustOpenDB(t)
	fi, err := os.Stat(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if db.SchemaVersion() != 1 || db.Path() != filepath.Join(dir, bolt.FileName) {
		t.Errorf("schema %d path %s", db.SchemaVersion(), db.Path())
	}
}

func TestOpen_TightensMode(t *testing.T) {
	dir2 := t.TempDir()
	db, err := bolt.Open(ctx, dir2, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	path := filepath.Join(dir2, bolt.FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(ctx, dir2, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after reopen, want 0600", fi.Mode().Perm())
	}
}

func TestOpen_Refuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a maskservice database or damaged"},
		{"foreign bbolt file", func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			_ = db.Close()
		}, "not a maskservice database (no meta bucket)"},
		{"newer schema", func(t *testing.T, path string) {
			db, err := bolt.Open(ctx, filepath.Dir(path), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			raw, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = raw.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 99})
			})
			_ = raw.Close()
		}, "written by a newer maskserviced (schema 99 > 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, filepath.Join(dir, bolt.FileName))
			db, err := bolt.Open(ctx, dir, bolt.Options{})
			if err == nil {
				_ = db.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestOpen_InUse(t *testing.T) {
	_, dir := MustOpenDB(t)
	start := time.Now()
	_, err := bolt.Open(ctx, dir, bolt.Options{Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another maskserviced") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestUsers(t *testing.T) {
	db, dir := MustOpenDB(t)
	super := newUser("super1", maskservice.RoleSuperuser)
	op := newUser("operator1", maskservice.RoleOperator)
	for _, u := range []*maskservice.User{super, op} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUser(ctx, newUser("operator1", maskservice.RoleAdmin)); maskservice.ErrorCode(err) != maskservice.ECONFLICT {
		t.Errorf("duplicate: %v", err)
	}
	if err := db.CreateUser(ctx, newUser("Bad Name", maskservice.RoleAdmin)); maskservice.ErrorCode(err) != maskservice.EINVALID {
		t.Errorf("bad name: %v", err)
	}
	if _, err := db.User(ctx, "nobody"); maskservice.ErrorCode(err) != maskservice.ENOTFOUND {
		t.Errorf("missing user: %v", err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	got, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error {
		u.RecordFailure(maskservice.OriginRemote, now)
		u.LastLogin = now
		return nil
	})
	if err != nil || got.Lockouts[maskservice.OriginRemote].FailedAttempts != 1 {
		t.Fatalf("update: %v %+v", err, got)
	}
	// An error from fn changes nothing.
	if _, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error {
		u.Active = false
		return fmt.Errorf("changed my mind")
	}); err == nil || err.Error() != "changed my mind" {
		t.Errorf("fn error: %v", err)
	}
	if _, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error { u.Username = "other"; return nil }); maskservice.ErrorCode(err) != maskservice.EINVALID {
		t.Errorf("rename: %v", err)
	}
	// Reopen: everything is on disk.
	_ = db.Close()
	db, err = bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.User(ctx, "operator1")
	if err != nil || !u.Active || !u.LastLogin.Equal(now) || u.Lockouts[maskservice.OriginRemote].FailedAttempts != 1 || u.Role != maskservice.RoleOperator {
		t.Errorf("after reopen: %v %+v", err, u)
	}
	users, err := db.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Username != "operator1" || users[1].Username != "super1" {
		t.Errorf("Users: %v %v", err, users)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
}

// TestUsers_LastSuperuser checks that the last active SUPERUSER can be neither disabled nor
// given another role, while any other can.
func TestUsers_LastSuperuser(t *testing.T) {
	db, _ := MustOpenDB(t)
	for _, u := range []*maskservice.User{newUser("super1", maskservice.RoleSuperuser), newUser("super2", maskservice.RoleSuperuser)} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	disable := func(u *maskservice.User) error { u.Active = false; return nil }
	demote := func(u *maskservice.User) error { u.Role = maskservice.RoleAdmin; return nil }
	if _, err := db.UpdateUser(ctx, "super1", disable); err != nil {
		t.Fatalf("disabling one of two: %v", err)
	}
	for name, fn := range map[string]func(*maskservice.User) error{"disable": disable, "demote": demote} {
		if _, err := db.UpdateUser(ctx, "super2", fn); maskservice.ErrorCode(err) != maskservice.ECONFLICT ||
			!strings.Contains(err.Error(), "last active SUPERUSER") {
			t.Errorf("%s the last one: %v", name, err)
		}
	}
	if _, err := db.UpdateUser(ctx, "super1", func(u *maskservice.User) error { u.Active = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateUser(ctx, "super2", demote); err != nil {
		t.Errorf("demoting one of two active: %v", err)
	}
}

func TestSessions(t *testing.T) {
	db, _ := MustOpenDB(t)
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	mk := func(id, user string, created time.Time) *maskservice.Session {
		return &maskservice.Session{ID: id, Username: user, Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote,
			Remote: "192.0.2.1:5000", Created: created, LastSeen: created, Expires: created.Add(maskservice.MaxSessionAge),
			RefreshGen: 1, RefreshHash: []byte{1, 2, 3}}
	}
	for _, s := range []*maskservice.Session{mk("a", "operator1", t0), mk("b", "operator1", t0.Add(-10*24*time.Hour)), mk("c", "admin1", t0)} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateSession(ctx, mk("a", "x", t0)); maskservice.ErrorCode(err) != maskservice.ECONFLICT {
		t.Errorf("duplicate: %v", err)
	}
	s, err := db.UpdateSession(ctx, "c", func(s *maskservice.Session) error {
		s.Revoked, s.RevokeReason = t0.Add(time.Hour), "logout"
		s.RefreshGen++
		return nil
	})
	if err != nil || s.RefreshGen != 2 {
		t.Fatalf("update: %v %+v", err, s)
	}
	got, err := db.Session(ctx, "c")
	if err != nil || got.RevokeReason != "logout" || !got.Revoked.Equal(t0.Add(time.Hour)) || got.Origin != maskservice.OriginRemote || string(got.RefreshHash) != "\x01\x02\x03" {
		t.Errorf("Session: %v %+v", err, got)
	}
	if list, err := db.Sessions(ctx, "operator1"); err != nil || len(list) != 2 {
		t.Errorf("Sessions(operator1) = %d, %v", len(list), err)
	}
	// b expired three days ago; c was revoked an hour after t0; a lives on.
	n, err := db.DeleteSessionsBefore(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("DeleteSessionsBefore = %d, %v", n, err)
	}
	if list, _ := db.Sessions(ctx, ""); len(list) != 1 || list[0].ID != "a" {
		t.Errorf("left: %+v", list)
	}
	if _, err := db.Session(ctx, "b"); maskservice.ErrorCode(err) != maskservice.ENOTFOUND {
		t.Errorf("deleted session: %v", err)
	}
}

// TestCrash kills a process that is adding users, then checks that the file opens and holds
// every user whose CreateUser had returned: an answered write survives a power cut.
func TestCrash(t *testing.T) {
	if dir := os.Getenv("MASKSERVICE_CRASH_DIR"); dir != "" {
		crashWriter(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), "MASKSERVICE_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
			committed = append(committed, name)
			if len(committed) == 40 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	_ = cmd.Wait()
	if len(committed) < 40 {
		t.Fatalf("child committed only %d users", len(committed))
	}
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer db.Close()
	for _, name := range committed {
		if _, err := db.User(ctx, name); err != nil {
			t.Errorf("user %s answered as committed but missing: %v", name, err)
		}
	}
}

// crashWriter adds users until it is killed, saying on stdout which ones are committed.
func crashWriter(dir string) {
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for i := 0; i < 100000; i++ {
		name := fmt.Sprintf("user%05d", i)
		if err := db.CreateUser(ctx, newUser(name, maskservice.RoleOperator)); err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		fmt.Println("committed " + name)
	}
	os.Exit(0)
}

func BenchmarkUpdateSession(b *testing.B) {
	db, _ := MustOpenDB(b)
	now := time.Now()
	s := &maskservice.Session{ID: "s", Username: "operator1", Role: maskservice.RoleOperator, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.UpdateSession(ctx, "s", func(s *maskservice.Session) error { s.LastSeen = time.Now(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
