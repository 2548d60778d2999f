package maskservice_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"mask.services/maskservice"
)

// pinRequest is a sign-in of operator1 with a PIN from origin.
func pinRequest(pin string, origin maskservice.Origin) maskservice.LoginRequest {
	return maskservice.LoginRequest{Username: "operator1", PIN: pin, Role: maskservice.RoleOperator, Origin: origin, Source: "127.0.0.1"}
}

// mustSetPIN gives username a PIN, from the console.
func (f *fixture) mustSetPIN(tb testing.TB, username, pin string) {
	tb.Helper()
	if _, err := f.svc.SetPIN(ctx, console, username, maskservice.PINChange{PIN: pin}); err != nil {
		tb.Fatal(err)
	}
}

// TestAccounts_LoginPIN checks the answers of a sign-in with a PIN: only from the panel,
// never with a password as well, one comparison each, and a user without a PIN fails alike.
func TestAccounts_LoginPIN(t *testing.T) {
	f := MustAccounts(t)
	f.mustSetPIN(t, "operator1", "2580")
	tests := []struct {
		name     string
		req      maskservice.LoginRequest
		code     string // "" for a sign-in
		message  string
		compares int64
	}{
		{"right PIN on the panel", pinRequest("2580", maskservice.OriginLocal), "", "", 1},
		{"right PIN from the hotspot", pinRequest("2580", maskservice.OriginRemote), maskservice.EFORBIDDEN, "only on the device's own panel", 0},
		{"PIN and password", func() maskservice.LoginRequest {
			r := pinRequest("2580", maskservice.OriginLocal)
			r.Password = "correct horse"
			return r
		}(), maskservice.EINVALID, "not both", 0},
		{"wrong PIN", pinRequest("2581", maskservice.OriginLocal), maskservice.EUNAUTHORIZED, "wrong username, PIN or role", 1},
		{"user without a PIN", maskservice.LoginRequest{Username: "admin1", PIN: "2580", Role: maskservice.RoleAdmin}, maskservice.EUNAUTHORIZED, "wrong username, PIN or role", 1},
		{"unknown user", maskservice.LoginRequest{Username: "nobody", PIN: "2580", Role: maskservice.RoleAdmin}, maskservice.EUNAUTHORIZED, "wrong username, PIN or role", 1},
		{"PIN of another role", func() maskservice.LoginRequest {
			r := pinRequest("2580", maskservice.OriginLocal)
			r.Role = maskservice.RoleAdmin
			return r
		}(), maskservice.EUNAUTHORIZED, "wrong username, PIN or role", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.hasher.compares.Load()
			res, err := f.svc.Login(ctx, tt.req)
			if code(err) != tt.code || (err != nil && !strings.Contains(err.Error(), tt.message)) {
				t.Fatalf("Login = %v (code %q), want code %q with %q", err, code(err), tt.code, tt.message)
			}
			if tt.code == "" && (res == nil || res.Session.Username != "operator1") {
				t.Errorf("result %+v", res)
			}
			if n := f.hasher.compares.Load() - before; n != tt.compares {
				t.Errorf("%d comparisons, want %d", n, tt.compares)
			}
		})
	}
	u, _ := f.db.User(ctx, "operator1")
	if n := u.Lockouts[maskservice.OriginRemote].FailedAttempts; n != 0 {
		t.Errorf("a PIN from the hotspot counted %d failures there, want none", n)
	}
	if got := f.audit(t); !slices.Contains(got, "login operator1 OPERATOR 127.0.0.1: with PIN") ||
		!slices.Contains(got, "login_failed operator1 OPERATOR 127.0.0.1: PIN refused: a PIN signs in only on the panel") {
		t.Errorf("audit %q", got)
	}
}

// TestAccounts_PINLockout checks that PIN and password failures share the panel's lock:
// two wrong passwords and a wrong PIN lock the panel out, the right password included,
// while the hotspot's password sign-in goes on.
func TestAccounts_PINLockout(t *testing.T) {
	f := MustAccounts(t)
	f.mustSetPIN(t, "operator1", "2580")
	wrongPassword := maskservice.LoginRequest{Username: "operator1", Password: "wrong", Role: maskservice.RoleOperator, Origin: maskservice.OriginLocal}
	for i := range 2 {
		if _, err := f.svc.Login(ctx, wrongPassword); code(err) != maskservice.EUNAUTHORIZED {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	if _, err := f.svc.Login(ctx, pinRequest("1111", maskservice.OriginLocal)); code(err) != maskservice.EUNAUTHORIZED ||
		!strings.Contains(fmt.Sprint(err), "PIN") || !errors.Is(err, maskservice.ErrLockedNow) {
		t.Fatalf("third failure, a PIN: %v; want the PIN answer that locks", err)
	}
	if _, err := f.svc.Login(ctx, pinRequest("2580", maskservice.OriginLocal)); code(err) != maskservice.ELOCKED {
		t.Errorf("right PIN while locked: %v, want ELOCKED", err)
	}
	right := maskservice.LoginRequest{Username: "operator1", Password: "correct horse", Role: maskservice.RoleOperator}
	if _, err := f.svc.Login(ctx, right); code(err) != maskservice.ELOCKED {
		t.Errorf("right password on the panel while locked: %v, want ELOCKED", err)
	}
	right.Origin = maskservice.OriginRemote
	if _, err := f.svc.Login(ctx, right); err != nil {
		t.Errorf("right password from the hotspot: %v, want a sign-in", err)
	}
}

// TestAccounts_SetPIN checks who may set whose PIN, what a user must prove to set their own,
// and the audit entries.
func TestAccounts_SetPIN(t *testing.T) {
	operator := maskservice.Actor{Username: "operator1", Role: maskservice.RoleOperator, Source: "127.0.0.1"}
	tests := []struct {
		name   string
		by     maskservice.Actor
		user   string
		ch     maskservice.PINChange
		code   string // "" for success
		detail string // the audit entry's details on success
	}{
		{"self with the password", operator, "operator1", maskservice.PINChange{PIN: "2580", CurrentPassword: "correct horse"}, "", "user operator1: PIN set"},
		{"self without proof", operator, "operator1", maskservice.PINChange{PIN: "2580"}, maskservice.EINVALID, ""},
		{"self with both", operator, "operator1", maskservice.PINChange{PIN: "2580", CurrentPassword: "correct horse", CurrentPIN: "1470"}, maskservice.EINVALID, ""},
		{"self with a wrong password", operator, "operator1", maskservice.PINChange{PIN: "2580", CurrentPassword: "wrong"}, maskservice.EFORBIDDEN, ""},
		{"self with a PIN not set", operator, "operator1", maskservice.PINChange{PIN: "2580", CurrentPIN: "1470"}, maskservice.EFORBIDDEN, ""},
		{"trivial", operator, "operator1", maskservice.PINChange{PIN: "1234", CurrentPassword: "correct horse"}, maskservice.EINVALID, ""},
		{"operator for another", operator, "serwis1", maskservice.PINChange{PIN: "2580"}, maskservice.EFORBIDDEN, ""},
		{"admin for an operator", admin, "operator1", maskservice.PINChange{PIN: "2580"}, "", "user operator1: PIN set"},
		{"admin for a superuser", admin, "super1", maskservice.PINChange{PIN: "2580"}, maskservice.EFORBIDDEN, ""},
		{"superuser for an admin", super, "admin1", maskservice.PINChange{PIN: "2580"}, "", "user admin1: PIN set"},
		{"console clears nothing", console, "serwis1", maskservice.PINChange{}, "", ""},
		{"missing user", admin, "nobody", maskservice.PINChange{PIN: "2580"}, maskservice.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustAccounts(t)
			u, err := f.svc.SetPIN(ctx, tt.by, tt.user, tt.ch)
			if code(err) != tt.code {
				t.Fatalf("SetPIN = %v, want code %q", err, tt.code)
			}
			if tt.code != "" {
				if stored, _ := f.db.User(ctx, tt.user); stored != nil && stored.PINHash != nil {
					t.Errorf("a refused change stored a PIN")
				}
				return
			}
			if (u.PINHash != nil) != (tt.ch.PIN != "") {
				t.Errorf("PINHash %x after %+v", u.PINHash, tt.ch)
			}
			got := f.audit(t)
			if tt.detail == "" && len(got) != 0 || tt.detail != "" && !strings.HasSuffix(got[len(got)-1], ": "+tt.detail) {
				t.Errorf("audit %q, want one ending %q", got, tt.detail)
			}
		})
	}
}

// TestAccounts_SetPINSelf checks a change and a clear by the user with the current PIN, and
// that wrong proofs count towards the lock of their origin.
func TestAccounts_SetPINSelf(t *testing.T) {
	f := MustAccounts(t)
	operator := maskservice.Actor{Username: "operator1", Role: maskservice.RoleOperator, Source: "127.0.0.1"}
	f.mustSetPIN(t, "operator1", "2580")
	if _, err := f.svc.SetPIN(ctx, operator, "operator1", maskservice.PINChange{PIN: "1470", CurrentPIN: "2580"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, pinRequest("1470", maskservice.OriginLocal)); err != nil {
		t.Errorf("sign-in with the new PIN: %v", err)
	}
	// From beyond the panel a PIN proves nothing, even the right one: it is not compared.
	remote := maskservice.PINChange{PIN: "3690", CurrentPIN: "1470", Origin: maskservice.OriginRemote}
	if _, err := f.svc.SetPIN(ctx, operator, "operator1", remote); code(err) != maskservice.EFORBIDDEN ||
		!strings.Contains(maskservice.ErrorMessage(err), "only on the device's own panel") {
		t.Errorf("a PIN as proof from the hotspot: %v, want EFORBIDDEN naming the panel", err)
	}
	for i := range maskservice.MaxFailedLogins {
		if _, err := f.svc.SetPIN(ctx, operator, "operator1", maskservice.PINChange{CurrentPIN: "0000"}); code(err) != maskservice.EFORBIDDEN {
			t.Fatalf("wrong proof %d: %v", i, err)
		}
	}
	if _, err := f.svc.SetPIN(ctx, operator, "operator1", maskservice.PINChange{CurrentPIN: "1470"}); code(err) != maskservice.ELOCKED {
		t.Errorf("right proof after %d wrong: %v, want ELOCKED", maskservice.MaxFailedLogins, err)
	}
	f.clock.Add(maskservice.LockoutDuration)
	if u, err := f.svc.SetPIN(ctx, operator, "operator1", maskservice.PINChange{CurrentPIN: "1470"}); err != nil || u.PINHash != nil {
		t.Fatalf("clear after the lock: %+v, %v", u, err)
	}
	var got []string
	_ = f.db.ScanAudit(ctx, maskservice.AuditFilter{}, func(e maskservice.AuditEntry) bool {
		got = append([]string{e.Details}, got...) // the entries span the lock: f.audit wants one time
		return true
	})
	want := []string{"PIN set", "PIN changed", "locked for 5 min", "PIN cleared"}
	var seen []string
	for _, e := range got {
		for _, w := range want {
			if strings.Contains(e, w) {
				seen = append(seen, w)
			}
		}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("audit %q: saw %q, want %q in order", got, seen, want)
	}
}

// TestAccounts_RecentPanelUsers checks the panel's list: most recent first, sign-ins from the
// hotspot left out, at most six, kept across a restart, disabled users left out.
func TestAccounts_RecentPanelUsers(t *testing.T) {
	f := MustAccounts(t)
	hash, _ := f.hasher.Hash("correct horse")
	for i := range 4 {
		if err := f.db.CreateUser(ctx, &maskservice.User{Username: fmt.Sprintf("user%d", i), PasswordHash: hash, Role: maskservice.RoleOperator, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := f.svc.RecentPanelUsers(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("before any sign-in: %#v, %v; want an empty list", got, err)
	}
	for _, name := range []string{"user0", "user1", "user2", "user3", "operator1", "user0"} {
		f.login(t, name, maskservice.RoleOperator)
	}
	f.login(t, "admin1", maskservice.RoleAdmin)
	remote := maskservice.LoginRequest{Username: "serwis1", Password: "correct horse", Role: maskservice.RoleServiceTech, Origin: maskservice.OriginRemote}
	if _, err := f.svc.Login(ctx, remote); err != nil {
		t.Fatal(err)
	}
	want := "admin1/ADMIN user0/OPERATOR operator1/OPERATOR user3/OPERATOR user2/OPERATOR user1/OPERATOR"
	if got := recentString(t, f.svc); got != want {
		t.Errorf("recent = %q, want %q", got, want)
	}
	// A restart: a new service over the same file.
	again, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: f.db, Sessions: f.db, Passwords: f.hasher, Panel: f.db})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := again.UpdateUser(ctx, console, "user3", maskservice.UserChange{Active: new(false)}); err != nil {
		t.Fatal(err)
	}
	if got, want := recentString(t, again), strings.Replace(want, " user3/OPERATOR", "", 1); got != want {
		t.Errorf("after a restart and user3 disabled: %q, want %q", got, want)
	}
}

func recentString(tb testing.TB, svc *maskservice.Accounts) string {
	tb.Helper()
	users, err := svc.RecentPanelUsers(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, u := range users {
		parts = append(parts, u.Username+"/"+string(u.Role))
	}
	return strings.Join(parts, " ")
}
