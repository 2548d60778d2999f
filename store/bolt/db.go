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
}

// DB is the open database. It is safe for concurrent use: reads run in parallel, writes one
// at a time.
type DB struct {
	db      *bbolt.DB
	path    string
	now     func() time.Time
	schema  int
	history historyLink // the writer that uses the history segment
}

// Open opens the database in dir, creating dir (0700) and the file (0600) if needed, and runs
// the migrations the file lacks. An existing file is chmod-ed to 0600, since it holds password
// hashes and sessions. Open fails fast with a clear error when another process holds the
// file, when the file is not a maskservice database or is damaged, or when it was written by
// a newer maskserviced. The readings a crash left in the history segment it moves into the
// file (see HistoryWriter).
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
		}
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, InitialMmapSize: int(min(opts.MmapSize, math.MaxInt32))})
	if err != nil {
		return nil, openError(path, err)
	}
	db := &DB{db: bdb, path: path, now: opts.Now}
	if err := db.migrate(ctx); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The readings a crash left in the history segment go into the file before anyone reads.
	if _, err := foldSegment(ctx, bdb, segmentPath(path)); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// openError turns a failure of bbolt.Open into a message that says what to do.
func openError(path string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return fmt.Errorf("open %s: the data directory is in use by another maskserviced (stop it first)", path)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		// The system refused (permissions, a directory in the way, no memory for the map).
		return fmt.Errorf("open %s: %w", path, err)
	default:
		// bbolt reports a file it cannot read as its own with plain errors (ErrInvalid,
		// ErrChecksum, ErrVersionMismatch, "file size too small"): all mean "not ours, or
		// damaged", and the person at the console needs the same advice for each.
		return fmt.Errorf("open %s: not a maskservice database or damaged (%v); restore a backup or move the file away", path, err)
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
				return errors.New("not a maskservice database (no meta bucket)")
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
		return fmt.Errorf("was written by a newer maskserviced (schema %d > %d): run that version or restore a backup", version, latestSchema())
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
		return 0, errors.New("not a maskservice database (bad schema version)")
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

// Close closes the file after the transactions in flight finish, and the history segment.
// Every answered write is already on disk, so Close loses nothing.
func (db *DB) Close() error { return errors.Join(db.history.close(), db.db.Close()) }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the schema version of the open file, which after Open is the newest
// this binary knows.
func (db *DB) SchemaVersion() int { return db.schema }

// update runs fn in a write transaction after checking ctx. bbolt commits with fdatasync
// (NoSync stays false), so when update returns nil the change is on disk; if fn fails,
// nothing of the transaction is written.
func (db *DB) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.db.Update(fn)
}

// view runs fn in a read transaction after checking ctx.
func (db *DB) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.db.View(fn)
}
