package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

// Starting on a backup, or an empty database, when the database file is damaged.
//
// # What a crash or a power cut during the recovery loses
//
// Nothing. The replacement is made whole beside the damaged file, under a temporary name
// (maskservice.db.recover.tmp), Prepare's changes (the alarm, the ended sessions) committed
// in it and the file fsynced; only then does the damaged file get its second name
// (maskservice.db.damaged-<UTC time>, a hard link; the directory is fsynced), and then the
// replacement is renamed over maskservice.db and the directory fsynced again. rename(2)
// replaces a name atomically, so after a crash at any moment maskservice.db is either still
// the damaged file, and the next start recovers it again (removing the stale temporary
// file, reusing the kept name if it was made), or the complete replacement with its alarm
// and its sessions ended; never a replacement without its alarm. The damaged file is never
// deleted. Only where the file system has no hard links is the damaged file renamed
// instead, leaving a moment without maskservice.db: a power cut in it makes the next start
// create an empty database beside the kept file, without the alarm.

// Names of the files a recovery makes next to maskservice.db.
const (
	recoverTmpSuffix = ".recover.tmp"
	damagedInfix     = ".damaged-"
)

// RecoverOptions configure OpenRecovering.
type RecoverOptions struct {
	Options // how to open the database (and its replacement, but for OnDamage)
	// BackupDir is the folder of the scheduled backups (storage.backup_dir, written by
	// BackupSchedule); "" when there are none.
	BackupDir string
	// Prepare, if set, is called with the database that is to replace a damaged one, and
	// with what the recovery is about to do, before the replacement takes the damaged
	// file's place: what it writes is on disk when it does. An error passes that database
	// over (the next backup is tried, then an empty database).
	Prepare func(ctx context.Context, db *DB, r maskservice.StorageRecovery) error
	// Log receives each backup passed over as a warning and the recovery as an error;
	// nil discards.
	Log *slog.Logger
}

// OpenRecovering opens the database in dir as Open does. When the file is damaged (not a
// bbolt file, a bbolt file of another program, or one whose pages fail the check of Open or
// panic bbolt in its first transactions) it does not fail: it keeps the file aside and
// starts on the newest scheduled backup in opts.BackupDir that passes Verify (older ones in
// turn), or on an empty database when none does, and returns, beside the database, what it
// did; the recovery is nil when the file was whole. The file's name then holds the
// replacement, already migrated to the newest schema and prepared by opts.Prepare.
//
// Every other failure of Open is returned as it is and leaves the file alone: another
// process holds it (ErrInUse), it was written by a newer maskserviced (ErrNewer), or the
// system refuses (a read-only or unreadable data directory). So is a failure of the
// recovery itself (no room, no write permission), with the damaged file left as it was.
func OpenRecovering(ctx context.Context, dir string, opts RecoverOptions) (*DB, *maskservice.StorageRecovery, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	quiet := opts.Options
	quiet.OnDamage = nil // damage found here is recovered, not reported
	db, err := Open(ctx, dir, quiet)
	if err == nil {
		// The daemon's first transactions (the alarm engine loads every alert, the
		// accounts read users and sessions, the history writer each sensor's newest
		// chunk) read them all now, where damage can still be recovered.
		if err = db.probe(ctx); err == nil {
			db.onDamage = opts.OnDamage
			// A replacement left by a recovery cut short before it took the damaged
			// file's place, which someone has since replaced by hand: of no use.
			_ = os.Remove(db.path + recoverTmpSuffix)
			return db, nil, nil
		}
		_ = db.Close()
		if isDamage(err) {
			err = &damageError{path: db.path, err: err}
		}
	}
	var damage *damageError
	if !errors.As(err, &damage) {
		return nil, nil, err
	}
	rec, err := recoverFile(ctx, dir, damage, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; starting on a backup or an empty database failed, the file is left as it was: %w", damage, err)
	}
	db, err = Open(ctx, dir, opts.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("open the database that replaced the damaged one (%s): %w", rec.KeptAs, err)
	}
	return db, &rec, nil
}

// probe walks, in one read transaction, what the daemon reads as it starts: every key of the
// meta, users, sessions and alerts buckets, and the newest chunk of each sensor's history.
// A panic of bbolt there is damage (see guarded).
func (db *DB) probe(ctx context.Context) error {
	return db.view(ctx, func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketUsers, bucketSessions, bucketAlerts} {
			if b := tx.Bucket(name); b != nil {
				if err := b.ForEach(func(_, _ []byte) error { return nil }); err != nil {
					return err
				}
			}
		}
		hb := tx.Bucket(bucketHistory)
		if hb == nil {
			return nil
		}
		return hb.ForEachBucket(func(k []byte) error {
			if b := hb.Bucket(k); b != nil {
				b.Cursor().Last()
			}
			return nil
		})
	})
}

// recoverFile replaces the damaged database file in dir (see the steps at the top of this
// file) and returns what it did.
func recoverFile(ctx context.Context, dir string, damage *damageError, opts RecoverOptions) (maskservice.StorageRecovery, error) {
	cur := filepath.Join(dir, FileName)
	stage := cur + recoverTmpSuffix
	now := opts.Now()
	// The damaged file stays locked to the end: no other process may take it for its own
	// meanwhile. The replacement is another file, so the lock does not stand in its way.
	hold, err := os.Open(cur)
	if err != nil {
		return maskservice.StorageRecovery{}, err
	}
	defer hold.Close()
	if err := lockFile(hold, opts.Timeout); err != nil {
		return maskservice.StorageRecovery{}, openError(cur, err)
	}
	kept, linked, err := keptName(cur, now)
	if err != nil {
		return maskservice.StorageRecovery{}, err
	}
	rec := maskservice.StorageRecovery{Damaged: cur, Problem: damage.err.Error(), KeptAs: kept,
		BackupDir: opts.BackupDir, At: now}
	backups, err := listBackups(opts.BackupDir)
	if err != nil {
		rec.Skipped = append(rec.Skipped, err.Error())
		opts.Log.Warn("database damaged: the backups cannot be listed", "dir", opts.BackupDir, "err", err)
	}
	staged := false
	for _, b := range backups {
		try := rec
		try.Backup, try.BackupTime = b.path, b.written
		err := verifyBackup(ctx, b.path)
		if err == nil {
			err = stageReplacement(ctx, stage, b.path, try, opts)
		}
		if err != nil {
			if ctx.Err() != nil {
				return rec, ctx.Err()
			}
			rec.Skipped = append(rec.Skipped, fmt.Sprintf("%s: %v", filepath.Base(b.path), err))
			opts.Log.Warn("database damaged: backup passed over", "backup", b.path, "err", err)
			continue
		}
		rec, staged = try, true
		break
	}
	if !staged {
		if err := stageReplacement(ctx, stage, "", rec, opts); err != nil {
			return rec, fmt.Errorf("make an empty database: %w", err)
		}
	}
	if err := swapIn(cur, stage, kept, linked); err != nil {
		_ = os.Remove(stage)
		return rec, err
	}
	started := "an empty database"
	if rec.Backup != "" {
		started = "the backup " + rec.Backup
	}
	opts.Log.Error("database damaged: kept aside, started on "+started,
		"file", cur, "problem", rec.Problem, "kept_as", kept, "backup", rec.Backup,
		"backup_time", optTime(rec.BackupTime), "backup_dir", rec.BackupDir, "backups_passed_over", len(rec.Skipped))
	return rec, nil
}

// optTime spells t for the log, "" for the zero time.
func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// verifyBackup is Verify of a backup, without the path twice in the message.
func verifyBackup(ctx context.Context, path string) error {
	_, err := verify(ctx, path)
	return err
}

// stageReplacement makes the replacement at stage: a copy of the backup from, or an empty
// database when from is "", opened (which checks it and runs the migrations it lacks),
// prepared with r, closed and fsynced. On an error stage is removed.
func stageReplacement(ctx context.Context, stage, from string, r maskservice.StorageRecovery, opts RecoverOptions) (err error) {
	// A stale one is what an interrupted recovery left: of no use to anyone.
	if err := os.Remove(stage); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", stage, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(stage)
		}
	}()
	if from != "" {
		f, err := os.OpenFile(stage, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		err = copyFile(ctx, f, from)
		if e := f.Close(); err == nil {
			err = e
		}
		if err != nil {
			return fmt.Errorf("copy to %s: %w", stage, err)
		}
	}
	o := opts.Options
	o.OnDamage = nil // a panic here fails this replacement, and the next is tried
	db, err := openPath(ctx, stage, o)
	if err != nil {
		return err
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(ctx, db, r); err != nil {
			_ = db.Close()
			return fmt.Errorf("prepare %s: %w", stage, err)
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", stage, err)
	}
	return syncFile(stage)
}

// swapIn keeps the damaged file cur as kept (unless linked says an earlier, interrupted
// recovery did) and renames stage over cur, fsyncing the directory after each step.
func swapIn(cur, stage, kept string, linked bool) error {
	dir := filepath.Dir(cur)
	if !linked {
		if err := os.Link(cur, kept); err != nil {
			// No hard links here (some removable media): a rename keeps the file as well,
			// with a moment in which maskservice.db is missing.
			if err := os.Rename(cur, kept); err != nil {
				return fmt.Errorf("keep the damaged database as %s: %w", kept, err)
			}
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	if err := os.Rename(stage, cur); err != nil {
		return fmt.Errorf("rename %s to %s: %w", stage, cur, err)
	}
	return syncDir(dir)
}

// keptName returns the name the damaged file cur is to be kept under: the one an earlier
// recovery of the same file gave it before a crash cut that recovery short (linked), else
// a new one stamped with now.
func keptName(cur string, now time.Time) (name string, linked bool, err error) {
	fi, err := os.Stat(cur)
	if err != nil {
		return "", false, err
	}
	dir, base := filepath.Split(cur)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base+damagedInfix) {
			continue
		}
		if other, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && os.SameFile(fi, other) {
			return filepath.Join(dir, e.Name()), true, nil
		}
	}
	stamp := cur + damagedInfix + now.UTC().Format(keptTimeFormat)
	name = stamp
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name, false, nil
		}
		name = fmt.Sprintf("%s-%d", stamp, i)
	}
}

// backupFile is a scheduled backup and when it was written.
type backupFile struct {
	path    string
	written time.Time
}

// listBackups returns the scheduled backups in dir (BackupSchedule's daily and weekly
// copies), newest first: by the time each was written (the copy is renamed into place when
// complete), then by name. None for "" or a folder that does not exist.
func listBackups(dir string) ([]backupFile, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list the backups in %s: %w", dir, err)
	}
	var out []backupFile
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, ".db") || !strings.HasPrefix(n, dailyPrefix) && !strings.HasPrefix(n, weeklyPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile (pruned)
		}
		out = append(out, backupFile{path: filepath.Join(dir, n), written: fi.ModTime()})
	}
	slices.SortFunc(out, func(a, b backupFile) int {
		if c := b.written.Compare(a.written); c != 0 {
			return c
		}
		return strings.Compare(b.path, a.path)
	})
	return out, nil
}
