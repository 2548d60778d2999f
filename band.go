package maskservice

import "math"

// Band is a closed interval [Low, High] of values in a sensor's unit.
type Band struct {
	Low  float64
	High float64
}

// Contains reports whether Low <= v <= High.
func (b Band) Contains(v float64) bool { return v >= b.Low && v <= b.High }

// Within reports whether b lies entirely inside outer.
func (b Band) Within(outer Band) bool { return b.Low >= outer.Low && b.High <= outer.High }

// Shrink returns b narrowed by d at both ends (an empty band if d exceeds half its width).
func (b Band) Shrink(d float64) Band { return Band{Low: b.Low + d, High: b.High - d} }

// valid reports whether both ends are finite, Low < High, and the width is finite too: a
// band such as [-1e308, 1e308] has an infinite width, which turns every computation scaled
// by it (hysteresis checks, the simulator's profile and quantization) into NaN.
func (b Band) valid() bool {
	return !math.IsNaN(b.Low) && !math.IsNaN(b.High) && !math.IsInf(b.Low, 0) &&
		!math.IsInf(b.High, 0) && b.Low < b.High && !math.IsInf(b.High-b.Low, 0)
}
