package maskservice

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDisconnected is wrapped by a Source in a failed sample's Err when the bus itself is gone:
// the serial adapter unplugged or unopenable, the TCP gateway unreachable. It is what tells
// OFFLINE (no line to the transducers) from ERROR (transducers that fail on a working line).
// hal.ErrDisconnected is the same error.
var ErrDisconnected = errors.New("bus disconnected")

// Status is the judgement of a reading against its sensor's thresholds. Larger is worse, so
// statuses compare with < and >.
type Status uint8

// The statuses in order of severity. StatusUnknown means there is no value to judge (the read
// failed).
const (
	StatusUnknown Status = iota
	StatusNormal
	StatusWarning
	StatusCritical
)

var statusNames = [...]string{"unknown", "normal", "warning", "critical"}

// String returns the status as the API spells it: "unknown", "normal", "warning", "critical".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// MarshalText encodes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Quality says whether a reading's value can be trusted.
type Quality uint8

// The qualities. QualityBad covers a failed read (no value at all) and a value outside the
// transducer's range (a broken wire, an overload); Reading.Fault says which.
const (
	QualityGood Quality = iota
	QualityBad
)

// String returns "good" or "bad".
func (q Quality) String() string {
	switch q {
	case QualityGood:
		return "good"
	case QualityBad:
		return "bad"
	}
	return fmt.Sprintf("quality(%d)", uint8(q))
}

// MarshalText encodes the quality as its name.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// Reading is one judged measurement of one sensor. Readings are values: once made they are
// never changed, so they can be shared between goroutines freely.
type Reading struct {
	SensorID string
	Time     time.Time // when the transducer was read
	Value    float64   // in Unit; NaN when the read failed
	Raw      float64   // as the transducer reported it, before scale and offset; NaN when the read failed
	Unit     string
	Status   Status
	Quality  Quality
	Fault    string // why Quality is bad ("" when good), e.g. "read timeout" or "out of range"

	busDown bool // the read failed with ErrDisconnected
}

// HasValue reports whether the reading carries a measured value (the read did not fail).
func (r Reading) HasValue() bool { return r.Value == r.Value } // NaN is the only value unequal to itself

// Sample is one read of one sensor by a Source, before it is judged.
type Sample struct {
	SensorID string
	Time     time.Time     // when the value was read
	Raw      float64       // as the transducer reported it (e.g. the register value)
	Value    float64       // in the sensor's unit, after scale and offset
	RTT      time.Duration // round-trip time of the transaction that read it
	Err      error         // non-nil if the read failed; Raw and Value are then meaningless
}

// Source reads transducers. It is the seam between the domain and the hardware layer.
//
// Read reads the sensors named by ids once and blocks until all are read or ctx is done. It
// returns one Sample per id, in the order of ids. A failure on one sensor is reported in that
// sample's Err (wrapping a hal sentinel error such as hal.ErrTimeout) and does not fail the
// others; Read itself returns an error only when ctx is done or the source is closed.
// Read is called from one goroutine at a time.
//
// Implementations: hal/modbus.Bus (real transducers), hal/sim.Source.
type Source interface {
	Read(ctx context.Context, ids []string) ([]Sample, error)
}

// RecentReadings holds the recent readings of each sensor (the RAM ring of the last hour).
// Implementations are safe for concurrent use. Implementation: store/ring.Set.
type RecentReadings interface {
	// Range appends to dst the readings of sensorID whose Time lies in [start, end], oldest
	// first, and returns the extended slice. An unknown sensor appends nothing.
	Range(sensorID string, start, end time.Time, dst []Reading) []Reading
	// Last appends to dst the n newest readings of sensorID, oldest first.
	Last(sensorID string, n int, dst []Reading) []Reading
	// Oldest returns the time of the oldest reading of sensorID held, and false if none is.
	// Every reading taken since then is held.
	Oldest(sensorID string) (time.Time, bool)
}
