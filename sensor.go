package maskservice

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sensor is the configuration of one pressure transducer as the domain sees it: what it
// measures and how its values are judged. How it is wired (bus, slave, register) belongs to
// the hardware layer and lives in hal's register map.
type Sensor struct {
	ID   string // short stable identifier, e.g. "P1"; used as a JSON key in WebSocket frames
	Name string // human-readable name, in the server's messages and logs
	// Names are the name in each language of the UI, for the people at the station.
	Names SensorNames
	Unit  string // engineering unit of Value, e.g. "bar"
	Bus   string // the bus the sensor is read on (informational in the domain)

	Range      Band          // the transducer's measuring range; outside it a reading's quality is bad
	Thresholds Thresholds    // the normal and warning bands, hysteresis and on-delay
	Interval   time.Duration // how often the monitor reads the sensor
	// Calibration corrects the decoded value before it is judged; the zero value is none.
	Calibration Calibration
}

// SensorNames is a sensor's name in each language of the UI.
type SensorNames struct {
	PL string // Polish
	EN string // English
}

// maxNameBytes bounds a sensor's name in any language: a tile on the LCD has room for about
// 20 characters, and 64 bytes hold that many in any script.
const maxNameBytes = 64

// checkName says what is wrong with a sensor's name v, "" when nothing: it is shown on every
// screen, so it must be text that fits one line.
func checkName(v string) string {
	switch {
	case len(v) > maxNameBytes:
		return fmt.Sprintf("at most %d bytes", maxNameBytes)
	case !utf8.ValidString(v):
		return "not valid UTF-8"
	case strings.ContainsFunc(v, unicode.IsControl):
		return "holds a control character"
	}
	return ""
}

// validID is an immutable pattern for sensor identifiers.
var validID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// reservedIDs are the keys a WebSocket sensors frame uses for itself, so no sensor may take them.
var reservedIDs = map[string]bool{"type": true, "seq": true, "ts": true}

// Validate checks the sensor's configuration and returns an *Error with code EINVALID whose
// message names the offending field.
func (s Sensor) Validate() error {
	switch {
	case !validID.MatchString(s.ID):
		return FieldErrorf("id", "sensor id %q: must start with a letter and hold at most 32 letters, digits, '_' or '-'", s.ID)
	case reservedIDs[s.ID]:
		return FieldErrorf("id", "sensor id %q: reserved word", s.ID)
	case s.Unit == "":
		return FieldErrorf("unit", "sensor %s: unit is empty", s.ID)
	}
	for _, n := range []struct{ field, v string }{{"name", s.Name}, {"name_pl", s.Names.PL}, {"name_en", s.Names.EN}} {
		if err := checkName(n.v); err != "" {
			return FieldErrorf(n.field, "sensor %s: %s %q: %s", s.ID, n.field, n.v, err)
		}
	}
	switch {
	case !s.Range.valid():
		return FieldErrorf("range", "sensor %s: range [%g, %g] must be finite with low < high and a finite width", s.ID, s.Range.Low, s.Range.High)
	case s.Interval < 10*time.Millisecond || s.Interval > time.Hour:
		return FieldErrorf("interval", "sensor %s: interval %s must be between 10ms and 1h", s.ID, s.Interval)
	}
	if err := s.Thresholds.validate(s.Range); err != nil {
		return &Error{Code: EINVALID, Message: "sensor " + s.ID + ": " + err.Message, Field: err.Field}
	}
	if s.Calibration != (Calibration{}) {
		if err := s.Calibration.validate(); err != nil {
			return &Error{Code: EINVALID, Message: "sensor " + s.ID + ": " + err.Message, Field: err.Field}
		}
	}
	return nil
}

// MaxSensors is the most sensors a station reads. It bounds what one configuration may ask
// of the poller, the history, the LCD and every frame sent to a client: a test station has
// a handful of transducers on one or two RS-485 buses, and 64 at 1 Hz is already more than a
// 115200-baud bus serves with a margin.
const MaxSensors = 64

// ValidateSensors validates each sensor and checks that ids are unique and that there are at
// most MaxSensors of them. Its time grows with the number of sensors, not with its square.
func ValidateSensors(sensors []Sensor) error {
	if len(sensors) == 0 {
		return Errorf(EINVALID, "no sensors configured")
	}
	if len(sensors) > MaxSensors {
		return Errorf(EINVALID, "%d sensors configured: at most %d are supported", len(sensors), MaxSensors)
	}
	seen := make(map[string]bool, len(sensors))
	for _, s := range sensors {
		if err := s.Validate(); err != nil {
			return err
		}
		if seen[s.ID] {
			return FieldErrorf("id", "sensor id %q: used twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// DefaultSensors returns the three transducers of the specification: P1 0-10 bar, P2 0-5 bar
// and P3 0-1000 mbar, each read once a second. A new slice is returned on every call.
func DefaultSensors() []Sensor {
	return []Sensor{
		{
			ID: "P1", Name: "Pressure 1", Names: SensorNames{PL: "Ciśnienie 1", EN: "Pressure 1"}, Unit: "bar", Bus: "sim",
			Range: Band{0, 10},
			Thresholds: Thresholds{
				Normal: Band{2, 8}, Warning: Band{1.5, 9}, Hysteresis: 0.05,
			},
			Interval: time.Second,
		},
		{
			ID: "P2", Name: "Pressure 2", Names: SensorNames{PL: "Ciśnienie 2", EN: "Pressure 2"}, Unit: "bar", Bus: "sim",
			Range: Band{0, 5},
			Thresholds: Thresholds{
				Normal: Band{1, 4}, Warning: Band{0.5, 4.5}, Hysteresis: 0.025,
			},
			Interval: time.Second,
		},
		{
			ID: "P3", Name: "Pressure 3", Names: SensorNames{PL: "Ciśnienie 3", EN: "Pressure 3"}, Unit: "mbar", Bus: "sim",
			Range: Band{0, 1000},
			Thresholds: Thresholds{
				Normal: Band{200, 800}, Warning: Band{100, 900}, Hysteresis: 5,
			},
			Interval: time.Second,
		},
	}
}
