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

func (t Thresholds) validate(rng Band) *Error {
	switch {
	case !t.Normal.valid():
		return FieldErrorf("normal", "normal band [%g, %g] must be finite with low < high", t.Normal.Low, t.Normal.High)
	case !t.Warning.valid():
		return FieldErrorf("warning", "warning band [%g, %g] must be finite with low < high", t.Warning.Low, t.Warning.High)
	case !t.Normal.Within(t.Warning):
		return FieldErrorf("normal", "normal band [%g, %g] must lie inside the warning band [%g, %g]", t.Normal.Low, t.Normal.High, t.Warning.Low, t.Warning.High)
	case !t.Warning.Within(rng):
		return FieldErrorf("warning", "warning band [%g, %g] must lie inside the range [%g, %g]", t.Warning.Low, t.Warning.High, rng.Low, rng.High)
	case math.IsNaN(t.Hysteresis) || t.Hysteresis < 0:
		return FieldErrorf("hysteresis", "hysteresis %g must be >= 0", t.Hysteresis)
	case 2*t.Hysteresis >= t.Normal.High-t.Normal.Low:
		return FieldErrorf("hysteresis", "hysteresis %g must be less than half the normal band's width", t.Hysteresis)
	case t.OnDelay < 0 || t.OnDelay > time.Hour:
		return FieldErrorf("on_delay", "on_delay %s must be between 0 and 1h", t.OnDelay)
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
	t       Thresholds
	current Status
	// since[s] is when the value began asking, without a break, for status s or worse; zero
	// if it does not. Each worse status has its own clock, so a value that was a warning for
	// a while and then spikes to critical is reported as a warning, not as critical at once.
	since [StatusCritical + 1]time.Time
}

// NewClassifier returns a classifier for t whose status starts unknown.
func NewClassifier(t Thresholds) *Classifier { return &Classifier{t: t} }

// Classify takes the value v measured at time at and returns the sensor's status after it.
func (c *Classifier) Classify(v float64, at time.Time) Status {
	next := c.t.levelFrom(v, c.current)
	// The first value is taken as it is: with no history there is no spike to filter.
	if next <= c.current || c.current == StatusUnknown {
		c.current = next
		c.since = [StatusCritical + 1]time.Time{}
		return c.current
	}
	// next is worse than the current status: start the clock of every status up to next,
	// stop those beyond it, and report the worst one that has lasted OnDelay.
	for s := c.current + 1; s <= StatusCritical; s++ {
		switch {
		case s > next:
			c.since[s] = time.Time{}
		case c.since[s].IsZero():
			c.since[s] = at
		}
	}
	for s := next; s > c.current; s-- {
		if at.Sub(c.since[s]) >= c.t.OnDelay {
			c.current = s
			break
		}
	}
	for s := range c.current + 1 {
		c.since[s] = time.Time{}
	}
	return c.current
}

// SetThresholds makes the classifier judge the next values by t (new settings swapped in);
// the status so far is kept, so a changed band applies from the next value on.
func (c *Classifier) SetThresholds(t Thresholds) { c.t = t }

// Status returns the status after the last Classify, StatusUnknown before the first.
func (c *Classifier) Status() Status { return c.current }
