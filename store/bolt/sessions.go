package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

const sessionRecordVersion = 1

// sessionRecord is a session as stored.
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
	Revoked      time.Time `json:"revoked,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

func encodeSession(s *maskservice.Session) ([]byte, error) {
	return json.Marshal(sessionRecord{V: sessionRecordVersion, ID: s.ID, Username: s.Username, Role: string(s.Role),
		Origin: uint8(s.Origin), Remote: s.Remote, Created: s.Created, LastSeen: s.LastSeen, Expires: s.Expires,
		RefreshGen: s.RefreshGen, RefreshHash: s.RefreshHash, Revoked: s.Revoked, RevokeReason: s.RevokeReason})
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
		Expires: r.Expires, RefreshGen: r.RefreshGen, RefreshHash: r.RefreshHash, Revoked: r.Revoked,
		RevokeReason: r.RevokeReason}, nil
}

// CreateSession implements maskservice.SessionStore.
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

// Session implements maskservice.SessionStore.
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
	return s, err
}

// Sessions implements maskservice.SessionStore.
func (db *DB) Sessions(ctx context.Context, username string) ([]*maskservice.Session, error) {
	var out []*maskservice.Session
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
	return out, err
}

// UpdateSession implements maskservice.SessionStore.
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
// revoked, or whose hard end passed, before t.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil; {
			s, err := decodeSession(v)
			if err != nil {
				return err
			}
			ended := s.Expires
			if !s.Revoked.IsZero() && s.Revoked.Before(ended) {
				ended = s.Revoked
			}
			if ended.Before(t) {
				key := append([]byte(nil), k...) // k is invalid after Delete
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(key) // Delete leaves the cursor where Next would skip a key
				continue
			}
			k, v = c.Next()
		}
		return nil
	})
	return n, err
}
