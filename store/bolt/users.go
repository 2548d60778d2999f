package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

// userRecordVersion is the version of userRecord; a change of fields gets a new version and
// a migration. A new optional field does not: pin_hash came without one, since a record
// without it reads as a user without a PIN.
const userRecordVersion = 1

// userRecord is a user as stored: the domain type stays free of storage tags.
type userRecord struct {
	V                  int       `json:"v"`
	Username           string    `json:"username"`
	PasswordHash       []byte    `json:"password_hash"`
	PINHash            []byte    `json:"pin_hash,omitempty"` // absent in records before PINs: no PIN
	Role               string    `json:"role"`
	Active             bool      `json:"active"`
	Demo               bool      `json:"demo,omitempty"`
	MustChangePassword bool      `json:"must_change_password,omitempty"`
	Created            time.Time `json:"created"`
	LastLogin          time.Time `json:"last_login,omitzero"`
	Lockouts           [2]struct {
		FailedAttempts int       `json:"failed_attempts,omitempty"`
		LockedUntil    time.Time `json:"locked_until,omitzero"`
	} `json:"lockouts"` // indexed by maskservice.Origin: local, remote
}

func encodeUser(u *maskservice.User) ([]byte, error) {
	r := userRecord{V: userRecordVersion, Username: u.Username, PasswordHash: u.PasswordHash, PINHash: u.PINHash,
		Role: string(u.Role), Active: u.Active, Demo: u.Demo, MustChangePassword: u.MustChangePassword,
		Created: u.Created, LastLogin: u.LastLogin}
	for i, l := range u.Lockouts {
		r.Lockouts[i].FailedAttempts, r.Lockouts[i].LockedUntil = l.FailedAttempts, l.LockedUntil
	}
	return json.Marshal(r)
}

func decodeUser(b []byte) (*maskservice.User, error) {
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode user record: %w", err)
	}
	if r.V != userRecordVersion {
		return nil, fmt.Errorf("decode user record %q: version %d, want %d", r.Username, r.V, userRecordVersion)
	}
	u := &maskservice.User{Username: r.Username, PasswordHash: r.PasswordHash, PINHash: r.PINHash, Role: maskservice.Role(r.Role),
		Active: r.Active, Demo: r.Demo, MustChangePassword: r.MustChangePassword, Created: r.Created, LastLogin: r.LastLogin}
	for i, l := range r.Lockouts {
		u.Lockouts[i] = maskservice.Lockout{FailedAttempts: l.FailedAttempts, LockedUntil: l.LockedUntil}
	}
	return u, nil
}

// User implements maskservice.UserStore: the user with that name, or ENOTFOUND.
func (db *DB) User(ctx context.Context, username string) (*maskservice.User, error) {
	var u *maskservice.User
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers).Get([]byte(username))
		if b == nil {
			return maskservice.Errorf(maskservice.ENOTFOUND, "user %q: no such user", username)
		}
		var err error
		u, err = decodeUser(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Users implements maskservice.UserStore: every user, ordered by username (bbolt keeps keys
// in byte order, which for the lowercase ASCII names ValidateUsername allows is that order).
func (db *DB) Users(ctx context.Context) ([]*maskservice.User, error) {
	users := []*maskservice.User{}
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			u, err := decodeUser(v)
			if err != nil {
				return err
			}
			users = append(users, u)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// CountUsers returns how many users there are, active or not. The daemon uses it to tell a
// fresh device (no users: run "maskserviced user add" or --demo) from a configured one.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	n := 0
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// CreateUser implements maskservice.UserStore: it validates u and stores it, or answers
// ECONFLICT if the name is taken. The user is on disk when CreateUser returns nil; a power
// cut before that loses only this user.
func (db *DB) CreateUser(ctx context.Context, u *maskservice.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	val, err := encodeUser(u)
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Username)) != nil {
			return maskservice.Errorf(maskservice.ECONFLICT, "user %q already exists", u.Username)
		}
		return b.Put([]byte(u.Username), val)
	})
}

// UpdateUser implements maskservice.UserStore. In one write transaction it reads the user,
// applies fn, checks that the name is unchanged (EINVALID) and that the result passes
// Validate, and refuses with ECONFLICT a change that would leave no active SUPERUSER: the
// count is taken in the same transaction, so two concurrent demotions cannot both pass.
// The result is on disk when UpdateUser returns; a power cut before that loses the change.
func (db *DB) UpdateUser(ctx context.Context, username string, fn func(*maskservice.User) error) (*maskservice.User, error) {
	var out *maskservice.User
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		old := b.Get([]byte(username))
		if old == nil {
			return maskservice.Errorf(maskservice.ENOTFOUND, "user %q: no such user", username)
		}
		u, err := decodeUser(old)
		if err != nil {
			return err
		}
		wasActiveSuperuser := activeSuperuser(u)
		if err := fn(u); err != nil {
			return err
		}
		if u.Username != username {
			return maskservice.Errorf(maskservice.EINVALID, "user %q: a username cannot be changed", username)
		}
		if err := u.Validate(); err != nil {
			return err
		}
		if wasActiveSuperuser && !activeSuperuser(u) {
			// Only this record changes, so the count after the change is the count now
			// minus one; the count now includes this user.
			n, err := countActiveSuperusers(b)
			if err != nil {
				return err
			}
			if n <= 1 {
				return maskservice.Errorf(maskservice.ECONFLICT, "user %q: the last active SUPERUSER cannot be removed (disabled or given another role)", username)
			}
		}
		val, err := encodeUser(u)
		if err != nil {
			return err
		}
		out = u
		return b.Put([]byte(username), val)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func activeSuperuser(u *maskservice.User) bool {
	return u.Active && u.Role == maskservice.RoleSuperuser
}

// countActiveSuperusers counts in b, which must be read in the caller's transaction.
func countActiveSuperusers(b *bbolt.Bucket) (int, error) {
	n := 0
	err := b.ForEach(func(_, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			return err
		}
		if activeSuperuser(u) {
			n++
		}
		return nil
	})
	return n, err
}

// keyPanelUsers is the meta key of the recent panel users: JSON {"v":1,"users":[...]}.
var keyPanelUsers = []byte("panel_recent_users")

// panelUsersRecord is the stored list of recent panel users, most recent first.
type panelUsersRecord struct {
	V     int      `json:"v"`
	Users []string `json:"users"`
}

// RecentPanelUsers implements maskservice.PanelStore: the names stored by
// SetRecentPanelUsers, most recent first; none before the first.
func (db *DB) RecentPanelUsers(ctx context.Context) ([]string, error) {
	names := []string{}
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(keyPanelUsers)
		if b == nil {
			return nil
		}
		var r panelUsersRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode recent panel users: %w", err)
		}
		if r.V != 1 {
			return fmt.Errorf("decode recent panel users: version %d, want 1", r.V)
		}
		names = append(names, r.Users...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// SetRecentPanelUsers implements maskservice.PanelStore: it replaces the stored names. They
// are on disk when it returns; a power cut before that keeps the previous list.
func (db *DB) SetRecentPanelUsers(ctx context.Context, names []string) error {
	val, err := json.Marshal(panelUsersRecord{V: 1, Users: names})
	if err != nil {
		return fmt.Errorf("encode recent panel users: %w", err)
	}
	return db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyPanelUsers, val)
	})
}
