package maskservice_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

var ctx = context.Background()

// clock is a settable time for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingHasher hashes with SHA-256 (a test needs no slow hash) and counts comparisons.
// countingHasher counts comparisons; each takes delay, as a bcrypt comparison takes time.
type countingHasher struct {
	compares atomic.Int64
	delay    atomic.Int64 // time.Duration
}

func (h *countingHasher) Hash(p string) ([]byte, error) {
	sum := sha256.Sum256([]byte(p))
	return sum[:], nil
}

func (h *countingHasher) Compare(hash []byte, p string) error {
	h.compares.Add(1)
	time.Sleep(time.Duration(h.delay.Load()))
	if sum := sha256.Sum256([]byte(p)); string(sum[:]) != string(hash) {
		return errors.New("mismatch")
	}
	return nil
}

// fakeTokens issues opaque access tokens naming the session.
type fakeTokens struct{ now func() time.Time }

func (f fakeTokens) IssueAccess(s *maskservice.Session) (string, time.Time, error) {
	return "access:" + s.ID, f.now().Add(15 * time.Minute), nil
}

type fixture struct {
	svc    *maskservice.Accounts
	clock  *clock
	db     *bolt.DB
	hasher *countingHasher
}

// admin, super and console are the actors of the tests.
var (
	admin   = maskservice.Actor{Username: "admin1", Role: maskservice.RoleAdmin, Source: "192.0.2.1"}
	super   = maskservice.Actor{Username: "super1", Role: maskservice.RoleSuperuser, Source: "192.0.2.1"}
	console = maskservice.ConsoleActor("anna")
)

// MustAccounts returns an accounts service over a real bbolt file (users, sessions, audit)
// with one user per role, all with the password "correct horse".
func MustAccounts(tb testing.TB) *fixture {
	tb.Helper()
	db, err := bolt.Open(ctx, tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	c := &clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	h := &countingHasher{}
	svc, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: db, Passwords: h,
		Tokens: fakeTokens{c.Now}, Now: c.Now, Panel: db})
	if err != nil {
		tb.Fatal(err)
	}
	hash, _ := h.Hash("correct horse")
	for name, role := range map[string]maskservice.Role{"operator1": maskservice.RoleOperator, "admin1": maskservice.RoleAdmin,
		"super1": maskservice.RoleSuperuser, "serwis1": maskservice.RoleServiceTech} {
		if err := db.CreateUser(ctx, &maskservice.User{Username: name, PasswordHash: hash, Role: role, Active: true, Created: c.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	return &fixture{svc: svc, clock: c, db: db, hasher: h}
}

func (f *fixture) login(tb testing.TB, user string, role maskservice.Role) *maskservice.LoginResult {
	tb.Helper()
	res, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: user, Password: "correct horse", Role: role,
		Origin: maskservice.OriginLocal, Remote: "127.0.0.1:1", Source: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// alive reports whether the session of res still counts.
func (f *fixture) alive(res *maskservice.LoginResult) error {
	return f.svc.CheckSession(ctx, res.Session.ID, res.Session.Role)
}

// audit returns the audit log, oldest first, as "action username role source: details".
func (f *fixture) audit(tb testing.TB) []string {
	tb.Helper()
	var out []string
	if err := f.db.ScanAudit(ctx, maskservice.AuditFilter{}, func(e maskservice.AuditEntry) bool {
		if !e.Time.Equal(f.clock.Now()) {
			tb.Errorf("entry %+v not at the service's now %v", e, f.clock.Now())
		}
		out = append([]string{string(e.Action) + " " + e.Username + " " + string(e.Role) + " " + e.Source + ": " + e.Details}, out...)
		return true
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func code(err error) string { return maskservice.ErrorCode(err) }

// TestAccounts_LoginFailures checks that every wrong part answers the same error after
// exactly one password comparison, known user or not.
func TestAccounts_LoginFailures(t *testing.T) {
	f := MustAccounts(t)
	if _, err := f.db.UpdateUser(ctx, "admin1", func(u *maskservice.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		role                 maskservice.Role
	}{
		{"wrong user", "nobody", "correct horse", maskservice.RoleOperator},
		{"wrong password", "operator1", "wrong horse!", maskservice.RoleOperator},
		{"wrong role", "operator1", "correct horse", maskservice.RoleSuperuser},
		{"unknown role", "operator1", "correct horse", "ROOT"},
		{"inactive", "admin1", "correct horse", maskservice.RoleAdmin},
	}
	var msgs []string
	for _, tt := range tests {
		before := f.hasher.compares.Load()
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: tt.user, Password: tt.password, Role: tt.role})
		if code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("%s: %v", tt.name, err)
		}
		if n := f.hasher.compares.Load() - before; n != 1 {
			t.Errorf("%s: %d password comparisons, want 1", tt.name, n)
		}
		msgs = append(msgs, maskservice.ErrorMessage(err))
	}
	for _, m := range msgs {
		if m != msgs[0] {
			t.Errorf("messages differ: %q", msgs)
		}
	}
}

// TestAccounts_Lockout: 3 failures lock for 5 minutes, per origin; the right password to a
// locked account says so; the lock ends after 5 minutes by the clock.
func TestAccounts_Lockout(t *testing.T) {
	f := MustAccounts(t)
	try := func(password string, origin maskservice.Origin) error {
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: "operator1", Password: password, Role: maskservice.RoleOperator, Origin: origin})
		return err
	}
	for range 3 {
		if code(try("wrong horse!", maskservice.OriginRemote)) != maskservice.EUNAUTHORIZED {
			t.Fatal("wrong password accepted")
		}
	}
	if err := try("correct horse", maskservice.OriginRemote); code(err) != maskservice.ELOCKED || !strings.Contains(err.Error(), "try again in 5 min") {
		t.Errorf("locked remote: %v", err)
	}
	// The LCD (loopback) is not locked by the hotspot's failures.
	if err := try("correct horse", maskservice.OriginLocal); err != nil {
		t.Errorf("local sign-in while remote is locked: %v", err)
	}
	f.clock.Add(maskservice.LockoutDuration - time.Second)
	if code(try("correct horse", maskservice.OriginRemote)) != maskservice.ELOCKED {
		t.Error("unlocked early")
	}
	f.clock.Add(time.Second)
	if err := try("correct horse", maskservice.OriginRemote); err != nil {
		t.Errorf("after 5 minutes: %v", err)
	}
}

// TestAccounts_LoginAudit checks the entries of sign-ins: the login, each failure, the
// lockout after the third, a refusal while locked, by the name and role given.
func TestAccounts_LoginAudit(t *testing.T) {
	f := MustAccounts(t)
	try := func(user, password string, role maskservice.Role, origin maskservice.Origin) {
		_, _ = f.svc.Login(ctx, maskservice.LoginRequest{Username: user, Password: password, Role: role, Origin: origin, Source: "192.0.2.7"})
	}
	try("operator1", "correct horse", maskservice.RoleOperator, maskservice.OriginRemote)
	try("nobody", "x", "ROOT", maskservice.OriginRemote)
	for range 3 {
		try("admin1", "wrong horse!", maskservice.RoleAdmin, maskservice.OriginLocal)
	}
	try("admin1", "correct horse", maskservice.RoleAdmin, maskservice.OriginLocal)
	const bad = "wrong password, unknown user, wrong role or disabled account"
	want := []string{
		"login operator1 OPERATOR 192.0.2.7: ",
		"login_failed nobody  192.0.2.7: " + bad,
		"login_failed admin1 ADMIN 192.0.2.7: " + bad,
		"login_failed admin1 ADMIN 192.0.2.7: " + bad,
		"login_failed admin1 ADMIN 192.0.2.7: " + bad,
		"lockout admin1 ADMIN 192.0.2.7: locked for 5 min after 3 failed sign-ins; sign-ins from the LCD (loopback) are refused until then",
		"login_failed admin1 ADMIN 192.0.2.7: account locked",
	}
	if got := f.audit(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAccounts_RefreshRotationAndReuse: a refresh rotates; presenting the old token again
// revokes the session, after which the rotated token and the session fail too.
func TestAccounts_RefreshRotationAndReuse(t *testing.T) {
	f := MustAccounts(t)
	var revoked []string
	f.svc.OnRevoke(func(id string) { revoked = append(revoked, id) })
	first := f.login(t, "serwis1", maskservice.RoleServiceTech)
	f.clock.Add(time.Minute)
	second, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	if second.Refresh == first.Refresh || second.Session.ID != first.Session.ID || second.Session.RefreshGen != 2 ||
		second.Access != "access:"+first.Session.ID {
		t.Fatalf("not rotated: %+v", second)
	}
	if err := f.alive(second); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("reused token: %v", err)
	}
	if len(revoked) != 1 || revoked[0] != first.Session.ID {
		t.Errorf("OnRevoke calls: %v", revoked)
	}
	if _, err := f.svc.Refresh(ctx, second.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("rotated token after reuse: %v", err)
	}
	if err := f.alive(second); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("session after reuse: %v", err)
	}
	s, _ := f.db.Session(ctx, first.Session.ID)
	if s.RevokeReason != "refresh token reused" {
		t.Errorf("stored reason %q", s.RevokeReason)
	}
	for _, bad := range []string{"", "a.b", "x.1.y", first.Session.ID + ".2.wrongsecret", first.Session.ID + ".notanumber.x"} {
		if _, err := f.svc.Refresh(ctx, bad, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("Refresh(%q) = %v", bad, err)
		}
	}
}

// TestAccounts_Logout: the session stops counting at once, OnRevoke runs, and the logout is
// recorded by whoever signed out.
func TestAccounts_Logout(t *testing.T) {
	f := MustAccounts(t)
	var revoked []string
	f.svc.OnRevoke(func(id string) { revoked = append(revoked, id) })
	res := f.login(t, "admin1", maskservice.RoleAdmin)
	if err := f.alive(res); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, admin, res.Session.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.alive(res); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("after logout: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("refresh after logout: %v", err)
	}
	if len(revoked) != 1 || revoked[0] != res.Session.ID {
		t.Errorf("OnRevoke: %v", revoked)
	}
	if got := f.audit(t); len(got) != 2 || got[1] != "logout admin1 ADMIN 192.0.2.1: " {
		t.Errorf("audit %q", got)
	}
}

// TestAccounts_SessionIdleAndMaxAge: each role's idle timeout, activity keeping a session
// alive, the 7-day hard end, and a token of another role than the session's.
func TestAccounts_SessionIdleAndMaxAge(t *testing.T) {
	f := MustAccounts(t)
	op := f.login(t, "operator1", maskservice.RoleOperator)
	sw := f.login(t, "serwis1", maskservice.RoleServiceTech)
	if err := f.svc.CheckSession(ctx, op.Session.ID, maskservice.RoleSuperuser); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("a token of another role: %v", err)
	}
	if err := f.svc.CheckSession(ctx, "no-such-session", maskservice.RoleOperator); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("an unknown session: %v", err)
	}
	f.clock.Add(29 * time.Minute)
	if err := f.alive(op); err != nil {
		t.Fatalf("operator idle 29 min: %v", err)
	}
	f.clock.Add(29 * time.Minute)
	if err := f.alive(op); err != nil {
		t.Fatalf("operator active 29 min ago: %v", err)
	}
	f.clock.Add(30 * time.Minute)
	if err := f.alive(op); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("operator idle 30 min: %v", err)
	}
	res, err := f.svc.Refresh(ctx, sw.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatalf("serwisant at 88 min: %v", err)
	}
	for f.clock.Now().Before(sw.Session.Expires.Add(-3 * time.Hour)) {
		f.clock.Add(3 * time.Hour)
		if res, err = f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); err != nil {
			t.Fatalf("at %s: %v", f.clock.Now(), err)
		}
	}
	f.clock.Add(3 * time.Hour)
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("after 7 days: %v", err)
	}
}

// TestAccounts_LastSeenPersisted checks that activity reaches the disk at most once a minute.
func TestAccounts_LastSeenPersisted(t *testing.T) {
	f := MustAccounts(t)
	res := f.login(t, "operator1", maskservice.RoleOperator)
	start := f.clock.Now()
	f.clock.Add(30 * time.Second)
	_ = f.alive(res)
	if s, _ := f.db.Session(ctx, res.Session.ID); !s.LastSeen.Equal(start) {
		t.Errorf("LastSeen written after 30 s: %v", s.LastSeen)
	}
	f.clock.Add(31 * time.Second)
	_ = f.alive(res)
	if s, _ := f.db.Session(ctx, res.Session.ID); !s.LastSeen.Equal(f.clock.Now()) {
		t.Errorf("LastSeen %v after a minute, want %v", s.LastSeen, f.clock.Now())
	}
}

// TestAccounts_LockedAnswersAlike checks that a locked account answers the same whatever the
// password, and that an odd origin value is treated as remote rather than crashing.
func TestAccounts_LockedAnswersAlike(t *testing.T) {
	f := MustAccounts(t)
	for range 3 {
		_, _ = f.svc.Login(ctx, maskservice.LoginRequest{Username: "admin1", Password: "wrong horse!", Role: maskservice.RoleAdmin, Origin: 7})
	}
	var msgs []string
	for _, pw := range []string{"wrong horse!", "correct horse"} {
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: "admin1", Password: pw, Role: maskservice.RoleAdmin, Origin: maskservice.OriginRemote})
		if code(err) != maskservice.ELOCKED {
			t.Fatalf("password %q while locked: %v", pw, err)
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] {
		t.Errorf("locked answers differ: %q", msgs)
	}
}

// TestAccounts_RefreshGuessCannotRevoke checks that a token that only names the session is
// refused without ending the session, while a real old token, two rotations back, ends it.
func TestAccounts_RefreshGuessCannotRevoke(t *testing.T) {
	f := MustAccounts(t)
	first := f.login(t, "operator1", maskservice.RoleOperator)
	second, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.svc.Refresh(ctx, second.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	id := first.Session.ID
	for _, guess := range []string{id + ".1.made-up-secret", id + ".0.x", id + ".2.also-made-up"} {
		if _, err := f.svc.Refresh(ctx, guess, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("guess %q: %v", guess, err)
		}
	}
	if err := f.alive(third); err != nil {
		t.Fatalf("session ended by a guess: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("real reuse: %v", err)
	}
	if err := f.alive(third); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("session still alive after a real reuse: %v", err)
	}
}

// TestAccounts_RefreshDisabledUser checks that a refresh for a disabled user ends the session
// and leaves nothing rotated.
func TestAccounts_RefreshDisabledUser(t *testing.T) {
	f := MustAccounts(t)
	res := f.login(t, "serwis1", maskservice.RoleServiceTech)
	if _, err := f.db.UpdateUser(ctx, "serwis1", func(u *maskservice.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("disabled user refreshed: %v", err)
	}
	s, err := f.db.Session(ctx, res.Session.ID)
	if err != nil || s.Revoked.IsZero() || s.RefreshGen != 1 {
		t.Errorf("session after refusal: %v %+v", err, s)
	}
}

// TestAccounts_LockedNowSignal: only the failure that locks the account carries ErrLockedNow,
// and it answers the client exactly as every other failure does.
func TestAccounts_LockedNowSignal(t *testing.T) {
	f := MustAccounts(t)
	try := func(user, password string) error {
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: user, Password: password, Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
		return err
	}
	tests := []struct {
		name, user, password string
		code                 string
		lockedNow            bool
	}{
		{"first failure", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"unknown user", "nobody", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"second failure", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"third failure locks", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, true},
		{"while locked", "operator1", "wrong horse!", maskservice.ELOCKED, false},
		{"right password while locked", "operator1", "correct horse", maskservice.ELOCKED, false},
	}
	plain := try("nobody", "x")
	for _, tt := range tests {
		err := try(tt.user, tt.password)
		if code(err) != tt.code || errors.Is(err, maskservice.ErrLockedNow) != tt.lockedNow {
			t.Errorf("%s: %v (code %s, locked now %v); want code %s, locked now %v",
				tt.name, err, code(err), errors.Is(err, maskservice.ErrLockedNow), tt.code, tt.lockedNow)
		}
		if tt.lockedNow && (err.Error() != plain.Error() || maskservice.ErrorMessage(err) != maskservice.ErrorMessage(plain)) {
			t.Errorf("%s: answers %q, any other failure %q", tt.name, maskservice.ErrorMessage(err), maskservice.ErrorMessage(plain))
		}
	}
}

// TestAccounts_WhoMayManage walks the rule of who may create or change whom: manage_users to
// touch anyone, full_system_access (a SUPERUSER, or the console) to make or change a
// SUPERUSER; the last active SUPERUSER stays. A refused change leaves no audit entry.
func TestAccounts_WhoMayManage(t *testing.T) {
	f := MustAccounts(t)
	operator := maskservice.Actor{Username: "operator1", Role: maskservice.RoleOperator, Source: "192.0.2.1"}
	role := func(r maskservice.Role) *maskservice.Role { return &r }
	off := false
	newUser := func(name string, r maskservice.Role) maskservice.NewUser {
		return maskservice.NewUser{Username: name, Password: "a long password", Role: r}
	}
	tests := []struct {
		name string
		do   func() error
		code string
		want string
	}{
		{"operator creates", func() error {
			_, err := f.svc.CreateUser(ctx, operator, newUser("ewa", maskservice.RoleOperator))
			return err
		},
			maskservice.EFORBIDDEN, "manage_users"},
		{"admin creates a superuser", func() error {
			_, err := f.svc.CreateUser(ctx, admin, newUser("boss", maskservice.RoleSuperuser))
			return err
		},
			maskservice.EFORBIDDEN, "only a SUPERUSER may create or change a SUPERUSER"},
		{"admin promotes", func() error {
			_, _, err := f.svc.UpdateUser(ctx, admin, "operator1", maskservice.UserChange{Role: role(maskservice.RoleSuperuser)})
			return err
		}, maskservice.EFORBIDDEN, "only a SUPERUSER"},
		{"admin disables a superuser", func() error {
			_, _, err := f.svc.UpdateUser(ctx, admin, "super1", maskservice.UserChange{Active: &off})
			return err
		}, maskservice.EFORBIDDEN, "only a SUPERUSER"},
		{"bad role", func() error { _, err := f.svc.CreateUser(ctx, super, newUser("ewa", "ROOT")); return err },
			maskservice.EINVALID, `role "ROOT": want OPERATOR, ADMIN, SUPERUSER or SERWISANT`},
		{"bad role in a change", func() error {
			_, _, err := f.svc.UpdateUser(ctx, super, "operator1", maskservice.UserChange{Role: role("ROOT")})
			return err
		}, maskservice.EINVALID, "want OPERATOR, ADMIN, SUPERUSER or SERWISANT"},
		{"unknown user", func() error {
			_, _, err := f.svc.UpdateUser(ctx, super, "nobody", maskservice.UserChange{Unlock: true})
			return err
		},
			maskservice.ENOTFOUND, "no such user"},
		{"short password", func() error {
			pw := "short"
			_, _, err := f.svc.UpdateUser(ctx, super, "operator1", maskservice.UserChange{Password: &pw})
			return err
		}, maskservice.EINVALID, "at least 10 characters"},
		{"demo password", func() error {
			_, err := f.svc.CreateUser(ctx, console, maskservice.NewUser{Username: "ewa", Password: maskservice.DemoPassword, Role: maskservice.RoleAdmin})
			return err
		},
			maskservice.EINVALID, "only for the demo users"},
		{"last superuser", func() error {
			_, _, err := f.svc.UpdateUser(ctx, console, "super1", maskservice.UserChange{Active: &off})
			return err
		},
			maskservice.ECONFLICT, "last active SUPERUSER"},
		{"duplicate", func() error {
			_, err := f.svc.CreateUser(ctx, super, newUser("admin1", maskservice.RoleAdmin))
			return err
		},
			maskservice.ECONFLICT, "exists"},
		{"the console creates a superuser", func() error {
			_, err := f.svc.CreateUser(ctx, console, newUser("boss", maskservice.RoleSuperuser))
			return err
		},
			"", ""},
		{"a superuser demotes one", func() error {
			_, _, err := f.svc.UpdateUser(ctx, super, "boss", maskservice.UserChange{Role: role(maskservice.RoleAdmin)})
			return err
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(f.audit(t))
			err := tt.do()
			if code(err) != tt.code || (tt.want != "" && !strings.Contains(maskservice.ErrorMessage(err), tt.want)) {
				t.Errorf("error %v (%s), want %q naming %q", err, code(err), tt.code, tt.want)
			}
			if got := f.audit(t)[n:]; (len(got) == 1) != (tt.code == "") {
				t.Errorf("audit entries %q", got)
			}
		})
	}
}

// TestAccounts_UpdateUser checks what each change records and which end the user's sessions.
func TestAccounts_UpdateUser(t *testing.T) {
	f := MustAccounts(t)
	role := func(r maskservice.Role) *maskservice.Role { return &r }
	on, off := true, false
	pw := "correct horse" // the fixture's, so that the next step signs in as before
	tests := []struct {
		name   string
		change maskservice.UserChange
		entry  string // "" for none
		ended  string // the reason the operator's session ended, "" if it lives on
	}{
		{"unlock, locked or not", maskservice.UserChange{Unlock: true}, "user operator1: unlocked", ""},
		{"must change", maskservice.UserChange{MustChangePassword: &on}, "user operator1: must change password", ""},
		{"no change", maskservice.UserChange{Active: &on}, "", ""},
		{"password", maskservice.UserChange{Password: &pw}, "user operator1: password reset, need not change password", "password changed"},
		{"password, must change", maskservice.UserChange{Password: &pw, MustChangePassword: &on}, "user operator1: password reset, must change password", "password changed"},
		{"role", maskservice.UserChange{Role: role(maskservice.RoleServiceTech)}, "user operator1: role OPERATOR→SERWISANT", "role changed"},
		{"disable", maskservice.UserChange{Active: &off}, "user operator1: disabled", "user disabled"},
		{"enable", maskservice.UserChange{Active: &on, Role: role(maskservice.RoleOperator)}, "user operator1: role SERWISANT→OPERATOR, enabled", ""},
		{"role of a signed-in user", maskservice.UserChange{Role: role(maskservice.RoleAdmin)}, "user operator1: role OPERATOR→ADMIN", "role changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.db.User(ctx, "operator1")
			if err != nil {
				t.Fatal(err)
			}
			var res *maskservice.LoginResult
			if u.Active {
				res = f.login(t, "operator1", u.Role)
			}
			n := len(f.audit(t))
			_, ended, err := f.svc.UpdateUser(ctx, admin, "operator1", tt.change)
			if err != nil {
				t.Fatal(err)
			}
			got := f.audit(t)[n:]
			switch {
			case tt.entry == "" && len(got) != 0:
				t.Errorf("entries %q, want none", got)
			case tt.entry != "" && (len(got) != 1 || got[0] != "user_update admin1 ADMIN 192.0.2.1: "+tt.entry):
				t.Errorf("entries %q, want %q", got, tt.entry)
			}
			if res == nil {
				return // disabled: nobody was signed in
			}
			s, _ := f.db.Session(ctx, res.Session.ID)
			if s.RevokeReason != tt.ended || (tt.ended != "") != (ended > 0) {
				t.Errorf("session ended for %q (%d ended), want %q", s.RevokeReason, ended, tt.ended)
			}
			if tt.ended != "" && f.alive(res) == nil {
				t.Error("the ended session still counts")
			}
		})
	}
}

// TestAccounts_CreateUser checks the one entry of a creation, by the console and through the
// API alike, and that the demo users are made once, recorded, with the demo password allowed.
func TestAccounts_CreateUser(t *testing.T) {
	f := MustAccounts(t)
	for name, by := range map[string]maskservice.Actor{"by.console": console, "by.super": super} {
		u, err := f.svc.CreateUser(ctx, by, maskservice.NewUser{Username: name, Password: "a long password",
			Role: maskservice.RoleOperator, MustChangePassword: true})
		if err != nil || !u.Active || !u.MustChangePassword || u.Demo {
			t.Fatalf("%+v: %v", u, err)
		}
		got := f.audit(t)
		want := "user_create " + by.Username + " " + string(by.Role) + " " + by.Source + ": user " + name + " created as OPERATOR, must change password"
		if got[len(got)-1] != want {
			t.Errorf("entry %q, want %q", got[len(got)-1], want)
		}
	}
	if got := f.audit(t); !slices.Contains(got, "user_create cli:anna  cli: user by.console created as OPERATOR, must change password") {
		t.Errorf("the console's entry is missing: %q", got)
	}
	// The demo users' names are taken: --demo creates none and records nothing.
	n := len(f.audit(t))
	created, err := f.svc.CreateDemoUsers(ctx)
	if err != nil || len(created) != 0 || len(f.audit(t)) != n {
		t.Errorf("demo users again: %v %v", created, err)
	}
}

// TestAccounts_CreateDemoUsers checks that --demo makes the four demo users once, with the
// demo password, and records each.
func TestAccounts_CreateDemoUsers(t *testing.T) {
	db, err := bolt.Open(ctx, t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: db, Passwords: &countingHasher{}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{4, 0} {
		created, err := svc.CreateDemoUsers(ctx)
		if err != nil || len(created) != want {
			t.Fatalf("run %d: created %v, %v", i, created, err)
		}
	}
	u, err := db.User(ctx, "super1")
	if err != nil || !u.Demo || u.Role != maskservice.RoleSuperuser {
		t.Fatalf("super1: %+v %v", u, err)
	}
	if _, err := svc.Login(ctx, maskservice.LoginRequest{Username: "super1", Password: maskservice.DemoPassword, Role: maskservice.RoleSuperuser}); err != nil {
		t.Errorf("demo sign-in: %v", err)
	}
	if _, err := svc.Login(ctx, maskservice.LoginRequest{Username: "super1", PIN: "3690", Role: maskservice.RoleSuperuser}); err != nil {
		t.Errorf("demo sign-in with the PIN on the panel: %v", err)
	}
	var creates []string
	_ = db.ScanAudit(ctx, maskservice.AuditFilter{Action: maskservice.AuditUserCreate}, func(e maskservice.AuditEntry) bool {
		creates = append(creates, e.Username+" "+e.Source+": "+e.Details)
		return true
	})
	if len(creates) != 4 || creates[0] != "maskserviced demo: user serwis1 created as SERWISANT, demo" {
		t.Errorf("audit %q", creates)
	}
}

// TestAccounts_Run checks that Run deletes sessions that ended more than a day ago, at once,
// and keeps live ones and ones that ended lately.
func TestAccounts_Run(t *testing.T) {
	f := MustAccounts(t)
	old := f.login(t, "operator1", maskservice.RoleOperator)
	recent := f.login(t, "admin1", maskservice.RoleAdmin)
	live := f.login(t, "serwis1", maskservice.RoleServiceTech)
	if err := f.svc.Revoke(ctx, old.Session.ID, "logout"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(maskservice.EndedSessionKeep + time.Minute)
	if err := f.svc.Revoke(ctx, recent.Session.ID, "logout"); err != nil {
		t.Fatal(err)
	}
	_ = f.alive(live)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.svc.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.db.Session(ctx, old.Session.ID); code(err) == maskservice.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old session was not deleted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, res := range []*maskservice.LoginResult{recent, live} {
		if _, err := f.db.Session(ctx, res.Session.ID); err != nil {
			t.Errorf("session of %s: %v", res.Session.Username, err)
		}
	}
}

func BenchmarkCheckSession(b *testing.B) {
	f := MustAccounts(b)
	res := f.login(b, "operator1", maskservice.RoleOperator)
	for b.Loop() {
		if err := f.alive(res); err != nil {
			b.Fatal(err)
		}
	}
}

// Guesses sent at once are judged one after the other: the third failure locks, and the
// right password sent just after them is refused, however the comparisons overlap.
func TestAccounts_LockoutUnderConcurrency(t *testing.T) {
	f := MustAccounts(t)
	f.hasher.delay.Store(int64(30 * time.Millisecond)) // long enough for every guess to be in flight
	try := func(password string) error {
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: "operator1", Password: password,
			Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
		return err
	}
	errs := make([]error, 9)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = try("wrong horse!") })
	}
	time.Sleep(10 * time.Millisecond) // the guesses first, as an attacker would send them
	right := try("correct horse")
	wg.Wait()
	lockedNow, refused := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, maskservice.ErrLockedNow):
			lockedNow++
		case code(err) == maskservice.EUNAUTHORIZED, code(err) == maskservice.ELOCKED:
			refused++
		default:
			t.Errorf("a wrong guess answered %v", err)
		}
	}
	if lockedNow != 1 || refused != 8 {
		t.Errorf("%d guesses locked the account and %d were refused otherwise; want 1 and 8", lockedNow, refused)
	}
	if code(right) != maskservice.ELOCKED {
		t.Errorf("the right password after 9 parallel guesses: %v, want ELOCKED", right)
	}
	u, err := f.db.User(ctx, "operator1")
	if err != nil || !u.Locked(maskservice.OriginRemote, f.clock.Now()) {
		t.Errorf("operator1 after the guesses: %+v %v, want locked for the hotspot", u, err)
	}
	// The LCD has a lock of its own and was not touched.
	if _, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: "operator1", Password: "correct horse",
		Role: maskservice.RoleOperator, Origin: maskservice.OriginLocal}); err != nil {
		t.Errorf("the LCD after the hotspot's guesses: %v", err)
	}
}

// A sign-in waiting for its turn ends when its client gives up.
func TestAccounts_LoginWaitEndsWithContext(t *testing.T) {
	f := MustAccounts(t)
	f.hasher.delay.Store(int64(300 * time.Millisecond))
	go func() {
		_, _ = f.svc.Login(ctx, maskservice.LoginRequest{Username: "operator1", Password: "wrong horse!",
			Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
	}()
	time.Sleep(20 * time.Millisecond)
	c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.svc.Login(c, maskservice.LoginRequest{Username: "operator1", Password: "correct horse",
		Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 200*time.Millisecond {
		t.Errorf("a sign-in behind another whose client gave up: %v after %s, want the deadline at once", err, time.Since(start))
	}
}

// A made-up name locks as a real account does: the answers to the same guesses are the same,
// so they do not tell which names are accounts.
func TestAccounts_UnknownNameLocksAlike(t *testing.T) {
	f := MustAccounts(t)
	answers := func(name string) []string {
		var out []string
		for range 5 {
			_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: name, Password: "wrong horse!",
				Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
			out = append(out, string(code(err))+" "+fmt.Sprint(errors.Is(err, maskservice.ErrLockedNow)))
		}
		return out
	}
	real, madeUp := answers("operator1"), answers("nobody7")
	if fmt.Sprint(real) != fmt.Sprint(madeUp) {
		t.Errorf("answers to a real account %v, to a made-up name %v: want the same", real, madeUp)
	}
	if real[3] != string(maskservice.ELOCKED)+" false" {
		t.Errorf("the fourth guess at a real account: %s, want ELOCKED", real[3])
	}
	// The lock ends for both alike.
	f.clock.Add(maskservice.LockoutDuration + time.Second)
	for _, name := range []string{"operator1", "nobody7"} {
		_, err := f.svc.Login(ctx, maskservice.LoginRequest{Username: name, Password: "wrong horse!",
			Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
		if code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("%s after the lock: %v, want EUNAUTHORIZED", name, err)
		}
	}
}
