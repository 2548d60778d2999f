package maskservice

import (
	"context"
	"sync"
	"sync/atomic"
)

// Event is what the EventBus carries to the services: a *Round after every poll round, an
// AlertEvent after every committed alert change, and the events of later features (test runs,
// configuration, service mode). Events are values that nobody changes once published, so
// every subscriber may read them without copying.
type Event interface {
	// EventType names the event as the WebSocket frames spell their "type": "sensors",
	// "alert".
	EventType() string
}

// EventType implements Event: a round is what the WebSocket's "sensors" frame tells.
func (*Round) EventType() string { return "sensors" }

// AlertEvent tells that an alert changed (opened, escalated, cleared, acknowledged, ...). It
// is published after the change is committed to the store, in commit order.
type AlertEvent struct {
	Alert Alert // the alert as stored after the change
}

// EventType implements Event.
func (AlertEvent) EventType() string { return "alert" }

// EventBus carries events from the services that make them (the monitor, the alarm engine)
// to the services that use them (the ring, the history log, the alarm engine, the WebSocket
// hub, metrics). Publish never blocks: each subscriber has a bounded queue of its own, and an
// event that does not fit is dropped for that subscriber and counted. Every subscriber sees
// the events it takes in the one order they were published, so an alert event of a round
// always follows that round. Safe for concurrent use.
type EventBus struct {
	mu     sync.Mutex
	subs   []subscriber // in subscription order, for stable stats
	closed bool
}

// subscriber is the type-independent side of a Subscription.
type subscriber interface {
	offer(Event)
	closeQueue()
	stats() SubscriberStats
}

// NewEventBus returns an open bus with no subscribers.
func NewEventBus() *EventBus { return &EventBus{} }

// Subscription is one subscriber's queue of the events of type T (an event type such as
// *Round or AlertEvent, or Event for every event). Receive from C; C is closed when the
// subscription or the bus is closed.
type Subscription[T Event] struct {
	C       <-chan T
	c       chan T
	name    string
	dropped atomic.Uint64
	bus     *EventBus
	once    sync.Once
}

// Subscribe returns a subscription to the events of type T on b, whose queue holds up to
// buffer events (at least 1). name identifies the subscriber in the stats. Subscribing to a
// closed bus gives a closed channel. Subscribe before the publisher starts, or the first
// events are missed.
func Subscribe[T Event](b *EventBus, name string, buffer int) *Subscription[T] {
	c := make(chan T, max(buffer, 1))
	s := &Subscription[T]{C: c, c: c, name: name, bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.once.Do(func() { close(s.c) })
		return s
	}
	b.subs = append(b.subs, s)
	return s
}

// Publish queues e for every subscriber that takes its type, without blocking. After Close it
// does nothing.
func (b *EventBus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, s := range b.subs {
		s.offer(e)
	}
}

// Stats returns how each subscriber keeps up, in subscription order.
func (b *EventBus) Stats() []SubscriberStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SubscriberStats, len(b.subs))
	for i, s := range b.subs {
		out[i] = s.stats()
	}
	return out
}

// Close closes every subscription, so that each subscriber drains its queue and ends; later
// events are not delivered. It is safe to call more than once.
func (b *EventBus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, s := range b.subs {
		s.closeQueue()
	}
	b.subs = nil
}

// Each calls fn with every event of the queue, in order, until the subscription closes (it
// returns nil) or ctx is done (ctx's error), then closes the subscription. It is the loop of
// a service that only reacts to events.
func (s *Subscription[T]) Each(ctx context.Context, fn func(T)) error {
	defer s.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-s.C:
			if !ok {
				return nil
			}
			fn(e)
		}
	}
}

// Dropped returns how many events were dropped because the queue was full.
func (s *Subscription[T]) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C. It is safe to call more than once.
func (s *Subscription[T]) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, o := range b.subs {
		if o == subscriber(s) {
			b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
			break
		}
	}
	s.closeQueue()
}

func (s *Subscription[T]) offer(e Event) {
	v, ok := e.(T)
	if !ok {
		return
	}
	select {
	case s.c <- v:
	default:
		s.dropped.Add(1)
	}
}

func (s *Subscription[T]) closeQueue() { s.once.Do(func() { close(s.c) }) }

func (s *Subscription[T]) stats() SubscriberStats {
	return SubscriberStats{Name: s.name, Dropped: s.dropped.Load()}
}
