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
)

// FuzzParse feeds the decoder arbitrary documents. Parse must never panic, every error must
// name the file, and a configuration it accepts must run: its sensors pass the domain's
// validation, each names a configured bus, and the simulator takes the sim buses' sensors
// with their scripts and reads finite values from them.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		readmeExample(f),
		good,
		"",
		"[[bus]]\nname = \"sim\"\ndriver = \"sim\"\n[[sensor]]\nid = \"P2\"\nbus = \"sim\"\n",
		"bus = [{name = \"s\", driver = \"sim\"}]\nsensor = [{id = \"P3\", bus = \"s\", on_delay = \"2s\"}]\n",
		"[[bus]]\nname = \"s\"\ndriver = \"sim\"\n[[sensor]]\nid = \"X\"\nbus = \"s\"\nunit = \"u\"\nrange = [-inf, nan]\nnormal = [0.0, 1.0]\nwarning = [0.0, 1.0]\n",
		"[[bus]]\nname = \"s\"\ndriver = \"sim\"\n[[sensor]]\nid = \"P1\"\nbus = \"s\"\nsim_script = [[0.0, 1e308], [1e9, -1e308]]\ninterval = 5\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.toml:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
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
