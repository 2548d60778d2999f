package bolt_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"mask.services/maskservice/store/bolt"
)

// mountTmpfs mounts a tmpfs of size at a new directory for the test and returns it. It needs
// root (CI runs as root); elsewhere the test fails saying so, since a skipped test would be
// counted as passing.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs to fill it up and needs root (CI runs as root): run make test as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A full disk: commits fail, the state says DISK_FULL, readings wait in RAM; when space
// returns, the next commit writes them all and the state is OK again.
func TestHistory_DiskFull(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	db := mustOpenAt(t, dir)
	w := db.NewHistoryWriter(bolt.HistoryOptions{MaxPending: 1 << 20})
	rs := readingsAt("P1", t0, time.Second, 300_000, 11)
	var failed error
	added := 0
	for i, r := range rs {
		w.Add(r)
		added++
		if i%3000 == 2999 {
			if failed = w.Commit(ctx); failed != nil {
				break
			}
		}
	}
	if failed == nil {
		t.Fatalf("%d readings fit in a 256 KiB tmpfs; the test must fill it", added)
	}
	st := w.Stats()
	if !errors.Is(failed, syscall.ENOSPC) || st.State != bolt.HistoryDiskFull || st.Pending == 0 || st.LastError == "" {
		t.Fatalf("commit error %v, stats %+v: want ENOSPC, DISK_FULL, readings pending", failed, st)
	}
	// Readings go on arriving while the disk is full.
	for _, r := range rs[added : added+100] {
		w.Add(r)
	}
	added += 100
	if err := w.Commit(ctx); err == nil {
		t.Fatal("commit on a full disk succeeded")
	}
	// Space returns.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if st := w.Stats(); st.State != bolt.HistoryOK || st.Pending != 0 || st.Committed != uint64(added) || st.Dropped != 0 {
		t.Fatalf("stats after recovery %+v: want OK, nothing pending, %d committed", st, added)
	}
	sameReadings(t, scan(t, db, "P1", t0, rs[added-1].Time.Add(time.Millisecond)), rs[:added])
}

// A full disk once the segment is made: the database file cannot grow, so checkpoints fail,
// but commits go on into the segment's reserve (state DISK_FULL, nothing waiting in RAM, and
// a crash keeps it); once that is full too, readings wait in RAM; when space returns, the
// next commit moves everything into the file.
func TestHistory_DiskFullWithSegment(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	db := mustOpenAt(t, dir)
	w := db.NewHistoryWriter(bolt.HistoryOptions{SegmentSize: 16 * 4096, MaxPending: 1 << 20})
	rs := readingsAt("P1", t0, time.Second, 100_000, 14)
	w.Add(rs[0])
	if err := w.Commit(ctx); err != nil { // the first commit checkpoints and makes the segment
		t.Fatal(err)
	}
	filler := fillDisk(t, dir)
	added, inSegmentOnly := 1, false
	var failed error
	for failed == nil && added+1000 <= len(rs) {
		for _, r := range rs[added : added+1000] {
			w.Add(r)
		}
		added += 1000
		failed = w.Commit(ctx)
		if st := w.Stats(); failed == nil && st.State == bolt.HistoryDiskFull && st.Pending == 0 && st.InSegment > 0 {
			inSegmentOnly = true
		}
	}
	st := w.Stats()
	if !inSegmentOnly {
		t.Errorf("no commit went into the segment alone while the disk was full (last stats %+v)", st)
	}
	if !errors.Is(failed, syscall.ENOSPC) || st.State != bolt.HistoryDiskFull || st.Pending == 0 || st.LastError == "" {
		t.Fatalf("commit error %v, stats %+v: want ENOSPC, DISK_FULL, readings pending once the segment is full", failed, st)
	}
	// A crash now keeps everything the segment took.
	if got, want := len(reopen(t, snapshotDir(t, dir), "P1")), added-st.Pending; got != want {
		t.Errorf("after a crash on the full disk %d readings, want the %d committed", got, want)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if st := w.Stats(); st.State != bolt.HistoryOK || st.Pending != 0 || st.InSegment != 0 || st.Committed != uint64(added) || st.Dropped != 0 {
		t.Fatalf("stats after recovery %+v: want OK, nothing pending or in the segment, %d committed", st, added)
	}
	sameReadings(t, scan(t, db, "P1", t0, rs[added-1].Time.Add(time.Millisecond)), rs[:added])
}

// fillDisk writes a file into dir until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}
