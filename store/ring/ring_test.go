package ring_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/ring"
)

// t0 is the time of reading 0 in these tests; reading i is taken i seconds later.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// farFuture is later than any reading, and than the times a ring can order (year 2262).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// reading returns a reading of P1 taken at second sec whose Value is v.
func reading(sec int, v float64) maskservice.Reading {
	return maskservice.Reading{SensorID: "P1", Time: at(sec), Value: v, Raw: v * 1000, Unit: "bar",
		Status: maskservice.StatusNormal, Quality: maskservice.QualityGood}
}

// newRing returns a ring of the given capacity after pushing one reading per second in secs,
// each with Value = its second.
func newRing(tb testing.TB, capacity int, secs ...int) *ring.Ring {
	tb.Helper()
	r := ring.New(capacity)
	for _, s := range secs {
		r.Push(reading(s, float64(s)))
	}
	return r
}

// seq returns the integers [from, to).
func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// values returns the Value of each reading as an int (the test readings' values are seconds).
func values(rs []maskservice.Reading) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = int(r.Value)
	}
	return out
}

func TestNew_Capacity(t *testing.T) {
	for _, tc := range []struct {
		give, want int
	}{
		{give: -1, want: ring.DefaultCapacity},
		{give: 0, want: ring.DefaultCapacity},
		{give: 1, want: 1},
		{give: 7, want: 7},
	} {
		if got := ring.New(tc.give).Cap(); got != tc.want {
			t.Errorf("New(%d).Cap() = %d, want %d", tc.give, got, tc.want)
		}
	}
	if ring.DefaultCapacity != 3600 {
		t.Errorf("DefaultCapacity = %d, want 3600 (one hour at 1 Hz)", ring.DefaultCapacity)
	}
}

func TestRing_Push(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		pushes   int
		want     []int // the values held, oldest first
	}{
		{name: "empty", capacity: 4, pushes: 0, want: nil},
		{name: "partial", capacity: 4, pushes: 3, want: []int{0, 1, 2}},
		{name: "exactly full", capacity: 4, pushes: 4, want: []int{0, 1, 2, 3}},
		{name: "wrapped by one", capacity: 4, pushes: 5, want: []int{1, 2, 3, 4}},
		{name: "wrapped to the start again", capacity: 4, pushes: 8, want: []int{4, 5, 6, 7}},
		{name: "wrapped many times", capacity: 3, pushes: 101, want: []int{98, 99, 100}},
		{name: "capacity one", capacity: 1, pushes: 5, want: []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, tc.capacity, seq(0, tc.pushes)...)
			if got := r.Len(); got != len(tc.want) {
				t.Errorf("Len() = %d, want %d", got, len(tc.want))
			}
			if got := values(r.Last(tc.capacity, nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Last(cap) = %v, want %v", got, tc.want)
			}
			if got := values(r.Range(at(-1), at(tc.pushes), nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Range(all) = %v, want %v", got, tc.want)
			}
			latest, ok := r.Latest()
			if ok != (len(tc.want) > 0) {
				t.Fatalf("Latest() ok = %v with %d readings", ok, len(tc.want))
			}
			if ok && int(latest.Value) != tc.want[len(tc.want)-1] {
				t.Errorf("Latest().Value = %v, want %d", latest.Value, tc.want[len(tc.want)-1])
			}
		})
	}
}

func TestRing_PushKeepsTheReading(t *testing.T) {
	r := ring.New(2)
	want := maskservice.Reading{SensorID: "P3", Time: at(5), Value: 512.5, Raw: 5125, Unit: "mbar",
		Status: maskservice.StatusWarning, Quality: maskservice.QualityBad, Fault: "out of range"}
	r.Push(want)
	got, ok := r.Latest()
	if !ok || got != want {
		t.Errorf("Latest() = %+v, %v; want %+v, true", got, ok, want)
	}
}

func TestRing_Range(t *testing.T) {
	// Capacity 5 after 8 pushes: the ring holds seconds 3..7 and has wrapped.
	r := newRing(t, 5, seq(0, 8)...)
	half := 500 * time.Millisecond
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       []int
	}{
		{name: "everything", start: at(0), end: at(10), want: []int{3, 4, 5, 6, 7}},
		{name: "bounds on readings are inclusive", start: at(4), end: at(6), want: []int{4, 5, 6}},
		{name: "bounds between readings", start: at(3).Add(half), end: at(5).Add(half), want: []int{4, 5}},
		{name: "one nanosecond inside", start: at(4).Add(-1), end: at(6).Add(1), want: []int{4, 5, 6}},
		{name: "one nanosecond outside", start: at(4).Add(1), end: at(6).Add(-1), want: []int{5}},
		{name: "start equals end on a reading", start: at(5), end: at(5), want: []int{5}},
		{name: "start equals end between readings", start: at(5).Add(half), end: at(5).Add(half), want: nil},
		{name: "exactly the oldest and newest", start: at(3), end: at(7), want: []int{3, 4, 5, 6, 7}},
		{name: "before all", start: at(-10), end: at(2), want: nil},
		{name: "overwritten readings are gone", start: at(0), end: at(3), want: []int{3}},
		{name: "after all", start: at(8), end: at(100), want: nil},
		{name: "end before start", start: at(6), end: at(4), want: nil},
		{name: "zero start and far end", start: time.Time{}, end: farFuture, want: []int{3, 4, 5, 6, 7}},
		{name: "window across the wrap", start: at(4), end: at(5), want: []int{4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := values(r.Range(tc.start, tc.end, nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Range = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRing_Empty(t *testing.T) {
	r := ring.New(4)
	prefix := []maskservice.Reading{reading(99, 99)}
	if n := r.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
	if rd, ok := r.Latest(); ok || rd != (maskservice.Reading{}) {
		t.Errorf("Latest() = %+v, %v; want the zero reading, false", rd, ok)
	}
	for name, got := range map[string][]maskservice.Reading{
		"Range": r.Range(time.Time{}, farFuture, prefix),
		"Last":  r.Last(10, prefix),
	} {
		if !slices.Equal(got, prefix) {
			t.Errorf("%s appended to an empty ring: got %v, want dst unchanged", name, values(got))
		}
	}
}

func TestRing_Last(t *testing.T) {
	r := newRing(t, 5, seq(0, 7)...) // holds 2..6, wrapped
	for _, tc := range []struct {
		name string
		n    int
		want []int
	}{
		{name: "n > Len", n: 100, want: []int{2, 3, 4, 5, 6}},
		{name: "n = Len", n: 5, want: []int{2, 3, 4, 5, 6}},
		{name: "n < Len across the wrap", n: 3, want: []int{4, 5, 6}},
		{name: "one", n: 1, want: []int{6}},
		{name: "zero", n: 0, want: nil},
		{name: "negative", n: -3, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := values(r.Last(tc.n, nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Last(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestRing_AppendsToDst(t *testing.T) {
	r := newRing(t, 5, seq(0, 7)...)
	dst := make([]maskservice.Reading, 1, 16)
	dst[0] = reading(-1, -1)
	got := r.Range(at(5), at(6), dst)
	if want := []int{-1, 5, 6}; !slices.Equal(values(got), want) {
		t.Errorf("Range(dst) = %v, want %v", values(got), want)
	}
	if &got[0] != &dst[0] {
		t.Error("Range reallocated a dst that had room")
	}
	got = r.Last(2, got)
	if want := []int{-1, 5, 6, 5, 6}; !slices.Equal(values(got), want) {
		t.Errorf("Last(dst) = %v, want %v", values(got), want)
	}
}

func TestRing_OutOfOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		capacity   int
		secs       []int // push order
		start, end int
		want       []int // values in push order
		inversions int   // out-of-order adjacent pairs left in the ring
	}{
		{
			name: "clock jumps back", capacity: 10, secs: []int{100, 101, 102, 0, 1, 2},
			start: 0, end: 200, want: []int{100, 101, 102, 0, 1, 2}, inversions: 1,
		},
		{
			name: "window only before the jump", capacity: 10, secs: []int{100, 101, 102, 0, 1, 2},
			start: 101, end: 102, want: []int{101, 102}, inversions: 1,
		},
		{
			name: "window only after the jump", capacity: 10, secs: []int{100, 101, 102, 0, 1, 2},
			start: 1, end: 2, want: []int{1, 2}, inversions: 1,
		},
		{
			// A board booting at 1970 set its clock: the times jump forward, which is in order.
			name: "clock jumps forward", capacity: 10, secs: []int{-1e9, -1e9 + 1, 0, 1},
			start: -1e9, end: 0, want: []int{-1e9, -1e9 + 1, 0}, inversions: 0,
		},
		{
			name: "two jumps back", capacity: 10, secs: []int{50, 51, 10, 11, 0, 1},
			start: 1, end: 50, want: []int{50, 10, 11, 1}, inversions: 2,
		},
		{
			name: "equal times are in order", capacity: 10, secs: []int{5, 5, 5, 6},
			start: 5, end: 5, want: []int{5, 5, 5}, inversions: 0,
		},
		{
			name: "jump overwritten: ordered again", capacity: 4, secs: []int{100, 101, 0, 1, 2, 3},
			start: 0, end: 200, want: []int{0, 1, 2, 3}, inversions: 0,
		},
		{
			name: "only the newer side of the jump left", capacity: 4, secs: []int{100, 101, 0, 1, 2},
			start: 0, end: 200, want: []int{101, 0, 1, 2}, inversions: 1,
		},
		{
			name: "capacity one never out of order", capacity: 1, secs: []int{100, 0},
			start: 0, end: 200, want: []int{0}, inversions: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, tc.capacity, tc.secs...)
			if got := values(r.Range(at(tc.start), at(tc.end), nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Range = %v, want %v", got, tc.want)
			}
			if got := ring.Inversions(r); got != tc.inversions {
				t.Errorf("out-of-order pairs = %d, want %d", got, tc.inversions)
			}
			latest, _ := r.Latest()
			if want := tc.secs[len(tc.secs)-1]; int(latest.Value) != want {
				t.Errorf("Latest() = %v, want the last pushed %d", latest.Value, want)
			}
		})
	}
}

// TestRing_RangeMatchesScan pushes readings whose clock now and then jumps back or forward
// and checks every Range against a plain scan of what the ring holds, so that the binary
// search is never used on a ring that is out of order.
func TestRing_RangeMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const capacity = 50
	r := ring.New(capacity)
	var pushed []int // every second pushed, in order; the ring holds the last capacity
	sec := 0
	for step := range 3000 {
		switch p := rng.IntN(100); {
		case p < 3:
			sec -= rng.IntN(200) // the clock jumps back
		case p < 5:
			sec += rng.IntN(200) // or forward
		default:
			sec += rng.IntN(2) // 0: the same second twice
		}
		r.Push(reading(sec, float64(sec)))
		pushed = append(pushed, sec)
		held := pushed[max(0, len(pushed)-capacity):]

		lo := sec - rng.IntN(300)
		hi := lo + rng.IntN(300)
		var want []int
		for _, s := range held {
			if s >= lo && s <= hi {
				want = append(want, s)
			}
		}
		if got := values(r.Range(at(lo), at(hi), nil)); !slices.Equal(got, want) {
			t.Fatalf("step %d: Range(%d, %d) = %v, want %v (held %v)", step, lo, hi, got, want, held)
		}
		if ring.Inversions(r) == 0 && !slices.IsSorted(held) {
			t.Fatalf("step %d: ring claims to be in order but holds %v", step, held)
		}
	}
}

func TestRing_NoAllocations(t *testing.T) {
	r := newRing(t, ring.DefaultCapacity, seq(0, ring.DefaultCapacity)...)
	dst := make([]maskservice.Reading, 0, ring.DefaultCapacity)
	rd := reading(0, 1)
	sec := ring.DefaultCapacity
	for name, f := range map[string]func(){
		"Push": func() {
			rd.Time = at(sec)
			sec++
			r.Push(rd)
		},
		"Range": func() { dst = r.Range(at(sec-300), at(sec), dst[:0]) },
		"Last":  func() { dst = r.Last(60, dst[:0]) },
		"Latest": func() {
			if _, ok := r.Latest(); !ok {
				t.Error("Latest() found nothing in a full ring")
			}
		},
	} {
		if allocs := testing.AllocsPerRun(1000, f); allocs != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, allocs)
		}
	}
}

func TestRing_Concurrent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writers int
	}{
		{name: "one writer", writers: 1},
		{name: "several writers", writers: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const capacity, perWriter, readers = 64, 500, 3
			r := ring.New(capacity)
			var writers, readersDone sync.WaitGroup
			stop := make(chan struct{})
			errs := make(chan string, readers)
			for range readers {
				readersDone.Go(func() {
					var dst []maskservice.Reading
					for {
						select {
						case <-stop:
							return
						default:
						}
						dst = r.Range(time.Time{}, farFuture, dst[:0])
						n := r.Len()
						last := r.Last(capacity/2, nil)
						switch {
						case len(dst) > capacity || n > capacity:
							errs <- "ring holds more than its capacity"
							return
						case len(last) > capacity/2:
							errs <- "Last returned more than asked"
							return
						case tc.writers == 1 && !consecutive(dst):
							errs <- "a single writer's readings came back with a gap or out of order"
							return
						}
					}
				})
			}
			// The readers are started before the first push.
			for w := range tc.writers {
				writers.Go(func() {
					for i := range perWriter {
						// Each writer's own readings are in time order; together they
						// interleave out of order.
						s := i*tc.writers + w
						r.Push(reading(s, float64(s)))
					}
				})
			}
			writers.Wait()
			close(stop)
			readersDone.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			if n := r.Len(); n != capacity {
				t.Errorf("Len() = %d after %d pushes, want %d", n, tc.writers*perWriter, capacity)
			}
			got := values(r.Range(time.Time{}, farFuture, nil))
			if len(got) != capacity {
				t.Errorf("Range(all) returned %d readings, want %d", len(got), capacity)
			}
			if tc.writers == 1 && !slices.Equal(got, seq(perWriter-capacity, perWriter)) {
				t.Errorf("Range(all) = %v, want the last %d pushed", got, capacity)
			}
		})
	}
}

// consecutive reports whether rs are readings of consecutive seconds, oldest first, as one
// writer pushes them: a torn read would show a gap or a step back.
func consecutive(rs []maskservice.Reading) bool {
	for i := 1; i < len(rs); i++ {
		if rs[i].Value != rs[i-1].Value+1 || !rs[i].Time.Equal(rs[i-1].Time.Add(time.Second)) {
			return false
		}
	}
	return true
}

func TestRing_Oldest(t *testing.T) {
	r := ring.New(3)
	if _, ok := r.Oldest(); ok {
		t.Fatal("Oldest of an empty ring")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		r.Push(maskservice.Reading{SensorID: "P1", Time: t0.Add(time.Duration(i) * time.Second)})
		rd, ok := r.Oldest()
		want := t0.Add(time.Duration(max(0, i-2)) * time.Second)
		if !ok || !rd.Time.Equal(want) {
			t.Errorf("after %d pushes: Oldest %v %v, want %v", i+1, rd.Time, ok, want)
		}
	}
	s := ring.NewSet([]string{"P1"}, 3)
	s.Push(maskservice.Reading{SensorID: "P1", Time: t0})
	if at, ok := s.Oldest("P1"); !ok || !at.Equal(t0) {
		t.Errorf("Set.Oldest = %v %v", at, ok)
	}
	if _, ok := s.Oldest("nope"); ok {
		t.Error("Oldest of an unknown sensor")
	}
}
