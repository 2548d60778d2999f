package maskservice

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Calibration corrects a transducer's decoded value: calibrated = Gain*value + Offset, in the
// sensor's unit. The zero Calibration means none (gain 1, offset 0); NewSensorSet spells it
// out.
type Calibration struct {
	Gain   float64
	Offset float64
}

// NoCalibration is the identity: gain 1, offset 0.
var NoCalibration = Calibration{Gain: 1}

// Apply returns the calibrated value of v.
func (c Calibration) Apply(v float64) float64 { return c.Gain*v + c.Offset }

// validate checks that gain and offset are finite and the gain positive: a zero or negative
// gain would turn rising pressure into falling readings.
func (c Calibration) validate() *Error {
	switch {
	case math.IsNaN(c.Gain) || math.IsInf(c.Gain, 0) || c.Gain <= 0:
		return FieldErrorf("calibration.gain", "calibration gain %g must be a finite number above 0", c.Gain)
	case math.IsNaN(c.Offset) || math.IsInf(c.Offset, 0):
		return FieldErrorf("calibration.offset", "calibration offset %g must be a finite number", c.Offset)
	}
	return nil
}

// SensorSet is one immutable snapshot of the configured sensors: their ranges, bands,
// hysteresis, on-delay, interval, unit, name and calibration, in configuration order. Nothing
// changes a SensorSet once it is made, so every reader may keep and share it; a change of
// settings makes a new one (see LiveSensors).
type SensorSet struct {
	sensors []Sensor
	index   map[string]int
	version uint64
}

// NewSensorSet validates sensors (ValidateSensors, and each calibration) and returns them as
// a snapshot of version 1. A zero Calibration becomes NoCalibration. Errors are EINVALID and
// name the sensor and the field.
func NewSensorSet(sensors []Sensor) (*SensorSet, error) {
	out := make([]Sensor, len(sensors))
	copy(out, sensors)
	for i := range out {
		if out[i].Calibration == (Calibration{}) {
			out[i].Calibration = NoCalibration
		}
	}
	if err := ValidateSensors(out); err != nil {
		return nil, err
	}
	set := &SensorSet{sensors: out, index: make(map[string]int, len(out)), version: 1}
	for i, s := range out {
		set.index[s.ID] = i
	}
	return set, nil
}

// Len returns the number of sensors.
func (s *SensorSet) Len() int { return len(s.sensors) }

// At returns the i-th sensor in configuration order.
func (s *SensorSet) At(i int) Sensor { return s.sensors[i] }

// Sensor returns the sensor with the id, and false if there is none.
func (s *SensorSet) Sensor(id string) (Sensor, bool) {
	i, ok := s.index[id]
	if !ok {
		return Sensor{}, false
	}
	return s.sensors[i], true
}

// Index returns the position of the sensor with the id in configuration order, and false if
// there is none.
func (s *SensorSet) Index(id string) (int, bool) {
	i, ok := s.index[id]
	return i, ok
}

// All returns a copy of the sensors, in configuration order.
func (s *SensorSet) All() []Sensor { return append([]Sensor(nil), s.sensors...) }

// IDs returns the sensor ids, in configuration order.
func (s *SensorSet) IDs() []string {
	ids := make([]string, len(s.sensors))
	for i, sn := range s.sensors {
		ids[i] = sn.ID
	}
	return ids
}

// Version counts the snapshots of a LiveSensors: 1 for the first, +1 per swap.
func (s *SensorSet) Version() uint64 { return s.version }

// LiveSensors holds the sensor settings in force, behind an atomic swap. The monitor, the
// alarm engine, the simulator and the web server read Load at each use, so a swap takes
// effect from the next poll round everywhere at once and nobody keeps a copy of their own.
// Safe for concurrent use.
type LiveSensors struct {
	cur  atomic.Pointer[SensorSet]
	swap sync.Mutex // one swap at a time, so versions follow each other
}

// NewLiveSensors returns the live settings, starting with set.
func NewLiveSensors(set *SensorSet) *LiveSensors {
	l := &LiveSensors{}
	l.cur.Store(set)
	return l
}

// Load returns the snapshot in force. It never blocks.
func (l *LiveSensors) Load() *SensorSet { return l.cur.Load() }

// Swap validates next and puts it in force from the next poll round, returning the new
// snapshot. Settings change live; what the hardware and the history are keyed by does not:
// next must name the same sensors, in the same order, with the same units, on the same buses
// (a sensor added, removed, given another unit or moved to another bus needs a restart). A refused swap is an EINVALID error and
// changes nothing.
func (l *LiveSensors) Swap(next []Sensor) (*SensorSet, error) {
	l.swap.Lock()
	defer l.swap.Unlock()
	cur := l.cur.Load()
	set, err := NewSensorSet(next)
	if err != nil {
		return nil, err
	}
	if set.Len() != cur.Len() {
		return nil, Errorf(EINVALID, "sensor settings: %d sensors where %d run; adding or removing a sensor needs a restart", set.Len(), cur.Len())
	}
	for i, s := range set.sensors {
		was := cur.sensors[i]
		switch {
		case s.ID != was.ID:
			return nil, FieldErrorf("id", "sensor settings: sensor %d is %q where %q runs; renaming or reordering sensors needs a restart", i+1, s.ID, was.ID)
		case s.Unit != was.Unit:
			return nil, FieldErrorf("unit", "sensor %s: unit %q where %q runs; the history is kept in the unit it was read in, so a new unit needs a restart", s.ID, s.Unit, was.Unit)
		case s.Bus != was.Bus:
			return nil, FieldErrorf("bus", "sensor %s: bus %q where %q runs; moving a sensor to another bus needs a restart", s.ID, s.Bus, was.Bus)
		}
	}
	set.version = cur.version + 1
	l.cur.Store(set)
	return set, nil
}

// String describes the snapshot for logs: "3 sensors, version 2".
func (s *SensorSet) String() string {
	return fmt.Sprintf("%d sensors, version %d", len(s.sensors), s.version)
}

// LiveSensorsOf validates sensors (NewSensorSet) and returns them as the settings in force.
func LiveSensorsOf(sensors []Sensor) (*LiveSensors, error) {
	set, err := NewSensorSet(sensors)
	if err != nil {
		return nil, err
	}
	return NewLiveSensors(set), nil
}
