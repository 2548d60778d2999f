package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

var ctx = context.Background()

// t0 is the tests' fixed "now".
var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// MustOpenDB opens a database in a new temporary directory and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*bolt.DB, string) {
	tb.Helper()
	dir := tb.TempDir()
	return mustOpenAt(tb, dir), dir
}

// mustOpenAt opens the database in dir and closes it when the test ends.
func mustOpenAt(tb testing.TB, dir string) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(ctx, dir, bolt.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// rawUpdate changes the file at path behind the package's back.
func rawUpdate(tb testing.TB, path string, fn func(tx *bbolt.Tx) error) {
	tb.Helper()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Update(fn); err != nil {
		tb.Fatal(err)
	}
}

func newUser(name string, role maskservice.Role) *maskservice.User {
	return &maskservice.User{Username: name, Role: role, Active: true, PasswordHash: []byte("$2a$04$hash"), Created: t0}
}

func mustCreateUsers(tb testing.TB, db *bolt.DB, users ...*maskservice.User) {
	tb.Helper()
	for _, u := range users {
		if err := db.CreateUser(ctx, u); err != nil {
			tb.Fatalf("create %s: %v", u.Username, err)
		}
	}
}

func TestOpen_FileModeAndSchema(t *testing.T) {
	db, dir := MustOpenDB(t)
	path := filepath.Join(dir, bolt.FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if db.SchemaVersion() != 3 || db.Path() != path {
		t.Errorf("schema %d path %s", db.SchemaVersion(), db.Path())
	}
	// The meta bucket holds what doc.go says, in the encoding it says.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if got := meta.Get([]byte("schema_version")); !bytes.Equal(got, []byte{0, 0, 0, 3}) {
			t.Errorf("schema_version = %x, want 00000003", got)
		}
		if got := string(meta.Get([]byte("created"))); got != "2026-11-27T08:00:00Z" {
			t.Errorf("created = %q, want the injected clock's time", got)
		}
		return nil
	})
}

func TestOpen_TightensMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, bolt.FileName)
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOpenAt(t, dir)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after reopen: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}

func TestOpen_Refuses(t *testing.T) {
	garbage := func(n int) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			t.Helper()
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), n/15+1)[:n], 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours := func(t *testing.T, path string) {
		t.Helper()
		db, err := bolt.Open(ctx, filepath.Dir(path), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"short garbage", garbage(10), "not a maskservice database or damaged"},
		{"one page of garbage", garbage(4096), "not a maskservice database or damaged"},
		{"garbage", garbage(15000), "not a maskservice database or damaged"},
		{"foreign bbolt file", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
		}, "not a maskservice database (no meta bucket)"},
		{"meta without schema version", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("meta")); return err })
		}, "not a maskservice database (bad schema version)"},
		{"newer schema", func(t *testing.T, path string) {
			ours(t, path)
			rawUpdate(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 99})
			})
		}, "was written by a newer maskserviced (schema 99 > 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, bolt.FileName)
			tt.setup(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(ctx, dir, bolt.Options{})
			if err == nil {
				_ = db.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			// A refused file is left exactly as it was, for the person who has to look at it.
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("a refused file was changed")
			}
		})
	}
}

// TestOpen_MigratesOldFile opens a file at schema 0, as a crash right after the meta bucket
// was made would leave it, and checks that the missing migration runs.
func TestOpen_MigratesOldFile(t *testing.T) {
	dir := t.TempDir()
	rawUpdate(t, filepath.Join(dir, bolt.FileName), func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if err := meta.Put([]byte("created"), []byte("2020-01-01T00:00:00Z")); err != nil {
			return err
		}
		return meta.Put([]byte("schema_version"), []byte{0, 0, 0, 0})
	})
	db := mustOpenAt(t, dir)
	if db.SchemaVersion() != 3 {
		t.Errorf("schema %d after migration, want 3 (users and sessions, history, alerts and audit)", db.SchemaVersion())
	}
	mustCreateUsers(t, db, newUser("anna", maskservice.RoleSuperuser))
	if err := db.CreateSession(ctx, newSession("s", "anna", t0)); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_InUse(t *testing.T) {
	_, dir := MustOpenDB(t)
	_, err := bolt.Open(ctx, dir, bolt.Options{Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "data directory is in use by another maskserviced") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpen_Canceled(t *testing.T) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	dir := t.TempDir()
	if _, err := bolt.Open(c, dir, bolt.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, bolt.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a canceled Open made the file: %v", err)
	}
}

func TestUsers(t *testing.T) {
	db, dir := MustOpenDB(t)
	if users, err := db.Users(ctx); err != nil || users == nil || len(users) != 0 {
		t.Errorf("Users of an empty file = %#v, %v; want an empty, non-nil list", users, err)
	}
	mustCreateUsers(t, db, newUser("super1", maskservice.RoleSuperuser), newUser("operator1", maskservice.RoleOperator))
	now := t0.Add(time.Hour)
	got, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error {
		u.RecordFailure(maskservice.OriginRemote, now)
		u.LastLogin, u.MustChangePassword, u.Demo = now, true, true
		return nil
	})
	if err != nil || got.Lockouts[maskservice.OriginRemote].FailedAttempts != 1 || !got.LastLogin.Equal(now) {
		t.Fatalf("update: %v %+v", err, got)
	}
	// Reopen: everything is on disk, every field round-trips.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenAt(t, dir)
	u, err := db.User(ctx, "operator1")
	if err != nil {
		t.Fatal(err)
	}
	want := newUser("operator1", maskservice.RoleOperator)
	want.LastLogin, want.MustChangePassword, want.Demo = now, true, true
	want.Lockouts[maskservice.OriginRemote].FailedAttempts = 1
	if fmt.Sprintf("%+v", u) != fmt.Sprintf("%+v", want) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", u, want)
	}
	users, err := db.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Username != "operator1" || users[1].Username != "super1" {
		t.Errorf("Users = %v, %v; want operator1, super1", users, err)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}
}

func TestUsers_Errors(t *testing.T) {
	db, _ := MustOpenDB(t)
	mustCreateUsers(t, db, newUser("operator1", maskservice.RoleOperator))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	errFn := errors.New("changed my mind")
	update := func(c context.Context, name string, fn func(*maskservice.User)) error {
		_, err := db.UpdateUser(c, name, func(u *maskservice.User) error { fn(u); return nil })
		return err
	}
	tests := []struct {
		name string
		do   func() error
		code string // the wanted code, if any
		want error  // the wanted error in the chain, if any
	}{
		{"create duplicate", func() error { return db.CreateUser(ctx, newUser("operator1", maskservice.RoleAdmin)) }, maskservice.ECONFLICT, nil},
		{"create bad name", func() error { return db.CreateUser(ctx, newUser("Bad Name", maskservice.RoleAdmin)) }, maskservice.EINVALID, nil},
		{"create bad role", func() error { return db.CreateUser(ctx, newUser("anna", "ROOT")) }, maskservice.EINVALID, nil},
		{"create without hash", func() error {
			u := newUser("anna", maskservice.RoleAdmin)
			u.PasswordHash = nil
			return db.CreateUser(ctx, u)
		}, maskservice.EINVALID, nil},
		{"create canceled", func() error { return db.CreateUser(canceled, newUser("anna", maskservice.RoleAdmin)) }, "", context.Canceled},
		{"get missing", func() error { _, err := db.User(ctx, "nobody"); return err }, maskservice.ENOTFOUND, nil},
		{"update missing", func() error { return update(ctx, "nobody", func(*maskservice.User) {}) }, maskservice.ENOTFOUND, nil},
		{"update rename", func() error { return update(ctx, "operator1", func(u *maskservice.User) { u.Username = "other" }) }, maskservice.EINVALID, nil},
		{"update to a bad role", func() error { return update(ctx, "operator1", func(u *maskservice.User) { u.Role = "ROOT" }) }, maskservice.EINVALID, nil},
		{"update clears hash", func() error { return update(ctx, "operator1", func(u *maskservice.User) { u.PasswordHash = nil }) }, maskservice.EINVALID, nil},
		{"update canceled", func() error { return update(canceled, "operator1", func(u *maskservice.User) { u.Active = false }) }, "", context.Canceled},
		{"fn fails", func() error {
			_, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error { u.Active = false; return errFn })
			return err
		}, "", errFn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.code != "" && maskservice.ErrorCode(err) != tt.code {
				t.Errorf("err = %v (code %q), want code %q", err, maskservice.ErrorCode(err), tt.code)
			}
		})
	}
	// None of the refused changes reached the file.
	u, err := db.User(ctx, "operator1")
	if err != nil || !u.Active || u.Role != maskservice.RoleOperator || len(u.PasswordHash) == 0 {
		t.Errorf("after refused changes: %v %+v", err, u)
	}
	if n, _ := db.CountUsers(ctx); n != 1 {
		t.Errorf("CountUsers = %d after refused creates, want 1", n)
	}
}

// TestUsers_NewerRecord checks that a record of an unknown format is reported, not misread.
func TestUsers_NewerRecord(t *testing.T) {
	db, dir := MustOpenDB(t)
	_ = db.Close()
	rawUpdate(t, filepath.Join(dir, bolt.FileName), func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("users")).Put([]byte("anna"), []byte(`{"v":2,"username":"anna"}`))
	})
	db = mustOpenAt(t, dir)
	if _, err := db.User(ctx, "anna"); err == nil || !strings.Contains(err.Error(), "version 2, want 1") {
		t.Errorf("err = %v", err)
	}
}

// TestUsers_LastSuperuser checks that the last active SUPERUSER can be neither disabled nor
// given another role, while any other change stays allowed.
func TestUsers_LastSuperuser(t *testing.T) {
	disable := func(u *maskservice.User) error { u.Active = false; return nil }
	demote := func(u *maskservice.User) error { u.Role = maskservice.RoleAdmin; return nil }
	touch := func(u *maskservice.User) error { u.LastLogin = t0; return nil }
	inactive := func(name string, role maskservice.Role) *maskservice.User {
		u := newUser(name, role)
		u.Active = false
		return u
	}
	tests := []struct {
		name  string
		users []*maskservice.User
		user  string
		fn    func(*maskservice.User) error
		code  string
	}{
		{"disable the last", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser)}, "super1", disable, maskservice.ECONFLICT},
		{"demote the last", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser)}, "super1", demote, maskservice.ECONFLICT},
		{"an inactive one does not count", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser), inactive("super2", maskservice.RoleSuperuser)}, "super1", demote, maskservice.ECONFLICT},
		{"disable one of two", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser), newUser("super2", maskservice.RoleSuperuser)}, "super1", disable, ""},
		{"demote one of two", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser), newUser("super2", maskservice.RoleSuperuser)}, "super2", demote, ""},
		{"other changes to the last", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser)}, "super1", touch, ""},
		{"disable an inactive superuser", []*maskservice.User{newUser("super1", maskservice.RoleSuperuser), inactive("super2", maskservice.RoleSuperuser)}, "super2", disable, ""},
		{"no superuser to begin with", []*maskservice.User{newUser("admin1", maskservice.RoleAdmin)}, "admin1", disable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			mustCreateUsers(t, db, tt.users...)
			_, err := db.UpdateUser(ctx, tt.user, tt.fn)
			if maskservice.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if tt.code == maskservice.ECONFLICT && !strings.Contains(err.Error(), "the last active SUPERUSER cannot be removed") {
				t.Errorf("message %q", err)
			}
		})
	}
}

// TestUsers_LastSuperuserConcurrent demotes two SUPERUSERs at once: the count is taken inside
// the write transaction, so exactly one demotion may pass.
func TestUsers_LastSuperuserConcurrent(t *testing.T) {
	db, _ := MustOpenDB(t)
	mustCreateUsers(t, db, newUser("super1", maskservice.RoleSuperuser), newUser("super2", maskservice.RoleSuperuser))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"super1", "super2"} {
		wg.Go(func() {
			_, errs[i] = db.UpdateUser(ctx, name, func(u *maskservice.User) error { u.Active = false; return nil })
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v, %v: want exactly one refusal", errs[0], errs[1])
	}
	users, err := db.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, u := range users {
		if u.Active {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d active SUPERUSERs left, want 1", active)
	}
}

func newSession(id, user string, created time.Time) *maskservice.Session {
	return &maskservice.Session{ID: id, Username: user, Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote,
		Remote: "192.0.2.1:5000", Created: created, LastSeen: created, Expires: created.Add(maskservice.MaxSessionAge),
		RefreshGen: 1, RefreshHash: []byte{1, 2, 3}}
}

func TestSessions(t *testing.T) {
	db, dir := MustOpenDB(t)
	if list, err := db.Sessions(ctx, ""); err != nil || list == nil || len(list) != 0 {
		t.Errorf("Sessions of an empty file = %#v, %v; want an empty, non-nil list", list, err)
	}
	for _, s := range []*maskservice.Session{
		newSession("a", "operator1", t0),
		newSession("b", "operator1", t0.Add(-10*24*time.Hour)), // its 7 days ended 3 days before t0
		newSession("c", "admin1", t0),
	} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s, err := db.UpdateSession(ctx, "c", func(s *maskservice.Session) error {
		s.Revoked, s.RevokeReason = t0.Add(time.Hour), "logout"
		s.RefreshGen++
		return nil
	})
	if err != nil || s.RefreshGen != 2 {
		t.Fatalf("update: %v %+v", err, s)
	}
	// Reopen: sessions are on disk, every field round-trips.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenAt(t, dir)
	got, err := db.Session(ctx, "c")
	want := newSession("c", "admin1", t0)
	want.Revoked, want.RevokeReason, want.RefreshGen = t0.Add(time.Hour), "logout", 2
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("Session(c) = %v\n got %+v\nwant %+v", err, got, want)
	}
	if list, err := db.Sessions(ctx, "operator1"); err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Errorf("Sessions(operator1) = %+v, %v", list, err)
	}
	// At t0: only b has ended (c is revoked an hour later). At t0+2h: b and c.
	for _, step := range []struct {
		at   time.Time
		n    int
		left []string
	}{{t0, 1, []string{"a", "c"}}, {t0.Add(2 * time.Hour), 1, []string{"a"}}, {t0.Add(2 * time.Hour), 0, []string{"a"}}} {
		n, err := db.DeleteSessionsBefore(ctx, step.at)
		if err != nil || n != step.n {
			t.Fatalf("DeleteSessionsBefore(%s) = %d, %v; want %d", step.at, n, err, step.n)
		}
		list, err := db.Sessions(ctx, "")
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if err != nil || strings.Join(ids, ",") != strings.Join(step.left, ",") {
			t.Errorf("after DeleteSessionsBefore(%s): %v %v, want %v", step.at, ids, err, step.left)
		}
	}
}

func TestSessions_Errors(t *testing.T) {
	db, _ := MustOpenDB(t)
	if err := db.CreateSession(ctx, newSession("a", "operator1", t0)); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	errFn := errors.New("changed my mind")
	tests := []struct {
		name string
		do   func() error
		code string
		want error
	}{
		{"create duplicate", func() error { return db.CreateSession(ctx, newSession("a", "x", t0)) }, maskservice.ECONFLICT, nil},
		{"create without id", func() error { return db.CreateSession(ctx, newSession("", "x", t0)) }, maskservice.EINVALID, nil},
		{"create canceled", func() error { return db.CreateSession(canceled, newSession("b", "x", t0)) }, "", context.Canceled},
		{"get missing", func() error { _, err := db.Session(ctx, "zz"); return err }, maskservice.ENOTFOUND, nil},
		{"update missing", func() error {
			_, err := db.UpdateSession(ctx, "zz", func(*maskservice.Session) error { return nil })
			return err
		}, maskservice.ENOTFOUND, nil},
		{"update changes id", func() error {
			_, err := db.UpdateSession(ctx, "a", func(s *maskservice.Session) error { s.ID = "b"; return nil })
			return err
		}, maskservice.EINVALID, nil},
		{"fn fails", func() error {
			_, err := db.UpdateSession(ctx, "a", func(s *maskservice.Session) error { s.RevokeReason = "x"; return errFn })
			return err
		}, "", errFn},
		{"delete canceled", func() error { _, err := db.DeleteSessionsBefore(canceled, t0.Add(1000*time.Hour)); return err }, "", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.code != "" && maskservice.ErrorCode(err) != tt.code {
				t.Errorf("err = %v (code %q), want code %q", err, maskservice.ErrorCode(err), tt.code)
			}
		})
	}
	list, err := db.Sessions(ctx, "")
	if err != nil || len(list) != 1 || list[0].ID != "a" || list[0].RevokeReason != "" {
		t.Errorf("after refused changes: %v %+v", err, list)
	}
}

// crashDirEnv tells a re-executed test binary to be TestCrash's writer.
const crashDirEnv = "MASKSERVICE_BOLT_CRASH_DIR"

// TestCrash kills a process that is adding users, then checks that the file opens and holds
// every user whose CreateUser had returned. SIGKILL leaves the page cache alone, so this
// checks the commit protocol (an answered write was committed, the file is consistent
// mid-commit), not the disk's flush; bbolt's fdatasync covers the power cut.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashWriter(dir)
		return
	}
	dir := t.TempDir()
	c, cancel := context.WithTimeout(ctx, 2*time.Minute) // a hung child is killed, not waited for
	defer cancel()
	cmd := exec.CommandContext(c, os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 40
	var committed, other []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			other = append(other, sc.Text())
			continue
		}
		committed = append(committed, name)
		if len(committed) == want {
			// The child is already inside the next CreateUser, or about to be.
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	_ = cmd.Wait()
	if len(committed) < want {
		t.Fatalf("child committed only %d users; output %q, stderr %q", len(committed), other, stderr.String())
	}
	db := mustOpenAt(t, dir)
	for _, name := range committed {
		if _, err := db.User(ctx, name); err != nil {
			t.Errorf("user %s was answered as committed but is missing: %v", name, err)
		}
	}
	// Whatever else is there is whole: every record decodes.
	if _, err := db.Users(ctx); err != nil {
		t.Errorf("Users after the crash: %v", err)
	}
}

// crashWriter adds users until it is killed, saying on stdout which ones are committed.
func crashWriter(dir string) {
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for i := range 100000 {
		name := fmt.Sprintf("user%05d", i)
		if err := db.CreateUser(ctx, newUser(name, maskservice.RoleOperator)); err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		fmt.Println("committed " + name)
	}
	os.Exit(0)
}

// BenchmarkUpdateSession measures one committed session update: what a token refresh or a
// persisted LastSeen costs, dominated by the fdatasync.
func BenchmarkUpdateSession(b *testing.B) {
	db, _ := MustOpenDB(b)
	if err := db.CreateSession(ctx, newSession("s", "operator1", t0)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.UpdateSession(ctx, "s", func(s *maskservice.Session) error { s.LastSeen = time.Now(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
