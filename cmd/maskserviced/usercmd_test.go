package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// userStep is one CLI call and what it must answer.
type userStep struct {
	name  string
	args  []string
	stdin string
	code  int
	want  string // in stdout on success, in stderr otherwise
}

func runSteps(t *testing.T, steps []userStep) {
	t.Helper()
	for _, st := range steps {
		var stdout, stderr bytes.Buffer
		code := run(st.args, strings.NewReader(st.stdin), &stdout, &stderr)
		out := stdout.String()
		if st.code != exitOK {
			out = stderr.String()
		}
		if code != st.code || !strings.Contains(out, st.want) {
			t.Errorf("%s: exit %d, want %d; output %q, want it to contain %q", st.name, code, st.code, out, st.want)
		}
	}
}

// openSession stores a live session of username, as a sign-in would.
func openSession(t *testing.T, dir, id, username string) {
	t.Helper()
	db, err := bolt.Open(context.Background(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if err := db.CreateSession(context.Background(), &maskservice.Session{ID: id, Username: username,
		Role: maskservice.RoleOperator, Created: now, LastSeen: now, Expires: now.Add(maskservice.MaxSessionAge)}); err != nil {
		t.Fatal(err)
	}
}

// TestUserCmd walks the first setup of a device through the CLI: every step's exit code and
// output, then the stored result.
func TestUserCmd(t *testing.T) {
	dir := t.TempDir()
	runSteps(t, []userStep{
		{"add superuser", []string{"user", "add", "anna", "--role", "superuser", "--data", dir}, "correct horse battery\n", exitOK, "added anna (SUPERUSER)"},
		{"add operator, flags first", []string{"user", "add", "--data", dir, "--role", "OPERATOR", "jan.k"}, "another long one\n", exitOK, "added jan.k (OPERATOR)"},
	})
	// jan.k is signed in somewhere: disabling the account must end that session.
	openSession(t, dir, "s1", "jan.k")
	runSteps(t, []userStep{
		{"duplicate", []string{"user", "add", "anna", "--role", "ADMIN", "--data", dir}, "correct horse battery\n", exitError, `user "anna" already exists`},
		{"bad role", []string{"user", "add", "ewa", "--role", "ROOT", "--data", dir}, "correct horse battery\n", exitUsage, "--role must be OPERATOR, ADMIN, SUPERUSER or SERWISANT"},
		{"bad name", []string{"user", "add", "Ewa Nowak", "--role", "ADMIN", "--data", dir}, "correct horse battery\n", exitUsage, "use 3 to 32 lowercase letters"},
		{"short password", []string{"user", "add", "ewa", "--role", "ADMIN", "--data", dir}, "short\n", exitUsage, "at least 10 characters"},
		{"demo password", []string{"user", "add", "ewa", "--role", "ADMIN", "--data", dir}, "password123\n", exitUsage, "only for the demo users"},
		{"no password", []string{"user", "add", "ewa", "--role", "ADMIN", "--data", dir}, "", exitUsage, "read the password from stdin"},
		{"last superuser", []string{"user", "disable", "anna", "--data", dir}, "", exitError, "last active SUPERUSER"},
		{"disable operator", []string{"user", "disable", "jan.k", "--data", dir}, "", exitOK, "disabled jan.k"},
		{"enable operator", []string{"user", "enable", "jan.k", "--data", dir}, "", exitOK, "enabled jan.k"},
		{"unlock", []string{"user", "unlock", "jan.k", "--data", dir}, "", exitOK, "unlocked jan.k"},
	})
	// Signed in again: a new password must end that session too.
	openSession(t, dir, "s2", "jan.k")
	runSteps(t, []userStep{
		{"passwd", []string{"user", "passwd", "jan.k", "--data", dir}, "a new long password\n", exitOK, "password of jan.k set; its sign-in locks are cleared and 1 sessions ended"},
		{"unknown user", []string{"user", "unlock", "nobody", "--data", dir}, "", exitError, `user "nobody": no such user`},
		{"pin", []string{"user", "pin", "jan.k", "--data", dir}, "2580\n", exitOK, "PIN of jan.k set; it signs in on the LCD only"},
		{"trivial pin", []string{"user", "pin", "anna", "--data", dir}, "1234\n", exitUsage, "straight run"},
		{"no pin", []string{"user", "pin", "anna", "--data", dir}, "", exitUsage, "read the PIN from stdin"},
		{"list", []string{"user", "list", "--data", dir}, "", exitOK, "jan.k     OPERATOR   true    -       never       yes"},
		{"clear pin", []string{"user", "pin", "anna", "--clear", "--data", dir}, "", exitOK, "PIN of anna cleared"},
		{"no name", []string{"user", "unlock", "--data", dir}, "", exitUsage, "name the user"},
		{"unknown subcommand", []string{"user", "frob", "x", "--data", dir}, "", exitUsage, `unknown subcommand "frob"`},
	})

	db, err := bolt.Open(context.Background(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.User(context.Background(), "jan.k")
	if err != nil || !u.Active || u.Role != maskservice.RoleOperator {
		t.Fatalf("jan.k: %v %+v", err, u)
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("a new long password")) != nil {
		t.Error("passwd did not store the new password")
	}
	if cost, _ := bcrypt.Cost(u.PasswordHash); cost != 12 {
		t.Errorf("bcrypt cost %d, want 12", cost)
	}
	if bcrypt.CompareHashAndPassword(u.PINHash, []byte("2580")) != nil {
		t.Error("pin did not store the PIN")
	}
	if cost, _ := bcrypt.Cost(u.PINHash); cost != 12 {
		t.Errorf("PIN bcrypt cost %d, want 12, as the password's", cost)
	}
	for id, reason := range map[string]string{"s1": "user disabled", "s2": "password changed"} {
		if s, err := db.Session(context.Background(), id); err != nil || s.RevokeReason != reason {
			t.Errorf("session %s: %v %+v, want revoked for %q", id, err, s, reason)
		}
	}
	if n, _ := db.CountUsers(context.Background()); n != 2 {
		t.Errorf("%d users, want 2 (the refused adds changed nothing)", n)
	}
}

// TestUserCmd_Audit checks that every change the CLI makes is in the audit log, as the CLI
// and the OS user who ran it, and that what it refuses or only reads is not.
func TestUserCmd_Audit(t *testing.T) {
	tests := []struct {
		name     string
		sudoUser string
		user     string
		args     []string
		stdin    string
		action   maskservice.AuditAction // "" for no entry
		username string
		details  string
	}{
		{"add", "", "anna", []string{"user", "add", "boss", "--role", "SUPERUSER"}, "correct horse battery\n", maskservice.AuditUserCreate, "cli:anna", "user boss created as SUPERUSER"},
		{"add with --must-change, through sudo", "piotr", "root", []string{"user", "add", "jan", "--role", "OPERATOR", "--must-change"}, "correct horse battery\n", maskservice.AuditUserCreate, "cli:piotr", "user jan created as OPERATOR, must change password"},
		{"no OS user known", "", "", []string{"user", "passwd", "jan"}, "another long one\n", maskservice.AuditUserUpdate, "cli", "user jan: password reset, need not change password"},
		{"disable", "", "anna", []string{"user", "disable", "jan"}, "", maskservice.AuditUserUpdate, "cli:anna", "user jan: disabled"},
		{"enable", "", "anna", []string{"user", "enable", "jan"}, "", maskservice.AuditUserUpdate, "cli:anna", "user jan: enabled"},
		{"unlock", "", "anna", []string{"user", "unlock", "jan"}, "", maskservice.AuditUserUpdate, "cli:anna", "user jan: unlocked"},
		{"refused: duplicate", "", "anna", []string{"user", "add", "jan", "--role", "ADMIN"}, "correct horse battery\n", "", "", ""},
		{"refused: last superuser", "", "anna", []string{"user", "disable", "boss"}, "", "", "", ""},
		{"list reads only", "", "anna", []string{"user", "list"}, "", "", "", ""},
	}
	dir := t.TempDir()
	seen := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SUDO_USER", tt.sudoUser)
			t.Setenv("USER", tt.user)
			var stdout, stderr bytes.Buffer
			run(append(tt.args, "--data", dir), strings.NewReader(tt.stdin), &stdout, &stderr)
			db, err := bolt.Open(context.Background(), dir, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got []maskservice.AuditEntry
			if err := db.ScanAudit(context.Background(), maskservice.AuditFilter{}, func(e maskservice.AuditEntry) bool {
				got = append(got, e)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			want := seen
			if tt.action != "" {
				want++
			}
			if len(got) != want {
				t.Fatalf("%d entries, want %d (stdout %q, stderr %q)", len(got), want, stdout.String(), stderr.String())
			}
			seen = want
			if tt.action == "" {
				return
			}
			e := got[0] // newest first
			if e.Action != tt.action || e.Username != tt.username || e.Source != "cli" || e.Role != "" || e.Details != tt.details ||
				time.Since(e.Time) > time.Minute {
				t.Errorf("entry %+v, want %s by %s from cli: %q", e, tt.action, tt.username, tt.details)
			}
		})
	}
}

// TestUserCmd_DaemonRunning checks that the CLI refuses a data directory in use, quickly and
// saying why.
func TestUserCmd_DaemonRunning(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(context.Background(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stderr bytes.Buffer
	start := time.Now()
	code := run([]string{"user", "list", "--data", dir}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "in use by another maskserviced") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// TestMain_CleansEndedSessions checks that the daemon deletes sessions that ended more than a
// day ago when it starts, and keeps live ones.
func TestMain_CleansEndedSessions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := bolt.Open(context.Background(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	now := time.Now()
	for _, s := range []*maskservice.Session{
		{ID: "ended", Username: "x", Role: maskservice.RoleOperator, Created: old, LastSeen: old, Expires: old.Add(maskservice.MaxSessionAge)},
		{ID: "live", Username: "x", Role: maskservice.RoleOperator, Created: now, LastSeen: now, Expires: now.Add(maskservice.MaxSessionAge)},
	} {
		if err := db.CreateSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	m := NewMain()
	m.DataDir, m.Listen, m.Stderr = dir, "127.0.0.1:0", io.Discard
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFor(t, 5*time.Second, "the ended session to go", func() bool {
		_, err := m.db.Session(context.Background(), "ended")
		return maskservice.ErrorCode(err) == maskservice.ENOTFOUND
	})
	if _, err := m.db.Session(context.Background(), "live"); err != nil {
		t.Errorf("live session: %v", err)
	}
}
