package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/chunk"
)

// How the history uses the segment (segment.go): what a record holds, how a segment's
// records are folded into a database file (at Open, into a backup or a compacted copy), and
// the DB's link to the writer that appends to it.

// appendRecordPart appends one sensor's part of a record's payload: its id and its readings
// as a chunk.
func appendRecordPart(rec []byte, id string, enc []byte) []byte {
	rec = binary.AppendUvarint(rec, uint64(len(id)))
	rec = append(rec, id...)
	rec = binary.AppendUvarint(rec, uint64(len(enc)))
	return append(rec, enc...)
}

// decodeRecord calls fn with each sensor's part of a record's payload.
func decodeRecord(payload []byte, fn func(id string, enc []byte) error) error {
	if len(payload) == 0 || payload[0] != segmentVersion {
		return errors.New("history segment record: unknown version")
	}
	b := payload[1:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	for len(b) > 0 {
		id, ok := next()
		if !ok {
			return errors.New("history segment record: bad sensor id")
		}
		enc, ok := next()
		if !ok {
			return fmt.Errorf("history segment record: bad readings of %s", id)
		}
		if err := fn(string(id), enc); err != nil {
			return err
		}
	}
	return nil
}

// chunkLen returns how many of rs (at least one) the first chunk takes, by the writer's rule:
// up to chunkReadings readings, spanning less than chunkSpan.
func chunkLen(rs []maskservice.Reading) int {
	for i := 1; i < len(rs); i++ {
		if i == chunkReadings || rs[i].Time.Sub(rs[0].Time) >= chunkSpan {
			return i
		}
	}
	return len(rs)
}

// foldSegment moves the readings of the records after bdb's checkpoint, in the segment file
// at path, into bdb's chunks, and the checkpoint past them, in one transaction: what a crash
// left in the segment is then in the file like the rest of the history, once. A torn record
// at the end is left out (it was never committed). It returns the readings moved; with no
// segment file, no checkpoint in bdb (the segment belongs to no file) or no record after it,
// it writes nothing.
//
// What a crash or power cut during the fold loses: nothing; the file stays as it was and the
// next fold does it again.
func foldSegment(ctx context.Context, bdb *bbolt.DB, path string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var st segState
	var ok bool
	err := bdb.View(func(tx *bbolt.Tx) error {
		var err error
		st, ok, err = getSegState(tx)
		return err
	})
	if err != nil || !ok {
		return 0, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("open history segment: %w", err)
	}
	defer f.Close()
	adviseRandom(f)
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("history segment: %w", err)
	}
	readings := map[string][]maskservice.Reading{}
	var order []string
	last, tail, err := scanSegment(f, fi.Size(), st, func(seq uint64, payload []byte) error {
		return decodeRecord(payload, func(id string, enc []byte) error {
			if _, seen := readings[id]; !seen {
				order = append(order, id)
			}
			err := chunk.Decode(enc, id, "", func(r maskservice.Reading) bool {
				readings[id] = append(readings[id], r)
				return true
			})
			if err != nil {
				return fmt.Errorf("history segment record %d, %s: %w", seq, id, err)
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	if last == st.Seq {
		return 0, nil
	}
	n := 0
	err = bdb.Update(func(tx *bbolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return errors.New("no history bucket")
		}
		for _, id := range order {
			b, err := hb.CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return fmt.Errorf("create history bucket %s: %w", id, err)
			}
			b.FillPercent = 0.95
			var hint chunk.Scale
			for rs := readings[id]; len(rs) > 0; {
				k := chunkLen(rs)
				// The readings go on from the chunk the writer had open: they start a chunk
				// of their own, under a key of their own.
				key := chunkKey(rs[0].Time)
				for b.Get(key) != nil {
					binary.BigEndian.PutUint64(key, binary.BigEndian.Uint64(key)+1)
				}
				var enc []byte
				enc, hint = chunk.Encode(nil, rs[:k], hint)
				if err := b.Put(key, enc); err != nil {
					return fmt.Errorf("put history chunk: %w", err)
				}
				n += k
				rs = rs[k:]
			}
		}
		return putSegState(tx, segState{LogID: st.LogID, Seq: last, Pos: tail})
	})
	if err != nil {
		return 0, fmt.Errorf("move the history segment into the database: %w", err)
	}
	return n, nil
}

// foldSegmentInto folds the segment beside the database file src into the database file at
// dst (a copy of src being made), which it opens and closes.
func foldSegmentInto(ctx context.Context, dst, src string) error {
	bdb, err := bbolt.Open(dst, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	_, err = foldSegment(ctx, bdb, segmentPath(src))
	return errors.Join(err, bdb.Close())
}

// openSegment opens the segment beside the database file for a writer that has just been
// made, after Open moved the segment's records into the file. It refuses to make a new
// segment file in the last free space of the disk (less than four times its size free).
func (db *DB) openSegment(ctx context.Context, size int64) (*segment, error) {
	var st segState
	var ok bool
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		st, ok, err = getSegState(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		// A file that never had a segment, or whose segment a restore removed: a new log,
		// which records left by another file cannot be mistaken for.
		var id [8]byte
		if _, err := rand.Read(id[:]); err != nil {
			return nil, fmt.Errorf("history segment id: %w", err)
		}
		st = segState{LogID: binary.BigEndian.Uint64(id[:])}
	}
	path := segmentPath(db.path)
	if fi, err := os.Stat(path); err != nil || fi.Size() != size {
		var sfs syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &sfs); err == nil {
			if free := int64(sfs.Bavail) * int64(sfs.Bsize); free < 4*size {
				return nil, fmt.Errorf("make history segment %s: %d KB free, want %d KB: %w", path, free>>10, 4*size>>10, syscall.ENOSPC)
			}
		}
	}
	seg, _, err := openSegment(ctx, path, size, st)
	return seg, err
}

// historyLink is a DB's link to the writer that uses its segment: queries read the writer's
// committed chunks in RAM, a backup checkpoints it first, Close closes its segment.
type historyLink struct {
	mu sync.Mutex
	w  *HistoryWriter
}

// attach makes w the DB's writer if it has none; it reports whether it did.
func (l *historyLink) attach(w *HistoryWriter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		return false
	}
	l.w = w
	return true
}

func (l *historyLink) writer() *HistoryWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w
}

// view returns what queries see of the writer's chunks, nil without a writer.
func (l *historyLink) view() writerView {
	w := l.writer()
	if w == nil {
		return nil
	}
	if v := w.committed.Load(); v != nil {
		return *v
	}
	return nil
}

// begin checkpoints the writer, if there is one, and starts a read transaction before it
// can commit again: the transaction sees every reading committed before begin was called.
func (l *historyLink) begin(ctx context.Context, bdb *bbolt.DB) (*bbolt.Tx, error) {
	w := l.writer()
	if w == nil {
		return bdb.Begin(false)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkpointLocked(ctx); err != nil {
		return nil, fmt.Errorf("move the newest readings into the database first: %w", err)
	}
	return bdb.Begin(false)
}

// close closes the writer's segment: the database is closing.
func (l *historyLink) close() error {
	w := l.writer()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.seg == nil {
		return nil
	}
	err := w.seg.Close()
	w.seg = nil
	return err
}
