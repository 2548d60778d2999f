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
func (s *backupSchedule) run(ctx context.Context) {
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
