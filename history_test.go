package maskservice_test

import (
	"context"
	"math"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/ring"
)

// series returns n readings of P1 from start, every step, with Value f(i); a NaN value makes
// a failed reading.
func series(start time.Time, step time.Duration, n int, f func(i int) float64) []maskservice.Reading {
	out := make([]maskservice.Reading, n)
	for i := range out {
		v := f(i)
		out[i] = maskservice.Reading{SensorID: "P1", Time: start.Add(time.Duration(i) * step), Value: v, Raw: v, Unit: "bar",
			Status: maskservice.StatusNormal}
		if math.IsNaN(v) {
			out[i].Quality, out[i].Fault, out[i].Status = maskservice.QualityBad, "read timeout", maskservice.StatusUnknown
		}
	}
	return out
}

// wave is a test curve: a slow sine with a little deterministic ripple.
func wave(i int) float64 { return 5 + 3*math.Sin(float64(i)/500) + float64(i%7)/100 }

var t0 = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func TestBucketer_FewReadingsAsTheyAre(t *testing.T) {
	in := series(t0, time.Second, 100, wave)
	b := maskservice.NewBucketer(t0, t0.Add(99*time.Second), 100)
	for _, r := range in {
		b.Add(r)
	}
	if b.Aggregated() || len(b.Readings()) != 100 || b.Readings()[42] != in[42] {
		t.Fatalf("100 readings for 100 points: aggregated %v, %d readings", b.Aggregated(), len(b.Readings()))
	}
}

// Each bucket keeps the min, max and mean of its readings, computed while streaming.
func TestBucketer_Aggregates(t *testing.T) {
	const n, points = 86400, 1280
	in := series(t0, time.Second, n, wave)
	in[5000].Value, in[5001].Value = 100, -100 // spikes must survive
	end := t0.Add((n - 1) * time.Second)
	b := maskservice.NewBucketer(t0, end, points)
	for _, r := range in {
		b.Add(r)
	}
	if !b.Aggregated() {
		t.Fatal("86400 readings for 1280 points were not aggregated")
	}
	bs := b.Buckets()
	if len(bs) != points {
		t.Fatalf("%d buckets, want %d", len(bs), points)
	}
	// Recompute every bucket from the input and compare.
	total := 0
	for _, bk := range bs {
		var cnt int
		var sum float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range in {
			if !r.Time.Before(bk.Start) && r.Time.Before(bk.Start.Add(b.Width())) {
				cnt++
				sum += r.Value
				lo, hi = min(lo, r.Value), max(hi, r.Value)
			}
		}
		if bk.Count != cnt || bk.Min != lo || bk.Max != hi || math.Abs(bk.Mean()-sum/float64(cnt)) > 1e-9 {
			t.Fatalf("bucket at %s: count %d min %v max %v mean %v; want %d %v %v %v", bk.Start, bk.Count, bk.Min, bk.Max, bk.Mean(), cnt, lo, hi, sum/float64(cnt))
		}
		total += bk.Count
	}
	if total != n {
		t.Errorf("buckets hold %d readings, want %d", total, n)
	}
}

func TestBucketer_FaultsAndStatus(t *testing.T) {
	in := series(t0, time.Second, 10, func(i int) float64 {
		if i >= 5 {
			return math.NaN()
		}
		return float64(i)
	})
	in[2].Status = maskservice.StatusCritical
	b := maskservice.NewBucketer(t0, t0.Add(9*time.Second), 2)
	for _, r := range in {
		b.Add(r)
	}
	bs := b.Buckets()
	if len(bs) != 2 {
		t.Fatalf("%d buckets", len(bs))
	}
	if bs[0].Status != maskservice.StatusCritical || bs[0].Values != 5 || bs[0].Min != 0 || bs[0].Max != 4 || bs[0].Bad != 0 {
		t.Errorf("first bucket %+v", bs[0])
	}
	if bs[1].Values != 0 || !math.IsNaN(bs[1].Mean()) || bs[1].Bad != 5 || bs[1].Fault != "read timeout" {
		t.Errorf("failed bucket %+v: want no values, 5 bad, the fault", bs[1])
	}
}

// Readings out of order (a clock jump) never reopen an earlier bucket.
func TestBucketer_OutOfOrder(t *testing.T) {
	in := series(t0, time.Second, 100, wave)
	in[60].Time = t0 // jumped back
	b := maskservice.NewBucketer(t0, t0.Add(99*time.Second), 10)
	for _, r := range in {
		b.Add(r)
	}
	bs := b.Buckets()
	if len(bs) > 10 {
		t.Fatalf("%d buckets for 10 points", len(bs))
	}
	for i := 1; i < len(bs); i++ {
		if !bs[i].Start.After(bs[i-1].Start) {
			t.Fatalf("buckets out of order at %d", i)
		}
	}
}

// fakeLog is a HistoryLog over a slice, as the bolt log answers: [start, end).
type fakeLog struct{ rs []maskservice.Reading }

func (f fakeLog) ScanHistory(_ context.Context, id, unit string, start, end time.Time, fn func(maskservice.Reading) bool) error {
	for _, r := range f.rs {
		r.Time = r.Time.Truncate(time.Millisecond) // the log keeps milliseconds
		if r.SensorID == id && !r.Time.Before(start) && r.Time.Before(end) && !fn(r) {
			return nil
		}
	}
	return nil
}

// The seam between the log and the ring: every reading once, in order, whatever the range.
func TestScanHistory_Merge(t *testing.T) {
	// Sub-millisecond times, as real ones are: the log's copies are a little earlier.
	all := series(t0.Add(123456789), time.Second, 7200, wave) // two hours
	// The log has everything up to 5 s ago (the last commit); the ring the newest hour.
	log := fakeLog{all[:7195]}
	rs := ring.NewSet([]string{"P1"}, 3600)
	for _, r := range all {
		rs.Push(r)
	}
	p1 := maskservice.Sensor{ID: "P1", Unit: "bar"}
	tests := []struct {
		name       string
		start, end time.Time
		from, to   int // indexes into all, inclusive
	}{
		{"both", all[100].Time, all[7199].Time, 100, 7199},
		{"log only", all[10].Time.Truncate(time.Millisecond), all[20].Time, 10, 20},
		{"ring only", all[7000].Time, all[7199].Time, 7000, 7199},
		{"at the seam", all[3599].Time.Truncate(time.Millisecond), all[3601].Time, 3599, 3601},
		{"one instant", all[3600].Time, all[3600].Time, 3600, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []maskservice.Reading
			err := maskservice.ScanHistory(context.Background(), rs, log, p1, tt.start, tt.end, func(r maskservice.Reading) bool {
				got = append(got, r)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.to - tt.from + 1; len(got) != want {
				t.Fatalf("%d readings, want %d", len(got), want)
			}
			for i, r := range got {
				if !r.Time.Truncate(time.Millisecond).Equal(all[tt.from+i].Time.Truncate(time.Millisecond)) {
					t.Fatalf("reading %d at %s, want %s", i, r.Time, all[tt.from+i].Time)
				}
			}
		})
	}
	// Without a log, the ring alone; stopping early stops both.
	n := 0
	_ = maskservice.ScanHistory(context.Background(), rs, nil, p1, t0, t0.Add(7200*time.Second), func(maskservice.Reading) bool { n++; return true })
	if n != 3600 {
		t.Errorf("ring alone: %d readings, want 3600", n)
	}
	n = 0
	_ = maskservice.ScanHistory(context.Background(), rs, log, p1, t0, t0.Add(7200*time.Second), func(maskservice.Reading) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("early stop: %d readings", n)
	}
}

// sameReading compares readings, NaN values being equal.
func sameReading(a, b maskservice.Reading) bool {
	if !a.HasValue() && !b.HasValue() {
		a.Value, b.Value, a.Raw, b.Raw = 0, 0, 0, 0
	}
	return a == b
}

// movingRing is a ring whose oldest reading moves on while the log is read, as in a long scan.
type movingRing struct {
	*ring.Set
	moves int
}

func (m *movingRing) Oldest(id string) (time.Time, bool) {
	t, ok := m.Set.Oldest(id)
	if m.moves > 0 {
		m.moves--
		// Evict ten readings: they are in the log, and must be read from there.
		for range 10 {
			m.Set.Push(maskservice.Reading{SensorID: id, Time: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
		}
	}
	return t, ok
}

// The ring moving on while the log is read loses nothing: the log is read again up to the
// ring's new oldest reading.
func TestScanHistory_RingMovesDuringTheLogScan(t *testing.T) {
	all := series(t0.Add(123456789), time.Second, 200, wave)
	rs := ring.NewSet([]string{"P1"}, 100)
	for _, r := range all[100:] {
		rs.Push(r)
	}
	mr := &movingRing{Set: rs, moves: 1}
	var got []maskservice.Reading
	err := maskservice.ScanHistory(context.Background(), mr, fakeLog{all}, maskservice.Sensor{ID: "P1", Unit: "bar"},
		all[0].Time, all[199].Time, func(r maskservice.Reading) bool { got = append(got, r); return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Fatalf("%d readings, want 200 (each once)", len(got))
	}
	for i, r := range got {
		if !r.Time.Truncate(time.Millisecond).Equal(all[i].Time.Truncate(time.Millisecond)) {
			t.Fatalf("reading %d at %s, want %s", i, r.Time, all[i].Time)
		}
	}
}
