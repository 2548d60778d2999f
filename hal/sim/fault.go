package sim

import (
	"fmt"

	"mask.services/maskservice"
)

// FaultKind names a fault that can be injected into one simulated sensor.
type FaultKind int

// The fault kinds. What each does to a read is described at Fault.
const (
	FaultNone       FaultKind = iota // the sensor reads its script or profile
	FaultStuck                       // the sensor repeats its last value exactly
	FaultOutOfRange                  // the sensor reads a value outside its range
	FaultReadError                   // every read of the sensor fails
	FaultDisconnect                  // the sensor fails as if its cable were cut
	FaultValue                       // the sensor reads exactly the given value
)

var faultNames = [...]string{"none", "stuck", "out_of_range", "read_error", "disconnect", "value"}

// String returns the kind's name: "none", "stuck", "out_of_range", "read_error",
// "disconnect" or "value".
func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return fmt.Sprintf("fault(%d)", int(k))
}

// Fault is a fault injected into one sensor. While it is set, every read of the sensor does
// this, whatever its script or profile:
//
//   - FaultNone: no fault; the same as ClearFault.
//   - FaultStuck: the last value read successfully, repeated exactly, without noise (before
//     any good read, the value the sensor reads at the first stuck read, then frozen).
//   - FaultOutOfRange: Value, or if Value is 0, the range's high end plus 10% of the span
//     (110% of the high end for a range starting at 0). The monitor judges it quality bad,
//     "out of range", and still classifies it.
//   - FaultReadError: the read fails with Err = "read <id>: " wrapping Err, or hal.ErrTimeout
//     if Err is nil.
//   - FaultDisconnect: the read fails wrapping hal.ErrDisconnected (only this sensor; see
//     SetConnected for the whole bus).
//   - FaultValue: exactly Value, not quantized (scripted tests use it to walk a threshold
//     deterministically; NaN gives the monitor's "invalid value").
//
// A failed read has Value and Raw NaN. Fault values that are read (stuck, out of range,
// value) are reported unquantized, with Raw the nearest register count.
type Fault struct {
	Kind  FaultKind
	Value float64 // for FaultOutOfRange and FaultValue
	Err   error   // for FaultReadError
}

// SetFault injects f into the sensor id, replacing its previous fault; it applies from the
// next read. It returns an error for an unknown id or kind. It is safe to call while Read runs.
func (s *Source) SetFault(id string, f Fault) error {
	i, ok := s.index[id]
	if !ok {
		return maskservice.Errorf(maskservice.ENOTFOUND, "set fault on %s: unknown sensor", id)
	}
	if f.Kind < FaultNone || f.Kind > FaultValue {
		return maskservice.Errorf(maskservice.EINVALID, "set fault on %s: unknown fault kind %d", id, int(f.Kind))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sensors[i].fault = f
	return nil
}

// ClearFault removes the sensor's fault, so it reads its script or profile again from the next
// read. It returns an error for an unknown id. It is safe to call while Read runs.
func (s *Source) ClearFault(id string) error {
	if _, ok := s.index[id]; !ok {
		return maskservice.Errorf(maskservice.ENOTFOUND, "clear fault on %s: unknown sensor", id)
	}
	return s.SetFault(id, Fault{})
}
