package maskservice

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// MaxRecentPanelUsers bounds the users the panel offers as tiles on its sign-in screen.
const MaxRecentPanelUsers = 6

// PanelStore keeps the usernames that last signed in on the panel, most recent first. Set
// commits before it returns, so a restart keeps the list. Implementation: store/bolt.
type PanelStore interface {
	// RecentPanelUsers returns the stored names, most recent first; none if never set.
	RecentPanelUsers(ctx context.Context) ([]string, error)
	// SetRecentPanelUsers replaces the stored names.
	SetRecentPanelUsers(ctx context.Context, names []string) error
}

// RecentUser is one of the panel's recent users: whom to offer, and as which role.
type RecentUser struct {
	Username string
	Role     Role
}

// RecentPanelUsers returns the users who last signed in on the panel, most recent first, at
// most MaxRecentPanelUsers, with their role now; users since disabled or gone are left out.
// Only the panel may be shown the list (the web layer checks the origin).
func (a *Accounts) RecentPanelUsers(ctx context.Context) ([]RecentUser, error) {
	names, err := a.recentNames(ctx)
	if err != nil {
		return nil, err
	}
	out := []RecentUser{}
	for _, name := range names {
		u, err := a.users.User(ctx, name)
		if ErrorCode(err) == ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recent panel users: %w", err)
		}
		if u.Active {
			out = append(out, RecentUser{Username: u.Username, Role: u.Role})
		}
	}
	return out, nil
}

// recentNames returns a copy of the recent names, read from the store the first time.
func (a *Accounts) recentNames(ctx context.Context) ([]string, error) {
	a.recentMu.Lock()
	defer a.recentMu.Unlock()
	if err := a.loadRecent(ctx); err != nil {
		return nil, err
	}
	return slices.Clone(a.recent), nil
}

// loadRecent reads the recent names from the store once; a.recentMu is held.
func (a *Accounts) loadRecent(ctx context.Context) error {
	if a.recentLoaded || a.panel == nil {
		a.recentLoaded = true
		return nil
	}
	names, err := a.panel.RecentPanelUsers(ctx)
	if err != nil {
		return fmt.Errorf("recent panel users: %w", err)
	}
	a.recent, a.recentLoaded = names, true
	return nil
}

// notePanelUser puts username first among the recent panel users and stores the list. A
// store that fails is logged: the sign-in has happened, and only the tile is lost.
func (a *Accounts) notePanelUser(ctx context.Context, username string) {
	a.recentMu.Lock()
	defer a.recentMu.Unlock()
	if err := a.loadRecent(ctx); err != nil {
		a.log.Warn("note panel user", "err", err)
		return
	}
	next := append([]string{username}, slices.DeleteFunc(slices.Clone(a.recent), func(n string) bool { return n == username })...)
	if len(next) > MaxRecentPanelUsers {
		next = next[:MaxRecentPanelUsers]
	}
	if slices.Equal(next, a.recent) {
		return // the same user again: no disk write
	}
	if a.panel != nil {
		if err := a.panel.SetRecentPanelUsers(ctx, next); err != nil {
			a.log.Warn("store recent panel users", "err", err)
			return
		}
	}
	a.recent = next
}

// PINChange sets or clears a user's PIN.
type PINChange struct {
	PIN string // the new PIN (see ValidatePIN); "" clears it
	// A user who changes their own PIN proves it is them with one of these, checked as a
	// sign-in from Origin is: a wrong one counts towards the lock of that origin.
	CurrentPassword string
	CurrentPIN      string
	Origin          Origin // where the request comes from
}

// SetPIN sets (ch.PIN) or clears ("") the PIN of username on behalf of by, and records it in
// the audit log: "user NAME: PIN set", "PIN changed" or "PIN cleared". A user may change
// their own PIN with their current password or PIN; anyone else needs what UpdateUser needs
// (manage_users, and full_system_access for a SUPERUSER). Sessions are not ended: the
// password still signs in as before. Errors: EINVALID for a bad PIN or a missing current
// password or PIN; EFORBIDDEN for a wrong one, and without the permission; ELOCKED when
// the account is locked for that origin; ENOTFOUND.
func (a *Accounts) SetPIN(ctx context.Context, by Actor, username string, ch PINChange) (*User, error) {
	if ch.PIN != "" {
		if err := ValidatePIN(ch.PIN); err != nil {
			return nil, err
		}
	}
	current, err := a.users.User(ctx, username)
	if err != nil {
		return nil, err
	}
	if !by.Console && by.Username == username {
		if err := a.proveSelf(ctx, by, current, ch); err != nil {
			return nil, err
		}
	} else if err := mayManage(by, current.Role); err != nil {
		return nil, err
	}
	var hash []byte
	if ch.PIN != "" {
		if hash, err = a.passwords.Hash(ch.PIN); err != nil {
			return nil, fmt.Errorf("set the PIN of %s: hash the PIN: %w", username, err)
		}
	}
	var had bool
	u, err := a.users.UpdateUser(ctx, username, func(u *User) error {
		had = len(u.PINHash) > 0
		u.PINHash = hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	var what string
	switch {
	case hash == nil && !had:
		return u, nil // cleared a PIN that was not set: nothing changed
	case hash == nil:
		what = "PIN cleared"
	case had:
		what = "PIN changed"
	default:
		what = "PIN set"
	}
	a.record(ctx, by, AuditUserUpdate, "user "+username+": "+what)
	a.log.Info("user PIN changed", "username", username, "by", by.Username, "pin", hash != nil)
	return u, nil
}

// proveSelf checks the current password or PIN of a user who changes their own PIN, as a
// sign-in from ch.Origin: one attempt at a time, the lock honoured, a failure counted.
func (a *Accounts) proveSelf(ctx context.Context, by Actor, u *User, ch PINChange) error {
	hash, secret := u.PasswordHash, ch.CurrentPassword
	switch {
	case ch.CurrentPassword != "" && ch.CurrentPIN != "":
		return FieldErrorf("current_password", "give the current password or the current PIN, not both")
	case ch.CurrentPIN != "":
		hash, secret = u.PINHash, ch.CurrentPIN
	case ch.CurrentPassword == "":
		return FieldErrorf("current_password", "changing your own PIN needs your current password or PIN")
	}
	origin := ch.Origin
	if origin != OriginLocal {
		origin = OriginRemote
	}
	if ch.CurrentPIN != "" && origin != OriginLocal {
		// As at sign-in: four digits would be guessed over the network, lockout or not.
		return Errorf(EFORBIDDEN, "a PIN proves who you are only on the device's own panel; give your current password")
	}
	done, err := a.signinTurn(ctx, u.Username, origin)
	if err != nil {
		return err
	}
	defer done()
	now := a.now()
	fresh, err := a.users.User(ctx, u.Username)
	if err != nil {
		return fmt.Errorf("change the PIN of %s: read its lock: %w", u.Username, err)
	}
	if fresh.Locked(origin, now) {
		left := fresh.Lockouts[origin].LockedUntil.Sub(now)
		return Errorf(ELOCKED, "account locked after %d failed sign-ins; try again in %d min", MaxFailedLogins, int(math.Ceil(left.Minutes())))
	}
	if len(hash) > 0 && a.passwords.Compare(hash, secret) == nil {
		return nil
	}
	var locked bool
	if _, err := a.users.UpdateUser(ctx, u.Username, func(u *User) error {
		locked = u.RecordFailure(origin, now)
		return nil
	}); err != nil {
		return fmt.Errorf("change the PIN of %s: count the failure: %w", u.Username, err)
	}
	if locked {
		a.recordLockout(ctx, LoginRequest{Username: u.Username, Role: u.Role, Origin: origin, Source: by.Source})
	}
	// 403, not 401: the session is fine, and a 401 would send the client to sign in again.
	return Errorf(EFORBIDDEN, "the current password or PIN is wrong")
}
