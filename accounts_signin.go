package maskservice

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// persistEvery bounds how often a session's LastSeen is written to disk (see CheckSession).
const persistEvery = time.Minute

// errBadLogin is the one answer to every failed sign-in, so that it tells nothing about which
// part was wrong.
var errBadLogin = &Error{Code: EUNAUTHORIZED, Message: "wrong username, password or role"}

// ErrLockedNow is in the chain of the error Login returns for the failure that has just
// locked the account (errors.Is), so that the caller can count the lockout. The error is
// otherwise the same EUNAUTHORIZED answer as any failure: the client learns nothing from it.
var ErrLockedNow = errors.New("this failure locked the account")

// errBadPIN is the one answer to every failed sign-in with a PIN.
var errBadPIN = &Error{Code: EUNAUTHORIZED, Message: "wrong username, PIN or role"}

// lockedNowError is the answer of a failure (errBadLogin or errBadPIN) with ErrLockedNow in
// its chain.
type lockedNowError struct{ bad *Error }

func (e lockedNowError) Error() string   { return e.bad.Message }
func (e lockedNowError) Unwrap() []error { return []error{e.bad, ErrLockedNow} }

// The reasons of a failed sign-in, as the audit log gives them. The first covers every
// failure that answers alike, so the log tells no more than the answer did.
const (
	reasonBadLogin = "wrong password, unknown user, wrong role or disabled account"
	reasonLocked   = "account locked"
	reasonPINAway  = "PIN refused: a PIN signs in only on the panel"
)

func unauthorized(reason string) *Error { return Errorf(EUNAUTHORIZED, "%s", reason) }

// LoginRequest is one sign-in attempt, with either a Password or a PIN.
type LoginRequest struct {
	Username string
	Password string
	PIN      string // instead of Password; only from OriginLocal
	Role     Role
	Origin   Origin
	Remote   string // the client's address, for the log and the session
	Source   string // the client's address as the audit log gives it: its IP, without the port
}

// LoginResult is a signed-in session with fresh tokens. Access is "" when the service has
// no AccessIssuer.
type LoginResult struct {
	Access        string
	AccessExpires time.Time
	Refresh       string // "<session id>.<generation>.<secret>"
	Session       *Session
	User          *User
}

// OnRevoke registers fn to run after a session is revoked (logout, reuse of a refresh token,
// a changed or disabled user). The WebSocket hub uses it to close that session's sockets.
func (a *Accounts) OnRevoke(fn func(sessionID string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onRevoke = append(a.onRevoke, fn)
}

// issue signs an access token for sess, or none without an AccessIssuer.
func (a *Accounts) issue(sess *Session) (string, time.Time, error) {
	if a.tokens == nil {
		return "", time.Time{}, nil
	}
	token, exp, err := a.tokens.IssueAccess(sess)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	return token, exp, nil
}

// recordLoginFailure records a refused sign-in of req, by the name and role given.
func (a *Accounts) recordLoginFailure(ctx context.Context, req LoginRequest, reason string) {
	a.record(ctx, loginActor(req), AuditLoginFailed, reason)
}

// recordLockout records that failures from req's origin have locked the account.
func (a *Accounts) recordLockout(ctx context.Context, req LoginRequest) {
	from := "addresses other than the LCD"
	if req.Origin == OriginLocal {
		from = "the LCD (loopback)"
	}
	a.record(ctx, loginActor(req), AuditLockout,
		fmt.Sprintf("locked for %d min after %d failed sign-ins; sign-ins from %s are refused until then",
			int(LockoutDuration/time.Minute), MaxFailedLogins, from))
}

// loginActor is who a sign-in attempt claims to be, as the audit log records it: the name
// as given, the role only when it is one of the four.
func loginActor(req LoginRequest) Actor {
	role := req.Role
	if !role.Valid() {
		role = ""
	}
	return Actor{Username: req.Username, Role: role, Source: req.Source}
}

// liveSession is the in-memory state of a session, so a request checks it without the disk.
type liveSession struct {
	role      Role
	expires   time.Time
	lastSeen  time.Time
	persisted time.Time // the LastSeen last written to disk
	revoked   bool
}

// Login checks a sign-in and records it in the audit log: a login, a login_failed with the
// reason, and a lockout when this failure locked the account (errors about the store are
// no verdict on the credentials and are not recorded). Every failure answers the same
// EUNAUTHORIZED error after exactly one password comparison, whether or not the user exists, so neither the answer nor its time tells
// which part was wrong. Only a caller who gave the right password to a locked account learns
// that it is locked (ELOCKED, with the minutes left). The failure that locks the account
// answers the same, with ErrLockedNow in the error's chain. Failures are counted per origin
// (see Origin): the hotspot cannot lock the LCD out. The attempts on one account from one
// origin are judged one at a time, in the order they came, so guesses sent at once cannot get
// past the lock: the third failure locks, and every attempt after it is refused, the right
// password too.
//
// A PIN (req.PIN, instead of the password) signs in only from OriginLocal, the panel; from
// anywhere else it is refused with EFORBIDDEN before any comparison. Its failures are counted
// with the password's, on the same per-origin lock; a wrong PIN answers "wrong username, PIN
// or role", and so does a user without a PIN. A sign-in on the panel puts the user first in
// RecentPanelUsers.
func (a *Accounts) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	roleLabel := string(req.Role)
	if !req.Role.Valid() {
		roleLabel = "unknown"
	}
	if req.Origin != OriginLocal {
		req.Origin = OriginRemote
	}
	log := a.log.With("username", req.Username, "role", roleLabel, "origin", req.Origin.String(), "remote", req.Remote)
	if err := a.checkSecretKind(ctx, req, log); err != nil {
		return nil, err
	}
	// One attempt at a time per account and origin, from reading the record to the verdict:
	// parallel guesses are judged one after the other, so none gets past a lock that an
	// earlier one set.
	done, err := a.signinTurn(ctx, req.Username, req.Origin)
	if err != nil {
		return nil, err
	}
	defer done()
	u, err := a.users.User(ctx, req.Username)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return nil, fmt.Errorf("sign in %q: %w", req.Username, err)
	}
	hash, secret, bad := loginSecret(u, req)
	known := len(hash) > 0
	if !known {
		hash = a.dummy() // made once, at Run; an unknown user, or one without a PIN, costs one comparison too
	}
	passwordOK := a.passwords.Compare(hash, secret) == nil && known
	now := a.now()
	if u == nil {
		// A name nobody has locks as an account does, so that the answer to a fourth guess
		// does not tell a real account from a made-up one.
		u = a.unknownUser(req.Username)
	}
	if u.Locked(req.Origin, now) {
		// Whatever the password: answering differently for the right one would let a guesser
		// go on through the lock and learn when a guess is right.
		left := u.Lockouts[req.Origin].LockedUntil.Sub(now)
		log.Info("login refused: account locked")
		a.recordLoginFailure(ctx, req, reasonLocked)
		return nil, Errorf(ELOCKED, "account locked after %d failed sign-ins; try again in %d min",
			MaxFailedLogins, int(math.Ceil(left.Minutes())))
	}
	if !passwordOK || !u.Active || u.Role != req.Role {
		var locked bool
		if !passwordOK && len(u.PasswordHash) == 0 {
			locked = a.unknownFailure(req.Username, req.Origin, now)
		} else if _, err := a.users.UpdateUser(ctx, u.Username, func(u *User) error {
			locked = u.RecordFailure(req.Origin, now)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("sign in %q: count the failure: %w", req.Username, err)
		}
		if locked {
			log.Warn("account locked", "for", LockoutDuration.String())
			a.recordLoginFailure(ctx, req, reasonBadLogin)
			a.recordLockout(ctx, req)
			return nil, lockedNowError{bad}
		}
		log.Info("login failed")
		a.recordLoginFailure(ctx, req, reasonBadLogin)
		return nil, bad
	}
	u, err = a.users.UpdateUser(ctx, u.Username, func(u *User) error {
		u.RecordSuccess(req.Origin, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign in %q: %w", req.Username, err)
	}
	sess := &Session{ID: randomToken(16), Username: u.Username, Role: u.Role, Origin: req.Origin,
		Remote: req.Remote, Created: now, LastSeen: now, Expires: now.Add(MaxSessionAge)}
	refresh := a.rotate(sess)
	if err := a.sessions.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("sign in %q: store the session: %w", req.Username, err)
	}
	a.remember(sess)
	access, exp, err := a.issue(sess)
	if err != nil {
		return nil, err
	}
	log.Info("login", "session", sess.ID, "pin", req.PIN != "")
	details := ""
	if req.PIN != "" {
		details = "with PIN"
	}
	a.record(ctx, Actor{Username: sess.Username, Role: sess.Role, Source: req.Source}, AuditLogin, details)
	if req.Origin == OriginLocal {
		a.notePanelUser(ctx, u.Username)
	}
	return &LoginResult{Access: access, AccessExpires: exp, Refresh: refresh, Session: sess, User: u}, nil
}

// checkSecretKind refuses, before any comparison or count, a request with both a password
// and a PIN (EINVALID), and a PIN from beyond the panel (EFORBIDDEN, recorded as a failed
// sign-in): a PIN of four digits would be guessed over the network, lockout or not.
func (a *Accounts) checkSecretKind(ctx context.Context, req LoginRequest, log *slog.Logger) error {
	switch {
	case req.PIN != "" && req.Password != "":
		return Errorf(EINVALID, "sign in with a password or a PIN, not both")
	case req.PIN != "" && req.Origin != OriginLocal:
		log.Info("login refused: PIN beyond the panel")
		a.recordLoginFailure(ctx, req, reasonPINAway)
		return Errorf(EFORBIDDEN, "a PIN signs in only on the device's own panel; sign in with the password")
	}
	return nil
}

// loginSecret returns the hash to compare the request's secret with (nil for an unknown
// user, or a PIN sign-in of a user without a PIN), the secret, and the answer to a failure.
func loginSecret(u *User, req LoginRequest) (hash []byte, secret string, bad *Error) {
	if req.PIN != "" {
		if u != nil {
			hash = u.PINHash
		}
		return hash, req.PIN, errBadPIN
	}
	if u != nil {
		hash = u.PasswordHash
	}
	return hash, req.Password, errBadLogin
}

// rotate gives the session a new refresh generation and returns its token.
func (a *Accounts) rotate(sess *Session) string {
	secret := randomToken(32)
	sum := sha256.Sum256([]byte(secret))
	if len(sess.RefreshHash) > 0 {
		sess.UsedRefreshHashes = append(sess.UsedRefreshHashes, sess.RefreshHash)
		if n := len(sess.UsedRefreshHashes); n > MaxUsedRefreshHashes {
			sess.UsedRefreshHashes = sess.UsedRefreshHashes[n-MaxUsedRefreshHashes:]
		}
	}
	sess.RefreshGen++
	sess.RefreshHash = sum[:]
	return sess.ID + "." + strconv.FormatUint(sess.RefreshGen, 10) + "." + secret
}

// Refresh trades a refresh token for new tokens, rotating it. A token of an earlier
// generation whose secret checks out is one that was used already: someone holds a copy, so
// the whole session is revoked. A token that merely names the session is refused and changes
// nothing, so knowing a session id (it is in every access token) cannot end the session.
// Everything that can fail is done before the rotation is committed, so a failed refresh
// leaves the presented token valid for a retry.
func (a *Accounts) Refresh(ctx context.Context, refreshToken string, origin Origin) (*LoginResult, error) {
	parts := strings.Split(refreshToken, ".")
	if len(parts) != 3 || len(refreshToken) > 256 {
		return nil, unauthorized("invalid refresh token")
	}
	gen, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return nil, unauthorized("invalid refresh token")
	}
	sum := sha256.Sum256([]byte(parts[2]))
	current, err := a.sessions.Session(ctx, parts[0])
	if ErrorCode(err) == ENOTFOUND {
		return nil, unauthorized("invalid refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	u, err := a.users.User(ctx, current.Username)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	if u == nil || !u.Active || u.Role != current.Role {
		if current.Revoked.IsZero() {
			_ = a.Revoke(ctx, current.ID, "user disabled or changed")
		}
		return nil, unauthorized("session ended")
	}
	access, exp, err := a.issue(current)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var reused bool
	var refresh string
	sess, err := a.sessions.UpdateSession(ctx, parts[0], func(sess *Session) error {
		a.mu.Lock()
		if live := a.cache[sess.ID]; live != nil && live.lastSeen.After(sess.LastSeen) {
			sess.LastSeen = live.lastSeen
		}
		a.mu.Unlock()
		switch {
		case !sess.Alive(now):
			return unauthorized("session ended")
		case gen < sess.RefreshGen && usedBefore(sess, sum[:]):
			reused = true
			sess.Revoked, sess.RevokeReason = now, "refresh token reused"
			return nil
		case gen != sess.RefreshGen || subtle.ConstantTimeCompare(sum[:], sess.RefreshHash) != 1:
			return unauthorized("invalid refresh token")
		}
		refresh = a.rotate(sess)
		sess.LastSeen = now
		return nil
	})
	if ErrorCode(err) == ENOTFOUND {
		return nil, unauthorized("invalid refresh token")
	}
	if err != nil {
		return nil, err
	}
	if reused {
		a.log.Warn("refresh token reused: session revoked", "session", sess.ID, "username", sess.Username, "origin", origin.String())
		a.revoked(sess.ID)
		return nil, unauthorized("refresh token already used; session revoked")
	}
	a.remember(sess)
	return &LoginResult{Access: access, AccessExpires: exp, Refresh: refresh, Session: sess, User: u}, nil
}

// usedBefore reports whether hash is the hash of one of the session's earlier refresh secrets.
func usedBefore(sess *Session, hash []byte) bool {
	found := 0
	for _, h := range sess.UsedRefreshHashes {
		found |= subtle.ConstantTimeCompare(h, hash)
	}
	return found == 1
}

// Logout revokes the session of by at once (its access tokens stop working on the next
// request) and records the logout in the audit log.
func (a *Accounts) Logout(ctx context.Context, by Actor, sessionID string) error {
	if err := a.Revoke(ctx, sessionID, "logout"); err != nil {
		return err
	}
	a.record(ctx, by, AuditLogout, "")
	return nil
}

// Revoke ends a session for the given reason and runs the OnRevoke callbacks.
func (a *Accounts) Revoke(ctx context.Context, sessionID, reason string) error {
	now := a.now()
	_, err := a.sessions.UpdateSession(ctx, sessionID, func(sess *Session) error {
		if sess.Revoked.IsZero() {
			sess.Revoked, sess.RevokeReason = now, reason
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	a.log.Info("session ended", "session", sessionID, "reason", reason)
	a.revoked(sessionID)
	return nil
}

// revoked marks the cached session revoked and runs the callbacks.
func (a *Accounts) revoked(sessionID string) {
	a.mu.Lock()
	if live := a.cache[sessionID]; live != nil {
		live.revoked = true
	} else {
		// A marker, so that a CheckSession that read the session from the store just before
		// the revoke cannot put it back as alive.
		a.cache[sessionID] = &liveSession{revoked: true, expires: a.now().Add(MaxSessionAge)}
	}
	callbacks := append([]func(string){}, a.onRevoke...)
	a.mu.Unlock()
	for _, fn := range callbacks {
		fn(sessionID)
	}
}

// maxCached bounds the session cache; past it, ended sessions are dropped (a dropped one
// that is asked about again is read back from the store).
const maxCached = 10000

// sweep drops ended sessions from the cache once it is full; s.mu is held.
func (a *Accounts) sweep() {
	if len(a.cache) < maxCached {
		return
	}
	now := a.now()
	for id, live := range a.cache {
		info, _ := live.role.Info()
		switch {
		case !now.Before(live.expires):
			delete(a.cache, id) // ended for good, revoked or not
		case !live.revoked && now.Sub(live.lastSeen) >= info.IdleTimeout:
			delete(a.cache, id)
		}
	}
}

// remember puts a session in the cache and returns its entry. An entry already marked
// revoked stays revoked.
func (a *Accounts) remember(sess *Session) *liveSession {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep()
	live := &liveSession{role: sess.Role, expires: sess.Expires, lastSeen: sess.LastSeen,
		persisted: sess.LastSeen, revoked: !sess.Revoked.IsZero()}
	if old := a.cache[sess.ID]; old != nil && old.revoked {
		live.revoked = true
	}
	a.cache[sess.ID] = live
	return live
}

// CheckSession reports whether the session with that id, named by an access token of role,
// still counts: neither revoked, past its MaxSessionAge, idle past its role's timeout, nor of
// another role than the token's. It answers nil, or an EUNAUTHORIZED error "session ended",
// or another error when the store fails. A live session counts as used now. The session is
// checked in memory; its LastSeen is written to disk at most once a minute, so a request
// never costs a disk write, and after a power cut the idle timeout counts from at most that
// much earlier (the safe direction).
func (a *Accounts) CheckSession(ctx context.Context, sessionID string, role Role) error {
	a.mu.Lock()
	live := a.cache[sessionID]
	a.mu.Unlock()
	if live == nil {
		sess, err := a.sessions.Session(ctx, sessionID)
		if ErrorCode(err) == ENOTFOUND {
			return unauthorized("session ended")
		}
		if err != nil {
			return fmt.Errorf("check session: %w", err)
		}
		live = a.remember(sess)
	}
	now := a.now()
	a.mu.Lock()
	info, _ := live.role.Info()
	alive := !live.revoked && now.Before(live.expires) && now.Sub(live.lastSeen) < info.IdleTimeout &&
		live.role == role
	var persist bool
	if alive {
		live.lastSeen = now
		if now.Sub(live.persisted) >= persistEvery {
			live.persisted, persist = now, true
		}
	}
	a.mu.Unlock()
	if !alive {
		return unauthorized("session ended")
	}
	if persist {
		if _, err := a.sessions.UpdateSession(ctx, sessionID, func(sess *Session) error {
			sess.LastSeen = now
			return nil
		}); err != nil {
			a.log.Warn("persist session activity", "session", sessionID, "err", err)
		}
	}
	return nil
}

// RevokeUser ends every live session of username for reason (a new password, another role, a
// disabled account) and returns how many it ended.
func (a *Accounts) RevokeUser(ctx context.Context, username, reason string) (int, error) {
	if username == "" {
		return 0, Errorf(EINVALID, "end the sessions of a user: no username given")
	}
	return a.revokeAll(ctx, username, reason)
}

// EndAllSessions ends every live session of every user for reason and returns how many it
// ended: a database restored from a backup must not bring back the sessions that had ended
// since the backup was taken.
func (a *Accounts) EndAllSessions(ctx context.Context, reason string) (int, error) {
	return a.revokeAll(ctx, "", reason)
}

// revokeAll ends the live sessions of username, or of everyone for "".
func (a *Accounts) revokeAll(ctx context.Context, username, reason string) (int, error) {
	sessions, err := a.sessions.Sessions(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("end the sessions of %s: %w", username, err)
	}
	n := 0
	for _, sess := range sessions {
		if !sess.Revoked.IsZero() {
			continue
		}
		if err := a.Revoke(ctx, sess.ID, reason); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// maxUnknownLocks bounds the failure counts kept for names that are no account (in RAM
// only: a restart forgets them, as it must not matter whether a name exists). Past it the
// counts that ended are dropped first, then any.
const maxUnknownLocks = 4096

// unknownUser returns a stand-in for a name that is no account: inactive, without a password,
// with the failures counted against the name so far.
func (a *Accounts) unknownUser(name string) *User {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := &User{Username: name}
	if l, ok := a.unknown[name]; ok {
		u.Lockouts = l
	}
	return u
}

// unknownFailure counts a failed sign-in to a name that is no account, as RecordFailure does
// for an account, and reports whether it locked the name.
func (a *Accounts) unknownFailure(name string, origin Origin, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.unknown[name]; !ok && len(a.unknown) >= maxUnknownLocks {
		for n, l := range a.unknown {
			if !l[OriginLocal].LockedUntil.After(now) && !l[OriginRemote].LockedUntil.After(now) {
				delete(a.unknown, n)
			}
		}
		for n := range a.unknown {
			if len(a.unknown) < maxUnknownLocks {
				break
			}
			delete(a.unknown, n)
		}
	}
	u := User{Lockouts: a.unknown[name]}
	locked := u.RecordFailure(origin, now)
	a.unknown[name] = u.Lockouts
	return locked
}
