package maskservice_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"mask.services/maskservice"
)

// series returns n readings of P1 from start, every step, with Value f(i); a NaN value makes
// a failed reading.
func series(start time.Time, step time.Duration, n int, f func(i int) float64) []maskservice.Reading {
	out := make([]maskservice.Reading, n)
	for i := range out {
		v := f(i)
		out[i] = maskservice.Reading{SensorID: "P1", Time: start.Add(time.Duration(i) * step), Value: v, Raw: v, Unit: "bar"}
		if math.IsNaN(v) {
			out[i].Quality, out[i].Fault = maskservice.QualityBad, "read timeout"
		}
	}
	return out
}

// wave is a test curve: a slow sine with a little deterministic ripple.
func wave(i int) float64 { return 5 + 3*math.Sin(float64(i)/500) + float64(i%7)/100 }

// assertDownsampled checks what every downsampled series must be: no longer than maxPoints,
// in time order, made of input readings only, and holding the input's minimum and maximum.
func assertDownsampled(tb testing.TB, in, out []maskservice.Reading, maxPoints int) {
	tb.Helper()
	if len(out) > maxPoints {
		tb.Errorf("%d readings out, want at most %d", len(out), maxPoints)
	}
	if !slices.IsSortedFunc(out, func(a, b maskservice.Reading) int { return a.Time.Compare(b.Time) }) {
		tb.Error("output is not in time order")
	}
	byTime := make(map[time.Time]maskservice.Reading, len(in))
	for _, r := range in {
		byTime[r.Time] = r
	}
	for _, r := range out {
		if orig, ok := byTime[r.Time]; !ok || !sameReading(orig, r) {
			tb.Fatalf("output reading at %s (%v) is not an input reading", r.Time, r.Value)
		}
	}
	lo, hi := extremes(in)
	if lo < 0 {
		return
	}
	olo, ohi := extremes(out)
	if olo < 0 || out[olo].Value != in[lo].Value || out[ohi].Value != in[hi].Value {
		tb.Errorf("the input's min %v and max %v are not both kept", in[lo].Value, in[hi].Value)
	}
}

// extremes returns the indexes of the lowest and highest measured values, -1 if none has one.
func extremes(rs []maskservice.Reading) (lo, hi int) {
	lo, hi = -1, -1
	for i, r := range rs {
		if !r.HasValue() {
			continue
		}
		if lo < 0 || r.Value < rs[lo].Value {
			lo = i
		}
		if hi < 0 || r.Value > rs[hi].Value {
			hi = i
		}
	}
	return lo, hi
}

// sameReading compares readings, NaN values being equal.
func sameReading(a, b maskservice.Reading) bool {
	if !a.HasValue() && !b.HasValue() {
		a.Value, b.Value, a.Raw, b.Raw = 0, 0, 0, 0
	}
	return a == b
}

func TestDownsample_FewReadingsAsTheyAre(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		n         int
		maxPoints int
	}{
		{name: "fewer than maxPoints", n: 10, maxPoints: 100},
		{name: "exactly maxPoints", n: 100, maxPoints: 100},
		{name: "one reading", n: 1, maxPoints: 2},
		{name: "maxPoints 1 leaves them all", n: 50, maxPoints: 1},
		{name: "maxPoints 0 leaves them all", n: 50, maxPoints: 0},
		{name: "negative maxPoints", n: 50, maxPoints: -5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := series(start, time.Second, tc.n, wave)
			out := maskservice.Downsample(in, start, in[len(in)-1].Time, tc.maxPoints)
			if len(out) != len(in) || &out[0] != &in[0] {
				t.Errorf("got %d readings (a copy: %v), want the input's %d as they are", len(out), &out[0] != &in[0], len(in))
			}
		})
	}
	if out := maskservice.Downsample(nil, start, start.Add(time.Hour), 10); len(out) != 0 {
		t.Errorf("Downsample(nil) = %d readings, want none", len(out))
	}
}

func TestDownsample(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	spike := func(at int, v float64) func(int) float64 {
		return func(i int) float64 {
			if i == at {
				return v
			}
			return wave(i)
		}
	}
	for _, tc := range []struct {
		name      string
		n         int
		step      time.Duration
		maxPoints int
		f         func(int) float64
	}{
		{name: "an hour to 100", n: 3600, step: time.Second, maxPoints: 100, f: wave},
		{name: "a day to 1280", n: 86400, step: time.Second, maxPoints: 1280, f: wave},
		{name: "odd maxPoints", n: 1000, step: time.Second, maxPoints: 11, f: wave},
		{name: "maxPoints 2", n: 1000, step: time.Second, maxPoints: 2, f: wave},
		{name: "one more than maxPoints", n: 101, step: time.Second, maxPoints: 100, f: wave},
		{name: "a one-sample high spike", n: 5000, step: time.Second, maxPoints: 50, f: spike(2345, 9.99)},
		{name: "a one-sample low spike", n: 5000, step: time.Second, maxPoints: 50, f: spike(17, 0.01)},
		{name: "spike on the last reading", n: 5000, step: time.Second, maxPoints: 50, f: spike(4999, 12)},
		{name: "constant", n: 1000, step: time.Second, maxPoints: 10, f: func(int) float64 { return 3 }},
		{name: "some failed reads", n: 3000, step: time.Second, maxPoints: 60, f: func(i int) float64 {
			if i%10 == 0 {
				return math.NaN()
			}
			return wave(i)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := series(start, tc.step, tc.n, tc.f)
			end := in[len(in)-1].Time
			out := maskservice.Downsample(in, start, end, tc.maxPoints)
			if len(out) == 0 {
				t.Fatal("no readings out")
			}
			assertDownsampled(t, in, out, tc.maxPoints)
		})
	}
}

// TestDownsample_FailedBucket checks that a bucket whose reads all failed keeps one reading,
// so the fault shows as a gap instead of a line drawn across it.
func TestDownsample_FailedBucket(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// 1000 readings a second apart into 5 buckets of 200 s; bucket 2 (400 s to 600 s) failed.
	in := series(start, time.Second, 1000, func(i int) float64 {
		if i >= 400 && i < 600 {
			return math.NaN()
		}
		return wave(i)
	})
	out := maskservice.Downsample(in, start, start.Add(1000*time.Second), 10)
	assertDownsampled(t, in, out, 10)
	var inBucket []maskservice.Reading
	for _, r := range out {
		if d := r.Time.Sub(start); d >= 400*time.Second && d < 600*time.Second {
			inBucket = append(inBucket, r)
		}
	}
	if len(inBucket) != 1 {
		t.Fatalf("the failed bucket kept %d readings, want 1", len(inBucket))
	}
	if r := inBucket[0]; r.HasValue() || r.Quality != maskservice.QualityBad || r.Fault == "" {
		t.Errorf("the failed bucket kept %+v, want a failed reading", r)
	}
	if got := len(out); got != 9 {
		t.Errorf("%d readings out, want 9 (four buckets of min and max, one of a failure)", got)
	}
}

// TestDownsample_LongSpan cuts 400 days into buckets: nanoseconds times the bucket count
// overflow int64 for a span that long, which would put the readings in the wrong buckets.
func TestDownsample_LongSpan(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const days, maxPoints = 400, 1000
	step := 10 * time.Minute
	n := int(days * 24 * time.Hour / step)
	// Values repeat every 97 readings, so each bucket (115 readings) has a distinct min and max.
	in := series(start, step, n, func(i int) float64 { return float64(i%97) / 10 })
	end := start.Add(days * 24 * time.Hour)
	out := maskservice.Downsample(in, start, end, maxPoints)
	assertDownsampled(t, in, out, maxPoints)
	if len(out) != maxPoints {
		t.Errorf("%d readings out, want %d: every bucket has a distinct min and max", len(out), maxPoints)
	}
	// Two readings in every bucket: the buckets were found without overflow.
	buckets := maxPoints / 2
	perBucket := make([]int, buckets)
	span := end.Sub(start)
	for _, r := range out {
		b := int(float64(r.Time.Sub(start)) / float64(span) * float64(buckets))
		if b < 0 || b >= buckets {
			t.Fatalf("reading at %s lies outside the span", r.Time)
		}
		perBucket[b]++
	}
	for b, k := range perBucket {
		if k != 2 {
			t.Fatalf("bucket %d (from %s) kept %d readings, want 2", b, start.Add(span/time.Duration(buckets)*time.Duration(b)), k)
		}
	}
}

// TestDownsample_OutOfOrder feeds readings whose times jump back and forth, as the ring hands
// them over after the device clock was set back: the result must still fit maxPoints.
func TestDownsample_OutOfOrder(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// The worst case: every reading steps between the two halves of the span, so each one
	// lands in another bucket than the reading before.
	in := series(start, time.Second, 1000, wave)
	for i := range in {
		in[i].Time = start.Add(time.Duration(i/2+i%2*500) * time.Second)
	}
	const maxPoints = 100
	out := maskservice.Downsample(in, start, start.Add(999*time.Second), maxPoints)
	if len(out) == 0 || len(out) > maxPoints {
		t.Fatalf("%d readings out, want 1 to %d", len(out), maxPoints)
	}
	lo, hi := extremes(in)
	olo, ohi := extremes(out)
	if out[olo].Value != in[lo].Value || out[ohi].Value != in[hi].Value {
		t.Errorf("min/max %v/%v out, want %v/%v", out[olo].Value, out[ohi].Value, in[lo].Value, in[hi].Value)
	}
}

func TestDownsample_EmptySpan(t *testing.T) {
	// All readings at one instant: start = end must not divide by zero.
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	in := series(at, 0, 100, wave)
	out := maskservice.Downsample(in, at, at, 10)
	if len(out) == 0 || len(out) > 10 {
		t.Fatalf("%d readings out, want 1 to 10", len(out))
	}
	lo, hi := extremes(in)
	olo, ohi := extremes(out)
	if out[olo].Value != in[lo].Value || out[ohi].Value != in[hi].Value {
		t.Errorf("min/max %v/%v out, want %v/%v", out[olo].Value, out[ohi].Value, in[lo].Value, in[hi].Value)
	}
}
