package bolt_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
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
		monthFile.err = w.Commit(ctx)
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

// BenchmarkHistory_DiskWrites is what the device's storage sees at the default commit interval:
// 3 sensors at 1 Hz, one commit per second, each with its fsync. It reports the bytes the
// process wrote per reading, from /proc/self/io (write_bytes: sent to the block device; it
// is 0 on file systems that do not account it, such as tmpfs, then wchar is the figure).
func BenchmarkHistory_DiskWrites(b *testing.B) {
	db, err := bolt.Open(ctx, b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	rs := readingsAt("P1", t0, time.Second, 1<<16, 1)
	io0 := procIO(b)
	n := 0
	for b.Loop() {
		r := rs[n%len(rs)]
		r.Time = t0.Add(time.Duration(n) * time.Second)
		for _, id := range []string{"P1", "P2", "P3"} {
			r.SensorID = id
			w.Add(r)
		}
		if err := w.Commit(ctx); err != nil { // one commit per simulated second
			b.Fatal(err)
		}
		n++
	}
	io1 := procIO(b)
	readings := float64(3 * b.N)
	b.ReportMetric(float64(io1["write_bytes"]-io0["write_bytes"])/readings, "disk-bytes/reading")
	b.ReportMetric(float64(io1["wchar"]-io0["wchar"])/readings, "written-bytes/reading")
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
