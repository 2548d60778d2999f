package ring

import (
	"context"
	"time"

	"mask.services/maskservice"
)

// recorderQueue is how many rounds a Recorder's subscription holds: pushing a round takes
// microseconds, so a queue this long overflows only when the process is starved.
const recorderQueue = 64

// ForSpan returns a Set for the sensors of set that holds span of each sensor's readings at
// its interval, and at least DefaultCapacity.
func ForSpan(set *maskservice.SensorSet, span time.Duration) *Set {
	capacity := make(map[string]int, set.Len())
	for i := range set.Len() {
		s := set.At(i)
		capacity[s.ID] = max(DefaultCapacity, int(span/s.Interval))
	}
	return NewSetFunc(set.IDs(), func(id string) int { return capacity[id] })
}

// Recorder keeps a Set current from the rounds on an event bus: it is the ring's service in
// the daemon.
type Recorder struct {
	set    *Set
	rounds *maskservice.Subscription[*maskservice.Round]
}

// NewRecorder subscribes to the rounds on bus for set, at once, so that no round published
// before Run starts is missed. The bus counts the rounds its queue loses.
func NewRecorder(set *Set, bus *maskservice.EventBus) *Recorder {
	return &Recorder{set: set, rounds: maskservice.Subscribe[*maskservice.Round](bus, "ring", recorderQueue)}
}

// Run pushes every reading of every round into the set until the bus closes (it returns nil)
// or ctx is done (ctx's error).
func (r *Recorder) Run(ctx context.Context) error {
	return r.rounds.Each(ctx, func(round *maskservice.Round) {
		for _, rd := range round.Readings {
			r.set.Push(rd)
		}
	})
}
