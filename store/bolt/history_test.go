package bolt_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// readingsAt makes n readings of id every step from start, values from raw register counts
// like a transducer's.
func readingsAt(id string, start time.Time, step time.Duration, n int, seed uint64) []maskservice.Reading {
	rng := rand.New(rand.NewPCG(seed, 1))
	raw := 5000.0
	out := make([]maskservice.Reading, n)
	for i := range out {
		raw += float64(rng.IntN(21) - 10)
		out[i] = maskservice.Reading{SensorID: id, Unit: "bar", Time: start.Add(time.Duration(i) * step),
			Raw: raw, Value: raw * 0.001, Status: maskservice.StatusNormal}
		if i%997 == 0 {
			out[i].Value, out[i].Raw = math.NaN(), math.NaN()
			out[i].Quality, out[i].Status, out[i].Fault = maskservice.QualityBad, maskservice.StatusUnknown, "no response from transducer"
		}
	}
	return out
}

func scan(t *testing.T, db *bolt.DB, id string, start, end time.Time) []maskservice.Reading {
	t.Helper()
	var out []maskservice.Reading
	if err := db.ScanHistory(ctx, id, "bar", start, end, func(r maskservice.Reading) bool {
		out = append(out, r)
		return true
	}); err != nil {
		t.Fatalf("ScanHistory: %v", err)
	}
	return out
}

func sameReadings(t *testing.T, got, want []maskservice.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.SensorID != w.SensorID || g.Status != w.Status || g.Quality != w.Quality ||
			g.Fault != w.Fault || (g.Value != w.Value && !(math.IsNaN(g.Value) && math.IsNaN(w.Value))) {
			t.Fatalf("reading %d: got %+v, want %+v", i, g, w)
		}
	}
}

// Readings go in through Add and Commit and come back through ScanHistory, for any sub-range,
// across chunk boundaries, per sensor.
func TestHistory_WriteAndScan(t *testing.T) {
	db := mustOpenAt(t, t.TempDir())
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	p1 := readingsAt("P1", t0, time.Second, 2000, 1)
	p2 := readingsAt("P2", t0, 10*time.Second, 300, 2)
	for i := range 2000 {
		w.Add(p1[i])
		if i < len(p2) {
			w.Add(p2[i])
		}
		if i%100 == 99 { // a commit every 100 s, rewriting the open chunks
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Committed != 2300 || st.Pending != 0 || st.State != bolt.HistoryOK {
		t.Errorf("stats %+v", st)
	}
	tests := []struct {
		name     string
		id       string
		from, to int // indexes into the sensor's readings, to exclusive
	}{
		{"all of P1", "P1", 0, 2000},
		{"inside one chunk", "P1", 10, 20},
		{"across chunk boundaries", "P1", 250, 800},
		{"the open chunk", "P1", 1990, 2000},
		{"P2", "P2", 5, 299},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := p1
			if tt.id == "P2" {
				all = p2
			}
			end := all[tt.to-1].Time.Add(time.Millisecond)
			sameReadings(t, scan(t, db, tt.id, all[tt.from].Time, end), all[tt.from:tt.to])
		})
	}
	if got := scan(t, db, "P3", t0, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("unknown sensor: %d readings", len(got))
	}
	if got := scan(t, db, "P1", t0.Add(-time.Hour), t0); len(got) != 0 {
		t.Errorf("before the first reading: %d readings", len(got))
	}
}

// A reading costs at most 4 bytes on disk at 1 Hz (the budget). The segment file,
// made at the first commit, is a fixed cost like the file's first pages: the bytes are
// counted from after it.
func TestHistory_BytesPerReading(t *testing.T) {
	db := mustOpenAt(t, t.TempDir())
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	const n = 86400
	series := make([][]maskservice.Reading, 3)
	for s, id := range []string{"P1", "P2", "P3"} {
		series[s] = readingsAt(id, t0, time.Second, n+1, 3)
		w.Add(series[s][0])
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, before := db.HistoryFileBytes()
	for _, rs := range series {
		for i, r := range rs[1:] {
			w.Add(r)
			if i%3600 == 3599 {
				if err := w.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := w.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	_, after := db.HistoryFileBytes()
	per := float64(after-before) / (3 * n)
	t.Logf("%d readings in %d bytes of pages: %.2f bytes per reading", 3*n, after-before, per)
	if per > 4 {
		t.Errorf("%.2f bytes per reading, want <= 4", per)
	}
}

// When commits fail, readings wait in RAM up to MaxPending and the oldest beyond are dropped
// and counted; the state says why.
func TestHistory_CommitFailureKeepsReadings(t *testing.T) {
	db := mustOpenAt(t, t.TempDir())
	w := db.NewHistoryWriter(bolt.HistoryOptions{MaxPending: 1000})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range readingsAt("P1", t0, time.Second, 1500, 4) {
		w.Add(r)
	}
	if err := w.Commit(ctx); err == nil {
		t.Fatal("Commit on a closed database succeeded")
	}
	st := w.Stats()
	if st.State != bolt.HistoryError || st.LastError == "" || st.Pending > 1000 || st.Dropped == 0 || st.Pending+int(st.Dropped) != 1500 {
		t.Errorf("stats %+v: want ERROR, at most 1000 pending, the rest dropped", st)
	}
}

// Retention deletes by age, and by size down to eight tenths of MaxSize, oldest first.
func TestHistory_Retention(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	t.Run("age", func(t *testing.T) {
		db := mustOpenAt(t, t.TempDir())
		w := db.NewHistoryWriter(bolt.HistoryOptions{Retention: 24 * time.Hour, Now: func() time.Time { return now }})
		old := readingsAt("P1", now.Add(-48*time.Hour), time.Minute, 1440, 5) // the day before yesterday
		recent := readingsAt("P1", now.Add(-12*time.Hour), time.Minute, 600, 6)
		for _, r := range append(old, recent...) {
			w.Add(r)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := w.Trim(ctx)
		if err != nil || n == 0 {
			t.Fatalf("Trim: %d, %v", n, err)
		}
		got := scan(t, db, "P1", now.Add(-72*time.Hour), now)
		for _, r := range got {
			if r.Time.Before(now.Add(-25 * time.Hour)) {
				t.Fatalf("a reading of %s survived the 24 h retention", r.Time)
			}
		}
		sameReadings(t, scan(t, db, "P1", recent[0].Time, now), recent)
	})
	t.Run("size", func(t *testing.T) {
		db := mustOpenAt(t, t.TempDir())
		const maxSize = 512 << 10
		w := db.NewHistoryWriter(bolt.HistoryOptions{MaxSize: maxSize, Now: func() time.Time { return now }})
		rs := readingsAt("P1", now.Add(-20*24*time.Hour), time.Second, 400_000, 7)
		for i, r := range rs {
			w.Add(r)
			if i%20000 == 19999 {
				if err := w.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, used := db.HistoryFileBytes(); used <= maxSize {
			t.Fatalf("the test wrote only %d bytes; it must exceed %d", used, maxSize)
		}
		if _, err := w.Trim(ctx); err != nil {
			t.Fatal(err)
		}
		if _, used := db.HistoryFileBytes(); used > maxSize*9/10 {
			t.Errorf("%d bytes in use after Trim, want <= %d", used, maxSize*9/10)
		}
		got := scan(t, db, "P1", rs[0].Time, now)
		if len(got) == 0 || len(got) >= len(rs) || !got[len(got)-1].Time.Equal(rs[len(rs)-1].Time) {
			t.Fatalf("after Trim: %d readings, want the newest part of %d", len(got), len(rs))
		}
		// What is left is the newest part, without a hole.
		sameReadings(t, got, rs[len(rs)-len(got):])
		// Writing goes on in the freed pages.
		size, _ := db.HistoryFileBytes()
		for _, r := range readingsAt("P1", now, time.Second, 50_000, 8) {
			w.Add(r)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if size2, _ := db.HistoryFileBytes(); size2 > size {
			t.Errorf("file grew from %d to %d bytes although freed pages were available", size, size2)
		}
	})
}

// Run commits the rounds of the bus every interval and once more when it stops.
func TestHistory_Run(t *testing.T) {
	db := mustOpenAt(t, t.TempDir())
	bus := maskservice.NewEventBus()
	w := db.NewHistoryWriter(bolt.HistoryOptions{CommitInterval: 20 * time.Millisecond, Events: bus, Queue: 10})
	if err := db.NewHistoryWriter(bolt.HistoryOptions{}).Run(ctx); err == nil {
		t.Error("Run without a bus succeeded")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	rs := readingsAt("P1", t0, time.Second, 10, 9)
	for i, r := range rs[:5] {
		bus.Publish(&maskservice.Round{Seq: uint64(i + 1), Readings: []maskservice.Reading{r}})
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().Committed < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := w.Stats().Committed; got != 5 {
		t.Fatalf("%d committed after the interval, want 5", got)
	}
	for i, r := range rs[5:] {
		bus.Publish(&maskservice.Round{Seq: uint64(i + 6), Readings: []maskservice.Reading{r}})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The rounds still queued when Run stopped are committed too.
	sameReadings(t, scan(t, db, "P1", t0, t0.Add(time.Hour)), rs)
	if got := w.Stats().Committed; got != 10 {
		t.Errorf("%d committed, want 10", got)
	}
}

// A chunk partly committed, then sealed while commits fail, then dropped: the counts stay
// true (nothing negative, nothing counted twice) and the committed part stays in the file.
func TestHistory_PartialCommitThenFailure(t *testing.T) {
	db := mustOpenAt(t, t.TempDir())
	w := db.NewHistoryWriter(bolt.HistoryOptions{MaxPending: 300})
	rs := readingsAt("P1", t0, time.Second, 1100, 12)
	for _, r := range rs[:100] {
		w.Add(r)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[100:] {
		w.Add(r)
	}
	if err := w.Commit(ctx); err == nil {
		t.Fatal("commit on a closed database succeeded")
	}
	st := w.Stats()
	if st.Committed != 100 || st.Pending < 0 || st.Pending > 300 || st.Pending+int(st.Dropped) != 1000 {
		t.Fatalf("stats %+v: want 100 committed and the 1000 others pending or dropped, at most 300 pending", st)
	}
	db2 := mustOpenAt(t, filepath.Dir(path))
	sameReadings(t, scan(t, db2, "P1", t0, t0.Add(time.Hour)), rs[:100])
}
