package maskservice

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Sign-in rules of DESIGN.md ("Security defaults").
const (
	MaxFailedLogins   = 3               // failures in a row that lock an account
	LockoutDuration   = 5 * time.Minute // how long a lock lasts
	MinPasswordLength = 10              // characters
	MaxPasswordBytes  = 72              // bcrypt ignores what follows
	DemoPassword      = "password123"   // allowed only for the demo users of --demo
	MinPINLength      = 4               // digits
	MaxPINLength      = 8               // digits
)

// Origin says where a sign-in comes from. Failures are counted and accounts locked per origin,
// so that a client on the hotspot (remote) cannot lock a user out of the LCD (local, loopback)
// by guessing passwords: the LCD has its own counter and its own lock.
type Origin uint8

// The origins.
const (
	OriginLocal  Origin = iota // loopback: the kiosk browser on the attached LCD
	OriginRemote               // anything else: the hotspot, the plant network
)

// String returns "local" or "remote".
func (o Origin) String() string {
	if o == OriginLocal {
		return "local"
	}
	return "remote"
}

// Lockout counts failed sign-ins from one origin.
type Lockout struct {
	FailedAttempts int       // failures in a row since the last success or lock
	LockedUntil    time.Time // zero when not locked
}

// User is a person who can sign in.
type User struct {
	Username           string
	PasswordHash       []byte // bcrypt
	PINHash            []byte // bcrypt, as the password; nil without a PIN (see ValidatePIN)
	Role               Role
	Active             bool // an inactive user cannot sign in
	Demo               bool // created by --demo: may use DemoPassword
	MustChangePassword bool
	Created            time.Time
	LastLogin          time.Time  // zero if never
	Lockouts           [2]Lockout // indexed by Origin
}

// Locked reports whether sign-ins from origin are refused at now.
func (u *User) Locked(origin Origin, now time.Time) bool {
	return now.Before(u.Lockouts[origin].LockedUntil)
}

// RecordFailure counts a failed sign-in from origin at now and locks the account for that
// origin after MaxFailedLogins in a row. It reports whether this failure locked it.
func (u *User) RecordFailure(origin Origin, now time.Time) (locked bool) {
	l := &u.Lockouts[origin]
	if !l.LockedUntil.IsZero() && !now.Before(l.LockedUntil) {
		*l = Lockout{} // an expired lock starts a fresh count
	}
	l.FailedAttempts++
	if l.FailedAttempts >= MaxFailedLogins {
		l.FailedAttempts = 0
		l.LockedUntil = now.Add(LockoutDuration)
		return true
	}
	return false
}

// RecordSuccess clears the failures of origin and notes the sign-in time.
func (u *User) RecordSuccess(origin Origin, now time.Time) {
	u.Lockouts[origin] = Lockout{}
	u.LastLogin = now
}

// Unlock clears every lock and failure count.
func (u *User) Unlock() { u.Lockouts = [2]Lockout{} }

// validUsername is the shape of a username: lowercase, starting with a letter.
var validUsername = regexp.MustCompile(`^[a-z][a-z0-9._-]{2,31}$`)

// ValidateUsername checks a username: 3 to 32 characters, lowercase letters, digits, '.', '_'
// or '-', starting with a letter.
func ValidateUsername(name string) error {
	if !validUsername.MatchString(name) {
		return FieldErrorf("username", "username %q: use 3 to 32 lowercase letters, digits, '.', '_' or '-', starting with a letter", truncate(name, 40))
	}
	return nil
}

// ValidatePassword checks a new password: at least MinPasswordLength characters and at most
// MaxPasswordBytes bytes. DemoPassword is allowed only when demo is true.
func ValidatePassword(password string, demo bool) error {
	switch {
	case password == DemoPassword:
		if demo {
			return nil
		}
		return FieldErrorf("password", "password: the demo password is allowed only for the demo users")
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return FieldErrorf("password", "password: at least %d characters", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return FieldErrorf("password", "password: at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(password):
		return FieldErrorf("password", "password: not valid UTF-8")
	}
	return nil
}

// ValidatePIN checks a new PIN: MinPINLength to MaxPINLength ASCII digits, neither one digit
// repeated (0000) nor a straight run up or down (1234, 4321, 8901). A PIN signs in only on the
// panel (OriginLocal), where a guesser stands at the device and meets the lockout after
// MaxFailedLogins; the rules keep out the first PINs such a guesser would try.
func ValidatePIN(pin string) error {
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return FieldErrorf("pin", "PIN: %d to %d digits", MinPINLength, MaxPINLength)
	}
	for _, c := range []byte(pin) {
		if c < '0' || c > '9' {
			return FieldErrorf("pin", "PIN: digits 0-9 only")
		}
	}
	switch {
	case strings.Count(pin, pin[:1]) == len(pin):
		return FieldErrorf("pin", "PIN: one digit repeated is too easy to guess; mix the digits")
	case straightRun(pin, 1), straightRun(pin, 9):
		return FieldErrorf("pin", "PIN: a straight run of digits (like 1234 or 4321) is too easy to guess")
	}
	return nil
}

// straightRun reports whether each digit of pin is the one before plus step, modulo 10
// (step 1: 1234, 7890; step 9: 4321, 1098).
func straightRun(pin string, step byte) bool {
	for i := 1; i < len(pin); i++ {
		if (pin[i-1]-'0'+step)%10 != pin[i]-'0' {
			return false
		}
	}
	return true
}

// Validate checks a user record before it is stored.
func (u *User) Validate() error {
	if err := ValidateUsername(u.Username); err != nil {
		return err
	}
	if err := ValidateRole(u.Role); err != nil {
		return err
	}
	if len(u.PasswordHash) == 0 {
		return FieldErrorf("password", "user %s: no password set", u.Username)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// UserStore keeps the users. Every method commits to disk before it returns, so an answered
// change survives a power cut. Implementation: store/bolt.
type UserStore interface {
	// User returns the user with that name, or an ENOTFOUND error.
	User(ctx context.Context, username string) (*User, error)
	// Users returns every user, ordered by username.
	Users(ctx context.Context) ([]*User, error)
	// CreateUser stores a new user (validated with Validate); ECONFLICT if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser reads the user, applies fn and stores the result in one transaction, and
	// returns the stored user. If fn returns an error nothing changes and that error is
	// returned. The change is refused with ECONFLICT if it would leave no active SUPERUSER
	// where there was one. ENOTFOUND if there is no such user.
	UpdateUser(ctx context.Context, username string, fn func(*User) error) (*User, error)
}

// Session is one sign-in: what its tokens belong to. Access tokens name the session; the
// session decides whether they still count.
type Session struct {
	ID       string // random, URL-safe
	Username string
	Role     Role
	Origin   Origin
	Remote   string // the client's address at sign-in
	Created  time.Time
	LastSeen time.Time // the last request; updated lazily (see Accounts.CheckSession)
	Expires  time.Time // Created + MaxSessionAge: the hard end, whatever the activity

	// The refresh token is "<ID>.<RefreshGen>.<secret>"; RefreshHash is SHA-256 of the secret
	// of generation RefreshGen. UsedRefreshHashes keeps the hashes of the latest earlier
	// generations (at most MaxUsedRefreshHashes), so that a token presented again is
	// recognized as a real reuse, not confused with a guess that merely names the session.
	RefreshGen        uint64
	RefreshHash       []byte
	UsedRefreshHashes [][]byte

	Revoked      time.Time // zero while the session is alive
	RevokeReason string    // "logout", "refresh token reused", "idle", "expired", "user disabled", ...
}

// MaxUsedRefreshHashes bounds Session.UsedRefreshHashes.
const MaxUsedRefreshHashes = 8

// MaxSessionAge is how long a session lasts at most, however active.
const MaxSessionAge = 7 * 24 * time.Hour

// Alive reports whether the session still counts at now: not revoked, not past its hard end,
// and used within its role's idle timeout.
func (s *Session) Alive(now time.Time) bool {
	if !s.Revoked.IsZero() || !now.Before(s.Expires) {
		return false
	}
	info, ok := s.Role.Info()
	return ok && now.Sub(s.LastSeen) < info.IdleTimeout
}

// SessionStore keeps the sessions. Every method commits before it returns. Implementation:
// store/bolt.
type SessionStore interface {
	// CreateSession stores a new session; ECONFLICT if the id exists.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with that id, or ENOTFOUND.
	Session(ctx context.Context, id string) (*Session, error)
	// Sessions returns every session (alive or not) of username, or of everyone if "".
	Sessions(ctx context.Context, username string) ([]*Session, error)
	// UpdateSession reads, applies fn and stores in one transaction, like UpdateUser.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
	// DeleteSessionsBefore deletes sessions that ended (revoked or expired) before t and
	// returns how many it deleted.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error)
}
