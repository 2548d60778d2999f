package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

// auditRecordVersion is the version of auditRecord, like userRecordVersion.
const auditRecordVersion = 1

// auditRecord is an audit entry as stored. The sequence is not in it: it is the second half
// of the key.
type auditRecord struct {
	V        int       `json:"v"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Username string    `json:"username,omitempty"`
	Role     string    `json:"role,omitempty"`
	Source   string    `json:"source,omitempty"`
	Details  string    `json:"details,omitempty"`
}

// maxAuditAction bounds the length of an action's name, which the domain leaves open.
const maxAuditAction = 64

// auditKeyLen is the length of an audit key: the time (8 bytes) and the sequence (8 bytes).
const auditKeyLen = 16

// auditKey returns the key of an entry at t with sequence seq: t as chunkKey spells it (Unix
// nanoseconds, sign bit flipped, big-endian), then seq big-endian. bbolt's byte order is then
// time order, and for entries of the same nanosecond the order they were appended in.
func auditKey(t time.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(chunkKey(t), seq)
}

// auditKeySeq returns the sequence part of an audit key.
func auditKeySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[8:auditKeyLen]) }

// validateAudit checks e against the bounds of maskservice.AuditEntry and returns it with
// its Time in UTC and its Details cut to fit.
func validateAudit(e maskservice.AuditEntry) (maskservice.AuditEntry, error) {
	switch {
	case e.Action == "":
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry: no action")
	case e.Time.IsZero():
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry %s: no time", e.Action)
	case len(e.Action) > maxAuditAction:
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry: action longer than %d bytes", maxAuditAction)
	case len(e.Username) > maskservice.AuditMaxUsername:
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry %s: username longer than %d bytes", e.Action, maskservice.AuditMaxUsername)
	case len(e.Source) > maskservice.AuditMaxSource:
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry %s: source longer than %d bytes", e.Action, maskservice.AuditMaxSource)
	case e.Role != "" && !e.Role.Valid():
		return e, maskservice.Errorf(maskservice.EINVALID, "audit entry %s: unknown role %q", e.Action, maskservice.AuditClip(string(e.Role), 40))
	}
	e.Time = e.Time.UTC()
	e.Details = maskservice.AuditClip(e.Details, maskservice.AuditMaxDetails)
	return e, nil
}

func encodeAudit(e maskservice.AuditEntry) ([]byte, error) {
	b, err := json.Marshal(auditRecord{V: auditRecordVersion, Time: e.Time, Action: string(e.Action),
		Username: e.Username, Role: string(e.Role), Source: e.Source, Details: e.Details})
	if err != nil {
		return nil, fmt.Errorf("encode audit record: %w", err)
	}
	return b, nil
}

func decodeAudit(k, v []byte) (maskservice.AuditEntry, error) {
	if len(k) != auditKeyLen {
		return maskservice.AuditEntry{}, fmt.Errorf("decode audit record %x: key of %d bytes, want %d", k, len(k), auditKeyLen)
	}
	var r auditRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return maskservice.AuditEntry{}, fmt.Errorf("decode audit record %x: %w", k, err)
	}
	if r.V != auditRecordVersion {
		return maskservice.AuditEntry{}, fmt.Errorf("decode audit record %x: version %d, want %d", k, r.V, auditRecordVersion)
	}
	return maskservice.AuditEntry{Seq: auditKeySeq(k), Time: r.Time, Action: maskservice.AuditAction(r.Action),
		Username: r.Username, Role: maskservice.Role(r.Role), Source: r.Source, Details: r.Details}, nil
}

// AppendAudit implements maskservice.AuditLog. It refuses an entry without an action or a
// time, or with a username or source longer than maskservice.AuditMaxUsername and
// AuditMaxSource bytes (EINVALID), cuts Details to maskservice.AuditMaxDetails bytes, and
// stores it under its time and the next sequence of the audit bucket (e.Seq is ignored).
// The entry is committed to disk, in its own transaction, before AppendAudit returns; a
// power cut before that loses only this entry, never an earlier one.
func (db *DB) AppendAudit(ctx context.Context, e maskservice.AuditEntry) error {
	e, err := validateAudit(e)
	if err != nil {
		return err
	}
	val, err := encodeAudit(e)
	if err != nil {
		return err
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next sequence: %w", err)
		}
		return b.Put(auditKey(e.Time, seq), val)
	})
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	return nil
}

// auditScanBatch bounds the entries one read transaction of ScanAudit copies out, and
// auditScanVisit the keys it looks at (a filter may skip many): fn runs after the transaction
// has ended, so a slow client of a CSV download never holds one open, and a read transaction
// keeps the pages freed after it began from being reused.
const (
	auditScanBatch = 500
	auditScanVisit = 20000
)

// ScanAudit implements maskservice.AuditLog: it calls fn with the entries that match f,
// newest first (in key order: time, then sequence), until fn returns false or the entries
// run out. The entries are copied out in batches, each in a short read transaction, and fn
// runs between them; an entry appended or trimmed meanwhile may or may not be seen.
//
// f.BeforeSeq compares the sequence; the walk is in time order, so after the clock was set
// back, an entry appended later may sort before one appended earlier.
func (db *DB) ScanAudit(ctx context.Context, f maskservice.AuditFilter, fn func(maskservice.AuditEntry) bool) error {
	var resume []byte // the last key looked at; nil before the first batch
	for {
		batch, next, err := db.copyAudit(ctx, f, resume)
		if err != nil {
			return fmt.Errorf("scan audit log: %w", err)
		}
		for _, e := range batch {
			if !fn(e) {
				return nil
			}
		}
		if next == nil {
			return nil
		}
		resume = next
	}
}

// copyAudit copies, in one read transaction, up to auditScanBatch entries that match f,
// going backwards from just before resume (or from the end of the range of f when resume is
// nil). It returns them and the key to go on before, nil when the range is exhausted.
func (db *DB) copyAudit(ctx context.Context, f maskservice.AuditFilter, resume []byte) (batch []maskservice.AuditEntry, next []byte, err error) {
	var since []byte
	if !f.Since.IsZero() {
		since = chunkKey(f.Since)
	}
	err = db.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		// Seek finds the first key at or after the bound; the one before it is the first
		// to look at. A key deleted since the last batch (trimmed) changes nothing: Seek
		// then lands on the next key after it, and Prev still steps to the one before.
		var k, v []byte
		switch {
		case resume != nil:
			k, v = seekBefore(c, resume)
		case !f.Until.IsZero():
			k, v = seekBefore(c, auditKey(f.Until, 0))
		default:
			k, v = c.Last()
		}
		for visited := 0; k != nil; k, v = c.Prev() {
			if since != nil && bytes.Compare(k[:min(8, len(k))], since) < 0 {
				return nil // older than Since, and so is every key before it
			}
			if visited++; visited > auditScanVisit || len(batch) == auditScanBatch {
				next = slices.Clone(k) // keys are valid only inside the transaction
				// k has not been looked at: go on from just after it, so Prev lands on it.
				next = append(next, 0)
				return nil
			}
			if len(k) == auditKeyLen && f.BeforeSeq != 0 && auditKeySeq(k) >= f.BeforeSeq {
				continue
			}
			e, err := decodeAudit(k, v)
			if err != nil {
				return err
			}
			if (f.Username != "" && e.Username != f.Username) || (f.Action != "" && e.Action != f.Action) {
				continue
			}
			batch = append(batch, e)
		}
		return nil
	})
	return batch, next, err
}

// seekBefore positions c on the last key before bound and returns it, or nil when there is
// none.
func seekBefore(c *bbolt.Cursor, bound []byte) (k, v []byte) {
	if k, _ = c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// auditTrimBatch bounds the entries one TrimAudit transaction deletes, so that appends are
// not held up for long.
const auditTrimBatch = 2000

// TrimAudit deletes the audit entries older than before, oldest first, in transactions of at
// most auditTrimBatch entries, and returns how many it deleted. Each transaction is
// committed before the next begins: a crash or power cut leaves the oldest entries deleted
// up to the last committed batch and every other entry whole, and the next TrimAudit goes
// on from there. Deleting does not shrink the file; bbolt reuses the freed pages.
func (db *DB) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	bound := chunkKey(before)
	deleted := 0
	for {
		n := 0
		err := db.update(ctx, func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketAudit).Cursor()
			// First again after each Delete: Next after a Delete can skip a key in bbolt.
			for k, _ := c.First(); k != nil && n < auditTrimBatch && bytes.Compare(k[:min(8, len(k))], bound) < 0; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return fmt.Errorf("delete %x: %w", k, err)
				}
				n++
			}
			return nil
		})
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("trim audit log before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		if n < auditTrimBatch {
			return deleted, nil
		}
	}
}
