package maskservice_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
)

// p1 returns the default P1 sensor, changed by each edit in turn.
func p1(edits ...func(*maskservice.Sensor)) maskservice.Sensor {
	s := maskservice.DefaultSensors()[0]
	for _, e := range edits {
		e(&s)
	}
	return s
}

// assertInvalid fails unless err is an *Error with code EINVALID about the input field
// (a config key; "" for none) whose message holds every one of words.
func assertInvalid(tb testing.TB, err error, field string, words ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one naming %q", words)
	}
	var e *maskservice.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %q (%T) is not a *maskservice.Error", err, err)
	}
	if code := maskservice.ErrorCode(err); code != maskservice.EINVALID {
		tb.Errorf("error code = %q, want %q", code, maskservice.EINVALID)
	}
	if f := maskservice.ErrorField(err); f != field {
		tb.Errorf("error field = %q, want %q", f, field)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			tb.Errorf("error %q does not name %q", err, w)
		}
	}
}

func TestSensor_Validate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     maskservice.Sensor
		field string   // the config key the error names
		words []string // nil: valid
	}{
		{name: "default P1", s: p1()},
		{name: "empty id", s: p1(func(s *maskservice.Sensor) { s.ID = "" }), field: "id", words: []string{`sensor id ""`, "must start with a letter"}},
		{name: "id starts with a digit", s: p1(func(s *maskservice.Sensor) { s.ID = "1P" }), field: "id", words: []string{`"1P"`, "must start with a letter"}},
		{name: "id with a space", s: p1(func(s *maskservice.Sensor) { s.ID = "P 1" }), field: "id", words: []string{`"P 1"`, "must start with a letter"}},
		{name: "id with a dot", s: p1(func(s *maskservice.Sensor) { s.ID = "P.1" }), field: "id", words: []string{`"P.1"`}},
		{name: "id of 33 characters", s: p1(func(s *maskservice.Sensor) { s.ID = "P" + strings.Repeat("x", 32) }), field: "id", words: []string{"at most 32"}},
		{name: "id of 32 characters", s: p1(func(s *maskservice.Sensor) { s.ID = "P" + strings.Repeat("x", 31) })},
		{name: "id with _ and -", s: p1(func(s *maskservice.Sensor) { s.ID = "tank_1-inlet" })},
		{name: "reserved id type", s: p1(func(s *maskservice.Sensor) { s.ID = "type" }), field: "id", words: []string{`"type"`, "reserved"}},
		{name: "reserved id seq", s: p1(func(s *maskservice.Sensor) { s.ID = "seq" }), field: "id", words: []string{`"seq"`, "reserved"}},
		{name: "reserved id ts", s: p1(func(s *maskservice.Sensor) { s.ID = "ts" }), field: "id", words: []string{`"ts"`, "reserved"}},
		{name: "empty unit", s: p1(func(s *maskservice.Sensor) { s.Unit = "" }), field: "unit", words: []string{"P1", "unit"}},
		{name: "Polish name of 64 bytes", s: p1(func(s *maskservice.Sensor) { s.Names.PL = strings.Repeat("ś", 32) })},
		{name: "Polish name over 64 bytes", s: p1(func(s *maskservice.Sensor) { s.Names.PL = strings.Repeat("ś", 32) + "x" }), field: "name_pl", words: []string{"P1", "at most 64 bytes"}},
		{name: "English name with a newline", s: p1(func(s *maskservice.Sensor) { s.Names.EN = "Pressure\n1" }), field: "name_en", words: []string{"P1", "control character"}},
		{name: "name not UTF-8", s: p1(func(s *maskservice.Sensor) { s.Name = "P\xff" }), field: "name", words: []string{"P1", "UTF-8"}},
		{name: "range low = high", s: p1(func(s *maskservice.Sensor) { s.Range = maskservice.Band{Low: 5, High: 5} }), field: "range", words: []string{"P1", "range [5, 5]"}},
		{name: "range reversed", s: p1(func(s *maskservice.Sensor) { s.Range = maskservice.Band{Low: 10, High: 0} }), field: "range", words: []string{"P1", "range"}},
		{name: "range NaN", s: p1(func(s *maskservice.Sensor) { s.Range.High = math.NaN() }), field: "range", words: []string{"P1", "range"}},
		{name: "range infinite", s: p1(func(s *maskservice.Sensor) { s.Range.High = math.Inf(1) }), field: "range", words: []string{"P1", "range"}},
		{name: "range of infinite width", s: p1(func(s *maskservice.Sensor) { s.Range = maskservice.Band{Low: -math.MaxFloat64, High: math.MaxFloat64} }), field: "range", words: []string{"P1", "range", "finite width"}},
		{name: "range of the widest finite width", s: p1(func(s *maskservice.Sensor) {
			s.Range = maskservice.Band{Low: -math.MaxFloat64 / 2, High: math.MaxFloat64 / 2}
		})},
		{name: "interval zero", s: p1(func(s *maskservice.Sensor) { s.Interval = 0 }), field: "interval", words: []string{"P1", "interval 0s"}},
		{name: "interval negative", s: p1(func(s *maskservice.Sensor) { s.Interval = -time.Second }), field: "interval", words: []string{"P1", "interval -1s"}},
		{name: "interval just below 10ms", s: p1(func(s *maskservice.Sensor) { s.Interval = 10*time.Millisecond - 1 }), field: "interval", words: []string{"P1", "interval", "between 10ms and 1h"}},
		{name: "interval 10ms", s: p1(func(s *maskservice.Sensor) { s.Interval = 10 * time.Millisecond })},
		{name: "interval 1h", s: p1(func(s *maskservice.Sensor) { s.Interval = time.Hour })},
		{name: "interval just above 1h", s: p1(func(s *maskservice.Sensor) { s.Interval = time.Hour + 1 }), field: "interval", words: []string{"P1", "interval", "between 10ms and 1h"}},
		{name: "normal band reversed", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Normal = maskservice.Band{Low: 8, High: 2} }), field: "normal", words: []string{"P1", "normal band [8, 2]"}},
		{name: "warning band NaN", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Warning.Low = math.NaN() }), field: "warning", words: []string{"P1", "warning band"}},
		{name: "normal below warning", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Normal.Low = 1 }), field: "normal", words: []string{"P1", "normal band [1, 8]", "inside the warning band [1.5, 9]"}},
		{name: "normal above warning", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Normal.High = 9.5 }), field: "normal", words: []string{"P1", "normal band [2, 9.5]", "inside the warning band"}},
		{name: "normal equal to warning", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Normal = s.Thresholds.Warning })},
		{name: "warning below range", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Warning.Low = -0.5 }), field: "warning", words: []string{"P1", "warning band [-0.5, 9]", "inside the range [0, 10]"}},
		{name: "warning above range", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Warning.High = 10.5 }), field: "warning", words: []string{"P1", "warning band [1.5, 10.5]", "inside the range [0, 10]"}},
		{name: "warning equal to range", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Warning = s.Range })},
		{name: "hysteresis negative", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = -0.01 }), field: "hysteresis", words: []string{"P1", "hysteresis -0.01", ">= 0"}},
		{name: "hysteresis NaN", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = math.NaN() }), field: "hysteresis", words: []string{"P1", "hysteresis"}},
		{name: "hysteresis half the normal band", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = 3 }), field: "hysteresis", words: []string{"P1", "hysteresis 3", "less than half the normal band"}},
		{name: "hysteresis larger than the normal band", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = 10 }), field: "hysteresis", words: []string{"P1", "hysteresis 10"}},
		{name: "hysteresis just below half", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = 2.99 })},
		{name: "hysteresis zero", s: p1(func(s *maskservice.Sensor) { s.Thresholds.Hysteresis = 0 })},
		{name: "on-delay negative", s: p1(func(s *maskservice.Sensor) { s.Thresholds.OnDelay = -time.Second }), field: "on_delay", words: []string{"P1", "on_delay -1s"}},
		{name: "on-delay over 1h", s: p1(func(s *maskservice.Sensor) { s.Thresholds.OnDelay = 2 * time.Hour }), field: "on_delay", words: []string{"P1", "on_delay 2h0m0s"}},
		{name: "on-delay 1h", s: p1(func(s *maskservice.Sensor) { s.Thresholds.OnDelay = time.Hour })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.words == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			assertInvalid(t, err, tc.field, tc.words...)
		})
	}
}

// numbered returns n valid sensors with the ids S0, S1, ...
func numbered(n int) []maskservice.Sensor {
	out := make([]maskservice.Sensor, n)
	for i := range out {
		out[i] = p1(func(s *maskservice.Sensor) { s.ID = fmt.Sprintf("S%d", i) })
	}
	return out
}

func TestValidateSensors(t *testing.T) {
	defaults := maskservice.DefaultSensors()
	p2 := defaults[1]
	for _, tc := range []struct {
		name    string
		sensors []maskservice.Sensor
		field   string
		words   []string // nil: valid
	}{
		{name: "the defaults", sensors: defaults},
		{name: "one sensor", sensors: []maskservice.Sensor{p2}},
		{name: "none", sensors: nil, field: "", words: []string{"no sensors"}},
		{name: "empty", sensors: []maskservice.Sensor{}, field: "", words: []string{"no sensors"}},
		{name: "duplicate id", sensors: []maskservice.Sensor{p1(), p2, p1(func(s *maskservice.Sensor) { s.Name = "again" })}, field: "id", words: []string{`sensor id "P1"`, "used twice"}},
		{name: "ids differ in case", sensors: []maskservice.Sensor{p1(), p1(func(s *maskservice.Sensor) { s.ID = "p1" })}},
		{name: "one invalid among valid", sensors: []maskservice.Sensor{p1(), p2, p1(func(s *maskservice.Sensor) { s.ID = "P4"; s.Unit = "" })}, field: "unit", words: []string{"P4", "unit"}},
		{name: "the most allowed", sensors: numbered(maskservice.MaxSensors)},
		{name: "one too many", sensors: numbered(maskservice.MaxSensors + 1), field: "", words: []string{"65 sensors", "at most 64"}},
		{name: "invalid before a duplicate", sensors: []maskservice.Sensor{p1(func(s *maskservice.Sensor) { s.ID = "ts" }), p2, p2}, field: "id", words: []string{`"ts"`, "reserved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := maskservice.ValidateSensors(tc.sensors)
			if tc.words == nil {
				if err != nil {
					t.Fatalf("ValidateSensors() = %v, want nil", err)
				}
				return
			}
			assertInvalid(t, err, tc.field, tc.words...)
		})
	}
}

func TestDefaultSensors(t *testing.T) {
	for _, tc := range []struct {
		id              string
		unit            string
		rng, norm, warn maskservice.Band
	}{
		{id: "P1", unit: "bar", rng: maskservice.Band{Low: 0, High: 10}, norm: maskservice.Band{Low: 2, High: 8}, warn: maskservice.Band{Low: 1.5, High: 9}},
		{id: "P2", unit: "bar", rng: maskservice.Band{Low: 0, High: 5}, norm: maskservice.Band{Low: 1, High: 4}, warn: maskservice.Band{Low: 0.5, High: 4.5}},
		{id: "P3", unit: "mbar", rng: maskservice.Band{Low: 0, High: 1000}, norm: maskservice.Band{Low: 200, High: 800}, warn: maskservice.Band{Low: 100, High: 900}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			s, ok := sensorByID(maskservice.DefaultSensors(), tc.id)
			if !ok {
				t.Fatalf("DefaultSensors() has no %s", tc.id)
			}
			if s.Unit != tc.unit || s.Range != tc.rng || s.Thresholds.Normal != tc.norm || s.Thresholds.Warning != tc.warn {
				t.Errorf("%s = unit %s, range %v, normal %v, warning %v; want %s, %v, %v, %v (DESIGN.md)",
					tc.id, s.Unit, s.Range, s.Thresholds.Normal, s.Thresholds.Warning, tc.unit, tc.rng, tc.norm, tc.warn)
			}
			if s.Interval != time.Second {
				t.Errorf("%s interval = %s, want 1s", tc.id, s.Interval)
			}
		})
	}
	// Every call returns a fresh slice, so a caller's edits never leak into the next one.
	a := maskservice.DefaultSensors()
	a[0].ID = "changed"
	if b := maskservice.DefaultSensors(); b[0].ID != "P1" {
		t.Errorf("DefaultSensors() returned an edited slice: first id %q", b[0].ID)
	}
}

func sensorByID(sensors []maskservice.Sensor, id string) (maskservice.Sensor, bool) {
	for _, s := range sensors {
		if s.ID == id {
			return s, true
		}
	}
	return maskservice.Sensor{}, false
}

func TestBand(t *testing.T) {
	b := maskservice.Band{Low: 2, High: 8}
	for _, tc := range []struct {
		v    float64
		want bool
	}{
		{v: 2, want: true}, {v: 8, want: true}, {v: 5, want: true},
		{v: math.Nextafter(2, 0), want: false}, {v: math.Nextafter(8, 9), want: false},
		{v: math.NaN(), want: false},
	} {
		if got := b.Contains(tc.v); got != tc.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", b, tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		outer maskservice.Band
		want  bool
	}{
		{outer: maskservice.Band{Low: 2, High: 8}, want: true},
		{outer: maskservice.Band{Low: 0, High: 10}, want: true},
		{outer: maskservice.Band{Low: 2.5, High: 10}, want: false},
		{outer: maskservice.Band{Low: 0, High: 7.5}, want: false},
	} {
		if got := b.Within(tc.outer); got != tc.want {
			t.Errorf("%v.Within(%v) = %v, want %v", b, tc.outer, got, tc.want)
		}
	}
	if got, want := b.Shrink(1), (maskservice.Band{Low: 3, High: 7}); got != want {
		t.Errorf("Shrink(1) = %v, want %v", got, want)
	}
	if empty := b.Shrink(4); empty.Contains(5) {
		t.Errorf("Shrink(4) = %v contains 5; a band shrunk past half its width must be empty", empty)
	}
}
