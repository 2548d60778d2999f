package hub_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mask.services/maskservice/web/hub"
)

// BenchmarkBroadcast_1000Clients measures one round's fan-out to 1000 WebSocket clients in
// this process over loopback: an op is encoding the round, queueing it and every client
// reading it, so ns/op and allocs/op include the clients' side. It also reports the spread
// between the first and the last client receiving a round (DESIGN.md §5 budgets its p99 at
// 1 frame/s; here rounds go back to back, which is harsher).
func BenchmarkBroadcast_1000Clients(b *testing.B) {
	const n = 1000
	th := mustHub(b, hub.Options{})
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // runs after the clients are closed: cleanups run last-in first-out

	var got atomic.Int64         // frames received by all clients together
	var first, last atomic.Int64 // Unix nanoseconds of a round's first and last arrival
	done := make(chan struct{}, 1)
	for range n {
		c := dial(b, th)
		wg.Go(func() {
			for {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					return
				}
				// Rounds go one at a time, so arrivals k*n+1 and (k+1)*n open and close one.
				now := time.Now().UnixNano()
				switch k := got.Add(1); k % n {
				case 1:
					first.Store(now)
				case 0:
					last.Store(now)
					done <- struct{}{}
				}
			}
		})
	}
	waitFor(b, "1000 clients", func() bool { return th.Clients() == n })

	var spreads []time.Duration
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		th.feed.publish(makeRound(seq, ""))
		<-done
		spreads = append(spreads, time.Duration(last.Load()-first.Load()))
	}
	slices.Sort(spreads)
	pct := func(p float64) float64 {
		return float64(spreads[int(p*float64(len(spreads)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.5), "spread-p50-ms")
	b.ReportMetric(pct(0.99), "spread-p99-ms")
}
