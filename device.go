package maskservice

import (
	"context"
	"fmt"
	"math"
	"time"
)

// HostInfo are facts about the machine the daemon runs on, for the device status.
type HostInfo struct {
	Uptime       time.Duration // since the machine booted
	MemTotal     uint64        // bytes of RAM
	MemAvailable uint64        // bytes of RAM available to new work
	ProcessRSS   uint64        // bytes of RAM the daemon itself holds
}

// Host reports facts about the machine. Info reads them anew on every call and does not
// block for long (it reads /proc). Implementation: hal.Host.
type Host interface {
	Info() (HostInfo, error)
}

// DeviceFault is a fault of the device itself rather than of a sensor: something the
// operator must know that no reading shows, such as a database found damaged at start and
// replaced by a backup. It is raised as an alert of type AlertDeviceFault whose SensorID is
// Part.
type DeviceFault struct {
	Part    string    // the part at fault, one of the DevicePart names
	Message string    // what happened and what it means (English, as every alert message)
	At      time.Time // when it happened
}

// The parts of the device a DeviceFault names. A sensor could be called so too: a device
// fault is told from a sensor's alerts by its type, never by the id alone.
const (
	// DevicePartStorage is the database on the device's disk (store/bolt).
	DevicePartStorage = "storage"
)

// Validate checks that f names its part and says what happened; the error is EINVALID.
func (f DeviceFault) Validate() error {
	switch {
	case f.Part == "":
		return Errorf(EINVALID, "device fault: no part named")
	case f.Message == "":
		return Errorf(EINVALID, "device fault of %s: no message", f.Part)
	case f.At.IsZero():
		return Errorf(EINVALID, "device fault of %s: no time", f.Part)
	}
	return nil
}

// RaiseDeviceFault stores f in store as a new alert of type AlertDeviceFault, active and
// unacknowledged, and returns it; it is on disk when RaiseDeviceFault returns. It is for a
// fault found before the alarm engine runs (the database at start): the engine takes the
// alert in with the others when it loads them, the alert list and the LCD banner show it
// until someone acknowledges it (AlarmEngine.Ack), which closes it.
func RaiseDeviceFault(ctx context.Context, store AlertStore, f DeviceFault) (Alert, error) {
	if err := f.Validate(); err != nil {
		return Alert{}, err
	}
	a, err := store.PutAlert(ctx, Alert{SensorID: f.Part, Type: AlertDeviceFault, State: AlertActiveUnack,
		Message: f.Message, Value: math.NaN(), Threshold: math.NaN(), OpenedAt: f.At,
		EscalatedValue: math.NaN(), EscalatedThreshold: math.NaN(), UpdatedAt: f.At})
	if err != nil {
		return Alert{}, fmt.Errorf("raise the device fault of %s: %w", f.Part, err)
	}
	return a, nil
}
