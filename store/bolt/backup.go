package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Backup, verification, restore and compaction of the database file.
//
// # What a crash or a power cut leaves
//
// Every file this code writes is written under a temporary name next to its destination
// (FILE.tmp, maskservice.db.restore.tmp, maskservice.db.compact.tmp), fsynced, and only then
// renamed over the destination, after which the directory is fsynced. rename(2) replaces a
// name atomically, so after a crash or a power cut the destination is either the old file,
// whole, or the complete new one, never a mix; at worst a stale temporary file is left,
// which the next run of the same operation removes. Restore never deletes the file it
// replaces: it first gives it a second name (maskservice.db.before-restore-<UTC time>) with a
// hard link, so there is no moment in which maskservice.db is missing.

// The kinds of failure of Verify, Restore and Compact; test for them with errors.Is. The
// errors themselves say more (which page is damaged, which schema was found).
var (
	// ErrNotBolt: the file is not a bbolt database at all.
	ErrNotBolt = errors.New("not a bbolt file")
	// ErrNotOurs: a bbolt file of another program (no meta bucket, or no valid schema).
	ErrNotOurs = errors.New("not a maskservice database")
	// ErrDamaged: a bbolt file whose pages are inconsistent or cut short.
	ErrDamaged = errors.New("damaged")
	// ErrNewer: the file was written by a newer maskserviced than this one.
	ErrNewer = errors.New("written by a newer maskserviced")
	// ErrInUse: another process (the daemon) holds the database file.
	ErrInUse = errors.New("the database is in use: stop maskserviced first")
)

// Suffixes of the files that Restore and Compact write next to maskservice.db.
const (
	restoreTmpSuffix   = ".restore.tmp"
	compactTmpSuffix   = ".compact.tmp"
	beforeRestoreInfix = ".before-restore-"
	// keptTimeFormat stamps the file Restore keeps: UTC, sortable, no colons.
	keptTimeFormat = "20060102T150405Z"
	// compactTxMaxSize bounds one write transaction of Compact, and so its memory.
	compactTxMaxSize = 64 << 20
	// lockTimeout is how long the offline operations wait for the file lock.
	lockTimeout = time.Second
)

// Info describes a database file that passed Verify.
type Info struct {
	SchemaVersion int      // the meta bucket's schema_version
	Created       string   // the meta bucket's created stamp (RFC 3339 UTC), as stored
	Size          int64    // the file's size in bytes
	Buckets       []string // the top-level buckets, in bbolt's (byte) order
}

// StreamBackup writes a consistent copy of the open database while writers go on: it runs
// one read transaction, calls start with the exact size of the copy, and writes the copy to
// the writer start returns. The size is known before the first byte, so an HTTP handler can
// send it as Content-Length and be sure the body matches it.
//
// The copy holds every reading committed before StreamBackup was called: the history
// writer's readings in the segment are first moved into the file (a checkpoint), and the
// transaction begins before the writer commits again. When that checkpoint fails (a full
// disk), so does the backup, rather than leave out the newest readings.
//
// Writers are not blocked, with one exception: a write that needs the file to grow waits
// until the transaction ends (bbolt cannot remap the file under a reader), and pages freed
// meanwhile are reused only afterwards. A slow reader of the copy therefore holds up such
// writes (the history's commits go to the segment meanwhile, and only its checkpoints
// wait); cancel ctx (or fail the writer) to end the copy early.
func (db *DB) StreamBackup(ctx context.Context, start func(size int64) (io.Writer, error)) (int64, error) {
	var n int64
	err := db.snapshot(ctx, func(tx *bbolt.Tx) error {
		w, err := start(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up %s: %w", db.path, err)
	}
	return n, nil
}

// snapshot runs fn in a read transaction that holds every reading committed so far (see
// StreamBackup).
func (db *DB) snapshot(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := db.history.begin(ctx, db.db)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// WriteBackup writes a consistent copy of the open database to w, in one read transaction,
// while writers go on (see StreamBackup for the one kind of write that waits). It returns
// the number of bytes written; on success that is the size of a file holding the copy.
func (db *DB) WriteBackup(ctx context.Context, w io.Writer) (int64, error) {
	return db.StreamBackup(ctx, func(int64) (io.Writer, error) { return w, nil })
}

// BackupSize returns the size a copy made now would have; like a copy, it moves the history
// writer's readings in the segment into the file first. A write may change the size before
// the next WriteBackup, so whoever must announce the exact size should use StreamBackup.
func (db *DB) BackupSize(ctx context.Context) (int64, error) {
	var n int64
	err := db.snapshot(ctx, func(tx *bbolt.Tx) error {
		n = tx.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of backup of %s: %w", db.path, err)
	}
	return n, nil
}

// BackupToFile writes a consistent copy of the open database to path (mode 0600): it writes
// path.tmp, fsyncs it, checks it with Verify, renames it to path and fsyncs the directory.
// On any error path.tmp is removed and path is left as it was. After a crash or a power cut
// path is either the previous file, whole, or the complete new copy; path.tmp may be left
// behind and is replaced by the next backup.
func (db *DB) BackupToFile(ctx context.Context, path string) error {
	if same, err := sameFile(path, db.path); err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	} else if same {
		return fmt.Errorf("back up to %s: that is the database file itself", path)
	}
	err := writeAtomic(ctx, path, path+".tmp", func(w io.Writer) error {
		_, err := db.WriteBackup(ctx, w)
		return err
	}, func(tmp string) error {
		_, err := Verify(ctx, tmp)
		return err
	})
	if err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	return nil
}

// BackupClosedFile copies the database file at path, which no daemon holds, to dest the way
// BackupToFile does. It opens the file read-only: no migration runs and nothing in it changes,
// so a newer command line never upgrades the file under an older daemon. The readings a crash
// left in the history segment beside path go into the copy (path itself gets them at the
// daemon's next start). It fails with ErrInUse when a daemon holds the file.
func BackupClosedFile(ctx context.Context, path, dest string) error {
	if same, err := sameFile(dest, path); err != nil {
		return fmt.Errorf("back up to %s: %w", dest, err)
	} else if same {
		return fmt.Errorf("back up to %s: that is the database file itself", dest)
	}
	db, err := openLocked(path, true)
	if err != nil {
		return fmt.Errorf("back up %s: %w", path, err)
	}
	defer db.Close()
	err = writeAtomic(ctx, dest, dest+".tmp", func(w io.Writer) error {
		return db.View(func(tx *bbolt.Tx) error {
			_, err := tx.WriteTo(ctxWriter{ctx: ctx, w: w})
			return err
		})
	}, func(tmp string) error {
		if err := foldSegmentInto(ctx, tmp, path); err != nil {
			return err
		}
		_, err := Verify(ctx, tmp)
		return err
	})
	if err != nil {
		return fmt.Errorf("back up to %s: %w", dest, err)
	}
	return nil
}

// SaveBackup writes a copy read from r (the body of a backup download) to path in the same
// way as BackupToFile: path.tmp, fsync, Verify, rename, fsync of the directory. It returns
// what Verify found. A copy that fails verification never replaces path.
func SaveBackup(ctx context.Context, path string, r io.Reader) (Info, error) {
	var info Info
	err := writeAtomic(ctx, path, path+".tmp", func(w io.Writer) error {
		_, err := io.Copy(w, ctxReader{ctx: ctx, r: r})
		return err
	}, func(tmp string) error {
		var err error
		info, err = Verify(ctx, tmp)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("save backup to %s: %w", path, err)
	}
	return info, nil
}

// Verify checks that the file at path is a whole maskservice database that this binary can
// open: a bbolt file whose pages pass bbolt's consistency check (Tx.Check), with a meta
// bucket holding a schema version from 1 to the newest this binary knows. It opens the file
// read-only and changes nothing. The error wraps ErrNotBolt, ErrNotOurs, ErrDamaged,
// ErrNewer or ErrInUse (a running daemon holds the file).
//
// Verify never panics, whatever the file holds. bbolt trusts the page references it reads
// and can panic, or read outside the file, on a corrupt one, so Verify first walks the page
// tree itself with bounds checks (scanFile), and turns any panic left into ErrDamaged.
func Verify(ctx context.Context, path string) (info Info, err error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("verify %s: %w", path, err)
	}
	info, err = verify(ctx, path)
	if err != nil {
		return Info{}, fmt.Errorf("verify %s: %w", path, err)
	}
	return info, nil
}

func verify(ctx context.Context, path string) (info Info, err error) {
	defer func() {
		if v := recover(); v != nil {
			info, err = Info{}, fmt.Errorf("%w: %v", ErrDamaged, v)
		}
	}()
	// A memory fault in this goroutine becomes a panic that the deferred recover catches.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: not a regular file", ErrNotBolt)
	}
	if err := scanFile(path); err != nil {
		return Info{}, err
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bberrors.ErrTimeout) {
			return Info{}, ErrInUse
		}
		return Info{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	defer bdb.Close()
	info.Size = fi.Size()
	err = bdb.View(func(tx *bbolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: cut short: %d bytes, the file's pages need %d", ErrDamaged, fi.Size(), tx.Size())
		}
		if err := checkTx(ctx, tx); err != nil {
			return err
		}
		if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			info.Buckets = append(info.Buckets, string(name))
			return nil
		}); err != nil {
			return fmt.Errorf("%w: list buckets: %v", ErrDamaged, err)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w (no meta bucket)", ErrNotOurs)
		}
		b := meta.Get(keySchema)
		if len(b) != 4 {
			return fmt.Errorf("%w (bad schema version)", ErrNotOurs)
		}
		v, _ := getSchema(meta)
		switch {
		case v < 1:
			return fmt.Errorf("%w (schema version %d)", ErrNotOurs, v)
		case v > latestSchema():
			return fmt.Errorf("%w (schema %d > %d)", ErrNewer, v, latestSchema())
		}
		info.SchemaVersion = v
		info.Created = string(meta.Get(keyCreated))
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	return info, nil
}

// maxCheckErrors bounds how many of bbolt's check errors an error message repeats.
const maxCheckErrors = 5

// checkTx runs bbolt's consistency check and gathers every error it reports into one.
func checkTx(ctx context.Context, tx *bbolt.Tx) error {
	var msgs []string
	n := 0
	// Check reports on the channel from a goroutine of its own; it must be drained to the
	// end, even after ctx is done, or that goroutine would block for ever.
	for err := range tx.Check() {
		n++
		if len(msgs) < maxCheckErrors {
			msgs = append(msgs, err.Error())
		}
	}
	if n > len(msgs) {
		msgs = append(msgs, fmt.Sprintf("and %d more", n-len(msgs)))
	}
	if n > 0 {
		return fmt.Errorf("%w: %s", ErrDamaged, strings.Join(msgs, "; "))
	}
	return ctx.Err()
}

// Restore replaces the database in dataDir with the backup at from, while the daemon is
// stopped, and returns the path under which it kept the file it replaced ("" when dataDir
// held none). It refuses a backup that fails Verify, and refuses with ErrInUse while a
// process holds the database file.
//
// The backup is copied to maskservice.db.restore.tmp (0600) and fsynced; the current file
// gets a second name, maskservice.db.before-restore-<UTC time> (a hard link, or a rename
// where the file system has none); then the copy is renamed to maskservice.db and the
// directory fsynced. The previous file is never deleted. A failure before the final rename
// leaves maskservice.db untouched; after a crash or a power cut maskservice.db is the old
// file or the restored one, whole, and a stale .restore.tmp or an extra kept name at most.
//
// The history segment (SegmentFileName) belongs to the current file: what a crash left in it
// is first moved into the current file, then the segment is removed before the restored file
// takes its place, so that the kept file holds every committed reading and the restored one
// none of the readings taken after the backup. A cut between the two leaves the current file
// with the segment's readings in it and no segment; the daemon makes a new one.
func Restore(ctx context.Context, dataDir, from string) (kept string, err error) {
	if _, err := Verify(ctx, from); err != nil {
		return "", fmt.Errorf("restore %s: refused: %w", from, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("restore %s: create data directory: %w", from, err)
	}
	cur := filepath.Join(dataDir, FileName)
	exists, err := fileExists(cur)
	if err != nil {
		return "", fmt.Errorf("restore %s: %w", from, err)
	}
	if exists {
		// What a crash left in the history segment goes into the current file first (as the
		// daemon's next start would do), so that the file kept holds it.
		if err := foldSegmentAt(ctx, cur); err != nil {
			return "", fmt.Errorf("restore %s: %w", from, err)
		}
		// Hold a shared lock on the current file until the end, so that no daemon opens it
		// meanwhile. A damaged current file cannot be locked through bbolt, but then no
		// daemon can open it either: go on and replace it.
		hold, err := openLocked(cur, true)
		switch {
		case errors.Is(err, ErrInUse):
			return "", fmt.Errorf("restore %s: %s: %w", from, cur, err)
		case err == nil:
			defer hold.Close()
		}
	}
	tmp := cur + restoreTmpSuffix
	err = writeAtomic(ctx, cur, tmp, func(w io.Writer) error {
		return copyFile(ctx, w, from)
	}, func(tmp string) error {
		// The copy, not only its source, must be sound before it replaces anything.
		if _, err := Verify(ctx, tmp); err != nil {
			return err
		}
		// The segment belongs to the file being replaced: the restored one must not take
		// its readings (they are in the file kept, or were lost with a damaged one).
		if err := os.Remove(segmentPath(cur)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the history segment of the database replaced: %w", err)
		}
		if !exists {
			return nil
		}
		var err error
		kept, err = keep(cur, time.Now())
		return err
	})
	if err != nil {
		if kept != "" {
			// Where keep had to rename, maskservice.db is gone until the copy takes its
			// place: put the kept file back.
			if ok, _ := fileExists(cur); !ok {
				if e := os.Rename(kept, cur); e == nil {
					kept = ""
				}
			}
		}
		return kept, fmt.Errorf("restore %s: %w", from, err)
	}
	return kept, nil
}

// foldSegmentAt folds the history segment beside the database file at path into it, when
// there is a segment and the file opens; a damaged file is left alone. ErrInUse: a daemon
// holds the file.
func foldSegmentAt(ctx context.Context, path string) error {
	if ok, err := fileExists(segmentPath(path)); err != nil || !ok {
		return err
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return err // bbolt would make an empty file a new database
	}
	db, err := openLocked(path, false)
	switch {
	case errors.Is(err, ErrInUse):
		return fmt.Errorf("%s: %w", path, err)
	case err != nil:
		return nil
	}
	_, err = foldSegment(ctx, db, segmentPath(path))
	return errors.Join(err, db.Close())
}

// keep gives the database file cur a second name stamped with now, so that the rename that
// replaces cur does not lose it, and returns that name. The directory is fsynced, so the
// name survives a power cut before the replacement does.
func keep(cur string, now time.Time) (string, error) {
	base := cur + beforeRestoreInfix + now.UTC().Format(keptTimeFormat)
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Link(cur, name); err != nil {
		// No hard links here (some removable media): a rename keeps the file as well, with a
		// moment in which maskservice.db is missing until the copy is renamed into place.
		if err := os.Rename(cur, name); err != nil {
			return "", fmt.Errorf("keep the current database as %s: %w", name, err)
		}
	}
	if err := syncDir(filepath.Dir(cur)); err != nil {
		return name, err
	}
	return name, nil
}

// Compact rewrites the database in dataDir without its free pages, while the daemon is
// stopped, and returns the file's size before and after. Deleting records never shrinks a
// bbolt file (freed pages are kept for reuse); this is how the space comes back. The
// compacted file keeps the history segment's checkpoint, so the daemon's next start moves
// what a crash left in the segment into it as into the old one. It refuses with ErrInUse
// while a process holds the file, and refuses a file that fails Verify.
//
// The compacted copy is written to maskservice.db.compact.tmp, fsynced, verified, then renamed
// over maskservice.db and the directory fsynced. A failure before the rename leaves
// maskservice.db untouched and removes the copy; after a crash or a power cut maskservice.db is
// the old file or the compacted one, whole.
func Compact(ctx context.Context, dataDir string) (before, after int64, err error) {
	cur := filepath.Join(dataDir, FileName)
	before, after, err = compact(ctx, cur)
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", cur, err)
	}
	return before, after, nil
}

func compact(ctx context.Context, cur string) (before, after int64, err error) {
	fi, err := os.Stat(cur)
	if err != nil {
		return 0, 0, err
	}
	before = fi.Size()
	// Verify takes a shared lock, so it comes before the exclusive one below; it also
	// answers ErrInUse while the daemon runs.
	if _, err := Verify(ctx, cur); err != nil {
		return 0, 0, err
	}
	// Writable, for the exclusive lock: no daemon and no second Compact may open the file
	// until the copy is in place. Compact only reads it.
	src, err := openLocked(cur, false)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	tmp := cur + compactTmpSuffix
	err = writeAtomicWith(ctx, cur, tmp, func(tmp string) error {
		dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: lockTimeout})
		if err != nil {
			return fmt.Errorf("create %s: %w", tmp, err)
		}
		if err := bbolt.Compact(dst, src, compactTxMaxSize); err != nil {
			_ = dst.Close()
			return err
		}
		return dst.Close()
	}, func(tmp string) error {
		if _, err := Verify(ctx, tmp); err != nil {
			return fmt.Errorf("the compacted copy: %w", err)
		}
		fi, err := os.Stat(tmp)
		if err != nil {
			return err
		}
		after = fi.Size()
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return before, after, nil
}

// openLocked opens the database file at path with bbolt, which locks it (shared when
// readOnly, else exclusive), waiting at most lockTimeout. The error wraps ErrInUse when
// another process holds the file, ErrDamaged when bbolt cannot read it.
func openLocked(path string, readOnly bool) (db *bbolt.DB, err error) {
	defer func() {
		if v := recover(); v != nil {
			db, err = nil, fmt.Errorf("open %s: %w: %v", path, ErrDamaged, v)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: readOnly, Timeout: lockTimeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bberrors.ErrTimeout):
		return nil, ErrInUse
	default:
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return nil, fmt.Errorf("open %s: %w: %v", path, ErrDamaged, err)
	}
}

// writeAtomic writes path through tmp: fill writes tmp (created 0600, a stale one
// truncated), which is then fsynced and closed; check, if set, runs on tmp; tmp is renamed to
// path and the directory fsynced. On any error tmp is removed and path is untouched.
func writeAtomic(ctx context.Context, path, tmp string, fill func(w io.Writer) error, check func(tmp string) error) error {
	return writeAtomicWith(ctx, path, tmp, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}, check)
}

// writeAtomicWith is writeAtomic for a fill that creates tmp itself. It fsyncs tmp after
// fill, and chmods it to 0600 in case it existed with other bits.
func writeAtomicWith(ctx context.Context, path, tmp string, fill func(tmp string) error, check func(tmp string) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A stale tmp of an earlier, interrupted run is of no use to anyone.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if check != nil {
		if err := check(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncFile restricts the file at path to its owner and flushes it to the disk.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// syncDir flushes the directory dir, so that the names created or renamed in it survive a
// power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// copyFile copies the file at from to w.
func copyFile(ctx context.Context, w io.Writer, from string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, ctxReader{ctx: ctx, r: f})
	return err
}

func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// ctxWriter fails the writes once ctx is done, so that a long copy ends with its context.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// ctxReader fails the reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
