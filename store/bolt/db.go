package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// FileName is the database file inside the data directory.
const FileName = "maskservice.db"

// Bucket names.
var (
	bucketMeta     = []byte("meta")
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	keySchema      = []byte("schema_version")
	keyCreated     = []byte("created")
)

// migration brings the file from version-1 to version.
type migration struct {
	version int
	name    string
	up      func(tx *bbolt.Tx) error
}

// migrations is the schema's history, oldest first. Append; never edit a released one.
var migrations = []migration{
	{1, "users and sessions", func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
}

// SchemaVersion is the newest schema this binary knows.
func latestSchema() int { return migrations[len(migrations)-1].version }

// Options configure Open.
type Options struct {
	Now     func() time.Time // defaults to time.Now
	Timeout time.Duration    // how long to wait for the file lock; default 1 s
}

// DB is the open database. It is safe for concurrent use.
type DB struct {
	db     *bbolt.DB
	path   string
	now    func() time.Time
	schema int
}

// Open opens (or creates, with mode 0600) the database in dir and runs its migrations. It
// fails fast with a clear error when another process holds the file, when the file is not a
// maskservice database, or when it was written by a newer maskserviced.
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
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Password hashes and sessions live here: nobody but the daemon's user may read it.
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
		}
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: the data directory is in use by another maskserviced (stop it first)", path)
	case errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrChecksum), errors.Is(err, bberrors.ErrVersionMismatch):
		return nil, fmt.Errorf("open %s: not a maskservice database or damaged (%v); restore a backup or move it away", path, err)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{db: bdb, path: path, now: opts.Now}
	if err := db.migrate(); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// migrate checks the file is ours and runs the missing migrations.
func (db *DB) migrate() error {
	err := db.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			others := false
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { others = true; return nil })
			if others {
				return errors.New("not a maskservice database (no meta bucket)")
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keyCreated, []byte(db.now().UTC().Format(time.RFC3339))); err != nil {
				return err
			}
			return putSchema(meta, 0)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for {
		var version int
		err := db.db.View(func(tx *bbolt.Tx) error {
			v, err := getSchema(tx.Bucket(bucketMeta))
			version = v
			return err
		})
		if err != nil {
			return err
		}
		if version > latestSchema() {
			return fmt.Errorf("written by a newer maskserviced (schema %d > %d): use that version or restore a backup", version, latestSchema())
		}
		db.schema = version
		if version == latestSchema() {
			return nil
		}
		m := migrations[version] // migrations[i] has version i+1
		if err := db.db.Update(func(tx *bbolt.Tx) error {
			if err := m.up(tx); err != nil {
				return err
			}
			return putSchema(tx.Bucket(bucketMeta), m.version)
		}); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", m.version, m.name, err)
		}
	}
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

// Close closes the file. In-flight transactions finish first.
func (db *DB) Close() error { return db.db.Close() }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the schema version of the open file.
func (db *DB) SchemaVersion() int { return db.schema }

// update runs fn in a write transaction after checking ctx; the commit (with fsync) is done
// before it returns.
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
