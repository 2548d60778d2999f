package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// fileWith returns the bytes of a whole database (a backup's: no room past its pages) that
// holds the named users, a session of the first, an alert and a few hours of history.
func fileWith(tb testing.TB, names ...string) []byte {
	tb.Helper()
	db, _ := MustOpenDB(tb)
	for _, n := range names {
		mustCreateUsers(tb, db, newUser(n, maskservice.RoleOperator))
	}
	if len(names) > 0 {
		if err := db.CreateSession(ctx, newSession("s-"+names[0], names[0], t0)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := db.PutAlert(ctx, maskservice.Alert{SensorID: "P1", Type: maskservice.AlertWarning,
		State: maskservice.AlertActiveUnack, Message: "P1 warning", OpenedAt: t0, UpdatedAt: t0}); err != nil {
		tb.Fatal(err)
	}
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	for _, r := range readingsAt("P1", t0, time.Second, 4*3600, 3) {
		w.Add(r)
	}
	if err := w.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.WriteBackup(ctx, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// pagesOf returns the number of pages the newer meta page of a bbolt file counts.
func pagesOf(tb testing.TB, b []byte) int {
	tb.Helper()
	ps := pageSize(tb, b)
	ne := binary.NativeEndian
	// meta: page header (16), magic, version, page size, flags (4 each), root (16),
	// freelist (8), pgid (8), txid (8).
	m0, m1 := b[16:], b[ps+16:]
	if ne.Uint64(m1[48:]) > ne.Uint64(m0[48:]) {
		return int(ne.Uint64(m1[40:]))
	}
	return int(ne.Uint64(m0[40:]))
}

// garbagePage returns a copy of good with one page in use (one that Verify then refuses)
// overwritten with random bytes, as `dd if=/dev/urandom bs=4096 seek=N count=1` does.
func garbagePage(tb testing.TB, good []byte) []byte {
	tb.Helper()
	ps := pageSize(tb, good)
	rng := rand.New(rand.NewPCG(1, 2))
	for off := 2 * ps; off < len(good); off += ps {
		bad := bytes.Clone(good)
		for i := off; i < off+ps; i += 8 {
			binary.NativeEndian.PutUint64(bad[i:], rng.Uint64())
		}
		if _, err := bolt.Verify(ctx, writeFile(tb, bad)); err != nil {
			return bad
		}
	}
	tb.Fatal("no page of the file is reported damaged when overwritten")
	return nil
}

// The damage a database file meets in the field, each as the bytes of the file.
func damages(tb testing.TB, good []byte) []struct {
	name string
	file []byte
} {
	ps := pageSize(tb, good)
	zeroedMetas := bytes.Clone(good)
	clear(zeroedMetas[:2*ps])
	return []struct {
		name string
		file []byte
	}{
		{"truncated to 4 pages", good[:4*ps]},
		{"last page cut", good[:(pagesOf(tb, good)-1)*ps]},
		{"a page of garbage", garbagePage(tb, good)},
		{"both meta pages zeroed", zeroedMetas},
		{"text", []byte(strings.Repeat("not a database\n", 1000))},
	}
}

// TestOpen_Damaged checks that Open refuses every kind of damage, before bbolt maps the file
// and without a panic, with an error that says so, and leaves the file as it was.
func TestOpen_Damaged(t *testing.T) {
	for _, d := range damages(t, fileWith(t, "anna")) {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, bolt.FileName)
			if err := os.WriteFile(path, d.file, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(ctx, dir, bolt.Options{})
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, bolt.ErrDamaged) && !errors.Is(err, bolt.ErrNotBolt) ||
				!strings.Contains(err.Error(), "not a maskservice database or damaged") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want damage of %s", err, path)
			}
			if !bytes.Equal(mustFileBytes(t, path), d.file) {
				t.Error("Open changed a refused file")
			}
		})
	}
}

// TestOpen_EveryPageOverwritten overwrites each page of a file in turn with garbage: Open
// either refuses the file as damaged or opens one that bbolt's own check finds whole (the
// page was free), and never panics or faults, which would end the test binary.
func TestOpen_EveryPageOverwritten(t *testing.T) {
	good := fileWith(t, "anna", "bert")
	ps := pageSize(t, good)
	rng := rand.New(rand.NewPCG(3, 4))
	refused := 0
	for p := range len(good) / ps {
		bad := bytes.Clone(good)
		for i := p * ps; i < (p+1)*ps; i += 8 {
			binary.NativeEndian.PutUint64(bad[i:], rng.Uint64())
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, bolt.FileName), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(ctx, dir, bolt.Options{})
		if err != nil {
			if !errors.Is(err, bolt.ErrDamaged) && !errors.Is(err, bolt.ErrNotBolt) && !errors.Is(err, bolt.ErrNotOurs) {
				t.Errorf("page %d: error %v is not damage", p, err)
			}
			refused++
			continue
		}
		if _, err := db.Users(ctx); err != nil {
			t.Errorf("page %d: opened, but reading the users fails: %v", p, err)
		}
		db.Close()
	}
	if refused < 3 {
		t.Errorf("only %d of %d overwritten pages refused", refused, len(good)/ps)
	}
}

// FuzzOpen feeds Open any bytes as the database file: it must answer, never panic or crash.
func FuzzOpen(f *testing.F) {
	good := fileWith(f, "anna")
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(garbagePage(f, good))
	f.Add([]byte("not a database"))
	dir := f.TempDir()
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte) {
		d := filepath.Join(dir, fmt.Sprint(seq.Add(1)))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(d)
		if err := os.WriteFile(filepath.Join(d, bolt.FileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := bolt.Open(ctx, d, bolt.Options{Timeout: 100 * time.Millisecond}); err == nil {
			_, _ = db.Users(ctx)
			db.Close()
		}
	})
}

// TestDB_DamageWhileOpen damages the file under an open database, as a failing disk does:
// the next transaction fails with ErrDamaged instead of taking the process down (bbolt
// asserts on the page of garbage; it faults on the page cut off), and OnDamage hears of it
// once.
func TestDB_DamageWhileOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, ps int)
	}{
		{"pages overwritten", func(t *testing.T, path string, ps int) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Every page but the meta pages: whatever the read needs is garbage now.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 64*ps), int64(2*ps)); err != nil {
				t.Fatal(err)
			}
		}},
		{"file cut short", func(t *testing.T, path string, ps int) {
			if err := os.Truncate(path, int64(2*ps)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, bolt.FileName), fileWith(t, "anna"), 0o600); err != nil {
				t.Fatal(err)
			}
			var reports []error
			db, err := bolt.Open(ctx, dir, bolt.Options{OnDamage: func(err error) { reports = append(reports, err) }})
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, db.Path(), pageSize(t, mustFileBytes(t, db.Path())))
			for range 2 {
				if _, err := db.Users(ctx); !errors.Is(err, bolt.ErrDamaged) || !strings.Contains(err.Error(), db.Path()) {
					t.Errorf("reading the users: %v, want ErrDamaged naming the file", err)
				}
			}
			for range 2 {
				if err := db.CreateUser(ctx, newUser("bert", maskservice.RoleAdmin)); !errors.Is(err, bolt.ErrDamaged) {
					t.Errorf("a write: %v, want ErrDamaged", err)
				}
			}
			if len(reports) != 1 || !errors.Is(reports[0], bolt.ErrDamaged) {
				t.Errorf("OnDamage heard %v, want one report of damage", reports)
			}
			// Close returns, whatever the failed write left of bbolt's locks.
			closed := make(chan error, 1)
			go func() { closed <- db.Close() }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close hangs after damage")
			}
			// ... and releases the file, for the start that recovers it.
			if _, err := bolt.Open(ctx, dir, bolt.Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, bolt.ErrDamaged) {
				t.Errorf("open after Close: %v, want the damage found (not the file in use)", err)
			}
		})
	}
}

// recoveryDir is a data directory and a folder of scheduled backups for OpenRecovering.
type recoveryDir struct {
	data, backups string
	prepared      []maskservice.StorageRecovery // what Prepare was called with
}

func newRecoveryDir(t *testing.T) *recoveryDir {
	return &recoveryDir{data: t.TempDir(), backups: t.TempDir()}
}

// writeDB writes the database file of the data directory.
func (r *recoveryDir) writeDB(t *testing.T, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.data, bolt.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// addBackup writes a scheduled backup named name, written at the time given.
func (r *recoveryDir) addBackup(t *testing.T, name string, b []byte, written time.Time) string {
	t.Helper()
	path := filepath.Join(r.backups, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, written, written); err != nil {
		t.Fatal(err)
	}
	return path
}

// open runs OpenRecovering with a Prepare that records its call and leaves a user named
// "prepared" in the replacement, and closes the database when the test ends.
func (r *recoveryDir) open(t *testing.T) (*bolt.DB, *maskservice.StorageRecovery, error) {
	t.Helper()
	db, rec, err := bolt.OpenRecovering(ctx, r.data, bolt.RecoverOptions{
		Options:   bolt.Options{Now: func() time.Time { return t0 }},
		BackupDir: r.backups,
		Prepare: func(ctx context.Context, db *bolt.DB, rec maskservice.StorageRecovery) error {
			r.prepared = append(r.prepared, rec)
			return db.CreateUser(ctx, newUser("prepared", maskservice.RoleOperator))
		},
	})
	if err == nil {
		t.Cleanup(func() { db.Close() })
	}
	return db, rec, err
}

// names lists the data directory.
func (r *recoveryDir) names(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(r.data)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// The damaged file is kept aside, whole, under a stamped name, and the database starts on
// the newest backup that passes verification, or an empty one: for every kind of damage.
func TestOpenRecovering(t *testing.T) {
	day := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	newer, older := fileWith(t, "anna", "bert"), fileWith(t, "anna")
	kept := filepath.Join("X", bolt.FileName+".damaged-20261127T080000Z")
	for _, d := range damages(t, fileWith(t, "anna", "bert", "carl")) {
		for _, tc := range []struct {
			name    string
			backups func(t *testing.T, r *recoveryDir) // writes the backup folder
			backup  string                             // the backup started on; "" for empty
			users   []string                           // what the database then holds
			skipped int                                // backups passed over
		}{
			{"no backups", func(*testing.T, *recoveryDir) {}, "", []string{"prepared"}, 0},
			{"the newest backup", func(t *testing.T, r *recoveryDir) {
				r.addBackup(t, "maskservice-weekly-2026-W47.db", older, day.Add(-48*time.Hour))
				r.addBackup(t, "maskservice-daily-2026-11-26.db", newer, day)
			}, "maskservice-daily-2026-11-26.db", []string{"anna", "bert", "prepared"}, 0},
			{"the newest damaged: an older one", func(t *testing.T, r *recoveryDir) {
				r.addBackup(t, "maskservice-daily-2026-11-25.db", older, day.Add(-24*time.Hour))
				r.addBackup(t, "maskservice-daily-2026-11-26.db", newer[:len(newer)/2], day)
				r.addBackup(t, "maskservice-weekly-2026-W48.db", []byte("garbage"), day.Add(-time.Hour))
				r.addBackup(t, "notes.db", newer, day.Add(time.Hour)) // not a scheduled copy
			}, "maskservice-daily-2026-11-25.db", []string{"anna", "prepared"}, 2},
			{"every backup damaged: empty", func(t *testing.T, r *recoveryDir) {
				r.addBackup(t, "maskservice-daily-2026-11-26.db", garbagePage(t, newer), day)
			}, "", []string{"prepared"}, 1},
		} {
			t.Run(d.name+"/"+tc.name, func(t *testing.T) {
				r := newRecoveryDir(t)
				r.writeDB(t, d.file)
				tc.backups(t, r)
				db, rec, err := r.open(t)
				if err != nil {
					t.Fatal(err)
				}
				if rec == nil {
					t.Fatal("no recovery reported")
				}
				wantKept := filepath.Join(r.data, filepath.Base(kept))
				if rec.KeptAs != wantKept || rec.Damaged != filepath.Join(r.data, bolt.FileName) || rec.Problem == "" || !rec.At.Equal(t0) {
					t.Errorf("recovery %+v, want the damaged file kept as %s", rec, wantKept)
				}
				if !bytes.Equal(mustFileBytes(t, wantKept), d.file) {
					t.Error("the kept file is not the damaged file as it was")
				}
				if got := filepath.Base(rec.Backup); tc.backup != "" && got != tc.backup || tc.backup == "" && rec.Backup != "" {
					t.Errorf("started on %q, want %q", rec.Backup, tc.backup)
				}
				if len(rec.Skipped) != tc.skipped {
					t.Errorf("passed over %q, want %d", rec.Skipped, tc.skipped)
				}
				if tc.backup != "" && !rec.BackupTime.Equal(mustModTime(t, rec.Backup)) {
					t.Errorf("backup time %s, want when the backup was written", rec.BackupTime)
				}
				if got := usernames(t, db); !slices.Equal(got, tc.users) {
					t.Errorf("users %v, want %v", got, tc.users)
				}
				if len(r.prepared) != 1 || r.prepared[0].KeptAs != rec.KeptAs || r.prepared[0].Backup != rec.Backup {
					t.Errorf("Prepare saw %+v, want the recovery once", r.prepared)
				}
				if got := r.names(t); !slices.Equal(got, []string{bolt.FileName, filepath.Base(kept)}) {
					t.Errorf("the data directory holds %v, want the database and the kept file alone", got)
				}
				if db.SchemaVersion() != 3 {
					t.Errorf("schema %d", db.SchemaVersion())
				}
			})
		}
	}
}

func mustModTime(tb testing.TB, path string) time.Time {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.ModTime()
}

// A whole file opens as Open does: no recovery, nothing kept, nothing prepared; a foreign
// bbolt file is damage for the daemon, kept aside like any other.
func TestOpenRecovering_WholeAndForeign(t *testing.T) {
	r := newRecoveryDir(t)
	r.writeDB(t, fileWith(t, "anna"))
	// What an interrupted recovery of a file replaced by hand since would leave.
	if err := os.WriteFile(filepath.Join(r.data, bolt.FileName+".recover.tmp"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, rec, err := r.open(t)
	if err != nil || rec != nil || len(r.prepared) != 0 {
		t.Fatalf("recovery %+v, error %v, prepared %d: want a plain open", rec, err, len(r.prepared))
	}
	if got := usernames(t, db); !slices.Equal(got, []string{"anna"}) {
		t.Errorf("users %v", got)
	}
	if got := r.names(t); !slices.Equal(got, []string{bolt.FileName}) {
		t.Errorf("the data directory holds %v", got)
	}

	r = newRecoveryDir(t)
	rawUpdate(t, filepath.Join(r.data, bolt.FileName), func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("other"))
		return err
	})
	_, rec, err = r.open(t)
	if err != nil || rec == nil || !strings.Contains(rec.Problem, "not a maskservice database (no meta bucket)") {
		t.Errorf("foreign file: recovery %+v, error %v", rec, err)
	}
}

// What is not damage is refused as Open refuses it, and the file stays as it was: another
// process holds it, a newer maskserviced wrote it.
func TestOpenRecovering_NotDamage(t *testing.T) {
	t.Run("in use", func(t *testing.T) {
		r := newRecoveryDir(t)
		mustOpenAt(t, r.data)
		_, _, err := bolt.OpenRecovering(ctx, r.data, bolt.RecoverOptions{Options: bolt.Options{Timeout: 100 * time.Millisecond}})
		if !errors.Is(err, bolt.ErrInUse) {
			t.Errorf("error %v, want ErrInUse", err)
		}
		if got := r.names(t); !slices.Equal(got, []string{bolt.FileName}) {
			t.Errorf("the data directory holds %v", got)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		r := newRecoveryDir(t)
		r.writeDB(t, fileWith(t, "anna"))
		rawUpdate(t, filepath.Join(r.data, bolt.FileName), func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 99})
		})
		before := mustFileBytes(t, filepath.Join(r.data, bolt.FileName))
		_, _, err := r.open(t)
		if !errors.Is(err, bolt.ErrNewer) {
			t.Errorf("error %v, want ErrNewer", err)
		}
		if !bytes.Equal(mustFileBytes(t, filepath.Join(r.data, bolt.FileName)), before) || len(r.names(t)) != 1 {
			t.Error("a newer file was touched")
		}
	})
}

// A recovery that a crash cut short after the damaged file got its second name, before the
// replacement took its place, is done again at the next start without a third name.
func TestOpenRecovering_AfterInterruptedRecovery(t *testing.T) {
	r := newRecoveryDir(t)
	bad := fileWith(t, "anna")[:4*os.Getpagesize()]
	r.writeDB(t, bad)
	earlier := filepath.Join(r.data, bolt.FileName+".damaged-20261126T000000Z")
	if err := os.Link(filepath.Join(r.data, bolt.FileName), earlier); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.data, bolt.FileName+".recover.tmp"), []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rec, err := r.open(t)
	if err != nil || rec == nil || rec.KeptAs != earlier {
		t.Fatalf("recovery %+v, error %v: want the earlier kept name %s", rec, err, earlier)
	}
	if got := r.names(t); !slices.Equal(got, []string{bolt.FileName, filepath.Base(earlier)}) {
		t.Errorf("the data directory holds %v", got)
	}
	if !bytes.Equal(mustFileBytes(t, earlier), bad) {
		t.Error("the kept file changed")
	}
}

// A damaged file in a data directory that cannot be written: nothing can be opened, and the
// error says both; the file stays as it was. It mounts a read-only tmpfs (root, as CI).
func TestOpenRecovering_ReadOnlyDir(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	bad := fileWith(t, "anna")[:4*os.Getpagesize()]
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
	_, _, err := bolt.OpenRecovering(ctx, dir, bolt.RecoverOptions{})
	if !errors.Is(err, bolt.ErrDamaged) || !errors.Is(err, syscall.EROFS) {
		t.Errorf("error %v, want the damage and the read-only file system", err)
	}
	if !bytes.Equal(mustFileBytes(t, filepath.Join(dir, bolt.FileName)), bad) {
		t.Error("the damaged file changed")
	}
}

// BenchmarkVerify_Month is the full check of Verify (scanFile, then bbolt's Tx.Check) on the
// month-long history file: what a backup, a restore, and a recovery's choice of backup pay.
// BenchmarkHistory_Month's open is the part every start pays (scanFile alone).
func BenchmarkVerify_Month(b *testing.B) {
	buildMonth(b)
	path := filepath.Join(monthFile.dir, bolt.FileName)
	for b.Loop() {
		if _, err := bolt.Verify(ctx, path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fileSize(b, path))/1e6, "file-MB")
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
