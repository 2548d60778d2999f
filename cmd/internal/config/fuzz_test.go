package config_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal/sim"
	"mask.services/maskservice/web/cors"
)

// FuzzParse feeds the decoder arbitrary documents. Parse must never panic, every error must
// name the file, and a configuration it accepts must run: its sensors pass the domain's
// validation, each names a configured bus, the web server takes its CORS origins, hal/modbus
// takes the modbus buses with their sensors, and the simulator takes the sim buses' sensors
// with their scripts and reads finite values from them.
//
// The seed corpus is testdata/fuzz/FuzzParse (which cmd/maskserviced's
// TestConfigCheck_AgreesWithServe also starts the daemon with), plus the two documents
// built here.
func FuzzParse(f *testing.F) {
	f.Add([]byte(readmeExample(f)))
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.toml:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := cors.ParseOrigins(c.HTTP.CORSOrigins); err != nil {
			t.Fatalf("Parse accepted CORS origins the web server refuses: %v", err)
		}
		sensors := c.DomainSensors()
		if err := maskservice.ValidateSensors(sensors); err != nil {
			t.Fatalf("Parse accepted sensors the domain refuses: %v", err)
		}
		for i, s := range c.Sensors {
			b := c.Bus(s.Bus)
			if b == nil {
				t.Fatalf("sensor %s names bus %q, which is not configured", s.ID, s.Bus)
			}
			if b.Driver != "sim" {
				mc := c.ModbusBus(b, []int{i})
				if err := mc.Validate(); err != nil {
					t.Fatalf("Parse accepted bus %s with sensor %s, hal/modbus refuses it: %v", b.Name, s.ID, err)
				}
				continue
			}
			assertSimulates(t, sensors[i], c.Script(i))
		}
	})
}

// assertSimulates checks that the simulator takes sensor s with script and reads finite
// values from it at a few times across the script.
func assertSimulates(t *testing.T, s maskservice.Sensor, script []sim.ScriptPoint) {
	t.Helper()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := sim.Options{Now: func() time.Time { return now }}
	if script != nil {
		opts.Scripts = map[string][]sim.ScriptPoint{s.ID: script}
	}
	src, err := sim.New([]maskservice.Sensor{s}, opts)
	if err != nil {
		t.Fatalf("Parse accepted sensor %s, the simulator refuses it: %v", s.ID, err)
	}
	live, err := maskservice.LiveSensorsOf([]maskservice.Sensor{s})
	if err != nil {
		t.Fatalf("Parse accepted sensor %s, the sensor settings refuse it: %v", s.ID, err)
	}
	if _, err := maskservice.NewMonitor(live, src, nil); err != nil {
		t.Fatalf("Parse accepted sensor %s, the monitor refuses it: %v", s.ID, err)
	}
	steps := []time.Duration{0, 1500 * time.Millisecond, time.Minute}
	if len(script) > 0 {
		steps = append(steps, script[len(script)-1].At/2, script[len(script)-1].At)
	}
	start := now
	for _, d := range steps {
		now = start.Add(d)
		got, err := src.Read(context.Background(), []string{s.ID})
		if err != nil || len(got) != 1 || got[0].Err != nil {
			t.Fatalf("read %s: %v %+v", s.ID, err, got)
		}
		if v := got[0].Value; math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("sensor %s reads %v at %s: the monitor would judge it an invalid value", s.ID, v, d)
		}
	}
}
