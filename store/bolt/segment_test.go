package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// The history segment: a commit appends to it, a checkpoint moves it into the database file,
// Open moves what a crash left there. Records start at 4 KiB boundaries (segment.go), which
// the tests below use to find and damage them.

const segPage = 4096

// segWriter opens a database in dir and a writer on it with a segment of segSize bytes.
func segWriter(tb testing.TB, dir string, segSize int64) (*bolt.DB, *bolt.HistoryWriter) {
	tb.Helper()
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db, db.NewHistoryWriter(bolt.HistoryOptions{SegmentSize: segSize, Now: func() time.Time { return t0 }})
}

// mustCommit commits and fails the test on an error.
func mustCommit(tb testing.TB, w *bolt.HistoryWriter) {
	tb.Helper()
	if err := w.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// allOf returns every logged reading of id in db.
func allOf(tb testing.TB, db *bolt.DB, id string) []maskservice.Reading {
	tb.Helper()
	var out []maskservice.Reading
	err := db.ScanHistory(ctx, id, "bar", t0.Add(-100*24*time.Hour), t0.Add(100*24*time.Hour), func(r maskservice.Reading) bool {
		out = append(out, r)
		return true
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// snapshotDir copies the database and the segment in dir to a new directory: what a SIGKILL
// at this moment would leave (the page cache survives the process).
func snapshotDir(tb testing.TB, dir string) string {
	tb.Helper()
	to := tb.TempDir()
	for _, name := range []string{bolt.FileName, bolt.SegmentFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return to
}

// reopen opens the database in dir (which moves the segment's records into the file),
// checks it, and returns every reading of id; the database is closed again.
func reopen(tb testing.TB, dir, id string) []maskservice.Reading {
	tb.Helper()
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		tb.Fatalf("open after the crash: %v", err)
	}
	defer db.Close()
	return allOf(tb, db, id)
}

// A crash leaves the segment with its last record torn, or worse: Open keeps every whole
// record before the damage, exactly once, drops the rest, and the writer goes on after it.
func TestSegment_TornTail(t *testing.T) {
	const records = 5 // after the first commit, which is a checkpoint
	tests := []struct {
		name string
		// damage changes the segment file; rec(i) is the offset of record i (0-based,
		// after the checkpoint).
		damage func(t *testing.T, f *os.File)
		keep   int // records whose readings survive
	}{
		{"whole", func(*testing.T, *os.File) {}, records},
		{"last record's payload torn", func(t *testing.T, f *os.File) {
			writeAt(t, f, []byte{0xde, 0xad, 0xbe, 0xef}, rec(records-1)+40)
		}, records - 1},
		{"last record's header zeroed", func(t *testing.T, f *os.File) {
			writeAt(t, f, make([]byte, 28), rec(records-1))
		}, records - 1},
		{"last record's header written, its payload not", func(t *testing.T, f *os.File) {
			writeAt(t, f, make([]byte, 512), rec(records-1)+28)
		}, records - 1},
		{"a middle record torn ends the segment there", func(t *testing.T, f *os.File) {
			writeAt(t, f, []byte{1}, rec(2)+30)
		}, 2},
		{"a record of another log after the tail", func(t *testing.T, f *os.File) {
			var h [28]byte
			copy(h[:], "MSR1")
			binary.LittleEndian.PutUint64(h[8:], 12345)
			binary.LittleEndian.PutUint64(h[16:], records+2)
			writeAt(t, f, h[:], rec(records))
		}, records},
		{"garbage after the tail", func(t *testing.T, f *os.File) {
			writeAt(t, f, bytes.Repeat([]byte{0xa5}, segPage), rec(records))
		}, records},
		{"the whole segment garbage", func(t *testing.T, f *os.File) {
			writeAt(t, f, bytes.Repeat([]byte{0x5a}, 16*segPage), 0)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, w := segWriter(t, dir, 16*segPage)
			rs := readingsAt("P1", t0, time.Second, 1+records*10+10, 21)
			w.Add(rs[0])
			mustCommit(t, w) // the checkpoint that makes the segment
			for i := range records {
				for _, r := range rs[1+i*10 : 1+(i+1)*10] {
					w.Add(r)
				}
				mustCommit(t, w)
			}
			if st := w.Stats(); st.Checkpoints != 1 || st.InSegment != records*10 {
				t.Fatalf("stats %+v: want 1 checkpoint and %d readings in the segment", st, records*10)
			}
			crashed := snapshotDir(t, dir)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(crashed, bolt.SegmentFileName), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, f)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			want := rs[:1+tt.keep*10]
			sameReadings(t, reopen(t, crashed, "P1"), want)
			// A second open finds nothing more to move: no reading twice.
			sameReadings(t, reopen(t, crashed, "P1"), want)
			// The writer goes on after the recovered part, and the next crash keeps it all.
			db2, w2 := segWriter(t, crashed, 16*segPage)
			more := rs[len(rs)-10:]
			for _, r := range more {
				w2.Add(r)
				mustCommit(t, w2)
			}
			again := snapshotDir(t, crashed)
			if err := db2.Close(); err != nil {
				t.Fatal(err)
			}
			sameReadings(t, reopen(t, again, "P1"), append(slices.Clone(want), more...))
		})
	}
}

// rec is the offset of the i-th one-page record after a checkpoint at offset 0.
func rec(i int) int64 { return int64(i) * segPage }

func writeAt(t *testing.T, f *os.File, b []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A crash after any commit, whether it appended to the segment, checkpointed, or did both
// because the segment went round: the reopened file holds exactly the readings committed,
// none twice. Segments of a few pages go round often; records of several pages take the
// checkpoint path when they no longer fit.
func TestSegment_CrashAfterEveryCommit(t *testing.T) {
	tests := []struct {
		name      string
		segSize   int64
		perCommit []int // readings per commit, repeated
	}{
		{"one page per commit, small ring", 4 * segPage, []int{3}},
		{"uneven commits", 8 * segPage, []int{1, 7, 3, 200, 2}},
		{"records of several pages", 6 * segPage, []int{2500, 10}},
		{"default size", 0, []int{3, 15, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, w := segWriter(t, dir, tt.segSize)
			p1 := readingsAt("P1", t0, time.Second, 20000, 22)
			p2 := readingsAt("P2", t0, 2*time.Second, 20000, 23)
			n := 0
			for c := 0; n < 12000 && c < 250; c++ {
				k := tt.perCommit[c%len(tt.perCommit)]
				for _, i := range rangeN(n, k) {
					w.Add(p1[i])
					w.Add(p2[i])
				}
				n += k
				mustCommit(t, w)
				crashed := snapshotDir(t, dir)
				got1, got2 := reopen(t, crashed, "P1"), reopen(t, crashed, "P2")
				if len(got1) != n || len(got2) != n {
					t.Fatalf("commit %d: after a crash %d and %d readings, want %d of each (stats %+v)", c, len(got1), len(got2), n, w.Stats())
				}
				sameReadings(t, got1, p1[:n])
				sameReadings(t, got2, p2[:n])
			}
			if st := w.Stats(); st.Checkpoints < 2 {
				t.Errorf("stats %+v: the test must go through checkpoints", st)
			}
		})
	}
}

func rangeN(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// segCrashEnv tells a re-executed test binary to be TestSegment_SIGKILL's writer.
const segCrashEnv = "MASKSERVICE_SEGMENT_CRASH_DIR"

// TestSegment_SIGKILL kills a process that adds readings and commits them (to a segment of a
// few pages, so that it goes round and checkpoints often), at a random moment, three times on
// one directory. After each kill, every reading whose Commit had returned is in the file,
// once, and nothing else is but the readings of a commit that was under way.
func TestSegment_SIGKILL(t *testing.T) {
	if dir := os.Getenv(segCrashEnv); dir != "" {
		segCrashWriter(dir)
		return
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	committed := 0 // readings of P1 committed over all runs
	for round := range 3 {
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		cmd := exec.CommandContext(c, os.Args[0], "-test.run=^TestSegment_SIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), segCrashEnv+"="+dir, "MASKSERVICE_SEGMENT_CRASH_FROM="+strconv.Itoa(committed))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stopAt := 20 + rng.IntN(200)
		sc := bufio.NewScanner(out)
		commits := 0
		for sc.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed "))
			if err != nil {
				continue
			}
			committed = n
			if commits++; commits == stopAt {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// The writer runs on while the signal is on its way (on a loaded machine, several
		// commits): what it reported before it died was committed too.
		reported := committed
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed ")); err == nil {
				reported = n
			}
		}
		_ = cmd.Wait()
		cancel()
		if commits < stopAt {
			t.Fatalf("round %d: the writer stopped after %d commits: %s", round, commits, stderr.String())
		}
		got := reopen(t, dir, "P1")
		all := segCrashReadings()
		if len(got) < reported {
			t.Fatalf("round %d: %d readings after the kill, %d were committed", round, len(got), reported)
		}
		// At most the commit under way (up to 9 readings) may be there too.
		if len(got) > reported+9 {
			t.Fatalf("round %d: %d readings after the kill, only %d were committed", round, len(got), reported)
		}
		sameReadings(t, got, all[:len(got)])
		committed = len(got)
	}
}

// segCrashReadings are the readings the crash writer adds, in order.
func segCrashReadings() []maskservice.Reading {
	return readingsAt("P1", t0, time.Second, 100_000, 24)
}

// segCrashWriter adds readings from MASKSERVICE_SEGMENT_CRASH_FROM on, 1 to 9 per commit,
// and prints how many are committed after each commit, until it is killed.
func segCrashWriter(dir string) {
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	w := db.NewHistoryWriter(bolt.HistoryOptions{SegmentSize: 6 * segPage})
	from, _ := strconv.Atoi(os.Getenv("MASKSERVICE_SEGMENT_CRASH_FROM"))
	all := segCrashReadings()
	for n := from; n < len(all); {
		k := 1 + n%9
		for _, r := range all[n:min(n+k, len(all))] {
			w.Add(r)
		}
		n = min(n+k, len(all))
		if err := w.Commit(ctx); err != nil {
			fmt.Println("commit:", err)
			os.Exit(1)
		}
		fmt.Println("committed", n)
	}
	os.Exit(0)
}

// Queries see the readings committed to the segment, not yet moved into the file, merged
// with the file's chunks in time order; a chunk moved while a query runs comes once.
func TestHistory_ScanSeesSegment(t *testing.T) {
	db, w := segWriter(t, t.TempDir(), 0)
	rs := readingsAt("P1", t0, time.Second, 3000, 25)
	for i, r := range rs[:2000] {
		w.Add(r)
		if i%20 == 19 {
			mustCommit(t, w)
		}
	}
	st := w.Stats()
	if st.InSegment == 0 || st.Checkpoints != 1 {
		t.Fatalf("stats %+v: want readings in the segment after one checkpoint", st)
	}
	// The newest readings, added and not committed, are not seen.
	for _, r := range rs[2000:2005] {
		w.Add(r)
	}
	tests := []struct {
		name     string
		from, to int
	}{
		{"all", 0, 2000},
		{"the file's part", 0, 10},
		{"across the file and the segment", 5, 1990},
		{"the segment's part", 1500, 2000},
		{"inside the open chunk", 1990, 1995},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameReadings(t, scan(t, db, "P1", rs[tt.from].Time, rs[tt.to-1].Time.Add(time.Millisecond)), rs[tt.from:tt.to])
		})
	}
	t.Run("while the writer commits and checkpoints", func(t *testing.T) {
		var wg sync.WaitGroup
		stop, quit := make(chan struct{}), make(chan struct{})
		defer func() { close(quit); wg.Wait() }() // also when the test fails below
		wg.Go(func() {
			defer close(stop)
			for i, r := range rs[2005:] {
				select {
				case <-quit:
					return
				default:
				}
				w.Add(r)
				if err := w.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := w.Checkpoint(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		for done := false; !done; {
			select {
			case <-stop:
				done = true
			default:
			}
			got := scan(t, db, "P1", t0, t0.Add(time.Hour))
			if len(got) < 2000 {
				t.Fatalf("%d readings, want at least the 2000 committed before", len(got))
			}
			sameReadings(t, got, rs[:len(got)])
		}
	})
}

// Retention deletes what is old in the writer's chunks in RAM too, or the next checkpoint
// would write it back.
func TestHistory_TrimDropsSegmentReadings(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	dir := t.TempDir()
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.NewHistoryWriter(bolt.HistoryOptions{Retention: 24 * time.Hour, Now: func() time.Time { return now }})
	old := readingsAt("P1", now.Add(-48*time.Hour), time.Minute, 600, 26)
	recent := readingsAt("P1", now.Add(-time.Hour), time.Second, 600, 27)
	w.Add(old[0])
	mustCommit(t, w) // the first commit checkpoints
	for _, r := range append(old[1:], recent...) {
		w.Add(r)
	}
	mustCommit(t, w)
	if st := w.Stats(); st.InSegment != len(old)-1+len(recent) {
		t.Fatalf("stats %+v: want the readings in the segment", st)
	}
	if _, err := w.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	sameReadings(t, allOf(t, db, "P1"), recent)
	if err := w.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	sameReadings(t, allOf(t, db, "P1"), recent)
}

// The device status counts the segment in the files' bytes.
func TestHistory_FileBytesCountSegment(t *testing.T) {
	db, w := segWriter(t, t.TempDir(), 16*segPage)
	size0, used0 := db.HistoryFileBytes()
	w.Add(readingsAt("P1", t0, time.Second, 1, 28)[0])
	mustCommit(t, w)
	size1, used1 := db.HistoryFileBytes()
	if size1-size0 < 16*segPage || used1-used0 < 16*segPage {
		t.Errorf("bytes before the segment %d/%d, after %d/%d: want the segment's 64 KiB in both", size0, used0, size1, used1)
	}
	if st := w.Status(); st.FileBytes != size1 || st.UsedBytes != used1 {
		t.Errorf("status %+v, want %d/%d bytes", st, size1, used1)
	}
}

// A second writer on one database does not use the segment: its commits go into the file,
// and the first writer's readings in the segment stay seen and safe.
func TestHistory_SecondWriter(t *testing.T) {
	dir := t.TempDir()
	db, w1 := segWriter(t, dir, 0)
	w2 := db.NewHistoryWriter(bolt.HistoryOptions{})
	p1 := readingsAt("P1", t0, time.Second, 100, 29)
	p2 := readingsAt("P2", t0, time.Second, 100, 30)
	for i := range 100 {
		w1.Add(p1[i])
		w2.Add(p2[i])
		mustCommit(t, w1)
		mustCommit(t, w2)
	}
	if st := w2.Stats(); st.Checkpoints != 100 || st.InSegment != 0 {
		t.Errorf("second writer %+v: want every commit into the file", st)
	}
	if st := w1.Stats(); st.InSegment == 0 {
		t.Errorf("first writer %+v: want its readings in the segment", st)
	}
	sameReadings(t, allOf(t, db, "P1"), p1)
	sameReadings(t, allOf(t, db, "P2"), p2)
	crashed := snapshotDir(t, dir)
	sameReadings(t, reopen(t, crashed, "P1"), p1)
	sameReadings(t, reopen(t, crashed, "P2"), p2)
}

// A backup holds every reading committed before it began, also those in the segment; and the
// writer goes on after it without losing or repeating one.
func TestBackup_HoldsSegmentReadings(t *testing.T) {
	tests := []struct {
		name string
		take func(t *testing.T, db *bolt.DB) string // returns the copy's path
	}{
		{"BackupToFile", func(t *testing.T, db *bolt.DB) string { return mustBackup(t, db) }},
		{"WriteBackup after BackupSize", func(t *testing.T, db *bolt.DB) string {
			size, err := db.BackupSize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if n, err := db.WriteBackup(ctx, &buf); err != nil || n != size {
				t.Fatalf("WriteBackup: %d bytes, %v; BackupSize said %d", n, err, size)
			}
			path := filepath.Join(t.TempDir(), "w.db")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"StreamBackup into SaveBackup", func(t *testing.T, db *bolt.DB) string {
			var buf bytes.Buffer
			if _, err := db.StreamBackup(ctx, func(int64) (io.Writer, error) { return &buf, nil }); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "s.db")
			if _, err := bolt.SaveBackup(ctx, path, &buf); err != nil {
				t.Fatal(err)
			}
			return path
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, w := segWriter(t, dir, 0)
			rs := readingsAt("P1", t0, time.Second, 600, 31)
			for _, r := range rs[:300] {
				w.Add(r)
				mustCommit(t, w)
			}
			if st := w.Stats(); st.InSegment == 0 {
				t.Fatalf("stats %+v: want readings in the segment", st)
			}
			w.Add(rs[300]) // added, not committed: a backup may have it or not
			path := tt.take(t, db)
			got := allOf(t, mustOpenCopy(t, path), "P1")
			if len(got) < 300 {
				t.Fatalf("the backup holds %d readings, want the 300 committed", len(got))
			}
			sameReadings(t, got, rs[:len(got)])
			// The writer goes on, into the segment again.
			for _, r := range rs[301:] {
				w.Add(r)
				mustCommit(t, w)
			}
			sameReadings(t, reopen(t, snapshotDir(t, dir), "P1"), rs)
		})
	}
}

// The commands that work on a stopped daemon's files (backup, compact, restore) find the
// readings a crash left in the segment and put them where they belong.
func TestOffline_SegmentAfterCrash(t *testing.T) {
	// crashed returns a data directory as a crash left it: readings 0-99 in the file,
	// 100-199 in the segment only; and a backup taken at reading 50.
	crashed := func(t *testing.T) (dir, backup string, rs []maskservice.Reading) {
		src := t.TempDir()
		db, w := segWriter(t, src, 0)
		rs = readingsAt("P1", t0, time.Second, 200, 32)
		for i, r := range rs[:100] {
			w.Add(r)
			mustCommit(t, w)
			if i == 49 {
				backup = mustBackup(t, db)
			}
		}
		if err := w.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[100:] {
			w.Add(r)
			mustCommit(t, w)
		}
		if st := w.Stats(); st.InSegment != 100 {
			t.Fatalf("stats %+v: want readings 100-199 in the segment", st)
		}
		return snapshotDir(t, src), backup, rs
	}
	t.Run("backup", func(t *testing.T) {
		dir, _, rs := crashed(t)
		path := filepath.Join(dir, bolt.FileName)
		before := mustFileBytes(t, path)
		dest := filepath.Join(t.TempDir(), "copy.db")
		if err := bolt.BackupClosedFile(ctx, path, dest); err != nil {
			t.Fatal(err)
		}
		sameReadings(t, allOf(t, mustOpenCopy(t, dest), "P1"), rs)
		if !bytes.Equal(mustFileBytes(t, path), before) {
			t.Error("the backup changed the database file")
		}
		sameReadings(t, reopen(t, dir, "P1"), rs) // and the segment is still there for the next start
	})
	t.Run("compact", func(t *testing.T) {
		dir, _, rs := crashed(t)
		if _, _, err := bolt.Compact(ctx, dir); err != nil {
			t.Fatal(err)
		}
		sameReadings(t, reopen(t, dir, "P1"), rs)
		sameReadings(t, reopen(t, dir, "P1"), rs) // nothing moved twice
	})
	t.Run("restore", func(t *testing.T) {
		dir, backup, rs := crashed(t)
		kept, err := bolt.Restore(ctx, dir, backup)
		if err != nil {
			t.Fatal(err)
		}
		sameReadings(t, allOf(t, mustOpenCopy(t, kept), "P1"), rs)
		if _, err := os.Stat(filepath.Join(dir, bolt.SegmentFileName)); !os.IsNotExist(err) {
			t.Errorf("the segment of the replaced file is still there: %v", err)
		}
		got := reopen(t, dir, "P1")
		if len(got) < 50 || len(got) > 51 {
			t.Fatalf("the restored file holds %d readings, want the backup's 50 (51 with the one added)", len(got))
		}
		sameReadings(t, got, rs[:len(got)])
		// The daemon starts on it and writes a new segment.
		_, w := segWriter(t, dir, 0)
		more := readingsAt("P1", t0.Add(time.Hour), time.Second, 10, 33)
		for _, r := range more {
			w.Add(r)
			mustCommit(t, w)
		}
		sameReadings(t, reopen(t, snapshotDir(t, dir), "P1"), append(slices.Clone(got), more...))
	})
}
