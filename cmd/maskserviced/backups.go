package main

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

	"mask.services/maskservice/store/bolt"
)

// backupSchedule keeps dated copies of the database in a folder: one a day (the newest
// keepDaily kept) and one an ISO week (the newest keepWeekly kept). Each copy is a hot backup
// written to a temporary file, fsynced, verified and renamed, so a power cut leaves either no
// copy of that day or a whole one.
type backupSchedule struct {
	db                    *bolt.DB
	dir                   string
	keepDaily, keepWeekly int
	now                   func() time.Time
	log                   *slog.Logger
}

// Backup file names; the dates sort as the names do.
const (
	dailyPrefix  = "maskservice-daily-"
	weeklyPrefix = "maskservice-weekly-"
)

// run makes the copies that are due a minute after start, then every hour, until ctx is done.
// It warns once when the folder is on the data directory's file system: such copies survive
// a damaged file or a mistake, not the loss of the SD card.
func (s *backupSchedule) run(ctx context.Context, dataDir string) {
	if sameFS(s.dir, dataDir) {
		s.log.Warn("backup_dir is on the same file system as the data directory: the copies do not survive a failed card", "dir", s.dir)
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.once(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("scheduled backup failed", "dir", s.dir, "err", err)
			}
			t.Reset(time.Hour)
		}
	}
}

// once makes today's and this week's copy if they are missing and removes the oldest copies
// beyond the counts to keep.
func (s *backupSchedule) once(ctx context.Context) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create backup folder: %w", err)
	}
	now := s.now().UTC()
	year, week := now.ISOWeek()
	due := []struct {
		prefix, name string
		keep         int
	}{
		{dailyPrefix, dailyPrefix + now.Format("2006-01-02") + ".db", s.keepDaily},
		{weeklyPrefix, fmt.Sprintf("%s%04d-W%02d.db", weeklyPrefix, year, week), s.keepWeekly},
	}
	var errs []error
	for _, d := range due {
		if d.keep == 0 {
			continue
		}
		path := filepath.Join(s.dir, d.name)
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
			s.log.Info("scheduled backup", "file", path, "took_ms", time.Since(start).Milliseconds())
		}
		if err := prune(s.dir, d.prefix, d.keep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// roomFor refuses a copy when the backup folder's file system has less free space than twice
// the database: backups must never fill the disk the history log writes to.
func (s *backupSchedule) roomFor(ctx context.Context) error {
	size, err := s.db.BackupSize(ctx)
	if err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return fmt.Errorf("free space in %s: %w", s.dir, err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < 2*size {
		return fmt.Errorf("backup skipped: %s has %d MB free, a copy needs %d MB and as much to spare", s.dir, free>>20, size>>20)
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
