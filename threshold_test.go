package maskservice_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"mask.services/maskservice"
)

const (
	normal   = maskservice.StatusNormal
	warning  = maskservice.StatusWarning
	critical = maskservice.StatusCritical
)

// limit is one end of a band of a default sensor: its value, whether it is the high end, and
// the status a value just inside and just outside of it gets.
type limit struct {
	name            string
	value           float64
	high            bool
	inside, outside maskservice.Status
}

// limitsOf returns the four band limits of th, low to high.
func limitsOf(th maskservice.Thresholds) []limit {
	return []limit{
		{name: "warning low", value: th.Warning.Low, inside: warning, outside: critical},
		{name: "normal low", value: th.Normal.Low, inside: normal, outside: warning},
		{name: "normal high", value: th.Normal.High, high: true, inside: normal, outside: warning},
		{name: "warning high", value: th.Warning.High, high: true, inside: warning, outside: critical},
	}
}

// inward returns v moved by d towards the inside of the band that l bounds, or by one
// float64 step (the smallest move there is) when d is 0. outward moves the other way.
func (l limit) inward(v, d float64) float64 { return move(v, d, !l.high) }

func (l limit) outward(v, d float64) float64 { return move(v, d, l.high) }

func move(v, d float64, up bool) float64 {
	switch {
	case d == 0 && up:
		return math.Nextafter(v, math.Inf(1))
	case d == 0:
		return math.Nextafter(v, math.Inf(-1))
	case up:
		return v + d
	default:
		return v - d
	}
}

// deltas are the "just inside/outside" distances: one float64 step, and a thousandth of the
// sensor's unit (what a display would round away).
var deltas = []struct {
	name string
	d    float64
}{
	{name: "1ulp", d: 0},
	{name: "0.001", d: 0.001},
}

// classify feeds values to a new classifier one second apart and returns the last status.
func classify(th maskservice.Thresholds, values ...float64) maskservice.Status {
	c := maskservice.NewClassifier(th)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var st maskservice.Status
	for _, v := range values {
		st = c.Classify(v, at)
		at = at.Add(time.Second)
	}
	return st
}

func TestThresholds_Level(t *testing.T) {
	for _, s := range maskservice.DefaultSensors() {
		th := s.Thresholds
		for _, l := range limitsOf(th) {
			type check struct {
				name string
				v    float64
				want maskservice.Status
			}
			checks := []check{{name: "exactly", v: l.value, want: l.inside}}
			for _, d := range deltas {
				checks = append(checks,
					check{name: "just inside by " + d.name, v: l.inward(l.value, d.d), want: l.inside},
					check{name: "just outside by " + d.name, v: l.outward(l.value, d.d), want: l.outside},
				)
			}
			for _, c := range checks {
				t.Run(fmt.Sprintf("%s/%s/%s", s.ID, l.name, c.name), func(t *testing.T) {
					if got := th.Level(c.v); got != c.want {
						t.Errorf("Level(%v) = %s, want %s", c.v, got, c.want)
					}
					// With no history, a classifier takes the first value as it is.
					if got := classify(th, c.v); got != c.want {
						t.Errorf("first Classify(%v) = %s, want %s", c.v, got, c.want)
					}
				})
			}
		}
	}
}

func TestThresholds_LevelOutsideTheBands(t *testing.T) {
	for _, s := range maskservice.DefaultSensors() {
		th := s.Thresholds
		for _, tc := range []struct {
			v    float64
			want maskservice.Status
		}{
			{v: (th.Normal.Low + th.Normal.High) / 2, want: normal},
			{v: s.Range.Low, want: critical},
			{v: s.Range.High, want: critical},
			{v: s.Range.High * 2, want: critical},
			{v: -s.Range.High, want: critical},
		} {
			if got := th.Level(tc.v); got != tc.want {
				t.Errorf("%s: Level(%v) = %s, want %s", s.ID, tc.v, got, tc.want)
			}
		}
	}
}

func TestClassifier_Hysteresis(t *testing.T) {
	for _, s := range maskservice.DefaultSensors() {
		th := s.Thresholds
		h := th.Hysteresis
		for _, l := range limitsOf(th) {
			// The status before the test value: one worse than l's band, by a value halfway
			// between l and the next limit outward (or the range's end).
			var from float64
			switch l.name {
			case "warning low":
				from = (s.Range.Low + l.value) / 2
			case "normal low":
				from = (th.Warning.Low + l.value) / 2
			case "normal high":
				from = (th.Warning.High + l.value) / 2
			case "warning high":
				from = (s.Range.High + l.value) / 2
			}
			// The value must be inside the band by h to get better; computed as the code
			// computes it, so "exactly" is exact.
			edge := l.value + h
			if l.high {
				edge = l.value - h
			}
			for _, tc := range []struct {
				name string
				v    float64
				want maskservice.Status
			}{
				{name: "on the limit stays worse", v: l.value, want: l.outside},
				{name: "inside by less than h stays worse", v: l.inward(l.value, h/2), want: l.outside},
				{name: "inside by exactly h gets better", v: edge, want: l.inside},
				{name: "1ulp short of h stays worse", v: l.outward(edge, 0), want: l.outside},
				{name: "1ulp beyond h gets better", v: l.inward(edge, 0), want: l.inside},
				{name: "0.001 short of h stays worse", v: l.outward(edge, 0.001), want: l.outside},
				{name: "0.001 beyond h gets better", v: l.inward(edge, 0.001), want: l.inside},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", s.ID, l.name, tc.name), func(t *testing.T) {
					if got := classify(th, from); got != l.outside {
						t.Fatalf("setup: Classify(%v) = %s, want %s", from, got, l.outside)
					}
					if got := classify(th, from, tc.v); got != tc.want {
						t.Errorf("from %s (%v), Classify(%v) = %s, want %s", l.outside, from, tc.v, got, tc.want)
					}
				})
			}
		}
	}
}

func TestClassifier_HysteresisAcrossTwoBands(t *testing.T) {
	th := maskservice.DefaultSensors()[0].Thresholds // P1: normal 2-8, warning 1.5-9, h 0.05
	for _, tc := range []struct {
		name   string
		values []float64
		want   maskservice.Status
	}{
		{name: "critical to normal in one step", values: []float64{9.5, 5}, want: normal},
		{name: "critical to a normal value within h: warning", values: []float64{9.5, 7.99}, want: warning},
		{name: "critical to a normal value within h, low side", values: []float64{0.5, 2.01}, want: warning},
		{name: "critical to just inside warning: stays critical", values: []float64{9.5, 8.99}, want: critical},
		{name: "worse at once, no hysteresis upwards", values: []float64{5, math.Nextafter(8, 9)}, want: warning},
		{name: "worse at once, normal to critical", values: []float64{5, math.Nextafter(9, 10)}, want: critical},
		{name: "worse at once, low side", values: []float64{5, math.Nextafter(1.5, 0)}, want: critical},
		{name: "warning high to warning low stays warning", values: []float64{8.5, 1.75}, want: warning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(th, tc.values...); got != tc.want {
				t.Errorf("Classify(%v) ends %s, want %s", tc.values, got, tc.want)
			}
		})
	}
}

// TestClassifier_JitterDoesNotFlap feeds a value jittering by ±0.01 around every limit: the
// status changes once, on the first step over the limit, and never again.
func TestClassifier_JitterDoesNotFlap(t *testing.T) {
	for _, s := range maskservice.DefaultSensors() {
		th := s.Thresholds
		for _, l := range limitsOf(th) {
			t.Run(s.ID+"/"+l.name, func(t *testing.T) {
				// Start inside l's band, well away from the jitter.
				start := l.inward(l.value, 4*th.Hysteresis)
				c := maskservice.NewClassifier(th)
				at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				if got := c.Classify(start, at); got != l.inside {
					t.Fatalf("setup: Classify(%v) = %s, want %s", start, got, l.inside)
				}
				changes, prev := 0, l.inside
				for i := range 200 {
					v := l.outward(l.value, 0.01)
					if i%2 == 1 {
						v = l.inward(l.value, 0.01)
					}
					at = at.Add(time.Second)
					st := c.Classify(v, at)
					if st != prev {
						changes++
						prev = st
					}
				}
				if changes != 1 || prev != l.outside {
					t.Errorf("status changed %d times and ended %s; want 1 change to %s", changes, prev, l.outside)
				}
				if c.Status() != prev {
					t.Errorf("Status() = %s, want the last Classify's %s", c.Status(), prev)
				}
			})
		}
	}
}

func TestClassifier_OnDelay(t *testing.T) {
	th := maskservice.DefaultSensors()[0].Thresholds // P1: normal 2-8, warning 1.5-9
	th.OnDelay = 3 * time.Second
	type step struct {
		at   time.Duration // since the first value
		v    float64
		want maskservice.Status
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{name: "first value taken as it is", steps: []step{
			{0, 9.5, critical},
		}},
		{name: "worse status reported once it lasted OnDelay", steps: []step{
			{0, 5, normal},
			{1 * time.Second, 8.5, normal},
			{2 * time.Second, 8.5, normal},
			{4*time.Second - time.Millisecond, 8.5, normal},
			{4 * time.Second, 8.5, warning},
			{5 * time.Second, 8.5, warning},
		}},
		{name: "one sample after a long gap is enough", steps: []step{
			{0, 5, normal},
			{10 * time.Second, 8.5, normal}, // the first worse value starts the delay
			{13 * time.Second, 8.5, warning},
		}},
		{name: "spike shorter than OnDelay never shows", steps: []step{
			{0, 5, normal},
			{1 * time.Second, 9.5, normal},
			{2 * time.Second, 9.5, normal},
			{3*time.Second + 999*time.Millisecond, 9.5, normal},
			{4 * time.Second, 5, normal},
			{5 * time.Second, 5, normal},
		}},
		{name: "a good value restarts the delay", steps: []step{
			{0, 5, normal},
			{1 * time.Second, 8.5, normal},
			{3 * time.Second, 5, normal},
			{4 * time.Second, 8.5, normal}, // 3 s after the first worse value, but it was broken
			{6 * time.Second, 8.5, normal},
			{7 * time.Second, 8.5, warning},
		}},
		{name: "warning to critical is delayed too", steps: []step{
			{0, 8.5, warning},
			{1 * time.Second, 9.5, warning},
			{3 * time.Second, 9.5, warning},
			{4 * time.Second, 9.5, critical},
		}},
		{name: "improvement is immediate", steps: []step{
			{0, 9.5, critical},
			{100 * time.Millisecond, 8.5, warning},
			{200 * time.Millisecond, 5, normal},
		}},
		{name: "critical to normal is immediate", steps: []step{
			{0, 9.5, critical},
			{1 * time.Millisecond, 5, normal},
		}},
		{name: "hysteresis still applies when getting better", steps: []step{
			{0, 8.5, warning},
			{1 * time.Second, 7.99, warning},
			{2 * time.Second, 7.9, normal},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := maskservice.NewClassifier(th)
			if st := c.Status(); st != maskservice.StatusUnknown {
				t.Fatalf("Status() before the first value = %s, want unknown", st)
			}
			base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				if got := c.Classify(s.v, base.Add(s.at)); got != s.want {
					t.Fatalf("step %d (t=%s, v=%v): Classify = %s, want %s", i, s.at, s.v, got, s.want)
				}
				if got := c.Status(); got != s.want {
					t.Fatalf("step %d: Status() = %s, want %s", i, got, s.want)
				}
			}
		})
	}
}

func TestClassifier_ZeroOnDelayIsImmediate(t *testing.T) {
	th := maskservice.DefaultSensors()[1].Thresholds // P2: normal 1-4, warning 0.5-4.5
	c := maskservice.NewClassifier(th)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		v    float64
		want maskservice.Status
	}{
		{v: 2, want: normal},
		{v: 4.2, want: warning},
		{v: 4.8, want: critical},
		{v: 2, want: normal},
		{v: 0.1, want: critical},
	} {
		// The same instant: no time passes, so only a zero on-delay can raise the status.
		if got := c.Classify(tc.v, at); got != tc.want {
			t.Errorf("value %d (%v): Classify = %s, want %s", i, tc.v, got, tc.want)
		}
	}
}

func TestClassifier_OnDelayEscalation(t *testing.T) {
	th := maskservice.DefaultSensors()[0].Thresholds
	th.OnDelay = 3 * time.Second
	c := maskservice.NewClassifier(th)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range []struct {
		at   time.Duration
		v    float64
		want maskservice.Status
	}{
		{0, 5, normal},
		{1 * time.Second, 8.5, normal},
		{3 * time.Second, 8.5, normal},
		{4 * time.Second, 9.5, warning}, // warning-or-worse for 3 s; critical only just now
		{5 * time.Second, 9.5, warning},
		{7 * time.Second, 9.5, critical}, // critical for 3 s
	} {
		if got := c.Classify(s.v, base.Add(s.at)); got != s.want {
			t.Errorf("step %d (t=%s, v=%v) = %s, want %s", i, s.at, s.v, got, s.want)
		}
	}
}
