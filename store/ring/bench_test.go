package ring_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/ring"
)

// fullRing returns a ring of DefaultCapacity filled with one reading a second, and the time
// of its newest reading.
func fullRing(tb testing.TB) (*ring.Ring, time.Time) {
	tb.Helper()
	r := ring.New(ring.DefaultCapacity)
	for i := range ring.DefaultCapacity {
		r.Push(reading(i, float64(i)))
	}
	return r, at(ring.DefaultCapacity - 1)
}

func BenchmarkRing_Push(b *testing.B) {
	r := ring.New(ring.DefaultCapacity)
	rd := reading(0, 5)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rd.Time = at(i)
		r.Push(rd)
	}
}

func BenchmarkSet_Push(b *testing.B) {
	s := ring.NewSet([]string{"P1", "P2", "P3"}, ring.DefaultCapacity)
	rd := of("P3", 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rd.Time = at(i)
		s.Push(rd)
	}
}

func BenchmarkRing_Range(b *testing.B) {
	for _, bc := range []struct {
		name   string
		window time.Duration
	}{
		{name: "5min", window: 5 * time.Minute},
		{name: "1h", window: time.Hour},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, newest := fullRing(b)
			dst := make([]maskservice.Reading, 0, ring.DefaultCapacity)
			start := newest.Add(-bc.window)
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Range(start, newest, dst[:0])
			}
			b.ReportMetric(float64(len(dst)), "readings/op")
		})
	}
	// The fallback after a clock jump: the same 5-minute window by a linear scan.
	b.Run("5min-out-of-order", func(b *testing.B) {
		r, newest := fullRing(b)
		r.Push(reading(-1, -1)) // older than every other reading: one jump back
		dst := make([]maskservice.Reading, 0, ring.DefaultCapacity)
		b.ReportAllocs()
		for b.Loop() {
			dst = r.Range(newest.Add(-5*time.Minute), newest, dst[:0])
		}
		b.ReportMetric(float64(len(dst)), "readings/op")
	})
}

// BenchmarkRing_PushParallelReaders measures Push while readers query the ring without a
// pause: 4 readers of the 5-minute window, as WebSocket and REST clients would.
func BenchmarkRing_PushParallelReaders(b *testing.B) {
	const readers = 4
	r, newest := fullRing(b)
	var stop atomic.Bool
	var ranges atomic.Int64
	var wg sync.WaitGroup
	for range readers {
		// Allocated here, before the timer starts, so allocs/op counts Push alone.
		dst := make([]maskservice.Reading, 0, ring.DefaultCapacity)
		wg.Go(func() {
			for !stop.Load() {
				dst = r.Range(newest.Add(-5*time.Minute), newest.Add(time.Hour), dst[:0])
				ranges.Add(1)
			}
		})
	}
	rd := reading(0, 5)
	b.ReportAllocs()
	for i := ring.DefaultCapacity; b.Loop(); i++ {
		rd.Time = at(i)
		r.Push(rd)
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	b.ReportMetric(float64(ranges.Load())/float64(b.N), "ranges/push")
}
