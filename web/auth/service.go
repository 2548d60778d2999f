package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"mask.services/maskservice"
)

// DefaultBcryptCost is the cost of password hashes (DESIGN.md: 12).
const DefaultBcryptCost = 12

// persistEvery bounds how often a session's LastSeen is written to disk: a request never
// costs a disk write, and after a power cut the idle timeout counts from at most this much
// earlier (the safe direction).
const persistEvery = time.Minute

// errBadLogin is the one answer to every failed sign-in, so that it tells nothing about which
// part was wrong.
var errBadLogin = &maskservice.Error{Code: maskservice.EUNAUTHORIZED, Message: "wrong username, password or role"}

// ErrLockedNow is in the chain of the error Login returns for the failure that has just
// locked the account (errors.Is), so that the caller can record the lockout. The error is
// otherwise the same EUNAUTHORIZED answer as any failure: the client learns nothing from it.
var ErrLockedNow = errors.New("this failure locked the account")

// lockedNowError is errBadLogin with ErrLockedNow in its chain.
type lockedNowError struct{}

func (lockedNowError) Error() string   { return errBadLogin.Message }
func (lockedNowError) Unwrap() []error { return []error{errBadLogin, ErrLockedNow} }

// Options configure a Service.
type Options struct {
	Users      maskservice.UserStore
	Sessions   maskservice.SessionStore
	Tokens     *Tokens
	Now        func() time.Time      // defaults to time.Now
	Logger     *slog.Logger          // nil: discard
	BcryptCost int                   // 0: DefaultBcryptCost
	Registerer prometheus.Registerer // nil: no metrics
}

// Principal is who made a request: the checked access token and its session.
type Principal struct {
	Username     string
	Role         maskservice.Role
	SessionID    string
	Permissions  []maskservice.Permission
	TokenExpires time.Time
}

// Can reports whether the principal has permission p.
func (p *Principal) Can(perm maskservice.Permission) bool { return p.Role.Can(perm) }

// LoginRequest is one sign-in attempt.
type LoginRequest struct {
	Username string
	Password string
	Role     maskservice.Role
	Origin   maskservice.Origin
	Remote   string // the client's address, for the log and the session
}

// LoginResult is a signed-in session with fresh tokens.
type LoginResult struct {
	Access        string
	AccessExpires time.Time
	Refresh       string
	Session       *maskservice.Session
	User          *maskservice.User
}

// Service signs users in and keeps their sessions. It is safe for concurrent use.
type Service struct {
	users    maskservice.UserStore
	sessions maskservice.SessionStore
	tokens   *Tokens
	now      func() time.Time
	log      *slog.Logger
	cost     int
	// dummy is a hash to compare against when the user does not exist. It is made once, in
	// the background from NewService on: a cost-12 hash takes about a second on the device,
	// which the start must not wait for.
	dummy    func() []byte
	attempts *prometheus.CounterVec

	mu       sync.Mutex
	cache    map[string]*liveSession // session id -> what Authenticate needs
	onRevoke []func(sessionID string)
}

// liveSession is the in-memory state of a session, so a request checks it without the disk.
type liveSession struct {
	role      maskservice.Role
	expires   time.Time
	lastSeen  time.Time
	persisted time.Time // the LastSeen last written to disk
	revoked   bool
}

// NewService returns a sign-in service.
func NewService(o Options) (*Service, error) {
	if o.Users == nil || o.Sessions == nil || o.Tokens == nil {
		return nil, errors.New("auth: Users, Sessions and Tokens are required")
	}
	s := &Service{users: o.Users, sessions: o.Sessions, tokens: o.Tokens, now: o.Now, log: o.Logger,
		cost: o.BcryptCost, cache: map[string]*liveSession{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.cost == 0 {
		s.cost = DefaultBcryptCost
	}
	cost := s.cost
	s.dummy = sync.OnceValue(func() []byte {
		// Fails only for a cost out of range, which the first real hash would report too.
		h, _ := bcrypt.GenerateFromPassword([]byte(randomString(12)), cost)
		return h
	})
	go s.dummy()
	s.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "login_attempts_total", Help: "Sign-in attempts by the role asked for and the outcome (success, failure, locked).",
	}, []string{"role", "status"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.attempts); err != nil {
			return nil, fmt.Errorf("auth: register metrics: %w", err)
		}
	}
	return s, nil
}

// OnRevoke registers fn to run after a session is revoked (logout, reuse of a refresh token,
// a disabled user). The WebSocket hub uses it to close that session's sockets.
func (s *Service) OnRevoke(fn func(sessionID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRevoke = append(s.onRevoke, fn)
}

// HashPassword hashes a password with bcrypt at cost.
func HashPassword(password string, cost int) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// CreateUser validates and stores a new active user. demo allows the demo password.
func (s *Service) CreateUser(ctx context.Context, username, password string, role maskservice.Role, demo bool) (*maskservice.User, error) {
	if err := maskservice.ValidateUsername(username); err != nil {
		return nil, err
	}
	if err := maskservice.ValidatePassword(password, demo); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password, s.cost)
	if err != nil {
		return nil, err
	}
	u := &maskservice.User{Username: username, PasswordHash: hash, Role: role, Active: true, Demo: demo, Created: s.now().UTC()}
	if err := s.users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword sets a new password (validated) and clears the user's locks.
func (s *Service) SetPassword(ctx context.Context, username, password string) error {
	if err := maskservice.ValidatePassword(password, false); err != nil {
		return err
	}
	hash, err := HashPassword(password, s.cost)
	if err != nil {
		return err
	}
	_, err = s.users.UpdateUser(ctx, username, func(u *maskservice.User) error {
		u.PasswordHash, u.Demo, u.MustChangePassword = hash, false, false
		u.Unlock()
		return nil
	})
	return err
}

// Login checks a sign-in. Every failure answers the same EUNAUTHORIZED error after exactly one
// bcrypt comparison, whether or not the user exists, so neither the answer nor its time tells
// which part was wrong. Only a caller who gave the right password to a locked account learns
// that it is locked (ELOCKED, with the minutes left). The failure that locks the account
// answers the same, with ErrLockedNow in the error's chain for the caller's audit log. Failures are counted per origin (see
// maskservice.Origin): the hotspot cannot lock the LCD out.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	roleLabel := string(req.Role)
	if !req.Role.Valid() {
		roleLabel = "unknown"
	}
	if req.Origin != maskservice.OriginLocal {
		req.Origin = maskservice.OriginRemote
	}
	log := s.log.With("username", req.Username, "role", roleLabel, "origin", req.Origin.String(), "remote", req.Remote)
	u, err := s.users.User(ctx, req.Username)
	if err != nil && maskservice.ErrorCode(err) != maskservice.ENOTFOUND {
		return nil, fmt.Errorf("sign in %q: %w", req.Username, err)
	}
	hash := s.dummy()
	if u != nil {
		hash = u.PasswordHash
	}
	passwordOK := bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) == nil && u != nil
	now := s.now()
	if u != nil && u.Locked(req.Origin, now) {
		// Whatever the password: answering differently for the right one would let a guesser
		// go on through the lock and learn when a guess is right.
		left := u.Lockouts[req.Origin].LockedUntil.Sub(now)
		log.Info("login refused: account locked")
		s.attempts.WithLabelValues(roleLabel, "locked").Inc()
		return nil, maskservice.Errorf(maskservice.ELOCKED, "account locked after %d failed sign-ins; try again in %d min",
			maskservice.MaxFailedLogins, int(math.Ceil(left.Minutes())))
	}
	if !passwordOK || !u.Active || u.Role != req.Role {
		if u != nil {
			var locked bool
			if _, err := s.users.UpdateUser(ctx, u.Username, func(u *maskservice.User) error {
				locked = u.RecordFailure(req.Origin, now)
				return nil
			}); err != nil {
				return nil, fmt.Errorf("sign in %q: count the failure: %w", req.Username, err)
			}
			if locked {
				log.Warn("account locked", "for", maskservice.LockoutDuration.String())
				s.attempts.WithLabelValues(roleLabel, "locked").Inc()
				return nil, lockedNowError{}
			}
		}
		log.Info("login failed")
		s.attempts.WithLabelValues(roleLabel, "failure").Inc()
		return nil, errBadLogin
	}
	u, err = s.users.UpdateUser(ctx, u.Username, func(u *maskservice.User) error {
		u.RecordSuccess(req.Origin, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign in %q: %w", req.Username, err)
	}
	sess := &maskservice.Session{ID: randomString(16), Username: u.Username, Role: u.Role, Origin: req.Origin,
		Remote: req.Remote, Created: now, LastSeen: now, Expires: now.Add(maskservice.MaxSessionAge)}
	refresh := s.rotate(sess)
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("sign in %q: store the session: %w", req.Username, err)
	}
	s.remember(sess)
	access, exp, err := s.tokens.IssueAccess(sess)
	if err != nil {
		return nil, err
	}
	log.Info("login", "session", sess.ID)
	s.attempts.WithLabelValues(roleLabel, "success").Inc()
	return &LoginResult{Access: access, AccessExpires: exp, Refresh: refresh, Session: sess, User: u}, nil
}

// rotate gives the session a new refresh generation and returns its token.
func (s *Service) rotate(sess *maskservice.Session) string {
	secret := randomString(32)
	sum := sha256.Sum256([]byte(secret))
	if len(sess.RefreshHash) > 0 {
		sess.UsedRefreshHashes = append(sess.UsedRefreshHashes, sess.RefreshHash)
		if n := len(sess.UsedRefreshHashes); n > maskservice.MaxUsedRefreshHashes {
			sess.UsedRefreshHashes = sess.UsedRefreshHashes[n-maskservice.MaxUsedRefreshHashes:]
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
func (s *Service) Refresh(ctx context.Context, refreshToken string, origin maskservice.Origin) (*LoginResult, error) {
	parts := strings.Split(refreshToken, ".")
	if len(parts) != 3 || len(refreshToken) > 256 {
		return nil, unauthorized("invalid refresh token")
	}
	gen, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return nil, unauthorized("invalid refresh token")
	}
	sum := sha256.Sum256([]byte(parts[2]))
	current, err := s.sessions.Session(ctx, parts[0])
	if maskservice.ErrorCode(err) == maskservice.ENOTFOUND {
		return nil, unauthorized("invalid refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	u, err := s.users.User(ctx, current.Username)
	if err != nil && maskservice.ErrorCode(err) != maskservice.ENOTFOUND {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	if u == nil || !u.Active || u.Role != current.Role {
		if current.Revoked.IsZero() {
			_ = s.Revoke(ctx, current.ID, "user disabled or changed")
		}
		return nil, unauthorized("session ended")
	}
	access, exp, err := s.tokens.IssueAccess(current)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var reused bool
	var refresh string
	sess, err := s.sessions.UpdateSession(ctx, parts[0], func(sess *maskservice.Session) error {
		s.mu.Lock()
		if live := s.cache[sess.ID]; live != nil && live.lastSeen.After(sess.LastSeen) {
			sess.LastSeen = live.lastSeen
		}
		s.mu.Unlock()
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
		refresh = s.rotate(sess)
		sess.LastSeen = now
		return nil
	})
	if maskservice.ErrorCode(err) == maskservice.ENOTFOUND {
		return nil, unauthorized("invalid refresh token")
	}
	if err != nil {
		return nil, err
	}
	if reused {
		s.log.Warn("refresh token reused: session revoked", "session", sess.ID, "username", sess.Username, "origin", origin.String())
		s.revoked(sess.ID)
		return nil, unauthorized("refresh token already used; session revoked")
	}
	s.remember(sess)
	return &LoginResult{Access: access, AccessExpires: exp, Refresh: refresh, Session: sess, User: u}, nil
}

// usedBefore reports whether hash is the hash of one of the session's earlier refresh secrets.
func usedBefore(sess *maskservice.Session, hash []byte) bool {
	found := 0
	for _, h := range sess.UsedRefreshHashes {
		found |= subtle.ConstantTimeCompare(h, hash)
	}
	return found == 1
}

// Logout revokes the session at once: its access tokens stop working on the next request.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	return s.Revoke(ctx, sessionID, "logout")
}

// Revoke ends a session for the given reason and runs the OnRevoke callbacks.
func (s *Service) Revoke(ctx context.Context, sessionID, reason string) error {
	now := s.now()
	_, err := s.sessions.UpdateSession(ctx, sessionID, func(sess *maskservice.Session) error {
		if sess.Revoked.IsZero() {
			sess.Revoked, sess.RevokeReason = now, reason
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.log.Info("session ended", "session", sessionID, "reason", reason)
	s.revoked(sessionID)
	return nil
}

// revoked marks the cached session revoked and runs the callbacks.
func (s *Service) revoked(sessionID string) {
	s.mu.Lock()
	if live := s.cache[sessionID]; live != nil {
		live.revoked = true
	} else {
		// A marker, so that an Authenticate that read the session from the store just before
		// the revoke cannot put it back as alive.
		s.cache[sessionID] = &liveSession{revoked: true, expires: s.now().Add(maskservice.MaxSessionAge)}
	}
	callbacks := append([]func(string){}, s.onRevoke...)
	s.mu.Unlock()
	for _, fn := range callbacks {
		fn(sessionID)
	}
}

// maxCached bounds the session cache; past it, ended sessions are dropped (a dropped one
// that is asked about again is read back from the store).
const maxCached = 10000

// sweep drops ended sessions from the cache once it is full; s.mu is held.
func (s *Service) sweep() {
	if len(s.cache) < maxCached {
		return
	}
	now := s.now()
	for id, live := range s.cache {
		info, _ := live.role.Info()
		switch {
		case !now.Before(live.expires):
			delete(s.cache, id) // ended for good, revoked or not
		case !live.revoked && now.Sub(live.lastSeen) >= info.IdleTimeout:
			delete(s.cache, id)
		}
	}
}

// remember puts a session in the cache and returns its entry. An entry already marked
// revoked stays revoked.
func (s *Service) remember(sess *maskservice.Session) *liveSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	live := &liveSession{role: sess.Role, expires: sess.Expires, lastSeen: sess.LastSeen,
		persisted: sess.LastSeen, revoked: !sess.Revoked.IsZero()}
	if old := s.cache[sess.ID]; old != nil && old.revoked {
		live.revoked = true
	}
	s.cache[sess.ID] = live
	return live
}

// Authenticate checks an access token and its session: signature and expiry first, then that
// the session is neither revoked, past its 7 days, nor idle past its role's timeout. The
// session is checked in memory; its LastSeen is written to disk at most once a minute.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (*Principal, error) {
	claims, err := s.tokens.ParseAccess(accessToken)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	live := s.cache[claims.SessionID]
	s.mu.Unlock()
	if live == nil {
		sess, err := s.sessions.Session(ctx, claims.SessionID)
		if maskservice.ErrorCode(err) == maskservice.ENOTFOUND {
			return nil, unauthorized("session ended")
		}
		if err != nil {
			return nil, fmt.Errorf("check session: %w", err)
		}
		live = s.remember(sess)
	}
	now := s.now()
	s.mu.Lock()
	info, _ := live.role.Info()
	alive := !live.revoked && now.Before(live.expires) && now.Sub(live.lastSeen) < info.IdleTimeout &&
		live.role == claims.Role
	var persist bool
	if alive {
		live.lastSeen = now
		if now.Sub(live.persisted) >= persistEvery {
			live.persisted, persist = now, true
		}
	}
	s.mu.Unlock()
	if !alive {
		return nil, unauthorized("session ended")
	}
	if persist {
		if _, err := s.sessions.UpdateSession(ctx, claims.SessionID, func(sess *maskservice.Session) error {
			sess.LastSeen = now
			return nil
		}); err != nil {
			s.log.Warn("persist session activity", "session", claims.SessionID, "err", err)
		}
	}
	return &Principal{Username: claims.Subject, Role: claims.Role, SessionID: claims.SessionID,
		Permissions: claims.Permissions, TokenExpires: claims.ExpiresAt.Time}, nil
}

// User returns the named user, or an ENOTFOUND error.
func (s *Service) User(ctx context.Context, username string) (*maskservice.User, error) {
	return s.users.User(ctx, username)
}

// Users returns every user, ordered by name (for /api/users).
func (s *Service) Users(ctx context.Context) ([]*maskservice.User, error) {
	return s.users.Users(ctx)
}

// UpdateUser changes a user through the store (see maskservice.UserStore.UpdateUser: the last
// active SUPERUSER stays).
func (s *Service) UpdateUser(ctx context.Context, username string, fn func(*maskservice.User) error) (*maskservice.User, error) {
	return s.users.UpdateUser(ctx, username, fn)
}

// RevokeUser ends every live session of username for reason (a new password, another role, a
// disabled account) and returns how many it ended.
func (s *Service) RevokeUser(ctx context.Context, username, reason string) (int, error) {
	sessions, err := s.sessions.Sessions(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("end the sessions of %s: %w", username, err)
	}
	n := 0
	for _, sess := range sessions {
		if !sess.Revoked.IsZero() {
			continue
		}
		if err := s.Revoke(ctx, sess.ID, reason); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
