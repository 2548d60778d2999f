package maskservice_test

import (
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
)

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"operator1", true}, {"anna.kowalska", true}, {"serwis_2", true}, {"abc", true},
		{"ab", false}, {"1anna", false}, {"Anna", false}, {"anna kowalska", false},
		{"", false}, {strings.Repeat("a", 33), false}, {"zażółć", false}, {"anna\n", false},
	}
	for _, tt := range tests {
		err := maskservice.ValidateUsername(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateUsername(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && (maskservice.ErrorCode(err) != maskservice.EINVALID || maskservice.ErrorField(err) != "username") {
			t.Errorf("ValidateUsername(%q): code %s field %s", tt.name, maskservice.ErrorCode(err), maskservice.ErrorField(err))
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		password string
		demo     bool
		ok       bool
	}{
		{"correct horse", false, true},
		{"0123456789", false, true},
		{"ąćęłńóśźżĄ", false, true}, // 10 characters, 20 bytes
		{"012345678", false, false},
		{maskservice.DemoPassword, false, false}, // 11 characters, but never outside --demo
		{maskservice.DemoPassword, true, true},
		{"short", true, false},
		{strings.Repeat("x", 73), false, false}, // bcrypt would ignore the tail
		{"\xff\xfe0123456789", false, false},
	}
	for _, tt := range tests {
		err := maskservice.ValidatePassword(tt.password, tt.demo)
		if (err == nil) != tt.ok {
			t.Errorf("ValidatePassword(%q, demo=%v) = %v, want ok=%v", tt.password, tt.demo, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), tt.password) && len(tt.password) > 3 {
			t.Errorf("error %q repeats the password", err)
		}
	}
}

func TestValidatePIN(t *testing.T) {
	tests := []struct {
		pin  string
		want string // a part of the error; "" for a PIN that passes
	}{
		{"2580", ""}, {"1470", ""}, {"13579024", ""}, {"1123", ""},
		{"123", "4 to 8 digits"}, {"123456780", "4 to 8 digits"}, {"", "4 to 8 digits"},
		{"12a4", "digits 0-9 only"}, {"１２３４", "4 to 8 digits"}, // full-width digits: 12 bytes
		{"0000", "one digit repeated"}, {"99999999", "one digit repeated"},
		{"1234", "straight run"}, {"4321", "straight run"}, {"7890", "straight run"}, {"1098", "straight run"},
		{"23456789", "straight run"},
	}
	for _, tt := range tests {
		err := maskservice.ValidatePIN(tt.pin)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ValidatePIN(%q) = %v, want ok", tt.pin, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || maskservice.ErrorField(err) != "pin" {
			t.Errorf("ValidatePIN(%q) = %v (field %q), want %q on field pin", tt.pin, err, maskservice.ErrorField(err), tt.want)
		}
	}
}

// TestUser_Lockout checks the sign-in rule: 3 failures in a row lock for 5 minutes, per
// origin, so that failures from the hotspot never lock the LCD out.
func TestUser_Lockout(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	local, remote := maskservice.OriginLocal, maskservice.OriginRemote
	u := &maskservice.User{Username: "operator1", Role: maskservice.RoleOperator, Active: true}

	if u.RecordFailure(remote, t0) || u.RecordFailure(remote, t0.Add(time.Second)) {
		t.Fatal("locked before the third failure")
	}
	if !u.RecordFailure(remote, t0.Add(2*time.Second)) {
		t.Fatal("third failure did not lock")
	}
	locked := t0.Add(2 * time.Second)
	for _, tt := range []struct {
		origin maskservice.Origin
		at     time.Duration
		want   bool
	}{
		{remote, 0, true},
		{remote, maskservice.LockoutDuration - time.Nanosecond, true},
		{remote, maskservice.LockoutDuration, false},
		{local, 0, false}, // the LCD is not locked by the hotspot's failures
	} {
		if got := u.Locked(tt.origin, locked.Add(tt.at)); got != tt.want {
			t.Errorf("Locked(%s, +%s) = %v, want %v", tt.origin, tt.at, got, tt.want)
		}
	}

	// After the lock ran out, counting starts afresh: one failure does not lock again.
	after := locked.Add(maskservice.LockoutDuration)
	if u.RecordFailure(remote, after) || u.Locked(remote, after) {
		t.Error("a failure after an expired lock locked again at once")
	}

	// A success clears that origin's count and notes the time.
	u.RecordFailure(local, after)
	u.RecordFailure(local, after)
	u.RecordSuccess(local, after.Add(time.Second))
	if u.RecordFailure(local, after.Add(2*time.Second)) {
		t.Error("a success did not clear the failures")
	}
	if !u.LastLogin.Equal(after.Add(time.Second)) {
		t.Errorf("LastLogin = %s", u.LastLogin)
	}

	u.RecordSuccess(local, after)
	u.RecordFailure(local, after)
	u.RecordFailure(local, after)
	if !u.RecordFailure(local, after) {
		t.Fatal("local failures did not lock")
	}
	u.Unlock()
	if u.Locked(local, after) || u.Locked(remote, after) {
		t.Error("Unlock left a lock")
	}
}

func TestUser_Validate(t *testing.T) {
	good := maskservice.User{Username: "admin1", Role: maskservice.RoleAdmin, PasswordHash: []byte("$2a$12$x")}
	tests := []struct {
		name  string
		edit  func(*maskservice.User)
		field string
	}{
		{"good", func(*maskservice.User) {}, ""},
		{"bad name", func(u *maskservice.User) { u.Username = "Admin" }, "username"},
		{"bad role", func(u *maskservice.User) { u.Role = "ROOT" }, "role"},
		{"no password", func(u *maskservice.User) { u.PasswordHash = nil }, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := good
			tt.edit(&u)
			err := u.Validate()
			if got := maskservice.ErrorField(err); got != tt.field || (tt.field == "") != (err == nil) {
				t.Errorf("Validate() = %v (field %q), want field %q", err, got, tt.field)
			}
		})
	}
}

// TestSession_Alive checks the three ends of a session: revoked, idle per role, 7 days.
func TestSession_Alive(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	s := maskservice.Session{ID: "s", Username: "operator1", Role: maskservice.RoleOperator,
		Created: t0, LastSeen: t0, Expires: t0.Add(maskservice.MaxSessionAge)}
	tests := []struct {
		name string
		edit func(*maskservice.Session)
		at   time.Duration
		want bool
	}{
		{"fresh", nil, time.Minute, true},
		{"operator idle 29m59s", nil, 30*time.Minute - time.Second, true},
		{"operator idle 30m", nil, 30 * time.Minute, false},
		{"serwisant idle 3h", func(s *maskservice.Session) { s.Role = maskservice.RoleServiceTech }, 3 * time.Hour, true},
		{"revoked", func(s *maskservice.Session) { s.Revoked = t0 }, time.Minute, false},
		{"past 7 days though active", func(s *maskservice.Session) { s.LastSeen = t0.Add(maskservice.MaxSessionAge) }, maskservice.MaxSessionAge, false},
		{"unknown role", func(s *maskservice.Session) { s.Role = "ROOT" }, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s
			if tt.edit != nil {
				tt.edit(&c)
			}
			if got := c.Alive(t0.Add(tt.at)); got != tt.want {
				t.Errorf("Alive(+%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}
