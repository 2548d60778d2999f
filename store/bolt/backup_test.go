package bolt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// mustBackup writes a backup of db to a new file in a temporary directory and returns its path.
func mustBackup(tb testing.TB, db *bolt.DB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "backup.db")
	if err := db.BackupToFile(ctx, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustOpenCopy copies the database file at path into a new data directory and opens it.
func mustOpenCopy(tb testing.TB, path string) *bolt.DB {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return mustOpenAt(tb, dir)
}

// usernames returns the names of db's users.
func usernames(tb testing.TB, db *bolt.DB) []string {
	tb.Helper()
	users, err := db.Users(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

// TestBackup_WhileWriting takes hot copies, to a file, to a writer and through SaveBackup,
// while another goroutine creates users as fast as it can: each copy must be whole and hold
// every user created before it began.
func TestBackup_WhileWriting(t *testing.T) {
	db, _ := MustOpenDB(t)
	var before []string
	for i := range 20 {
		u := newUser(fmt.Sprintf("before%02d", i), maskservice.RoleOperator)
		mustCreateUsers(t, db, u)
		before = append(before, u.Username)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.CreateUser(ctx, newUser(fmt.Sprintf("during%05d", i), maskservice.RoleOperator)); err != nil {
				t.Errorf("write during the backup: %v", err)
				return
			}
			written.Add(1)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for written.Load() < 10 {
		time.Sleep(time.Millisecond)
	}

	toWriter := func(t *testing.T) string {
		var buf bytes.Buffer
		n, err := db.WriteBackup(ctx, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(buf.Len()) {
			t.Errorf("WriteBackup reported %d bytes, wrote %d", n, buf.Len())
		}
		path := filepath.Join(t.TempDir(), "w.db")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name string
		take func(t *testing.T) string
	}{
		{"BackupToFile", func(t *testing.T) string { return mustBackup(t, db) }},
		{"WriteBackup", toWriter},
		{"StreamBackup and SaveBackup", func(t *testing.T) string {
			pr, pw := io.Pipe()
			var announced, n int64
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				n, err = db.StreamBackup(ctx, func(size int64) (io.Writer, error) { announced = size; return pw, nil })
				_ = pw.CloseWithError(err)
			}()
			path := filepath.Join(t.TempDir(), "s.db")
			info, serr := bolt.SaveBackup(ctx, path, pr)
			<-done
			if err != nil || serr != nil {
				t.Fatalf("stream: %v; save: %v", err, serr)
			}
			if announced != n || info.Size != n {
				t.Errorf("announced %d bytes, wrote %d, saved %d", announced, n, info.Size)
			}
			return path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.take(t)
			info, err := bolt.Verify(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if info.SchemaVersion != db.SchemaVersion() {
				t.Errorf("schema %d, want %d", info.SchemaVersion, db.SchemaVersion())
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			names := usernames(t, mustOpenCopy(t, path))
			for _, name := range before {
				if !slices.Contains(names, name) {
					t.Errorf("the copy lacks %s, created before the backup", name)
				}
			}
			if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s.tmp is left: %v", path, err)
			}
		})
	}
}

func TestBackupSize(t *testing.T) {
	db, _ := MustOpenDB(t)
	size, err := db.BackupSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.WriteBackup(ctx, io.Discard)
	if err != nil || n != size {
		t.Errorf("WriteBackup wrote %d bytes (%v), BackupSize said %d", n, err, size)
	}
}

func TestBackupToFile_Refusals(t *testing.T) {
	db, dir := MustOpenDB(t)
	if err := db.BackupToFile(ctx, filepath.Join(dir, bolt.FileName)); err == nil {
		t.Error("a backup over the database file itself was allowed")
	}
	if err := db.BackupToFile(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "b.db")); err == nil {
		t.Error("a backup into a missing directory succeeded")
	}
}

// pageSize reads the page size from a bbolt file's first meta page.
func pageSize(tb testing.TB, b []byte) int {
	tb.Helper()
	// page header (16 bytes), then magic and version (4 bytes each), then the page size.
	return int(binary.NativeEndian.Uint32(b[24:]))
}

// writeFile writes b to a new file and returns its path.
func writeFile(tb testing.TB, b []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "file.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// goodFile returns the bytes of a backup of a small database with a few users.
func goodFile(tb testing.TB) []byte {
	tb.Helper()
	b, _ := goodFileSchema(tb)
	return b
}

// goodFileSchema is goodFile, and the file's schema version (the newest there is).
func goodFileSchema(tb testing.TB) ([]byte, int) {
	tb.Helper()
	db, _ := MustOpenDB(tb)
	for i := range 30 {
		mustCreateUsers(tb, db, newUser(fmt.Sprintf("user%02d", i), maskservice.RoleAdmin))
	}
	var buf bytes.Buffer
	if _, err := db.WriteBackup(ctx, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), db.SchemaVersion()
}

// flippedPage returns a copy of good with one byte flipped in a page header that Verify
// reports as damaged, trying the pages in turn (not every page is in use).
func flippedPage(tb testing.TB, good []byte) []byte {
	tb.Helper()
	ps := pageSize(tb, good)
	for off := 2 * ps; off < len(good); off += ps {
		bad := bytes.Clone(good)
		bad[off] ^= 0x40 // the page id in the header
		if _, err := bolt.Verify(ctx, writeFile(tb, bad)); err != nil {
			return bad
		}
	}
	tb.Fatal("no page of the file is reported damaged with its id flipped")
	return nil
}

func TestVerify(t *testing.T) {
	good, latest := goodFileSchema(t)
	ps := pageSize(t, good)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	rawUpdate(t, foreign, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	newer := writeFile(t, good)
	rawUpdate(t, newer, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, uint32(latest+1)))
	})
	badSchema := writeFile(t, good)
	rawUpdate(t, badSchema, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{1})
	})
	zeroSchema := writeFile(t, good)
	rawUpdate(t, zeroSchema, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, 0))
	})
	for _, tc := range []struct {
		name string
		path string
		want error // nil: the file passes
		text string
	}{
		{"good", writeFile(t, good), nil, ""},
		{"empty file", writeFile(t, nil), bolt.ErrNotBolt, "not a bbolt file"},
		{"text", writeFile(t, []byte(strings.Repeat("this is not a database\n", 1000))), bolt.ErrNotBolt, "not a bbolt file"},
		{"zeros", writeFile(t, make([]byte, 64<<10)), bolt.ErrNotBolt, "not a bbolt file"},
		{"cut to half", writeFile(t, good[:len(good)/2]), bolt.ErrDamaged, "damaged"},
		{"last page cut", writeFile(t, good[:len(good)-ps]), bolt.ErrDamaged, "damaged"},
		{"flipped byte in a page", writeFile(t, flippedPage(t, good)), bolt.ErrDamaged, "damaged"},
		{"foreign bbolt file", foreign, bolt.ErrNotOurs, "not a maskservice database (no meta bucket)"},
		{"newer schema", newer, bolt.ErrNewer, fmt.Sprintf("written by a newer maskserviced (schema %d > %d)", latest+1, latest)},
		{"schema not 4 bytes", badSchema, bolt.ErrNotOurs, "not a maskservice database"},
		{"schema 0", zeroSchema, bolt.ErrNotOurs, "not a maskservice database"},
		{"directory", t.TempDir(), bolt.ErrNotBolt, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := bolt.Verify(ctx, tc.path)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if info.SchemaVersion != latest || info.Created != t0.Format(time.RFC3339) || info.Size != int64(len(good)) {
					t.Errorf("info %+v, want schema %d, created %s, %d bytes", info, latest, t0.Format(time.RFC3339), len(good))
				}
				for _, b := range []string{"meta", "sessions", "users"} {
					if !slices.Contains(info.Buckets, b) {
						t.Errorf("buckets %v lack %s", info.Buckets, b)
					}
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Errorf("error %v, want %v saying %q", err, tc.want, tc.text)
			}
			if !strings.Contains(fmt.Sprint(err), tc.path) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := bolt.Verify(ctx, filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v, want not exist", err)
		}
	})
	t.Run("held by the daemon", func(t *testing.T) {
		db, dir := MustOpenDB(t)
		_ = db
		if _, err := bolt.Verify(ctx, filepath.Join(dir, bolt.FileName)); !errors.Is(err, bolt.ErrInUse) {
			t.Errorf("error %v, want ErrInUse", err)
		}
	})
}

// FuzzVerify feeds Verify any bytes: it must answer, never panic or crash.
func FuzzVerify(f *testing.F) {
	good := goodFile(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:8192])
	f.Add([]byte{})
	f.Add([]byte("not a database"))
	f.Add(make([]byte, 16<<10))
	dir := f.TempDir()
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, fmt.Sprintf("fuzz%d.db", seq.Add(1)))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		info, err := bolt.Verify(ctx, path)
		if err == nil && (info.SchemaVersion < 1 || info.Size != int64(len(b))) {
			t.Errorf("passed with info %+v", info)
		}
	})
}

// mustFileBytes returns the bytes of the file at path.
func mustFileBytes(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRestore(t *testing.T) {
	db, dir := MustOpenDB(t)
	mustCreateUsers(t, db, newUser("anna", maskservice.RoleSuperuser))
	backup := mustBackup(t, db)
	mustCreateUsers(t, db, newUser("bert", maskservice.RoleOperator))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(dir, bolt.FileName)
	old := mustFileBytes(t, cur)

	kept, err := bolt.Restore(ctx, dir, backup)
	if err != nil {
		t.Fatal(err)
	}
	if want := cur + ".before-restore-"; !strings.HasPrefix(kept, want) || len(kept) != len(want)+len("20060102T150405Z") {
		t.Errorf("kept %q, want %s<UTC time>", kept, want)
	}
	if !bytes.Equal(mustFileBytes(t, kept), old) {
		t.Error("the kept file is not the previous database")
	}
	if !bytes.Equal(mustFileBytes(t, cur), mustFileBytes(t, backup)) {
		t.Error("the restored file is not the backup")
	}
	if fi, err := os.Stat(cur); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v, mode %v", err, fi.Mode().Perm())
	}
	if _, err := os.Stat(cur + ".restore.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the restore's tmp file is left: %v", err)
	}
	if got := usernames(t, mustOpenAt(t, dir)); !slices.Equal(got, []string{"anna"}) {
		t.Errorf("restored users %v, want [anna]", got)
	}

	t.Run("twice in one second keeps both", func(t *testing.T) {
		dir := t.TempDir()
		var kepts []string
		for range 3 {
			kept, err := bolt.Restore(ctx, dir, backup)
			if err != nil {
				t.Fatal(err)
			}
			kepts = append(kepts, kept)
		}
		// The first restore into an empty directory keeps nothing.
		if kepts[0] != "" || kepts[1] == "" || kepts[2] == "" || kepts[1] == kepts[2] {
			t.Errorf("kept %q", kepts)
		}
	})
}

// TestRestore_Refused checks that a restore of a bad file changes nothing.
func TestRestore_Refused(t *testing.T) {
	good := goodFile(t)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	rawUpdate(t, foreign, func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("things"))
		return err
	})
	for _, tc := range []struct {
		name string
		from string
		want error
	}{
		{"garbage", writeFile(t, []byte("garbage")), bolt.ErrNotBolt},
		{"truncated", writeFile(t, good[:len(good)/2]), bolt.ErrDamaged},
		{"foreign", foreign, bolt.ErrNotOurs},
		{"missing", filepath.Join(t.TempDir(), "none.db"), os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, dir := MustOpenDB(t)
			mustCreateUsers(t, db, newUser("anna", maskservice.RoleSuperuser))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := mustFileBytes(t, filepath.Join(dir, bolt.FileName))
			kept, err := bolt.Restore(ctx, dir, tc.from)
			if !errors.Is(err, tc.want) || kept != "" {
				t.Errorf("kept %q, error %v, want %v", kept, err, tc.want)
			}
			if !bytes.Equal(mustFileBytes(t, filepath.Join(dir, bolt.FileName)), before) {
				t.Error("the current database changed")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("the data directory holds %v, want the database alone", entries)
			}
		})
	}
}

// TestOffline_InUse checks that Restore and Compact refuse while another handle (the
// daemon) holds the database open.
func TestOffline_InUse(t *testing.T) {
	backup := writeFile(t, goodFile(t))
	for _, tc := range []struct {
		name string
		run  func(dir string) error
	}{
		{"restore", func(dir string) error { _, err := bolt.Restore(ctx, dir, backup); return err }},
		{"compact", func(dir string) error { _, _, err := bolt.Compact(ctx, dir); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, dir := MustOpenDB(t)
			mustCreateUsers(t, db, newUser("anna", maskservice.RoleSuperuser))
			before := mustFileBytes(t, filepath.Join(dir, bolt.FileName))
			err := tc.run(dir)
			if !errors.Is(err, bolt.ErrInUse) || !strings.Contains(err.Error(), "stop maskserviced first") {
				t.Errorf("error %v, want ErrInUse", err)
			}
			if !bytes.Equal(mustFileBytes(t, filepath.Join(dir, bolt.FileName)), before) {
				t.Error("the database changed")
			}
			if got := usernames(t, db); !slices.Equal(got, []string{"anna"}) {
				t.Errorf("users %v", got)
			}
		})
	}
}

func TestCompact(t *testing.T) {
	db, dir := MustOpenDB(t)
	mustCreateUsers(t, db, newUser("anna", maskservice.RoleSuperuser), newUser("bert", maskservice.RoleOperator))
	keep := &maskservice.Session{ID: "keep", Username: "anna", Role: maskservice.RoleSuperuser,
		Created: t0, LastSeen: t0, Expires: t0.Add(24 * time.Hour)}
	if err := db.CreateSession(ctx, keep); err != nil {
		t.Fatal(err)
	}
	// Sessions of a few MB, then deleted: the file keeps its size.
	big := strings.Repeat("x", 32<<10)
	for i := range 200 {
		s := &maskservice.Session{ID: fmt.Sprintf("old%03d", i), Username: "bert", Role: maskservice.RoleOperator,
			Created: t0, LastSeen: t0, Expires: t0.Add(time.Minute), RevokeReason: big}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.DeleteSessionsBefore(ctx, t0.Add(time.Hour)); err != nil || n != 200 {
		t.Fatalf("deleted %d sessions: %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, bolt.FileName)
	size := int64(len(mustFileBytes(t, path)))

	before, after, err := bolt.Compact(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if before != size || after >= before/4 {
		t.Errorf("before %d (file %d), after %d: want the file much smaller", before, size, after)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != after || fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted file: %v, want %d bytes, mode 0600", fi, after)
	}
	if _, err := os.Stat(path + ".compact.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the compaction's tmp file is left: %v", err)
	}
	db = mustOpenAt(t, dir)
	if got := usernames(t, db); !slices.Equal(got, []string{"anna", "bert"}) {
		t.Errorf("users %v after compaction", got)
	}
	if s, err := db.Session(ctx, "keep"); err != nil || s.Username != "anna" {
		t.Errorf("session keep: %+v, %v", s, err)
	}
	if _, err := bolt.Verify(ctx, path+"-missing"); err == nil {
		t.Error("verify of a missing file passed")
	}
}

func TestCompact_Refused(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte // nil: no database file
		want error
	}{
		{"no database", nil, os.ErrNotExist},
		{"damaged", []byte(strings.Repeat("x", 10000)), bolt.ErrNotBolt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != nil {
				if err := os.WriteFile(filepath.Join(dir, bolt.FileName), tc.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := bolt.Compact(ctx, dir); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if tc.file != nil && !bytes.Equal(mustFileBytes(t, filepath.Join(dir, bolt.FileName)), tc.file) {
				t.Error("the file changed")
			}
		})
	}
}
