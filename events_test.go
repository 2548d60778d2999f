package maskservice_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"mask.services/maskservice"
)

// Each subscriber takes the events of its type, in the order they were published; a full
// queue drops for that subscriber only, and counts it; Close ends every queue.
func TestEventBus(t *testing.T) {
	bus := maskservice.NewEventBus()
	all := maskservice.Subscribe[maskservice.Event](bus, "all", 10)
	rounds := maskservice.Subscribe[*maskservice.Round](bus, "rounds", 10)
	alerts := maskservice.Subscribe[maskservice.AlertEvent](bus, "alerts", 1)
	for seq := uint64(1); seq <= 3; seq++ {
		bus.Publish(&maskservice.Round{Seq: seq})
		bus.Publish(maskservice.AlertEvent{Alert: maskservice.Alert{ID: seq}})
	}
	bus.Close()
	bus.Publish(&maskservice.Round{Seq: 4}) // after Close: delivered to nobody

	var order []string
	for e := range all.C {
		switch e := e.(type) {
		case *maskservice.Round:
			order = append(order, "round "+itoa(e.Seq))
		case maskservice.AlertEvent:
			order = append(order, "alert "+itoa(e.Alert.ID))
		}
	}
	if want := "[round 1 alert 1 round 2 alert 2 round 3 alert 3]"; sprint(order) != want {
		t.Errorf("all: %v, want %s", order, want)
	}
	var seqs []uint64
	for r := range rounds.C {
		seqs = append(seqs, r.Seq)
	}
	if sprint(seqs) != "[1 2 3]" || rounds.Dropped() != 0 {
		t.Errorf("rounds: %v (%d dropped), want [1 2 3] and none dropped", seqs, rounds.Dropped())
	}
	var ids []uint64
	for a := range alerts.C {
		ids = append(ids, a.Alert.ID)
	}
	if sprint(ids) != "[1]" || alerts.Dropped() != 2 {
		t.Errorf("alerts with a queue of 1: %v (%d dropped), want [1] and 2 dropped", ids, alerts.Dropped())
	}
	if late := maskservice.Subscribe[maskservice.Event](bus, "late", 1); !closed(late.C) {
		t.Error("a subscription to a closed bus is open")
	}
}

// A subscription closed by its subscriber leaves the others and the stats alone.
func TestEventBus_Unsubscribe(t *testing.T) {
	bus := maskservice.NewEventBus()
	a := maskservice.Subscribe[*maskservice.Round](bus, "a", 1)
	b := maskservice.Subscribe[*maskservice.Round](bus, "b", 1)
	a.Close()
	a.Close() // twice is fine
	bus.Publish(&maskservice.Round{Seq: 1})
	bus.Publish(&maskservice.Round{Seq: 2})
	if !closed(a.C) {
		t.Error("a closed subscription's channel is open")
	}
	if st := bus.Stats(); len(st) != 1 || st[0].Name != "b" || st[0].Dropped != 1 {
		t.Errorf("stats %+v, want only b with 1 dropped", st)
	}
	if r := <-b.C; r.Seq != 1 {
		t.Errorf("b got round %d, want 1", r.Seq)
	}
}

// Publishers on many goroutines never block, and each subscriber sees one total order.
func TestEventBus_Concurrent(t *testing.T) {
	bus := maskservice.NewEventBus()
	x := maskservice.Subscribe[maskservice.AlertEvent](bus, "x", 4000)
	y := maskservice.Subscribe[maskservice.AlertEvent](bus, "y", 4000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				bus.Publish(maskservice.AlertEvent{Alert: maskservice.Alert{ID: uint64(g*1000 + i)}})
			}
		})
	}
	wg.Wait()
	bus.Close()
	var xs, ys []uint64
	for e := range x.C {
		xs = append(xs, e.Alert.ID)
	}
	for e := range y.C {
		ys = append(ys, e.Alert.ID)
	}
	if len(xs) != 4000 || sprint(xs) != sprint(ys) {
		t.Errorf("x got %d events, y %d, in the same order: %v", len(xs), len(ys), sprint(xs) == sprint(ys))
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func sprint(v any) string { return fmt.Sprint(v) }

// closed reports whether c is closed (and empty).
func closed[T any](c <-chan T) bool {
	select {
	case _, ok := <-c:
		return !ok
	default:
		return false
	}
}
