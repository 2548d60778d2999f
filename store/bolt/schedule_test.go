package bolt_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice/store/bolt"
)

// Thirty-five days of the schedule: one verified copy a day and one a week, the newest 30
// and 12 kept, nothing made twice.
func TestBackupSchedule(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(ctx, filepath.Join(t.TempDir(), "data"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := filepath.Join(t.TempDir(), "backups")
	day := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	s := db.NewBackupSchedule(bolt.BackupScheduleOptions{Dir: dir, KeepDaily: 30, KeepWeekly: 2, Now: func() time.Time { return day }})
	for range 35 {
		for range 2 { // twice a day: the second run finds the copies made
			if err := s.Once(ctx); err != nil {
				t.Fatal(err)
			}
		}
		day = day.Add(24 * time.Hour)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	daily := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, "maskservice-daily-") })
	weekly := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, "maskservice-weekly-") })
	if len(daily) != 30 || daily[0] != "maskservice-daily-2026-10-06.db" || daily[29] != "maskservice-daily-2026-11-04.db" {
		t.Errorf("daily copies %v: want the 30 newest, 2026-10-06 to 2026-11-04", daily)
	}
	if len(weekly) != 2 || weekly[1] != "maskservice-weekly-2026-W45.db" {
		t.Errorf("weekly copies %v: want the 2 newest, ending with 2026-W45", weekly)
	}
	if len(names) != 32 {
		t.Errorf("%d files in the backup folder (%v), want 32: no temporary files left", len(names), names)
	}
	if _, err := bolt.Verify(ctx, filepath.Join(dir, daily[29])); err != nil {
		t.Errorf("the newest copy does not verify: %v", err)
	}
}

// A backup folder without room for two copies gets none: backups must not fill the disk.
func TestBackupSchedule_NoRoom(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs and needs root (CI runs as root): run make test as root")
	}
	ctx := context.Background()
	db, err := bolt.Open(ctx, filepath.Join(t.TempDir(), "data"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()
	s := db.NewBackupSchedule(bolt.BackupScheduleOptions{Dir: dir, KeepDaily: 30, KeepWeekly: 12})
	err = s.Once(ctx)
	if err == nil || !strings.Contains(err.Error(), "backup skipped") {
		t.Fatalf("Once on a 40 KiB folder: %v, want backup skipped", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d files written to a folder without room", len(entries))
	}
}
