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
	"syscall"
	"time"
)

// BackupScheduleOptions configure a BackupSchedule.
type BackupScheduleOptions struct {
	Dir        string // the folder of the copies, created if missing
	KeepDaily  int    // daily copies kept, the newest; 0 makes none
	KeepWeekly int    // weekly copies kept, the newest; 0 makes none
	// Now returns the current time, which dates the copies; default time.Now.
	Now func() time.Time
	// Log receives the copies made and the failures; nil discards.
	Log *slog.Logger
}

// BackupSchedule keeps dated copies of the database in a folder: one a day (the newest
// KeepDaily kept) and one an ISO week (the newest KeepWeekly kept). Each copy is a hot backup
// written to a temporary file, fsynced, verified and renamed, so a power cut leaves either no
// copy of that day or a whole one.
type BackupSchedule struct {
	db   *DB
	opts BackupScheduleOptions
}

// NewBackupSchedule returns the schedule of db's copies.
func (db *DB) NewBackupSchedule(opts BackupScheduleOptions) *BackupSchedule {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &BackupSchedule{db: db, opts: opts}
}

// Backup file names; the dates sort as the names do.
const (
	dailyPrefix  = "maskservice-daily-"
	weeklyPrefix = "maskservice-weekly-"
)

// Run makes the copies that are due a minute after start, then every hour, until ctx is done,
// and returns ctx's error. It warns once when the folder is on the database's file system:
// such copies survive a damaged file or a mistake, not the loss of the SD card. A failed copy
// is logged and tried again at the next hour.
func (s *BackupSchedule) Run(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		s.opts.Log.Error("scheduled backups off: cannot create backup_dir", "dir", s.opts.Dir, "err", err)
	} else if sameFS(s.opts.Dir, filepath.Dir(s.db.Path())) {
		s.opts.Log.Warn("backup_dir is on the same file system as the data directory: the copies do not survive a failed card", "dir", s.opts.Dir)
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := s.Once(ctx); err != nil && ctx.Err() == nil {
				s.opts.Log.Error("scheduled backup failed", "dir", s.opts.Dir, "err", err)
			}
			t.Reset(time.Hour)
		}
	}
}

// Once makes today's and this week's copy if they are missing and removes the oldest copies
// beyond the counts to keep.
func (s *BackupSchedule) Once(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("create backup folder: %w", err)
	}
	now := s.opts.Now().UTC()
	year, week := now.ISOWeek()
	due := []struct {
		prefix, name string
		keep         int
	}{
		{dailyPrefix, dailyPrefix + now.Format("2006-01-02") + ".db", s.opts.KeepDaily},
		{weeklyPrefix, fmt.Sprintf("%s%04d-W%02d.db", weeklyPrefix, year, week), s.opts.KeepWeekly},
	}
	var errs []error
	for _, d := range due {
		if d.keep == 0 {
			continue
		}
		path := filepath.Join(s.opts.Dir, d.name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := s.roomFor(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
			start := time.Now()
			if err := s.db.BackupToFile(ctx, path); err != nil {
				errs = append(errs, err)
				continue
			}
			s.opts.Log.Info("scheduled backup", "file", path, "took_ms", time.Since(start).Milliseconds())
		}
		if err := prune(s.opts.Dir, d.prefix, d.keep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// roomFor refuses a copy when the backup folder's file system has less free space than twice
// the database: backups must never fill the disk the history log writes to.
func (s *BackupSchedule) roomFor(ctx context.Context) error {
	size, err := s.db.BackupSize(ctx)
	if err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.opts.Dir, &st); err != nil {
		return fmt.Errorf("free space in %s: %w", s.opts.Dir, err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < 2*size {
		return fmt.Errorf("backup skipped: %s has %d MB free, a copy needs %d MB and as much to spare", s.opts.Dir, free>>20, size>>20)
	}
	return nil
}

// sameFS reports whether two existing paths are on one file system.
func sameFS(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}

// prune removes the oldest files of dir named prefix*.db beyond the newest keep.
func prune(dir, prefix string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list backups: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".db") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names[:max(len(names)-keep, 0)] {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			errs = append(errs, fmt.Errorf("remove old backup: %w", err))
		}
	}
	return errors.Join(errs...)
}
