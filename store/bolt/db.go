package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// FileName is the database file inside the data directory.
const FileName = "maskservice.db"

// Bucket and key names. Immutable: never assigned after init.
var (
	bucketMeta     = []byte("meta")
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	bucketAlerts   = []byte("alerts")
	bucketAudit    = []byte("audit")
	keySchema      = []byte("schema_version")
	keyCreated     = []byte("created")
)

// migration brings the file from schema version-1 to version.
type migration struct {
	version int
	name    string
	up      func(tx *bbolt.Tx) error
}

// migrations is the schema's history, oldest first: migrations[i] has version i+1. Append;
// never edit one that has shipped, since files in the field already carry its result.
var migrations = []migration{
	{version: 1, name: "users and sessions", up: func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	}},
	{version: 2, name: "history log", up: func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketHistory); err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketHistory, err)
		}
		return nil
	}},
	{version: 3, name: "alerts and audit", up: func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketAlerts, bucketAudit} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	}},
}

// latestSchema is the newest schema version this binary knows.
func latestSchema() int { return migrations[len(migrations)-1].version }

// Options configure Open. The zero value is ready to use.
type Options struct {
	Now     func() time.Time // the clock for the file's created stamp; default time.Now
	Timeout time.Duration    // how long to wait for another process's file lock; default 1 s
	// MmapSize is the memory map bbolt starts with. While the file fits in it, a long read
	// (a backup download, a year of CSV) never holds up a commit that grows the file, since
	// bbolt must remap, and wait for readers, only to grow beyond it. 0 lets bbolt choose.
	// Keep it within the address space: the daemon passes storage.max_size (512 MiB on
	// 32-bit ARM).
	MmapSize int64
	// OnDamage, if set, is called once, in the goroutine of the transaction, when a
	// transaction of the open database finds the file damaged (bbolt panicked or faulted on
	// a page; see DB). The daemon stops on it, so that its restart checks the file and
	// recovers it; nil only fails that transaction.
	OnDamage func(error)
}

// DB is the open database. It is safe for concurrent use: reads run in parallel, writes one
// at a time.
//
// bbolt trusts the pages it maps: on a damaged one it panics (an assertion) or faults (a
// reference outside the file). Open checks every page before bbolt maps the file; should
// damage still be met later (the disk fails while the daemon runs), every transaction runs
// with its panics and memory faults recovered and turned into an error wrapping ErrDamaged,
// so that bbolt never takes the process down. bbolt rolls such a transaction back, as any
// failed one.
type DB struct {
	db       *bbolt.DB
	path     string
	now      func() time.Time
	schema   int
	file     *os.File // bbolt's, to release its lock should bbolt be stuck
	onDamage func(error)
	reported sync.Once
	// broken is the damage a write transaction met. bbolt's writer lock may then be held for
	// ever (its rollback reads the free list page, and panics again on a damaged one), so
	// later writes fail at once with it instead of waiting for the lock.
	broken  atomic.Pointer[error]
	history historyLink // the writer that uses the history segment
}

// Open opens the database in dir, creating dir (0700) and the file (0600) if needed, and runs
// the migrations the file lacks. An existing file is chmod-ed to 0600, since it holds password
// hashes and sessions, and its layout is checked before bbolt maps it (scanFile), under the
// same lock bbolt then takes.
//
// Open never panics, whatever the file holds. It fails fast with a clear error when another
// process holds the file (wrapping ErrInUse), when the file is not a maskservice database or
// is damaged (wrapping ErrNotBolt, ErrNotOurs or ErrDamaged; OpenRecovering handles those),
// when it was written by a newer maskserviced (ErrNewer), or when the system refuses (no
// such directory, no permission, a read-only file system). A refused file is left as it
// was. The readings a crash left in the history segment it moves into the file (see
// HistoryWriter).
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return openPath(ctx, filepath.Join(dir, FileName), opts)
}

// openPath is Open of the database file at path, whose directory exists.
func openPath(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Mode().Perm() != 0o600:
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// An empty file is what a crash right after bbolt created it leaves: bbolt writes it
	// anew, as it does a missing one.
	if err == nil && fi.Size() > 0 {
		if err := checkLocked(path, opts.Timeout); err != nil {
			return nil, err
		}
	}
	db := &DB{path: path, now: opts.Now, onDamage: opts.OnDamage}
	err = guard(func() error {
		var err error
		db.db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, InitialMmapSize: int(min(opts.MmapSize, math.MaxInt32)),
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				db.file = f
				return f, err
			}})
		return err
	})
	if err != nil {
		if errors.As(err, new(*recoveredPanic)) && db.file != nil {
			// bbolt did not get to close its file: its lock would stand in the way of the
			// recovery. Unlocked first, since a map of it may keep it open.
			_ = syscall.Flock(int(db.file.Fd()), syscall.LOCK_UN)
			_ = db.file.Close()
		}
		return nil, openError(path, err)
	}
	if err := db.openStep(path, func() error { return db.migrate(ctx) }); err != nil {
		return nil, err
	}
	// The readings a crash left in the history segment go into the file before anyone reads.
	if err := db.openStep(path, func() error { _, err := foldSegment(ctx, db.db, segmentPath(path)); return err }); err != nil {
		return nil, err
	}
	return db, nil
}

// checkLocked checks the file at path with scanFile while holding the exclusive lock bbolt
// takes (flock), waiting for it at most timeout, so that no other process writes the file
// meanwhile. The lock ends with the check; bbolt takes it again at once.
func checkLocked(path string, timeout time.Duration) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := lockFile(f, timeout); err != nil {
		return openError(path, err)
	}
	if err := scanOpenFile(f); err != nil {
		if isDamage(err) {
			return &damageError{path: path, err: err}
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	return nil
}

// lockFile takes an exclusive flock on f, as bbolt does, trying until timeout; it answers
// bbolt's ErrTimeout when another process holds it. Closing f releases it.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("lock: %w", err)
		case time.Now().After(deadline):
			return bberrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// damageError is a database file that cannot be opened for what it holds: err wraps
// ErrNotBolt, ErrNotOurs or ErrDamaged and says what was found.
type damageError struct {
	path string
	err  error
}

func (e *damageError) Error() string {
	if errors.Is(e.err, ErrNotOurs) {
		return fmt.Sprintf("open %s: %v; move the file away or restore a backup", e.path, e.err)
	}
	return fmt.Sprintf("open %s: not a maskservice database or damaged (%v); restore a backup or move the file away", e.path, e.err)
}

func (e *damageError) Unwrap() error { return e.err }

// isDamage reports whether err says that a file holds something other than a whole
// maskservice database: not bbolt, bbolt of another program, or damaged.
func isDamage(err error) bool {
	return errors.Is(err, ErrDamaged) || errors.Is(err, ErrNotBolt) || errors.Is(err, ErrNotOurs)
}

// guard runs fn with its panics and memory faults recovered, as an error wrapping
// ErrDamaged. bbolt panics (asserts) and faults only on pages it cannot make sense of; a
// panic of the code fn calls is turned alike, since either way the file must be checked.
func guard(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &recoveredPanic{v: v}
		}
	}()
	// A read of a mapped page outside the file, or of one the disk cannot read, becomes a
	// panic the recover above catches, in this goroutine only.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return fn()
}

// recoveredPanic is a panic or a memory fault that guard recovered.
type recoveredPanic struct{ v any }

func (p *recoveredPanic) Error() string {
	return fmt.Sprintf("%v: bbolt panicked: %v", ErrDamaged, p.v)
}
func (p *recoveredPanic) Unwrap() error { return ErrDamaged }

// openError turns a failure of bbolt.Open into a message that says what to do.
func openError(path string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return fmt.Errorf("open %s: the data directory is in use by another maskserviced (%w)", path, ErrInUse)
	case isDamage(err):
		return &damageError{path: path, err: err}
	case errors.As(err, &pathErr), errors.As(err, &errno):
		// The system refused (permissions, a directory in the way, no memory for the map).
		return fmt.Errorf("open %s: %w", path, err)
	default:
		// bbolt reports a file it cannot read as its own with plain errors (ErrInvalid,
		// ErrChecksum, ErrVersionMismatch, "file size too small"): all mean "not ours, or
		// damaged", and the person at the console needs the same advice for each.
		return &damageError{path: path, err: fmt.Errorf("%w: %v", ErrDamaged, err)}
	}
}

// migrate checks that the file is ours and runs the missing migrations, each in its own write
// transaction that also records the new version: a crash between two migrations resumes at
// the next one, and a crash inside one leaves the file at the version before it.
func (db *DB) migrate(ctx context.Context) error {
	var version int
	err := db.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A new file has no buckets at all; one with buckets but no meta belongs to
			// another program, and writing into it would damage that program's data.
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("%w (no meta bucket)", ErrNotOurs)
			}
			return nil
		}
		var err error
		version, err = getSchema(meta)
		return err
	})
	if err != nil {
		return err
	}
	if version > latestSchema() {
		return fmt.Errorf("was %w (schema %d > %d): run that version or restore a backup", ErrNewer, version, latestSchema())
	}
	for _, m := range migrations[version:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := db.db.Update(func(tx *bbolt.Tx) error {
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return fmt.Errorf("create bucket meta: %w", err)
			}
			if meta.Get(keyCreated) == nil {
				if err := meta.Put(keyCreated, []byte(db.now().UTC().Format(time.RFC3339))); err != nil {
					return err
				}
			}
			if err := m.up(tx); err != nil {
				return err
			}
			return putSchema(meta, m.version)
		})
		if err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", m.version, m.name, err)
		}
	}
	db.schema = latestSchema()
	return nil
}

func putSchema(meta *bbolt.Bucket, v int) error {
	return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, uint32(v)))
}

func getSchema(meta *bbolt.Bucket) (int, error) {
	b := meta.Get(keySchema)
	if len(b) != 4 {
		return 0, fmt.Errorf("%w (bad schema version)", ErrNotOurs)
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

// openStep runs a step of Open on the mapped file with bbolt's panics recovered; on failure
// it closes the file and returns the error, as damage when the file turned out damaged.
func (db *DB) openStep(path string, step func() error) error {
	err := guard(step)
	if err == nil {
		return nil
	}
	if errors.As(err, new(*recoveredPanic)) {
		db.broken.Store(&err)
	}
	_ = db.Close()
	if isDamage(err) {
		return &damageError{path: path, err: err}
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// Close closes the history segment, then the file after the transactions in flight finish.
// Every answered write is already on disk, so Close loses nothing. After a write transaction met damage, Close waits
// for bbolt a moment only (brokenCloseWait): if the failed transaction still holds bbolt's
// writer lock, Close unlocks and closes bbolt's file itself, leaves the map to the end of
// the process, and says so.
func (db *DB) Close() error {
	segErr := db.history.close()
	broken := db.broken.Load()
	if broken == nil {
		return errors.Join(segErr, db.db.Close())
	}
	done := make(chan error, 1)
	go func() { done <- db.db.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(brokenCloseWait):
		if db.file != nil {
			// Unlocked first: the map keeps the open file, and so its lock, alive.
			_ = syscall.Flock(int(db.file.Fd()), syscall.LOCK_UN)
			_ = db.file.Close()
		}
		return fmt.Errorf("close %s: bbolt is stuck in a transaction that met damage; its file is closed, its map left: %w", db.path, *broken)
	}
}

// brokenCloseWait is how long Close waits for bbolt after a write transaction met damage.
const brokenCloseWait = 200 * time.Millisecond

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the schema version of the open file, which after Open is the newest
// this binary knows.
func (db *DB) SchemaVersion() int { return db.schema }

// update runs fn in a write transaction after checking ctx. bbolt commits with fdatasync
// (NoSync stays false), so when update returns nil the change is on disk; if fn fails,
// nothing of the transaction is written. Damage met on the way fails it (see DB).
func (db *DB) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if broken := db.broken.Load(); broken != nil {
		return *broken
	}
	return db.guarded(true, func() error { return db.db.Update(fn) })
}

// view runs fn in a read transaction after checking ctx; damage met fails it (see DB).
func (db *DB) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.guarded(false, func() error { return db.db.View(fn) })
}

// guarded runs a transaction, a write one if write, through guard, and reports the first
// damage to OnDamage.
func (db *DB) guarded(write bool, fn func() error) error {
	err := guard(fn)
	if !errors.As(err, new(*recoveredPanic)) {
		return err
	}
	err = fmt.Errorf("%s: %w", db.path, err)
	if write {
		db.broken.CompareAndSwap(nil, &err)
	}
	if db.onDamage != nil {
		db.reported.Do(func() { db.onDamage(err) })
	}
	return err
}
