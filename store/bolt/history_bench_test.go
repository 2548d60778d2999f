package bolt_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// monthFile is a history of 30 days at 1 Hz for 3 sensors, built once for the benchmarks.
var monthFile struct {
	once     sync.Once
	dir      string
	readings int
	used     int64
	end      time.Time
	err      error
}

// buildMonth writes the month through the HistoryWriter, committing every simulated minute.
func buildMonth(b *testing.B) {
	monthFile.once.Do(func() {
		dir, err := os.MkdirTemp("", "maskservice-month-")
		if err != nil {
			monthFile.err = err
			return
		}
		monthFile.dir = dir
		db, err := bolt.Open(ctx, dir, bolt.Options{})
		if err != nil {
			monthFile.err = err
			return
		}
		defer db.Close()
		w := db.NewHistoryWriter(bolt.HistoryOptions{})
		const days, sensors = 30, 3
		start := time.Date(2026, 10, 28, 0, 0, 0, 0, time.UTC)
		series := make([][]maskservice.Reading, sensors)
		for s, id := range []string{"P1", "P2", "P3"} {
			series[s] = readingsAt(id, start, time.Second, days*86400, uint64(s+10))
		}
		for i := range days * 86400 {
			for s := range sensors {
				w.Add(series[s][i])
			}
			if i%60 == 59 {
				if err := w.Commit(ctx); err != nil {
					monthFile.err = err
					return
				}
			}
		}
		// The daemon's stop checkpoints: the file then holds everything.
		monthFile.err = w.Checkpoint(ctx)
		monthFile.readings = days * 86400 * sensors
		_, monthFile.used = db.HistoryFileBytes()
		monthFile.end = start.Add(days * 24 * time.Hour)
	})
	if monthFile.err != nil {
		b.Fatal(monthFile.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if monthFile.dir != "" {
		os.RemoveAll(monthFile.dir)
	}
	os.Exit(code)
}

// BenchmarkHistory_Ingest is the writer's throughput: readings of 3 sensors added and committed
// a simulated minute at a time (180 readings per transaction).
func BenchmarkHistory_Ingest(b *testing.B) {
	db, err := bolt.Open(ctx, b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	rs := readingsAt("P1", t0, time.Second, 1<<16, 1)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		r := rs[n%len(rs)]
		r.Time = t0.Add(time.Duration(n) * time.Second)
		for _, id := range []string{"P1", "P2", "P3"} {
			r.SensorID = id
			w.Add(r)
		}
		if n++; n%60 == 0 {
			if err := w.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkHistory_Month reports the bytes on disk per reading of a 30-day, 3-sensor, 1 Hz
// history, and how long opening that file takes (what a start pays for it).
func BenchmarkHistory_Month(b *testing.B) {
	buildMonth(b)
	b.ResetTimer()
	for b.Loop() {
		db, err := bolt.Open(ctx, monthFile.dir, bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(monthFile.used)/float64(monthFile.readings), "bytes/reading")
	b.ReportMetric(float64(monthFile.used)/1e6, "MB")
}

// BenchmarkHistory_Query is a chart's query: 24 hours and 30 days of one sensor into 1280
// points, scanned from the month-long file.
func BenchmarkHistory_Query(b *testing.B) {
	buildMonth(b)
	db, err := bolt.Open(ctx, monthFile.dir, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, span := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		b.Run(span.String(), func(b *testing.B) {
			end := monthFile.end
			start := end.Add(-span)
			for b.Loop() {
				bk := maskservice.NewBucketer(start, end, 1280)
				n := 0
				if err := db.ScanHistory(ctx, "P2", "bar", start, end, func(r maskservice.Reading) bool {
					bk.Add(r)
					n++
					return true
				}); err != nil {
					b.Fatal(err)
				}
				if len(bk.Buckets()) != 1280 || n < int(span/time.Second)-1 {
					b.Fatalf("%d buckets from %d readings", len(bk.Buckets()), n)
				}
			}
		})
	}
}

// BenchmarkHistory_DiskWrites is what the device's storage sees: 3 sensors at 1 Hz, one
// commit per commit interval (1 s, the default; 5 s; 10 s: 3, 15, 30 readings per commit),
// each with its fdatasync, on a file that already holds a day of history; and, for
// comparison, 1 s without the segment (every commit a bbolt transaction, as before it). It
// reports the bytes the process sent to the block device per commit and per reading, from
// /proc/self/io write_bytes (the file system's own journal writes are not in it), wchar (the
// bytes handed to write(2)) per reading, and how many commits were checkpoints. write_bytes
// is 0 on file systems that do not account it, such as tmpfs: see benchDiskDir for where it
// runs.
func BenchmarkHistory_DiskWrites(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interval int   // seconds of readings per commit
		segment  int64 // HistoryOptions.SegmentSize
	}{
		{"commit=1s", 1, 0},
		{"commit=5s", 5, 0},
		{"commit=10s", 10, 0},
		{"commit=1s,no_segment", 1, -1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			interval := tc.interval
			db, err := bolt.Open(ctx, benchDiskDir(b), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			w := db.NewHistoryWriter(bolt.HistoryOptions{SegmentSize: tc.segment})
			ids := []string{"P1", "P2", "P3"}
			// A day of history first, so that a checkpoint meets trees of a realistic depth.
			const day = 86400
			rs := readingsAt("P1", t0, time.Second, day, 1)
			for i, r := range rs {
				for _, id := range ids {
					r.SensorID = id
					w.Add(r)
				}
				if i%3600 == 3599 {
					if err := w.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Checkpoint(ctx); err != nil {
				b.Fatal(err)
			}
			io0, ckpt0 := procIO(b), w.Stats().Checkpoints
			n := 0
			for b.Loop() {
				for range interval {
					r := rs[n%len(rs)]
					r.Time = t0.Add(time.Duration(day+n) * time.Second)
					for _, id := range ids {
						r.SensorID = id
						w.Add(r)
					}
					n++
				}
				if err := w.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			io1 := procIO(b)
			commits, readings := float64(b.N), float64(3*n)
			written := float64(io1["write_bytes"] - io0["write_bytes"])
			b.ReportMetric(written/commits, "disk-bytes/commit")
			b.ReportMetric(written/readings, "disk-bytes/reading")
			b.ReportMetric(float64(io1["wchar"]-io0["wchar"])/readings, "written-bytes/reading")
			b.ReportMetric(float64(w.Stats().Checkpoints-ckpt0)/commits, "checkpoints/commit")
		})
	}
}

// benchDiskDir returns a new directory on a file system that accounts the bytes written to
// its block device: MASKSERVICE_BENCH_DIR when set, else the benchmark's temporary directory
// (TMPDIR, /tmp), else, where that is a tmpfs or ramfs, one under the user's cache directory
// (~/.cache). It logs which.
func benchDiskDir(b *testing.B) string {
	b.Helper()
	var candidates []string
	if d := os.Getenv("MASKSERVICE_BENCH_DIR"); d != "" {
		candidates = append(candidates, d)
	} else {
		candidates = append(candidates, b.TempDir())
		if d, err := os.UserCacheDir(); err == nil {
			candidates = append(candidates, d)
		}
	}
	for _, d := range candidates {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d, &st); err != nil {
			continue
		}
		if t := uint32(st.Type); t == 0x01021994 || t == 0x858458f6 { // TMPFS_MAGIC, RAMFS_MAGIC
			continue
		}
		dir, err := os.MkdirTemp(d, "maskservice-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		b.Logf("disk writes measured in %s (file system type %#x)", dir, st.Type)
		return dir
	}
	b.Fatalf("no directory on a block device among %q: set MASKSERVICE_BENCH_DIR", candidates)
	return ""
}

// procIO reads this process's I/O counters.
func procIO(tb testing.TB) map[string]int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Fatalf("read /proc/self/io: %v", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(": "))
		if n, err := strconv.ParseInt(string(v), 10, 64); ok && err == nil {
			out[string(k)] = n
		}
	}
	return out
}
