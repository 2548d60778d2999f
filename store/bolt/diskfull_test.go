package bolt_test

import (
	"errors"
	"os"
	"os/exec"
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
