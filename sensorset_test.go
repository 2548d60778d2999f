package maskservice_test

import (
	"context"
	"math"
	"testing"
	"time"

	"mask.services/maskservice"
)

func TestLiveSensors_Swap(t *testing.T) {
	live, err := maskservice.LiveSensorsOf(maskservice.DefaultSensors())
	if err != nil {
		t.Fatal(err)
	}
	first := live.Load()
	if first.Version() != 1 || first.At(0).Calibration != maskservice.NoCalibration {
		t.Fatalf("first set: version %d, calibration %+v; want 1 and none", first.Version(), first.At(0).Calibration)
	}
	for _, tt := range []struct {
		name   string
		change func([]maskservice.Sensor) []maskservice.Sensor
		field  string // of the refusal: "" when accepted, "-" when refused about no one field
	}{
		{"a band", func(s []maskservice.Sensor) []maskservice.Sensor { s[0].Thresholds.Normal.High = 7; return s }, ""},
		{"a calibration", func(s []maskservice.Sensor) []maskservice.Sensor {
			s[2].Calibration = maskservice.Calibration{Gain: 1.01, Offset: -2}
			return s
		}, ""},
		{"the interval and name", func(s []maskservice.Sensor) []maskservice.Sensor {
			s[1].Interval, s[1].Name = 500*time.Millisecond, "Supply"
			return s
		}, ""},
		{"a band outside the range", func(s []maskservice.Sensor) []maskservice.Sensor { s[0].Thresholds.Warning.High = 11; return s }, "warning"},
		{"a zero gain with an offset", func(s []maskservice.Sensor) []maskservice.Sensor {
			s[0].Calibration = maskservice.Calibration{Offset: 1}
			return s
		}, "calibration.gain"},
		{"a NaN offset", func(s []maskservice.Sensor) []maskservice.Sensor {
			s[0].Calibration = maskservice.Calibration{Gain: 1, Offset: math.NaN()}
			return s
		}, "calibration.offset"},
		{"sensors reordered", func(s []maskservice.Sensor) []maskservice.Sensor { s[0], s[1] = s[1], s[0]; return s }, "id"},
		{"another bus", func(s []maskservice.Sensor) []maskservice.Sensor { s[2].Bus = "rs485"; return s }, "bus"},
		{"another unit", func(s []maskservice.Sensor) []maskservice.Sensor { s[0].Unit = "mbar"; return s }, "unit"},
		{"a sensor added", func(s []maskservice.Sensor) []maskservice.Sensor {
			extra := s[0]
			extra.ID = "P4"
			return append(s, extra)
		}, "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := live.Load()
			set, err := live.Swap(tt.change(before.All()))
			switch {
			case tt.field == "-":
				if maskservice.ErrorCode(err) != maskservice.EINVALID || live.Load() != before {
					t.Fatalf("swap: %v; want EINVALID and nothing changed", err)
				}
			case tt.field == "":
				if err != nil || live.Load() != set || set.Version() != before.Version()+1 {
					t.Fatalf("swap: %v; want the new set in force as version %d", err, before.Version()+1)
				}
			default:
				if maskservice.ErrorCode(err) != maskservice.EINVALID || maskservice.ErrorField(err) != tt.field {
					t.Errorf("swap: %v (field %q), want EINVALID about %s", err, maskservice.ErrorField(err), tt.field)
				}
				if live.Load() != before {
					t.Error("a refused swap changed the settings")
				}
			}
		})
	}
}

// The monitor judges each round by the settings in force when it starts: a calibration and a
// band swapped in apply from the next round, and the round says which settings judged it.
func TestMonitor_LiveSettings(t *testing.T) {
	sensors := sensorsEvery(10 * time.Millisecond)
	live, err := maskservice.LiveSensorsOf(sensors)
	if err != nil {
		t.Fatal(err)
	}
	m, err := maskservice.NewMonitor(live, &scriptSource{value: good}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe("test", 1000)
	run(t, context.Background(), m)
	if r := receive(t, sub); r.Readings[0].Value != 5 || r.Readings[0].Status != maskservice.StatusNormal || r.Sensors != live.Load() {
		t.Fatalf("first round %+v: want P1 5 bar, normal, judged by the set in force", r.Readings[0])
	}
	next := live.Load().All()
	next[0].Calibration = maskservice.Calibration{Gain: 1.2, Offset: 0.5} // 5 bar reads 6.5
	next[0].Thresholds.Normal = maskservice.Band{Low: 2, High: 6}
	set, err := live.Swap(next)
	if err != nil {
		t.Fatal(err)
	}
	for {
		r := receive(t, sub)
		if r.Sensors != set {
			continue // the round under way when the swap came
		}
		rd := r.Readings[0]
		if rd.Value != 6.5 || rd.Raw != 5000 || rd.Status != maskservice.StatusWarning {
			t.Fatalf("after the swap: value %g raw %g %s; want 6.5 from the raw 5000 (5 bar), a warning by the band 2-6", rd.Value, rd.Raw, rd.Status)
		}
		return
	}
}
