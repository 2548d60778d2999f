package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
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

// keyedChunk is an encoded chunk and its key.
type keyedChunk struct{ key, value []byte }

// ScanHistory implements maskservice.HistoryLog: it calls fn with the logged readings of
// sensorID whose Time lies in [start, end), in key order (the order they were taken while the
// clock did not jump back), until fn returns false. It sees every committed reading: the
// chunks in the file, and the writer's newer ones that are committed to the segment and not
// moved into the file yet (those replace the file's older copies of the same chunks). The
// chunks are copied out of the file in batches, each in a short read transaction that sees a
// consistent file while the writer goes on; the writer's are taken as they stood when the
// scan began.
//
// After the clock jumped back, readings taken in the overlap come out of order, and those of
// a chunk that began after end are not found by a range that ends in the overlap.
func (db *DB) ScanHistory(ctx context.Context, sensorID, unit string, start, end time.Time, fn func(maskservice.Reading) bool) error {
	if !start.Before(end) {
		return nil
	}
	var open []keyedChunk // the writer's, in key order
	var replaced map[string]bool
	if v := db.history.view(); v != nil {
		open, replaced = v.chunks(sensorID, start, end)
	}
	// emit hands the readings of c in [start, end) to fn; false when fn wants no more.
	emit := func(c keyedChunk) (bool, error) {
		more := true
		err := chunk.Decode(c.value, sensorID, unit, func(r maskservice.Reading) bool {
			if !r.Time.Before(start) && r.Time.Before(end) {
				more = fn(r)
			}
			return more
		})
		if err != nil {
			return false, fmt.Errorf("history of %s, chunk %x: %w", sensorID, c.key, err)
		}
		return more, nil
	}
	var resume []byte // the key to go on from; nil for the first batch
	for {
		batch, next, err := db.copyChunks(ctx, sensorID, start, end, resume)
		if err != nil {
			return err
		}
		for _, c := range batch {
			// The writer's chunks that come before c in key order go first.
			for len(open) > 0 && bytes.Compare(open[0].key, c.key) < 0 {
				if more, err := emit(open[0]); !more || err != nil {
					return err
				}
				open = open[1:]
			}
			if replaced[string(c.key)] {
				continue
			}
			if more, err := emit(c); !more || err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if next == nil {
			break
		}
		resume = next
	}
	for _, c := range open {
		if more, err := emit(c); !more || err != nil {
			return err
		}
	}
	return ctx.Err()
}

// copyChunks copies, in one read transaction, up to scanBatch chunks of sensorID that may
// hold readings in [start, end): from resume, or for the first batch from the chunk reaching
// into start. It returns them and the key to resume at, nil when there are no more.
func (db *DB) copyChunks(ctx context.Context, sensorID string, start, end time.Time, resume []byte) (batch []keyedChunk, next []byte, err error) {
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
			batch = append(batch, keyedChunk{slices.Clone(k), slices.Clone(v)})
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
	// SegmentSize is the size of the segment file that commits append to (see segment.go):
	// default MaxSize/64, at most 1 MiB, at least 8 KiB, in 4 KiB pages. Negative: no
	// segment; every commit then writes into the database file, as before there was one
	// (some 50 KB per commit instead of 4 KiB).
	SegmentSize int64
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

// When a commit moves the readings into the database file's chunks (a checkpoint) instead of
// appending them to the segment: at the writer's first commit, and once the readings held
// outside the chunks reach checkpointReadings, or the records not yet moved fill
// checkpointFill of the segment. The rest of the segment is the reserve that keeps commits
// going while checkpoints fail (a full disk: the database file cannot grow, the segment
// needs no new space). A checkpoint is one bbolt transaction of some 50 KB with a month of
// history; at the defaults (3 readings a second, a page per commit, a 1 MiB segment) one
// every 192 commits.
const (
	checkpointReadings = 1 << 14
	checkpointFill     = 0.75
	// segmentRetry is how long a writer that could not make its segment waits before it
	// tries again; meanwhile every commit is a checkpoint.
	segmentRetry = 10 * time.Minute
)

// segmentSize is the segment file's size for opts, 0 for none.
func segmentSize(opts HistoryOptions) int64 {
	size := opts.SegmentSize
	switch {
	case size < 0:
		return 0
	case size == 0:
		size = min(segmentDefault, opts.MaxSize/64)
	}
	return max(size&^(segmentAlign-1), segmentMin)
}

// HistoryState is the health of the history log, for the device status.
type HistoryState string

// The history states.
const (
	HistoryOK       HistoryState = "OK"        // the last commit succeeded
	HistoryDiskFull HistoryState = "DISK_FULL" // writes to the database fail for lack of space: readings wait in the segment while it has room, then in RAM
	HistoryError    HistoryState = "ERROR"     // writes to the database fail otherwise: readings wait as for DISK_FULL
)

// HistoryStats are the writer's counters.
type HistoryStats struct {
	State       HistoryState
	Committed   uint64    // readings committed (to the segment or the file)
	Commits     uint64    // commits that wrote something
	Checkpoints uint64    // of them, those that moved everything into the database file
	Pending     int       // readings in RAM not yet committed
	InSegment   int       // readings committed to the segment only, not yet moved into the file
	Dropped     uint64    // readings dropped because commits failed for too long
	Trimmed     uint64    // chunks deleted by retention
	LastCommit  time.Time // when the last commit succeeded
	LastError   string    // the last commit, checkpoint or retention failure, "" if none
	CommitTime  time.Duration
}

// HistoryWriter batches readings into the history log: Add keeps them in an open chunk per
// sensor in RAM; Commit appends the readings added since the last commit to the segment, a
// file of its own beside the database (one 4 KiB page and its fdatasync at the defaults),
// and every so often moves what the segment holds into the chunks of the database file in
// one transaction (a checkpoint). Queries (DB.ScanHistory) and backups see the committed
// readings wherever they are. Run does it all from the event bus, and retention in a
// goroutine of its own. Add, Commit, Checkpoint, Trim and Stats are safe for concurrent use;
// Stats never waits for a commit.
//
// One writer per DB uses the segment: the first one made. Another writer on the same DB
// moves every commit into the database file.
//
// What a crash or power cut loses: the readings added since the last successful commit (at
// most CommitInterval of them while the disk works). A cut during an append tears at most
// the record being written, which the next Open drops, and during a checkpoint leaves the
// file as it was (bbolt switches its meta page last): the segment still holds the readings,
// and Open moves them into the file, once.
type HistoryWriter struct {
	db       *DB
	opts     HistoryOptions
	rounds   *maskservice.Subscription[*maskservice.Round] // nil without Events
	attached bool                                          // this writer uses db's segment

	mu       sync.Mutex // the chunks and the segment; held across a commit
	sensors  map[string]*sensorLog
	order    []string  // sensor ids in the order first seen
	pending  int       // readings added and not yet committed (nor dropped)
	seg      *segment  // nil before the first checkpoint, when it cannot be made, and when detached
	segTried time.Time // when making the segment last failed
	closed   bool      // the DB closed: no more segment
	recBuf   []byte
	encBuf   []byte
	rsBuf    []maskservice.Reading

	// committed is what queries see of the chunks in RAM, rebuilt after every change to
	// what is committed, so that a query never waits for a commit.
	committed atomic.Pointer[writerView]

	smu   sync.Mutex // the counters, so that Stats does not wait for an fsync
	stats HistoryStats
}

// sensorLog is one sensor's part of the writer.
type sensorLog struct {
	chunks []*memChunk // not yet moved into the file whole, oldest first; the last one may be open
	hint   chunk.Scale
}

// memChunk is a chunk in RAM: the open one, or a sealed one not yet moved into the file.
type memChunk struct {
	key    []byte                // chosen when it is started: free in the file and among the writer's
	rs     []maskservice.Reading // its readings; nil once enc holds them
	enc    []byte                // the sealed chunk, encoded, once all its readings are committed
	n      int                   // readings
	logged int                   // of them, committed (the first ones): in the segment or the file
	stored int                   // of them, in the file's copy under key (0: none there)
	sealed bool
	first  time.Time // the first reading's time
}

// open returns the sensor's open chunk, nil if there is none.
func (sl *sensorLog) open() *memChunk {
	if n := len(sl.chunks); n > 0 && !sl.chunks[n-1].sealed {
		return sl.chunks[n-1]
	}
	return nil
}

// pack replaces the readings of a sealed chunk whose readings are all committed by its
// encoding: a few hundred bytes instead of 25 KB of RAM until the checkpoint.
func (sl *sensorLog) pack(c *memChunk) {
	if c.sealed && c.enc == nil && c.logged == c.n && c.n > 0 {
		c.enc, sl.hint = chunk.Encode(nil, c.rs, sl.hint)
		c.rs = nil
	}
}

// encoded returns the chunk's committed readings encoded, and whether there are any.
func (sl *sensorLog) encoded(c *memChunk) ([]byte, bool) {
	switch {
	case c.logged == 0:
		return nil, false
	case c.enc != nil:
		return c.enc, true
	}
	enc, _ := chunk.Encode(nil, c.rs[:c.logged], sl.hint)
	return enc, true
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
	w.attached = db.history.attach(w)
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
	c := sl.open()
	if c == nil || c.n >= chunkReadings || r.Time.Sub(c.first) >= chunkSpan {
		if c != nil {
			c.sealed = true
			sl.pack(c)
		}
		c = &memChunk{key: w.newKey(r.SensorID, sl, r.Time), rs: make([]maskservice.Reading, 0, chunkReadings), first: r.Time}
		sl.chunks = append(sl.chunks, c)
	}
	c.rs = append(c.rs, r)
	c.n++
	w.pending++
	dropped := w.dropOverflow()
	w.smu.Lock()
	w.stats.Pending = w.pending
	w.stats.Dropped += uint64(dropped)
	w.smu.Unlock()
}

// newKey returns the key of a chunk of sensor id starting at t: chunkKey(t), moved past any
// chunk already in the file or in RAM (after a clock jump back, an old chunk must not be
// overwritten). The key is fixed from now on, so that a query can tell the file's copy of a
// chunk from the writer's.
func (w *HistoryWriter) newKey(id string, sl *sensorLog, t time.Time) []byte {
	key := chunkKey(t)
	bump := func(b *bbolt.Bucket) {
		for slices.ContainsFunc(sl.chunks, func(c *memChunk) bool { return bytes.Equal(c.key, key) }) ||
			(b != nil && b.Get(key) != nil) {
			binary.BigEndian.PutUint64(key, binary.BigEndian.Uint64(key)+1)
		}
	}
	err := w.db.db.View(func(tx *bbolt.Tx) error {
		var b *bbolt.Bucket
		if hb := tx.Bucket(bucketHistory); hb != nil {
			b = hb.Bucket([]byte(id))
		}
		bump(b)
		return nil
	})
	if err != nil { // the file is closed: the commit will fail anyway
		bump(nil)
	}
	return key
}

// dropOverflow drops the oldest readings not committed, a sealed chunk's worth at a time,
// while more wait than MaxPending, and returns how many it dropped. What of a chunk is
// committed stays.
func (w *HistoryWriter) dropOverflow() int {
	dropped := 0
	for w.pending > w.opts.MaxPending {
		var osl *sensorLog
		oi := -1
		for _, id := range w.order {
			sl := w.sensors[id]
			// A sensor's readings not committed are its last ones: the first sealed chunk
			// with any is its oldest.
			for i, c := range sl.chunks {
				if c.sealed && c.logged < c.n {
					if osl == nil || c.first.Before(osl.chunks[oi].first) {
						osl, oi = sl, i
					}
					break
				}
			}
		}
		if osl == nil {
			return dropped // only open chunks wait; they are bounded by chunkReadings each
		}
		c := osl.chunks[oi]
		n := c.n - c.logged
		c.rs, c.n = c.rs[:c.logged], c.logged
		if c.n == 0 {
			osl.chunks = slices.Delete(osl.chunks, oi, oi+1)
		} else {
			osl.pack(c)
		}
		w.pending -= n
		dropped += n
	}
	return dropped
}

// Commit makes the readings added since the last commit durable: it appends them to the
// segment as one record and fdatasyncs it, or, at the first commit, when the segment is
// three quarters full or too many readings wait to be moved, checkpoints instead (moves
// every reading into the database file, see Checkpoint). When the file cannot take them (a
// full disk) the segment still may; when neither can, the readings stay in RAM for the next
// Commit, up to MaxPending, and Commit returns the error.
//
// What a power cut loses: after Commit returns nil, nothing it committed.
func (w *HistoryWriter) Commit(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == 0 {
		return nil
	}
	return w.commit(ctx, false)
}

// Checkpoint moves every reading added, committed or not, into the chunks of the database
// file in one transaction, which also records that the segment's records up to now are
// moved. A backup and Run's last commit call it, so that the database file alone holds the
// whole history. If the transaction fails, the readings not committed yet are appended to
// the segment, as Commit would, and Checkpoint returns the error.
//
// What a power cut loses: after Checkpoint returns nil, nothing added before it; during it,
// nothing committed before it (the segment still holds it).
func (w *HistoryWriter) Checkpoint(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkpointLocked(ctx)
}

// checkpointLocked is Checkpoint with w.mu held; it does nothing when everything is moved.
func (w *HistoryWriter) checkpointLocked(ctx context.Context) error {
	if w.moved() {
		return nil
	}
	return w.commit(ctx, true)
}

// moved reports whether the file holds every reading added.
func (w *HistoryWriter) moved() bool {
	for _, sl := range w.sensors {
		for _, c := range sl.chunks {
			if c.stored < c.n {
				return false
			}
		}
	}
	return true
}

// inSegment counts the readings committed to the segment and not moved into the file.
func (w *HistoryWriter) inSegment() int {
	n := 0
	for _, sl := range w.sensors {
		for _, c := range sl.chunks {
			n += c.logged - c.stored
		}
	}
	return n
}

// commit appends the pending readings to the segment, or checkpoints when checkpoint is set
// or it is time to (see checkpointReadings), falling back to the other where one fails.
func (w *HistoryWriter) commit(ctx context.Context, checkpoint bool) error {
	n := w.pending
	start := time.Now()
	if !checkpoint && w.seg != nil && w.inSegment()+w.pending < checkpointReadings &&
		float64(w.seg.used()) < checkpointFill*float64(w.seg.size) {
		ok, err := w.appendPending()
		if ok {
			w.committedNow(n, start, false, nil)
			return nil
		}
		if err != nil {
			w.opts.Log.Warn("history segment append failed; moving the readings into the database instead", "err", err)
		}
	}
	err := w.checkpoint(ctx)
	if err == nil {
		w.committedNow(n, start, true, nil)
		return nil
	}
	err = fmt.Errorf("history checkpoint: %w", err)
	// The database cannot take the readings (a full disk): the segment's reserve can.
	if w.seg != nil && w.pending > 0 {
		ok, aerr := w.appendPending()
		if ok {
			w.committedNow(n, start, false, err)
			w.opts.Log.Warn("history checkpoint failed; readings wait in the segment", "err", err, "in_segment", w.inSegment())
			if checkpoint {
				return err
			}
			return nil
		}
		err = errors.Join(err, aerr)
	}
	w.setError(err)
	if w.pending == 0 { // a checkpoint of committed readings failed: they stay in the segment
		return err
	}
	return fmt.Errorf("commit history (%d readings wait): %w", w.pending, err)
}

// appendPending appends the readings not committed to the segment as one record. It returns
// false when they do not fit, or when the write fails (with the error).
func (w *HistoryWriter) appendPending() (bool, error) {
	rec := append(w.recBuf[:0], segmentVersion)
	for _, id := range w.order {
		sl := w.sensors[id]
		rs := w.rsBuf[:0]
		for _, c := range sl.chunks {
			if c.logged < c.n {
				rs = append(rs, c.rs[c.logged:]...)
			}
		}
		w.rsBuf = rs[:0]
		if len(rs) == 0 {
			continue
		}
		w.encBuf, sl.hint = chunk.Encode(w.encBuf[:0], rs, sl.hint)
		rec = appendRecordPart(rec, id, w.encBuf)
	}
	w.recBuf = rec
	ok, err := w.seg.append(rec)
	if !ok {
		return false, err
	}
	for _, sl := range w.sensors {
		for _, c := range sl.chunks {
			c.logged = c.n
			sl.pack(c)
		}
	}
	w.pending = 0
	return true, nil
}

// checkpoint writes every chunk with readings the file lacks, and the segment's state, in one
// transaction; then only the open chunks stay in RAM.
func (w *HistoryWriter) checkpoint(ctx context.Context) error {
	if w.seg == nil {
		w.openSegment(ctx)
	}
	err := w.db.update(ctx, func(tx *bbolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return errors.New("no history bucket")
		}
		for _, id := range w.order {
			sl := w.sensors[id]
			var b *bbolt.Bucket
			for _, c := range sl.chunks {
				if c.stored == c.n {
					continue
				}
				if b == nil {
					var err error
					if b, err = hb.CreateBucketIfNotExists([]byte(id)); err != nil {
						return fmt.Errorf("create history bucket %s: %w", id, err)
					}
					b.FillPercent = 0.95 // chunks are appended at the end: pack the pages
				}
				v := c.enc
				if v == nil {
					// bbolt keeps the value's slice until the transaction ends: its own.
					v, sl.hint = chunk.Encode(nil, c.rs, sl.hint)
				}
				if err := b.Put(c.key, v); err != nil {
					return fmt.Errorf("put history chunk: %w", err)
				}
			}
		}
		if w.seg != nil {
			return putSegState(tx, w.seg.state())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sl := range w.sensors {
		open := sl.open()
		clear(sl.chunks)
		sl.chunks = sl.chunks[:0]
		if open != nil {
			open.logged, open.stored = open.n, open.n
			sl.chunks = append(sl.chunks, open)
		}
	}
	w.pending = 0
	if w.seg != nil {
		w.seg.checkpointed()
	}
	return nil
}

// openSegment opens (or makes) the segment if this writer uses one and there is room for it;
// on failure it logs why and leaves w.seg nil, to try again after segmentRetry.
func (w *HistoryWriter) openSegment(ctx context.Context) {
	size := segmentSize(w.opts)
	if !w.attached || w.closed || size == 0 || (!w.segTried.IsZero() && time.Since(w.segTried) < segmentRetry) {
		return
	}
	seg, err := w.db.openSegment(ctx, size)
	if err != nil {
		w.segTried = time.Now()
		w.opts.Log.Warn("no history segment: every commit writes into the database", "err", err)
		return
	}
	w.seg = seg
}

// committedNow records a successful commit of n readings; ckptErr is a checkpoint failure
// that the segment made up for.
func (w *HistoryWriter) committedNow(n int, start time.Time, checkpoint bool, ckptErr error) {
	w.publish()
	inSeg := w.inSegment()
	w.smu.Lock()
	defer w.smu.Unlock()
	w.stats.State, w.stats.LastError = HistoryOK, ""
	if ckptErr != nil {
		w.stats.State, w.stats.LastError = stateOf(ckptErr), ckptErr.Error()
	}
	w.stats.Committed += uint64(n)
	w.stats.Commits++
	if checkpoint {
		w.stats.Checkpoints++
	}
	w.stats.Pending, w.stats.InSegment = w.pending, inSeg
	w.stats.LastCommit = w.opts.Now()
	w.stats.CommitTime = time.Since(start)
}

// setError records a failed commit or checkpoint.
func (w *HistoryWriter) setError(err error) {
	w.smu.Lock()
	w.stats.LastError, w.stats.State = err.Error(), stateOf(err)
	w.smu.Unlock()
}

// stateOf is the state a failed write to the disk puts the writer in.
func stateOf(err error) HistoryState {
	if errors.Is(err, syscall.ENOSPC) {
		return HistoryDiskFull
	}
	return HistoryError
}

// writerView is what queries see of a writer's chunks: per sensor, its committed chunks in
// RAM in key order, and the keys of all its chunks, whose copies in the file are older.
type writerView map[string]*sensorView

type sensorView struct {
	chunks   []keyedChunk
	replaced map[string]bool
}

// chunks returns the view's chunks of sensorID that may hold readings in [start, end), and
// the keys whose copies in the file it replaces.
func (v writerView) chunks(sensorID string, start, end time.Time) ([]keyedChunk, map[string]bool) {
	sv := v[sensorID]
	if sv == nil {
		return nil, nil
	}
	var out []keyedChunk
	for _, c := range sv.chunks {
		if h, err := chunk.ReadHeader(c.value); err == nil && !h.Max.Before(start) && h.Min.Before(end) {
			out = append(out, c)
		}
	}
	return out, sv.replaced
}

// publish rebuilds the view queries read (w.mu held).
func (w *HistoryWriter) publish() {
	if !w.attached {
		return // queries do not look at this writer: every commit is in the file
	}
	v := make(writerView, len(w.sensors))
	for id, sl := range w.sensors {
		sv := &sensorView{replaced: make(map[string]bool, len(sl.chunks))}
		for _, c := range sl.chunks {
			sv.replaced[string(c.key)] = true
			if enc, ok := sl.encoded(c); ok {
				sv.chunks = append(sv.chunks, keyedChunk{c.key, enc})
			}
		}
		slices.SortFunc(sv.chunks, func(a, b keyedChunk) int { return bytes.Compare(a.key, b.key) })
		v[id] = sv
	}
	w.committed.Store(&v)
}

// Stats returns the writer's counters. It does not wait for a commit in progress.
func (w *HistoryWriter) Stats() HistoryStats {
	w.smu.Lock()
	defer w.smu.Unlock()
	return w.stats
}

// Status reports the history log's health for the device status: the writer's state, the
// readings waiting or dropped, the rounds its queue lost, and the size of the files.
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
// adding the rounds still queued and a last checkpoint, whose error it returns: a stopped
// daemon's database file holds its whole history.
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
		// A last checkpoint on the way out, with a context of its own: ctx is already done.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return w.Checkpoint(fctx)
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
	// By age: first the writer's chunks in RAM, or the next checkpoint would write them back,
	// then per sensor in the file, from the front while a chunk's last reading is older than
	// cutoff.
	deleted := w.dropBefore(cutoff)
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

// dropBefore drops the writer's chunks in RAM whose readings are all older than cutoff, and
// returns how many. Their copies in the segment come back only after a crash, for the next
// retention pass to delete again.
func (w *HistoryWriter) dropBefore(cutoff time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, sl := range w.sensors {
		sl.chunks = slices.DeleteFunc(sl.chunks, func(c *memChunk) bool {
			if newest(c).Before(cutoff) {
				w.pending -= c.n - c.logged
				n++
				return true
			}
			return false
		})
	}
	if n > 0 {
		w.publish()
		w.smu.Lock()
		w.stats.Pending = w.pending
		w.smu.Unlock()
	}
	return n
}

// newest returns the time of the chunk's latest reading.
func newest(c *memChunk) time.Time {
	if c.enc != nil {
		h, _ := chunk.ReadHeader(c.enc)
		return h.Max
	}
	var t time.Time
	for _, r := range c.rs {
		if r.Time.After(t) {
			t = r.Time
		}
	}
	return t
}

func (w *HistoryWriter) trimFailed(err error) error {
	w.smu.Lock()
	w.stats.LastError = err.Error()
	w.smu.Unlock()
	return fmt.Errorf("history retention: %w", err)
}

// deleteOldest deletes, in one transaction, up to trimBatch chunks in start-time order across
// all sensors while del(header, bytes freed so far) holds. A chunk the writer still has open
// is deleted too; the next checkpoint after it takes a reading writes it again under its key.
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

// HistoryFileBytes returns the bytes the database takes on the disk: the size of the
// database file and of the segment beside it, and of those the bytes in use (the segment,
// made full size, is in use whole; the file's free pages are not).
func (db *DB) HistoryFileBytes() (size, used int64) {
	_ = db.db.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	})
	used = size - int64(db.db.Stats().FreeAlloc)
	if fi, err := os.Stat(segmentPath(db.path)); err == nil {
		size += fi.Size()
		used += fi.Size()
	}
	return size, used
}
