package maskservice

import (
	"math"
	"time"
)

// Thresholds judge a sensor's values. A value inside Normal is normal, inside Warning (but not
// Normal) is a warning, anything else is critical. Both bands are closed intervals: a value
// exactly on a limit still belongs to the band.
//
// Hysteresis keeps a value jittering on a limit from flapping: a status gets worse as soon as
// the value crosses a limit, but gets better only once the value is inside the better band by
// at least Hysteresis. OnDelay keeps short spikes from raising a status: a worse status is
// reported only after it has held for OnDelay (zero reports it at once). Getting better is
// never delayed.
type Thresholds struct {
	Normal     Band
	Warning    Band
	Hysteresis float64       // in the sensor's unit, >= 0
	OnDelay    time.Duration // >= 0
}

func (t Thresholds) validate(rng Band) error {
	switch {
	case !t.Normal.valid():
		return Errorf(EINVALID, "normal band [%g, %g] must be finite with low < high", t.Normal.Low, t.Normal.High)
	case !t.Warning.valid():
		return Errorf(EINVALID, "warning band [%g, %g] must be finite with low < high", t.Warning.Low, t.Warning.High)
	case !t.Normal.Within(t.Warning):
		return Errorf(EINVALID, "normal band [%g, %g] must lie inside the warning band [%g, %g]", t.Normal.Low, t.Normal.High, t.Warning.Low, t.Warning.High)
	case !t.Warning.Within(rng):
		return Errorf(EINVALID, "warning band [%g, %g] must lie inside the range [%g, %g]", t.Warning.Low, t.Warning.High, rng.Low, rng.High)
	case math.IsNaN(t.Hysteresis) || t.Hysteresis < 0:
		return Errorf(EINVALID, "hysteresis %g must be >= 0", t.Hysteresis)
	case 2*t.Hysteresis >= t.Normal.High-t.Normal.Low:
		return Errorf(EINVALID, "hysteresis %g must be less than half the normal band's width", t.Hysteresis)
	case t.OnDelay < 0 || t.OnDelay > time.Hour:
		return Errorf(EINVALID, "on_delay %s must be between 0 and 1h", t.OnDelay)
	}
	return nil
}

// Level returns the status of v by the bands alone, without hysteresis or on-delay.
func (t Thresholds) Level(v float64) Status {
	switch {
	case t.Normal.Contains(v):
		return StatusNormal
	case t.Warning.Contains(v):
		return StatusWarning
	default:
		return StatusCritical
	}
}

// levelFrom returns the status of v for a sensor whose status is now current, applying the
// hysteresis: worse at once, better only inside the better band shrunk by the hysteresis.
func (t Thresholds) levelFrom(v float64, current Status) Status {
	raw := t.Level(v)
	if current == StatusUnknown || raw >= current {
		return raw
	}
	better := StatusCritical
	switch {
	case t.Normal.Shrink(t.Hysteresis).Contains(v):
		better = StatusNormal
	case t.Warning.Shrink(t.Hysteresis).Contains(v):
		better = StatusWarning
	}
	return min(better, current)
}

// Classifier judges the successive values of one sensor, keeping the state that hysteresis
// and on-delay need. The zero value is not usable; make one with NewClassifier. A Classifier
// is not safe for concurrent use: the monitor owns one per sensor.
type Classifier struct {
	t            Thresholds
	current      Status
	pendingSince time.Time // when the value first asked for a worse status; zero if it does not
}

// NewClassifier returns a classifier for t whose status starts unknown.
func NewClassifier(t Thresholds) *Classifier { return &Classifier{t: t} }

// Classify takes the value v measured at time at and returns the sensor's status after it.
func (c *Classifier) Classify(v float64, at time.Time) Status {
	next := c.t.levelFrom(v, c.current)
	// The first value is taken as it is: with no history there is no spike to filter.
	if next <= c.current || c.current == StatusUnknown {
		c.current = next
		c.pendingSince = time.Time{}
		return c.current
	}
	// next is worse than the current status: hold the current one until the worse one has
	// lasted OnDelay.
	if c.pendingSince.IsZero() {
		c.pendingSince = at
	}
	if at.Sub(c.pendingSince) >= c.t.OnDelay {
		c.current = next
		c.pendingSince = time.Time{}
		return c.current
	}
	return c.current
}

// Status returns the status after the last Classify, StatusUnknown before the first.
func (c *Classifier) Status() Status { return c.current }
