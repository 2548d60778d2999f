package maskservice

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// PasswordHasher hashes passwords and checks them against a hash. Hash is slow on purpose
// (bcrypt at cost 12 takes about a second on the device) and is never called with a lock
// held. Compare returns nil when password matches hash and an error otherwise, a malformed
// hash included. Implementation: web/auth.Bcrypt.
type PasswordHasher interface {
	Hash(password string) ([]byte, error)
	Compare(hash []byte, password string) error
}

// AccessIssuer signs the short-lived access tokens of a session; the session decides
// whether they still count (Accounts.CheckSession). IssueAccess does not block on I/O.
// Implementation: web/auth.Tokens.
type AccessIssuer interface {
	IssueAccess(s *Session) (token string, expires time.Time, err error)
}

// Actor is who asks the accounts service for a change, for its permission check and its
// audit entry: a signed-in user of the API, or the console (the user command).
type Actor struct {
	Username string // "cli:anna" for the console
	Role     Role   // the role they act in; "" for the console
	Source   string // where from: the client's IP address, or "cli"
	// Console marks the person at the device's console (root on the device, the daemon
	// stopped): every permission, without a role.
	Console bool
}

// ConsoleActor returns the actor of the user command run by the OS user osUser (the one
// who ran sudo, if sudo was used): username "cli:osUser", or "cli" when osUser is "", from
// source "cli", with every permission.
func ConsoleActor(osUser string) Actor {
	name := "cli"
	if osUser != "" {
		name = AuditClip("cli:"+osUser, AuditMaxUsername)
	}
	return Actor{Username: name, Source: "cli", Console: true}
}

// demoActor creates the demo users of --demo.
var demoActor = Actor{Username: "maskserviced", Source: "demo", Console: true}

// Can reports whether the actor has permission p.
func (a Actor) Can(p Permission) bool { return a.Console || a.Role.Can(p) }

// AccountsOptions configure an Accounts service. Users, Sessions and Passwords are
// required.
type AccountsOptions struct {
	Users     UserStore
	Sessions  SessionStore
	Passwords PasswordHasher
	// Tokens issues the access tokens of Login and Refresh; nil issues none (the user
	// command, which signs nobody in).
	Tokens AccessIssuer
	// Audit receives an entry for every change the service makes; nil records nothing.
	Audit AuditLog
	// Panel keeps the users who last signed in on the panel (RecentPanelUsers) across
	// restarts; nil keeps them in memory only.
	Panel  PanelStore
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// CleanEvery is how often Run deletes ended sessions; 0: SessionCleanupEvery.
	CleanEvery time.Duration
}

// SessionCleanupEvery is how often Accounts.Run deletes ended sessions by default.
const SessionCleanupEvery = time.Hour

// EndedSessionKeep is how long an ended session is kept before Run deletes it, so that a
// reused refresh token still finds its session and is told that it ended.
const EndedSessionKeep = 24 * time.Hour

// Accounts is the accounts service: users, their sessions, and the rules of who may change
// whom, what ends a session, sign-in and lockout. Every change it makes is recorded in the
// audit log by the service itself, once, whoever asks: the API or the console. It is safe
// for concurrent use.
type Accounts struct {
	users     UserStore
	sessions  SessionStore
	passwords PasswordHasher
	tokens    AccessIssuer
	audit     AuditLog
	now       func() time.Time
	log       *slog.Logger
	every     time.Duration
	// dummy is a hash to compare against when the user does not exist. It is made once:
	// in the background as Run starts (a cost-12 hash takes about a second on the device,
	// which the start must not wait for), or by the first sign-in that needs it. The user
	// command, which signs nobody in, never pays for it.
	dummy func() []byte

	// signins serialize the sign-ins of one account from one origin (sharded by a hash of
	// the two): the lock check, the password comparison and the verdict of each attempt are
	// one step, so that guesses sent at once are counted one after the other and the third
	// failure locks whatever the concurrency. Each shard is a semaphore of one.
	signins [signinShards]chan struct{}

	mu       sync.Mutex
	unknown  map[string][2]Lockout   // failures of names that are no account, by origin
	cache    map[string]*liveSession // session id -> what CheckSession needs
	onRevoke []func(sessionID string)

	panel        PanelStore
	recentMu     sync.Mutex // guards recent and recentLoaded; held across the store's write
	recent       []string   // the recent panel users, most recent first
	recentLoaded bool
}

// signinShards is how many accounts may be signing in at once without waiting for each
// other; two that share a shard only wait a comparison longer.
const signinShards = 64

// NewAccounts returns an accounts service over o.
func NewAccounts(o AccountsOptions) (*Accounts, error) {
	if o.Users == nil || o.Sessions == nil || o.Passwords == nil {
		return nil, errors.New("new accounts service: Users, Sessions and Passwords are required")
	}
	a := &Accounts{users: o.Users, sessions: o.Sessions, passwords: o.Passwords, tokens: o.Tokens,
		audit: o.Audit, now: o.Now, log: o.Logger, every: o.CleanEvery, cache: map[string]*liveSession{},
		unknown: map[string][2]Lockout{}, panel: o.Panel}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.every <= 0 {
		a.every = SessionCleanupEvery
	}
	for i := range a.signins {
		a.signins[i] = make(chan struct{}, 1)
	}
	hasher := o.Passwords
	a.dummy = sync.OnceValue(func() []byte {
		// Fails only for a hasher that is broken, which the first real hash would report too.
		h, _ := hasher.Hash(randomToken(12))
		return h
	})
	return a, nil
}

// signinTurn waits for the turn of a sign-in of username from origin and returns the func
// that ends it; waiting ends with ctx's error (the client gave up). Turns are given in the
// order they were asked for.
func (a *Accounts) signinTurn(ctx context.Context, username string, origin Origin) (func(), error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(username))
	shard := a.signins[(h.Sum32()*2+uint32(origin))%signinShards]
	select {
	case shard <- struct{}{}:
		return func() { <-shard }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sign in %q: %w", AuditClip(username, 40), ctx.Err())
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// record appends the audit entry of a change by actor (appendAudit).
func (a *Accounts) record(ctx context.Context, by Actor, action AuditAction, details string) {
	if a.audit != nil {
		appendAudit(ctx, a.audit, a.log, a.now(), by, action, details)
	}
}

// User returns the named user, or an ENOTFOUND error.
func (a *Accounts) User(ctx context.Context, username string) (*User, error) {
	return a.users.User(ctx, username)
}

// Users returns every user, ordered by name.
func (a *Accounts) Users(ctx context.Context) ([]*User, error) {
	return a.users.Users(ctx)
}

// mayManage refuses a change that touches a SUPERUSER (makes one, or changes one) unless
// the actor has full_system_access: manage_users must not be a way for an ADMIN to make or
// unmake one. The roles are the ones the change touches.
func mayManage(by Actor, roles ...Role) error {
	if !by.Can(PermManageUsers) {
		return Errorf(EFORBIDDEN, "this needs the %s permission", PermManageUsers)
	}
	for _, role := range roles {
		if role == RoleSuperuser && !by.Can(PermFullSystemAccess) {
			return Errorf(EFORBIDDEN, "only a SUPERUSER may create or change a SUPERUSER")
		}
	}
	return nil
}

// NewUser is an account to create.
type NewUser struct {
	Username           string
	Password           string
	Role               Role
	MustChangePassword bool
}

// CreateUser creates an active user on behalf of by, and records it in the audit log as one
// entry: "user NAME created as ROLE", with ", must change password" when so. Errors: EINVALID
// for a bad role, name or password; EFORBIDDEN unless by has manage_users, and for a
// SUPERUSER unless by has full_system_access; ECONFLICT if the name is taken.
func (a *Accounts) CreateUser(ctx context.Context, by Actor, nu NewUser) (*User, error) {
	if err := ValidateRole(nu.Role); err != nil {
		return nil, err
	}
	if err := mayManage(by, nu.Role); err != nil {
		return nil, err
	}
	u, err := a.createUser(ctx, nu, false)
	if err != nil {
		return nil, err
	}
	details := fmt.Sprintf("user %s created as %s", u.Username, u.Role)
	if u.MustChangePassword {
		details += ", must change password"
	}
	a.record(ctx, by, AuditUserCreate, details)
	a.log.Info("user created", "username", u.Username, "role", string(u.Role), "by", by.Username)
	return u, nil
}

// createUser validates, hashes and stores a new active user; demo allows DemoPassword.
func (a *Accounts) createUser(ctx context.Context, nu NewUser, demo bool) (*User, error) {
	if err := ValidateUsername(nu.Username); err != nil {
		return nil, err
	}
	if err := ValidatePassword(nu.Password, demo); err != nil {
		return nil, err
	}
	hash, err := a.passwords.Hash(nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user %s: hash the password: %w", nu.Username, err)
	}
	u := &User{Username: nu.Username, PasswordHash: hash, Role: nu.Role, Active: true, Demo: demo,
		MustChangePassword: nu.MustChangePassword, Created: a.now().UTC()}
	if err := a.users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// DemoUsers are the accounts of --demo, one per role, with DemoPassword and a PIN for the
// panel.
var demoUsers = [...]struct {
	name string
	role Role
	pin  string
}{
	{"operator1", RoleOperator, "2580"},
	{"admin1", RoleAdmin, "1470"},
	{"super1", RoleSuperuser, "3690"},
	{"serwis1", RoleServiceTech, "1590"},
}

// CreateDemoUsers creates the demo users (operator1, admin1, super1, serwis1, password
// DemoPassword, PINs 2580, 1470, 3690, 1590) that do not exist yet, each recorded in the
// audit log as created by "maskserviced" from "demo", and returns the names it created. A
// demo user of an earlier run without a PIN gets its PIN. Never on a production device.
func (a *Accounts) CreateDemoUsers(ctx context.Context) ([]string, error) {
	var created []string
	for _, d := range demoUsers {
		u, err := a.users.User(ctx, d.name)
		if err != nil {
			if u, err = a.createUser(ctx, NewUser{Username: d.name, Password: DemoPassword, Role: d.role}, true); err != nil {
				return created, fmt.Errorf("create demo user %s: %w", d.name, err)
			}
			a.record(ctx, demoActor, AuditUserCreate, fmt.Sprintf("user %s created as %s, demo", u.Username, u.Role))
			created = append(created, d.name)
		}
		if u.Demo && len(u.PINHash) == 0 {
			if _, err := a.SetPIN(ctx, demoActor, d.name, PINChange{PIN: d.pin}); err != nil {
				return created, fmt.Errorf("give demo user %s a PIN: %w", d.name, err)
			}
		}
	}
	return created, nil
}

// UserChange is a change of a user; nil fields stay as they are.
type UserChange struct {
	Role               *Role
	Active             *bool
	Password           *string // a new password: clears the locks, the demo mark and MustChangePassword
	Unlock             bool    // clear every sign-in lock
	MustChangePassword *bool   // applied after Password, so both may be given
}

// UpdateUser changes a user on behalf of by, in one transaction: all of the change or none
// of it, and returns the stored user. A new password, another role or deactivation ends the
// user's live sessions (with the reason "password changed", "role changed" or "user
// disabled"); ended says how many. The change is recorded
// as one audit entry that says what became of the user ("user NAME: password reset, role
// OPERATOR→ADMIN, disabled, unlocked, must change password"); a change that changes nothing
// records nothing, but an unlock asked for is recorded whether or not a lock was on.
// Errors: ENOTFOUND; EINVALID for a bad role or password; EFORBIDDEN unless by has
// manage_users, and for a change that touches a SUPERUSER unless by has
// full_system_access; ECONFLICT if it would leave no active SUPERUSER.
func (a *Accounts) UpdateUser(ctx context.Context, by Actor, username string, ch UserChange) (u *User, ended int, err error) {
	current, err := a.users.User(ctx, username)
	if err != nil {
		return nil, 0, err
	}
	touched := []Role{current.Role}
	if ch.Role != nil {
		if err := ValidateRole(*ch.Role); err != nil {
			return nil, 0, err
		}
		touched = append(touched, *ch.Role)
	}
	if err := mayManage(by, touched...); err != nil {
		return nil, 0, err
	}
	var hash []byte
	if ch.Password != nil {
		if err := ValidatePassword(*ch.Password, false); err != nil {
			return nil, 0, err
		}
		if hash, err = a.passwords.Hash(*ch.Password); err != nil {
			return nil, 0, fmt.Errorf("change user %s: hash the password: %w", username, err)
		}
	}
	var before User
	u, err = a.users.UpdateUser(ctx, username, func(u *User) error {
		before = *u
		if hash != nil {
			u.PasswordHash, u.Demo, u.MustChangePassword = hash, false, false
			u.Unlock()
		}
		if ch.Role != nil {
			u.Role = *ch.Role
		}
		if ch.Active != nil {
			u.Active = *ch.Active
		}
		if ch.Unlock {
			u.Unlock()
		}
		if ch.MustChangePassword != nil {
			u.MustChangePassword = *ch.MustChangePassword
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	var changes []string
	if hash != nil {
		changes = append(changes, "password reset")
	}
	changes = append(changes, userChanges(&before, u, ch.Unlock)...)
	if len(changes) > 0 {
		a.record(ctx, by, AuditUserUpdate, "user "+username+": "+strings.Join(changes, ", "))
	}
	var reason string
	switch {
	case hash != nil:
		reason = "password changed"
	case before.Role != u.Role:
		reason = "role changed"
	case before.Active && !u.Active:
		reason = "user disabled"
	}
	if reason != "" {
		if ended, err = a.RevokeUser(ctx, username, reason); err != nil {
			return u, ended, err
		}
	}
	a.log.Info("user changed", "username", username, "by", by.Username,
		"role", string(u.Role), "active", u.Active, "password", hash != nil, "unlock", ch.Unlock)
	return u, ended, nil
}

// userChanges says in words what became of a user between before and after, for the audit
// log: "role OPERATOR→ADMIN", "disabled", "enabled", "unlocked" (when asked, whether or not
// a lock was on), "must change password" or "need not change password".
func userChanges(before, after *User, unlocked bool) []string {
	var out []string
	if before.Role != after.Role {
		out = append(out, fmt.Sprintf("role %s→%s", before.Role, after.Role))
	}
	if before.Active != after.Active {
		out = append(out, map[bool]string{true: "enabled", false: "disabled"}[after.Active])
	}
	if unlocked {
		out = append(out, "unlocked")
	}
	if before.MustChangePassword != after.MustChangePassword {
		out = append(out, map[bool]string{true: "must change password", false: "need not change password"}[after.MustChangePassword])
	}
	return out
}

// Run deletes ended sessions (revoked, or past their MaxSessionAge) that ended more than
// EndedSessionKeep ago, at once and then every AccountsOptions.CleanEvery, until ctx is done.
// It also prepares, in the background, the hash that sign-ins of unknown users compare
// against. It returns ctx's error.
func (a *Accounts) Run(ctx context.Context) error {
	go a.dummy()
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		if n, err := a.DeleteEndedSessions(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("delete ended sessions", "err", err)
		} else if n > 0 {
			a.log.Info("deleted ended sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// DeleteEndedSessions deletes the sessions that ended more than EndedSessionKeep ago and
// returns how many it deleted.
func (a *Accounts) DeleteEndedSessions(ctx context.Context) (int, error) {
	n, err := a.sessions.DeleteSessionsBefore(ctx, a.now().Add(-EndedSessionKeep))
	if err != nil {
		return n, fmt.Errorf("delete ended sessions: %w", err)
	}
	return n, nil
}
