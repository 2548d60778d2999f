package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

// sessionRecordVersion is the version of sessionRecord, like userRecordVersion.
const sessionRecordVersion = 1

// sessionRecord is a session as stored: the domain type stays free of storage tags.
type sessionRecord struct {
	V            int       `json:"v"`
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Role         string    `json:"role"`
	Origin       uint8     `json:"origin"`
	Remote       string    `json:"remote"`
	Created      time.Time `json:"created"`
	LastSeen     time.Time `json:"last_seen"`
	Expires      time.Time `json:"expires"`
	RefreshGen   uint64    `json:"refresh_gen"`
	RefreshHash  []byte    `json:"refresh_hash"`
	UsedHashes   [][]byte  `json:"used_refresh_hashes,omitempty"` // added in record v1; absent means none
	Revoked      time.Time `json:"revoked,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

func encodeSession(s *maskservice.Session) ([]byte, error) {
	return json.Marshal(sessionRecord{V: sessionRecordVersion, ID: s.ID, Username: s.Username, Role: string(s.Role),
		Origin: uint8(s.Origin), Remote: s.Remote, Created: s.Created, LastSeen: s.LastSeen, Expires: s.Expires,
		RefreshGen: s.RefreshGen, RefreshHash: s.RefreshHash, UsedHashes: s.UsedRefreshHashes, Revoked: s.Revoked, RevokeReason: s.RevokeReason})
}

func decodeSession(b []byte) (*maskservice.Session, error) {
	var r sessionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode session record: %w", err)
	}
	if r.V != sessionRecordVersion {
		return nil, fmt.Errorf("decode session record %q: version %d, want %d", r.ID, r.V, sessionRecordVersion)
	}
	return &maskservice.Session{ID: r.ID, Username: r.Username, Role: maskservice.Role(r.Role),
		Origin: maskservice.Origin(r.Origin), Remote: r.Remote, Created: r.Created, LastSeen: r.LastSeen,
		Expires: r.Expires, RefreshGen: r.RefreshGen, RefreshHash: r.RefreshHash, UsedRefreshHashes: r.UsedHashes, Revoked: r.Revoked,
		RevokeReason: r.RevokeReason}, nil
}

// CreateSession implements maskservice.SessionStore: ECONFLICT if the id exists. The session
// is on disk when CreateSession returns nil; a power cut before that loses only this sign-in,
// whose tokens were never handed out.
func (db *DB) CreateSession(ctx context.Context, s *maskservice.Session) error {
	if s.ID == "" {
		return maskservice.Errorf(maskservice.EINVALID, "session without an id")
	}
	val, err := encodeSession(s)
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b.Get([]byte(s.ID)) != nil {
			return maskservice.Errorf(maskservice.ECONFLICT, "session %q already exists", s.ID)
		}
		return b.Put([]byte(s.ID), val)
	})
}

// Session implements maskservice.SessionStore: the session with that id, or ENOTFOUND.
func (db *DB) Session(ctx context.Context, id string) (*maskservice.Session, error) {
	var s *maskservice.Session
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions).Get([]byte(id))
		if b == nil {
			return maskservice.Errorf(maskservice.ENOTFOUND, "session: no such session")
		}
		var err error
		s, err = decodeSession(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Sessions implements maskservice.SessionStore: the sessions of username, or of everyone if
// username is "", ordered by id. It reads every session: there are a few per user and
// DeleteSessionsBefore keeps the bucket small, so no index by user is worth its upkeep.
func (db *DB) Sessions(ctx context.Context, username string) ([]*maskservice.Session, error) {
	out := []*maskservice.Session{}
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(_, v []byte) error {
			s, err := decodeSession(v)
			if err != nil {
				return err
			}
			if username == "" || s.Username == username {
				out = append(out, s)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateSession implements maskservice.SessionStore: in one write transaction it reads the
// session, applies fn and stores the result; ENOTFOUND if there is none, EINVALID if fn
// changed the id, and fn's own error (with nothing changed) if fn fails. The result is on
// disk when UpdateSession returns: a rotated refresh token or a revocation that was answered
// survives a power cut.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(*maskservice.Session) error) (*maskservice.Session, error) {
	var out *maskservice.Session
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		old := b.Get([]byte(id))
		if old == nil {
			return maskservice.Errorf(maskservice.ENOTFOUND, "session: no such session")
		}
		s, err := decodeSession(old)
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
		if s.ID != id {
			return maskservice.Errorf(maskservice.EINVALID, "a session id cannot be changed")
		}
		val, err := encodeSession(s)
		if err != nil {
			return err
		}
		out = s
		return b.Put([]byte(id), val)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSessionsBefore implements maskservice.SessionStore: it deletes the sessions that were
// revoked, or whose hard end (Expires) passed, before t, in one write transaction. A session
// that merely went idle is already refused (Session.Alive) but is kept until its Expires
// passes, at most MaxSessionAge after sign-in, so the bucket stays bounded all the same.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		// Collect first, delete after: deleting under a bbolt cursor makes Next skip a key.
		var ended [][]byte
		err := b.ForEach(func(k, v []byte) error {
			s, err := decodeSession(v)
			if err != nil {
				return err
			}
			end := s.Expires
			if !s.Revoked.IsZero() && s.Revoked.Before(end) {
				end = s.Revoked
			}
			if end.Before(t) {
				ended = append(ended, append([]byte(nil), k...)) // copied: k points into pages the deletes change
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range ended {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete session: %w", err)
			}
		}
		n = len(ended)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
