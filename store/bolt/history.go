package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/chunk"
)

// bucketHistory holds one nested bucket per sensor id; see doc.go.
var bucketHistory = []byte("history")

// Chunk limits: a chunk is sealed, and the next reading starts a new one, when it holds
// chunkReadings readings or spans chunkSpan. 256 readings at 1 Hz make a value of about
// 550 bytes, which bbolt packs several to a 4 KiB page; the 24 bytes of key and leaf
// element per chunk then cost 0.1 byte per reading.
const (
	chunkReadings = 256
	chunkSpan     = time.Hour
)

// chunkKey returns the key of a chunk starting at t: Unix nanoseconds with the sign bit
// flipped, big-endian, so that bbolt's byte order is time order also before 1970.
func chunkKey(t time.Time) []byte {
	ns := t.UnixNano()
	switch sec := t.Unix(); {
	case sec >= math.MaxInt64/int64(time.Second):
		ns = math.MaxInt64
	case sec <= math.MinInt64/int64(time.Second):
		ns = math.MinInt64
	}
	return binary.BigEndian.AppendUint64(nil, uint64(ns)^(1<<63))
}

// scanBatch bounds the chunks one read transaction copies out (about 150 KB at 1 Hz). The
// readings are decoded and handed to fn after the transaction ends: a read transaction keeps
// the pages freed after it began from being reused, and fn may be a CSV download to a slow
// phone that must not hold them for minutes.
const scanBatch = 256

// ScanHistory implements maskservice.HistoryLog: it calls fn with the logged readings of
// sensorID whose Time lies in [start, end), in key order (the order they were taken while the
// clock did not jump back), until fn returns false. The chunks are copied out of the file in
// batches, each in a short read transaction that sees a consistent file while the writer
// goes on.
//
// After the clock jumped back, readings taken in the overlap come out of order, and those of
// a chunk that began after end are not found by a range that ends in the overlap.
func (db *DB) ScanHistory(ctx context.Context, sensorID, unit string, start, end time.Time, fn func(maskservice.Reading) bool) error {
	if !start.Before(end) {
		return nil
	}
	var resume []byte // the key to go on from; nil for the first batch
	for {
		batch, next, err := db.copyChunks(ctx, sensorID, start, end, resume)
		if err != nil {
			return err
		}
		for i, v := range batch {
			more := true
			err := chunk.Decode(v, sensorID, unit, func(r maskservice.Reading) bool {
				if !r.Time.Before(start) && r.Time.Before(end) {
					more = fn(r)
				}
				return more
			})
			if err != nil {
				return fmt.Errorf("history of %s, chunk %d of a batch: %w", sensorID, i, err)
			}
			if !more {
				return nil
			}
		}
		if next == nil {
			return ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		resume = next
	}
}

// copyChunks copies, in one read transaction, up to scanBatch chunks of sensorID that may
// hold readings in [start, end): from resume, or for the first batch from the chunk reaching
// into start. It returns them and the key to resume at, nil when there are no more.
func (db *DB) copyChunks(ctx context.Context, sensorID string, start, end time.Time, resume []byte) (batch [][]byte, next []byte, err error) {
	err = db.view(ctx, func(tx *bbolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return nil
		}
		b := hb.Bucket([]byte(sensorID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if resume != nil {
			k, v = c.Seek(resume)
		} else {
			// The chunk before the first one that starts at or after start may reach into
			// the range: begin there if it does.
			seek := chunkKey(start)
			k, _ = c.Seek(seek)
			var pk, pv []byte
			if k == nil {
				pk, pv = c.Last()
			} else {
				pk, pv = c.Prev()
			}
			if h, err := chunk.ReadHeader(pv); pk != nil && (err != nil || !h.Max.Before(start)) {
				seek = pk
			}
			k, v = c.Seek(seek)
		}
		stop := chunkKey(end)
		for ; k != nil && bytes.Compare(k, stop) < 0; k, v = c.Next() {
			if len(batch) == scanBatch {
				next = slices.Clone(k) // keys and values are valid only inside the transaction
				return nil
			}
			h, err := chunk.ReadHeader(v)
			if err != nil {
				return fmt.Errorf("history of %s, chunk %x: %w", sensorID, k, err)
			}
			if h.Max.Before(start) || !h.Min.Before(end) {
				continue
			}
			batch = append(batch, slices.Clone(v))
		}
		return nil
	})
	return batch, next, err
}

// HistoryOptions configure a HistoryWriter. The zero value is valid.
type HistoryOptions struct {
	// CommitInterval is how often Run commits the readings it has (default 1 s): a power
	// cut loses at most the readings of the last interval.
	CommitInterval time.Duration
	// MaxPending bounds the readings kept in RAM while commits fail (a full disk); beyond
	// it the oldest are dropped and counted. Default 100,000: about 9 hours of 3 sensors at
	// 1 Hz, some 10 MB.
	MaxPending int
	// Retention deletes history older than this (default 400 days); MaxSize keeps the file
	// below this many bytes by deleting the oldest history (default 1 GiB). Run enforces
	// both every RetentionEvery (default 10 min), starting one minute after it starts, so a
	// start never waits for it.
	Retention      time.Duration
	MaxSize        int64
	RetentionEvery time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Log receives commit failures and retention passes; nil discards.
	Log *slog.Logger
	// Events is the bus whose rounds Run writes; NewHistoryWriter subscribes to it at once,
	// with a queue of Queue rounds (default: a minute of rounds at the fastest sensor's
	// interval, between 64 and 8192), so that a slow commit (an SD card busy for seconds)
	// loses no readings; what overflows is counted and shown in Status. Nil: Run fails.
	Events *maskservice.EventBus
	Queue  int
	// Sensors, when set, sizes the default Queue from the fastest interval.
	Sensors *maskservice.SensorSet
}

// historyQueue is the default queue: a minute of rounds at the fastest interval of sensors,
// between 64 and 8192 rounds.
func historyQueue(sensors *maskservice.SensorSet) int {
	fastest := time.Minute
	for i := range sensors.Len() {
		fastest = min(fastest, sensors.At(i).Interval)
	}
	return min(max(int(time.Minute/fastest), 64), 8192)
}

// HistoryState is the health of the history log, for the device status.
type HistoryState string

// The history states.
const (
	HistoryOK       HistoryState = "OK"        // the last commit succeeded
	HistoryDiskFull HistoryState = "DISK_FULL" // commits fail for lack of space; readings wait in RAM
	HistoryError    HistoryState = "ERROR"     // commits fail otherwise; readings wait in RAM
)

// HistoryStats are the writer's counters.
type HistoryStats struct {
	State      HistoryState
	Committed  uint64    // readings committed
	Commits    uint64    // transactions committed
	Pending    int       // readings in RAM not yet committed
	Dropped    uint64    // readings dropped because commits failed for too long
	Trimmed    uint64    // chunks deleted by retention
	LastCommit time.Time // when the last commit succeeded
	LastError  string    // the last commit or retention failure, "" if none
	CommitTime time.Duration
}

// HistoryWriter batches readings into the history log: Add keeps them in an open chunk per
// sensor in RAM, Commit writes every changed chunk in one transaction. Run does both from a
// monitor subscription, and retention in a goroutine of its own. Add, Commit, Trim and Stats
// are safe for concurrent use; Stats never waits for a commit.
//
// What a crash or power cut loses: the readings added since the last successful commit (at
// most CommitInterval of them while the disk works). bbolt switches its meta page last, so a
// cut during a commit leaves the file as it was after the previous one.
type HistoryWriter struct {
	db     *DB
	opts   HistoryOptions
	rounds *maskservice.Subscription[*maskservice.Round] // nil without Events

	mu      sync.Mutex // the chunks; held across a commit
	sensors map[string]*sensorLog
	order   []string // sensor ids in the order first seen
	pending int      // readings added and not yet committed (nor dropped)

	smu   sync.Mutex // the counters, so that Stats does not wait for an fsync
	stats HistoryStats
}

// sensorLog is one sensor's part of the writer.
type sensorLog struct {
	open        []maskservice.Reading // the open chunk
	openKey     []byte                // its key once committed, nil before
	uncommitted int                   // readings of open added since its last commit
	sealed      []pendingChunk        // full chunks with readings not committed yet
	hint        chunk.Scale
}

// pendingChunk is a sealed chunk whose newest readings never reached the file.
type pendingChunk struct {
	key         []byte // nil if no part of it was ever committed
	readings    []maskservice.Reading
	uncommitted int // its readings not in the file: the last ones
}

// NewHistoryWriter returns a writer into db's history log.
func (db *DB) NewHistoryWriter(opts HistoryOptions) *HistoryWriter {
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	if opts.Retention <= 0 {
		opts.Retention = 400 * 24 * time.Hour
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 1 << 30
	}
	if opts.RetentionEvery <= 0 {
		opts.RetentionEvery = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	w := &HistoryWriter{db: db, opts: opts, sensors: map[string]*sensorLog{}, stats: HistoryStats{State: HistoryOK}}
	if opts.Events != nil {
		if opts.Queue <= 0 {
			opts.Queue = 64
			if opts.Sensors != nil {
				opts.Queue = historyQueue(opts.Sensors)
			}
		}
		w.rounds = maskservice.Subscribe[*maskservice.Round](opts.Events, "history", opts.Queue)
	}
	return w
}

// Add takes one reading into the open chunk of its sensor. Readings must come in the order
// they were taken for each sensor.
func (w *HistoryWriter) Add(r maskservice.Reading) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sl := w.sensors[r.SensorID]
	if sl == nil {
		sl = &sensorLog{}
		w.sensors[r.SensorID] = sl
		w.order = append(w.order, r.SensorID)
	}
	if n := len(sl.open); n >= chunkReadings || (n > 0 && r.Time.Sub(sl.open[0].Time) >= chunkSpan) {
		if sl.uncommitted > 0 {
			sl.sealed = append(sl.sealed, pendingChunk{key: sl.openKey, readings: sl.open, uncommitted: sl.uncommitted})
		}
		sl.open, sl.openKey, sl.uncommitted = make([]maskservice.Reading, 0, chunkReadings), nil, 0
	}
	sl.open = append(sl.open, r)
	sl.uncommitted++
	w.pending++
	dropped := w.dropOverflow()
	w.smu.Lock()
	w.stats.Pending = w.pending
	w.stats.Dropped += uint64(dropped)
	w.smu.Unlock()
}

// dropOverflow drops the oldest sealed chunks while more readings wait than MaxPending, and
// returns how many readings it dropped. A dropped chunk's readings that were committed stay
// in the file.
func (w *HistoryWriter) dropOverflow() int {
	dropped := 0
	for w.pending > w.opts.MaxPending {
		var oldest *sensorLog
		for _, id := range w.order {
			sl := w.sensors[id]
			if len(sl.sealed) > 0 && (oldest == nil || sl.sealed[0].readings[0].Time.Before(oldest.sealed[0].readings[0].Time)) {
				oldest = sl
			}
		}
		if oldest == nil {
			return dropped // only open chunks wait; they are bounded by chunkReadings each
		}
		n := oldest.sealed[0].uncommitted
		oldest.sealed = oldest.sealed[1:]
		w.pending -= n
		dropped += n
	}
	return dropped
}

// Commit writes every chunk with new readings in one transaction. On failure (a full disk)
// the readings stay in RAM for the next Commit, up to MaxPending.
func (w *HistoryWriter) Commit(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == 0 {
		return nil
	}
	type written struct {
		sl      *sensorLog
		openKey []byte
		hint    chunk.Scale
	}
	var done []written
	n := w.pending
	start := time.Now()
	var buf []byte
	err := w.db.update(ctx, func(tx *bbolt.Tx) error {
		done = done[:0]
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return errors.New("no history bucket")
		}
		for _, id := range w.order {
			sl := w.sensors[id]
			if sl.uncommitted == 0 && len(sl.sealed) == 0 {
				continue
			}
			b, err := hb.CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return fmt.Errorf("create history bucket %s: %w", id, err)
			}
			b.FillPercent = 0.95 // chunks are appended at the end: pack the pages
			hint := sl.hint
			for _, pc := range sl.sealed {
				if _, hint, buf, err = putChunk(b, pc.key, pc.readings, hint, buf); err != nil {
					return err
				}
			}
			wr := written{sl: sl, openKey: sl.openKey, hint: hint}
			if sl.uncommitted > 0 {
				if wr.openKey, wr.hint, buf, err = putChunk(b, sl.openKey, sl.open, hint, buf); err != nil {
					return err
				}
			}
			done = append(done, wr)
		}
		return nil
	})
	if err != nil {
		state := HistoryError
		if errors.Is(err, syscall.ENOSPC) {
			state = HistoryDiskFull
		}
		w.smu.Lock()
		w.stats.LastError, w.stats.State = err.Error(), state
		w.smu.Unlock()
		return fmt.Errorf("commit history (%d readings wait): %w", n, err)
	}
	for _, d := range done {
		d.sl.sealed, d.sl.openKey, d.sl.hint, d.sl.uncommitted = nil, d.openKey, d.hint, 0
	}
	w.pending = 0
	w.smu.Lock()
	w.stats.State, w.stats.LastError = HistoryOK, ""
	w.stats.Committed += uint64(n)
	w.stats.Commits++
	w.stats.Pending = 0
	w.stats.LastCommit = w.opts.Now()
	w.stats.CommitTime = time.Since(start)
	w.smu.Unlock()
	return nil
}

// putChunk encodes readings and puts them under key, or under a new key from the first
// reading's time when key is nil (moved past any chunk already there: after a clock jump
// back, an old chunk must not be overwritten). It returns the key used.
func putChunk(b *bbolt.Bucket, key []byte, rs []maskservice.Reading, hint chunk.Scale, buf []byte) ([]byte, chunk.Scale, []byte, error) {
	if key == nil {
		key = chunkKey(rs[0].Time)
		for b.Get(key) != nil {
			binary.BigEndian.PutUint64(key, binary.BigEndian.Uint64(key)+1)
		}
	}
	buf, hint = chunk.Encode(buf[:0], rs, hint)
	// bbolt keeps the value's slice until the transaction ends: give it its own copy.
	if err := b.Put(key, slices.Clone(buf)); err != nil {
		return nil, hint, buf, fmt.Errorf("put history chunk: %w", err)
	}
	return key, hint, buf, nil
}

// Stats returns the writer's counters. It does not wait for a commit in progress.
func (w *HistoryWriter) Stats() HistoryStats {
	w.smu.Lock()
	defer w.smu.Unlock()
	return w.stats
}

// Status reports the history log's health for the device status: the writer's state, the
// readings waiting or dropped, the rounds its queue lost, and the file's size.
func (w *HistoryWriter) Status() maskservice.StorageStatus {
	st := w.Stats()
	size, used := w.db.HistoryFileBytes()
	out := maskservice.StorageStatus{State: string(st.State), Pending: st.Pending, Dropped: st.Dropped,
		LastCommit: st.LastCommit, LastError: st.LastError, FileBytes: size, UsedBytes: used,
		MaxBytes: w.opts.MaxSize}
	if w.rounds != nil {
		out.DroppedRounds = w.rounds.Dropped()
	}
	return out
}

// Run adds the readings of every round on the bus (HistoryOptions.Events) and commits every
// CommitInterval; retention runs every RetentionEvery in a goroutine of its own, so a long
// pass never holds up the readings. Run returns when ctx is done or the bus closes, after
// adding the rounds still queued and a last commit, whose error it returns.
func (w *HistoryWriter) Run(ctx context.Context) error {
	if w.rounds == nil {
		return errors.New("history writer: Run needs HistoryOptions.Events")
	}
	defer w.rounds.Close()
	return w.run(ctx, w.rounds.C)
}

// run is Run on a channel of rounds.
func (w *HistoryWriter) run(ctx context.Context, rounds <-chan *maskservice.Round) error {
	// Retention ends with Run, also when Run ends because the bus closed.
	trimCtx, stopTrim := context.WithCancel(ctx)
	trimDone := make(chan struct{})
	go func() {
		defer close(trimDone)
		w.runRetention(trimCtx)
	}()
	defer func() { stopTrim(); <-trimDone }()
	commit := time.NewTicker(w.opts.CommitInterval)
	defer commit.Stop()
	add := func(r *maskservice.Round) {
		for _, rd := range r.Readings {
			w.Add(rd)
		}
	}
	final := func() error {
		// The rounds already queued are readings the monitor took: keep them too.
		for drained := false; !drained; {
			select {
			case r, ok := <-rounds:
				if !ok {
					drained = true
				} else {
					add(r)
				}
			default:
				drained = true
			}
		}
		// A last commit on the way out, with a context of its own: ctx is already done.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return w.Commit(fctx)
	}
	for {
		select {
		case <-ctx.Done():
			return final()
		case r, ok := <-rounds:
			if !ok {
				return final()
			}
			add(r)
		case <-commit.C:
			if err := w.Commit(ctx); err != nil && ctx.Err() == nil {
				w.opts.Log.Warn("history commit failed; readings wait in RAM", "err", err, "pending", w.Stats().Pending)
			}
		}
	}
}

// runRetention runs Trim every RetentionEvery, the first time one minute after it starts (at
// most), until ctx is done. The audit trail is kept as long as the history: each pass trims
// it to the same retention.
func (w *HistoryWriter) runRetention(ctx context.Context) {
	t := time.NewTimer(min(time.Minute, w.opts.RetentionEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.Trim(ctx); err != nil && ctx.Err() == nil {
				w.opts.Log.Warn("history retention failed", "err", err)
			}
			if n, err := w.db.TrimAudit(ctx, w.opts.Now().Add(-w.opts.Retention)); err != nil && ctx.Err() == nil {
				w.opts.Log.Warn("audit retention failed", "err", err)
			} else if n > 0 {
				w.opts.Log.Info("audit retention", "deleted_entries", n)
			}
			t.Reset(w.opts.RetentionEvery)
		}
	}
}

// trimBatch bounds the chunks one retention transaction deletes, so that the writer's
// commits are not held up for long.
const trimBatch = 2000

// Trim deletes the history older than the retention period, then the oldest history while the
// file's pages in use exceed nine tenths of MaxSize, down to eight tenths. Deleting does not
// shrink the file: bbolt reuses the freed pages for new chunks (`maskserviced compact` gives
// the space back). It returns the number of chunks deleted.
func (w *HistoryWriter) Trim(ctx context.Context) (int, error) {
	cutoff := w.opts.Now().Add(-w.opts.Retention)
	deleted := 0
	// By age: per sensor, from the front while a chunk's last reading is older than cutoff.
	for {
		n, err := w.deleteOldest(ctx, func(h chunk.Header, _ int64) bool { return h.Max.Before(cutoff) })
		deleted += n
		if err != nil || n < trimBatch {
			if err != nil {
				return deleted, w.trimFailed(err)
			}
			break
		}
	}
	// By size: the oldest chunks of all sensors first.
	high, low := w.opts.MaxSize/10*9, w.opts.MaxSize/10*8
	for used := w.db.usedBytes(); used > high; used = w.db.usedBytes() {
		excess := used - low
		n, err := w.deleteOldest(ctx, func(_ chunk.Header, freed int64) bool { return freed < excess })
		deleted += n
		if err != nil {
			return deleted, w.trimFailed(err)
		}
		if n == 0 {
			break // nothing left to delete: the rest of the file is not history
		}
	}
	if deleted > 0 {
		w.smu.Lock()
		w.stats.Trimmed += uint64(deleted)
		w.smu.Unlock()
		w.opts.Log.Info("history retention", "deleted_chunks", deleted, "used_bytes", w.db.usedBytes())
	}
	return deleted, nil
}

func (w *HistoryWriter) trimFailed(err error) error {
	w.smu.Lock()
	w.stats.LastError = err.Error()
	w.smu.Unlock()
	return fmt.Errorf("history retention: %w", err)
}

// deleteOldest deletes, in one transaction, up to trimBatch chunks in start-time order across
// all sensors while del(header, bytes freed so far) holds. A chunk the writer still has open
// is deleted too; its next commit writes it again under its key.
func (w *HistoryWriter) deleteOldest(ctx context.Context, del func(h chunk.Header, freed int64) bool) (int, error) {
	n := 0
	err := w.db.update(ctx, func(tx *bbolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return nil
		}
		type head struct {
			c    *bbolt.Cursor
			k, v []byte
		}
		var heads []*head
		err := hb.ForEachBucket(func(name []byte) error {
			c := hb.Bucket(name).Cursor()
			if k, v := c.First(); k != nil {
				heads = append(heads, &head{c, k, v})
			}
			return nil
		})
		if err != nil {
			return err
		}
		var freed int64
		for n < trimBatch && len(heads) > 0 {
			oldest := slices.MinFunc(heads, func(a, b *head) int { return bytes.Compare(a.k, b.k) })
			h, err := chunk.ReadHeader(oldest.v)
			if err == nil && !del(h, freed) {
				return nil
			}
			// A corrupt chunk is deleted too: it cannot be read anyway.
			freed += int64(len(oldest.k) + len(oldest.v) + 16)
			if err := oldest.c.Delete(); err != nil {
				return fmt.Errorf("delete chunk %x: %w", oldest.k, err)
			}
			n++
			// The deleted chunk was its bucket's first: First finds the next one (Next after
			// Delete can skip a key in bbolt).
			if oldest.k, oldest.v = oldest.c.First(); oldest.k == nil {
				heads = slices.DeleteFunc(heads, func(x *head) bool { return x == oldest })
			}
		}
		return nil
	})
	return n, err
}

// usedBytes is the size of the file minus its free pages: what the data takes.
func (db *DB) usedBytes() int64 {
	_, used := db.HistoryFileBytes()
	return used
}

// HistoryFileBytes returns the size of the database file and the bytes of it in use.
func (db *DB) HistoryFileBytes() (size, used int64) {
	_ = db.db.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size, size - int64(db.db.Stats().FreeAlloc)
}
