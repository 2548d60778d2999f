package maskservice

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Round is what the monitor publishes after each poll round. A Round is never changed after it
// is published, so every subscriber may read it without copying.
type Round struct {
	Seq      uint64    // 1 for the first round, then +1 per round
	Time     time.Time // when the round started
	Readings []Reading // the readings taken in this round, in configuration order
	// Current holds the newest reading of every configured sensor after this round, in
	// configuration order. A sensor not read yet has Status unknown, Quality bad and the
	// Fault "not read yet".
	Current []Reading
	RTT     time.Duration // the longest transaction round-trip time of the round
	// Sensors are the settings the round was judged with, so that whoever judges it further
	// (the alarm engine) uses the same ones. Nil in rounds made by hand in tests.
	Sensors *SensorSet
}

// FaultNotReadYet is the fault of a sensor's placeholder in Round.Current before its first
// reading.
const FaultNotReadYet = "not read yet"

// DeviceState is the overall state of the transducers as the API reports it.
type DeviceState string

// The device states, derived from the newest reading of every sensor.
const (
	StateConnecting DeviceState = "CONNECTING" // no poll round has finished yet (the buses are opening)
	StateOnline     DeviceState = "ONLINE"     // every sensor's newest reading is good
	StateError      DeviceState = "ERROR"      // some sensors are bad (protocol failures, faults), or polling has stalled
	StateOffline    DeviceState = "OFFLINE"    // no sensor is good, and the line is gone (ErrDisconnected)
)

// SensorStats are the monitor's counters for one sensor.
type SensorStats struct {
	SensorID string
	Reads    uint64        // readings taken, good or bad
	Errors   uint64        // reads that failed or gave a value outside the range
	LastRTT  time.Duration // round-trip time of the newest read
}

// SubscriberStats tell how a subscriber of the EventBus keeps up.
type SubscriberStats struct {
	Name    string
	Dropped uint64 // events dropped because its queue was full
}

// MonitorStats is a snapshot of the monitor's counters.
type MonitorStats struct {
	Rounds      uint64
	LastRound   time.Time     // when the newest round started (the heartbeat); zero before the first
	LastRTT     time.Duration // the newest round's longest round-trip time
	GoodShare   float64       // share of good reads over the last minute, 0..1; 0 when there were none
	Overruns    uint64        // times a read ended more than a whole interval after it was due (slots skipped)
	Sensors     []SensorStats
	Subscribers []SubscriberStats // the subscribers of the monitor's event bus
}

// Monitor polls every sensor at its own interval through a Source, judges each sample with
// the settings in force (LiveSensors: calibration, range, bands) and publishes one Round per
// poll round on its EventBus. Sensors that fall due together are read in one round.
// Publishing never blocks the poll loop: each subscriber has a bounded queue, and a round
// that does not fit is dropped for that subscriber and counted.
//
// Create a Monitor with NewMonitor, then call Run once.
type Monitor struct {
	// Now returns the current time; tests may replace it before Run. Defaults to time.Now.
	Now func() time.Time

	live        *LiveSensors
	src         Source
	bus         *EventBus
	classifiers []*Classifier // in configuration order; owned by the Run goroutine
	running     atomic.Bool   // set by the first Run

	mu      sync.RWMutex
	current *Round
	stats   []SensorStats
	quality qualityWindow
	overrun uint64
}

// NewMonitor returns a monitor of the live sensors read from src, publishing its rounds on
// events; a nil events gets the monitor a bus of its own (Events). The monitor closes the bus
// when Run returns, so that every subscriber drains its queue and ends.
func NewMonitor(sensors *LiveSensors, src Source, events *EventBus) (*Monitor, error) {
	if sensors == nil || sensors.Load() == nil {
		return nil, Errorf(EINVALID, "new monitor: no sensor settings")
	}
	if src == nil {
		return nil, Errorf(EINVALID, "new monitor: no source")
	}
	if events == nil {
		events = NewEventBus()
	}
	set := sensors.Load()
	m := &Monitor{
		Now:   time.Now,
		live:  sensors,
		src:   src,
		bus:   events,
		stats: make([]SensorStats, set.Len()),
	}
	for i := range set.Len() {
		s := set.At(i)
		m.classifiers = append(m.classifiers, NewClassifier(s.Thresholds))
		m.stats[i].SensorID = s.ID
	}
	return m, nil
}

// Events returns the bus the monitor publishes its rounds on.
func (m *Monitor) Events() *EventBus { return m.bus }

// Sensors returns the sensor settings in force, in configuration order.
func (m *Monitor) Sensors() []Sensor { return m.live.Load().All() }

// Sensor returns the settings in force of the sensor with the given id.
func (m *Monitor) Sensor(id string) (Sensor, bool) { return m.live.Load().Sensor(id) }

// Current returns the newest round, or nil before the first round has finished.
func (m *Monitor) Current() *Round {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current
}

// Subscribe returns a subscription to the rounds on the monitor's bus whose queue holds up
// to buffer rounds (at least 1). name identifies the subscriber in MonitorStats. Close it
// when done.
func (m *Monitor) Subscribe(name string, buffer int) *Subscription[*Round] {
	return Subscribe[*Round](m.bus, name, buffer)
}

// Run polls until ctx is done, then closes the event bus and returns ctx's error. It must be
// called once; a second call returns an error at once. Each round reads the sensor settings
// in force when it starts, so a swap takes effect from the next round.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("monitor: Run called more than once")
	}
	defer m.bus.Close()
	start := m.Now()
	n := len(m.classifiers)
	next := make([]time.Time, n)
	for i := range next {
		next[i] = start
	}
	due := make([]int, 0, n)
	ids := make([]string, 0, n)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		now := m.Now()
		set := m.live.Load()
		due, ids = due[:0], ids[:0]
		for i, t := range next {
			// A sensor due within a millisecond joins this round rather than making its own.
			if !t.After(now.Add(time.Millisecond)) {
				due = append(due, i)
				ids = append(ids, set.At(i).ID)
			}
		}
		if len(due) > 0 {
			if err := m.round(ctx, set, now, due, ids); err != nil {
				return err
			}
			after := m.Now()
			for _, i := range due {
				iv := set.At(i).Interval
				next[i] = next[i].Add(iv)
				if next[i].Before(after) {
					// The read took longer than the interval: skip the missed slots rather
					// than read back to back to catch up. The next slot stays on the
					// sensor's grid, so sensors whose intervals are multiples of each other
					// keep falling due in one round.
					next[i] = next[i].Add((after.Sub(next[i])/iv + 1) * iv)
					m.mu.Lock()
					m.overrun++
					m.mu.Unlock()
				}
			}
		}
		earliest := next[0]
		for _, t := range next[1:] {
			if t.Before(earliest) {
				earliest = t
			}
		}
		timer.Reset(max(earliest.Sub(m.Now()), 0))
	}
}

// round reads the due sensors once, judges the samples with set and publishes the round.
func (m *Monitor) round(ctx context.Context, set *SensorSet, now time.Time, due []int, ids []string) error {
	samples, err := m.src.Read(ctx, ids)
	if err == nil && len(samples) != len(ids) {
		err = fmt.Errorf("source returned %d samples for %d sensors", len(samples), len(ids))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The source failed as a whole: every due sensor gets a failed sample, so the
		// failure is visible in the readings rather than silently skipping a round.
		samples = make([]Sample, len(ids))
		for k, id := range ids {
			samples[k] = Sample{SensorID: id, Time: now, Err: err}
		}
	}
	for k, id := range ids {
		if samples[k].SensorID != id && samples[k].Err == nil {
			// A sample for the wrong sensor must never be judged against this one's bands.
			samples[k] = Sample{SensorID: id, Time: now, Err: fmt.Errorf("source returned a sample of %q for %q", samples[k].SensorID, id)}
		}
	}
	readings := make([]Reading, len(due))
	var rtt time.Duration
	for k, i := range due {
		s := samples[k]
		if s.Time.IsZero() {
			s.Time = now
		}
		readings[k] = m.judge(i, set.At(i), s)
		rtt = max(rtt, s.RTT)
	}

	m.mu.Lock()
	current := make([]Reading, set.Len())
	if m.current != nil {
		copy(current, m.current.Current)
	} else {
		for i := range current {
			s := set.At(i)
			current[i] = Reading{SensorID: s.ID, Time: now, Value: math.NaN(), Raw: math.NaN(),
				Unit: s.Unit, Quality: QualityBad, Fault: FaultNotReadYet}
		}
	}
	good := 0
	for k, i := range due {
		r := readings[k]
		current[i] = r
		st := &m.stats[i]
		st.Reads++
		st.LastRTT = samples[k].RTT
		if r.Quality == QualityGood {
			good++
		} else {
			st.Errors++
		}
	}
	m.quality.add(now, good, len(due))
	var seq uint64 = 1
	if m.current != nil {
		seq = m.current.Seq + 1
	}
	r := &Round{Seq: seq, Time: now, Readings: readings, Current: current, RTT: rtt, Sensors: set}
	m.current = r
	// Published under the lock, so that rounds reach the bus in seq order and Current is
	// never older than what a subscriber has been told.
	m.bus.Publish(r)
	m.mu.Unlock()
	return nil
}

// judge turns the sample of sensor i, configured as sensor, into a reading: the decoded
// value is calibrated, checked against the range and classified.
func (m *Monitor) judge(i int, sensor Sensor, s Sample) Reading {
	r := Reading{SensorID: sensor.ID, Time: s.Time, Unit: sensor.Unit, Value: s.Value, Raw: s.Raw}
	switch {
	case s.Err != nil:
		r.Value, r.Raw = math.NaN(), math.NaN()
		r.Quality, r.Status, r.Fault = QualityBad, StatusUnknown, s.Err.Error()
		r.busDown = errors.Is(s.Err, ErrDisconnected)
		return r
	case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
		r.Value = math.NaN()
		r.Quality, r.Status, r.Fault = QualityBad, StatusUnknown, "invalid value"
		return r
	}
	r.Value = sensor.Calibration.Apply(s.Value)
	if !sensor.Range.Contains(r.Value) {
		// Keep the value and judge it: an overload is still a critical pressure.
		r.Quality, r.Fault = QualityBad, "out of range"
	}
	c := m.classifiers[i]
	c.SetThresholds(sensor.Thresholds)
	r.Status = c.Classify(r.Value, s.Time)
	return r
}

// Stats returns a snapshot of the monitor's counters.
func (m *Monitor) Stats() MonitorStats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := MonitorStats{
		Sensors:   append([]SensorStats(nil), m.stats...),
		GoodShare: m.quality.share(m.Now()),
		Overruns:  m.overrun,
	}
	if m.current != nil {
		st.Rounds, st.LastRound, st.LastRTT = m.current.Seq, m.current.Time, m.current.RTT
	}
	st.Subscribers = m.bus.Stats()
	return st
}

// State derives the device state from the newest round: ONLINE when every sensor is good;
// OFFLINE when none is and the line to them is gone (a sample failed with ErrDisconnected);
// ERROR otherwise, which covers transducers failing on a working line (timeouts, CRC errors,
// exceptions, out of range) and polling that has stalled: no round started for three times
// the longest sensor interval (at least 5 s).
func (m *Monitor) State() DeviceState {
	r := m.Current()
	if r == nil {
		return StateConnecting
	}
	var longest time.Duration
	set := m.live.Load()
	for i := range set.Len() {
		longest = max(longest, set.At(i).Interval)
	}
	if m.Now().Sub(r.Time) > max(3*longest, 5*time.Second) {
		return StateError
	}
	good, down := 0, 0
	for _, rd := range r.Current {
		switch {
		case rd.Quality == QualityGood:
			good++
		case rd.busDown:
			down++
		}
	}
	switch {
	case good == len(r.Current):
		return StateOnline
	case good == 0 && down > 0:
		return StateOffline
	default:
		return StateError
	}
}

// qualityWindow counts good and total reads per second over the last minute.
type qualityWindow struct {
	buckets [60]struct {
		sec         int64
		good, total int
	}
}

func (w *qualityWindow) add(t time.Time, good, total int) {
	sec := t.Unix()
	b := &w.buckets[uint64(sec)%uint64(len(w.buckets))]
	if b.sec != sec {
		b.sec, b.good, b.total = sec, 0, 0
	}
	b.good += good
	b.total += total
}

func (w *qualityWindow) share(now time.Time) float64 {
	oldest := now.Unix() - int64(len(w.buckets))
	good, total := 0, 0
	for _, b := range w.buckets {
		if b.sec > oldest {
			good += b.good
			total += b.total
		}
	}
	if total == 0 {
		return 0
	}
	return float64(good) / float64(total)
}
