package ring

import (
	"time"

	"mask.services/maskservice"
)

// Set holds one Ring per sensor. The sensors are fixed when the Set is made, so looking a
// ring up needs no lock; each ring locks itself. A Set is safe for concurrent use and
// implements maskservice.RecentReadings.
type Set struct {
	rings map[string]*Ring
	ids   []string
}

// NewSet returns a Set with one ring of the given capacity per id (see New for capacity < 1).
// A repeated id gets one ring.
func NewSet(ids []string, capacity int) *Set {
	return NewSetFunc(ids, func(string) int { return capacity })
}

// NewSetFunc is NewSet with a capacity of its own for each id: capacity(id). A sensor read
// every 10 ms needs 360,000 readings (about 37 MB) for an hour; the others need not.
func NewSetFunc(ids []string, capacity func(id string) int) *Set {
	s := &Set{rings: make(map[string]*Ring, len(ids))}
	for _, id := range ids {
		if _, ok := s.rings[id]; ok {
			continue
		}
		s.rings[id] = New(capacity(id))
		s.ids = append(s.ids, id)
	}
	return s
}

// IDs returns the sensor ids of the Set in the order NewSet was given them.
func (s *Set) IDs() []string { return append([]string(nil), s.ids...) }

// Ring returns the ring of sensor id, or nil for an unknown sensor.
func (s *Set) Ring(id string) *Ring { return s.rings[id] }

// Push stores rd in the ring of rd.SensorID. It returns false, storing nothing, when the
// sensor is unknown.
func (s *Set) Push(rd maskservice.Reading) bool {
	r, ok := s.rings[rd.SensorID]
	if !ok {
		return false
	}
	r.Push(rd)
	return true
}

// Latest returns the newest reading of sensor id, and false if the sensor is unknown or has
// no readings yet.
func (s *Set) Latest(id string) (maskservice.Reading, bool) {
	r, ok := s.rings[id]
	if !ok {
		return maskservice.Reading{}, false
	}
	return r.Latest()
}

// Len returns the number of readings held for sensor id, 0 for an unknown sensor.
func (s *Set) Len(id string) int {
	r, ok := s.rings[id]
	if !ok {
		return 0
	}
	return r.Len()
}

// Range appends to dst the readings of sensorID whose Time lies in [start, end], oldest
// first (see Ring.Range), and returns the extended slice. An unknown sensor appends nothing.
func (s *Set) Range(sensorID string, start, end time.Time, dst []maskservice.Reading) []maskservice.Reading {
	r, ok := s.rings[sensorID]
	if !ok {
		return dst
	}
	return r.Range(start, end, dst)
}

// Oldest returns the time of the oldest reading of sensorID still held, and false if there is
// none. The ring holds every reading pushed since then.
func (s *Set) Oldest(sensorID string) (time.Time, bool) {
	r, ok := s.rings[sensorID]
	if !ok {
		return time.Time{}, false
	}
	rd, ok := r.Oldest()
	return rd.Time, ok
}

// Last appends to dst the n newest readings of sensorID, oldest first, and returns the
// extended slice. An unknown sensor appends nothing.
func (s *Set) Last(sensorID string, n int, dst []maskservice.Reading) []maskservice.Reading {
	r, ok := s.rings[sensorID]
	if !ok {
		return dst
	}
	return r.Last(n, dst)
}
