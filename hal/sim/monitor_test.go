package sim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal/sim"
)

// waitReading waits until the newest reading of id satisfies ok and returns it. The timeout
// is generous: the monitor reads every 20 ms, but a loaded machine may be slow.
func waitReading(tb testing.TB, m *maskservice.Monitor, id, what string, ok func(maskservice.Reading) bool) maskservice.Reading {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last maskservice.Reading
	for time.Now().Before(deadline) {
		if r := m.Current(); r != nil {
			for _, rd := range r.Current {
				if rd.SensorID == id {
					last = rd
					if ok(rd) {
						return rd
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("%s never read %s; newest reading %+v", id, what, last)
	return last
}

// waitState waits until the monitor's device state is want.
func waitState(tb testing.TB, m *maskservice.Monitor, want maskservice.DeviceState) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m.State() == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("device state is %s, want %s", m.State(), want)
}

func TestMonitor_OverSimulator(t *testing.T) {
	sensors := maskservice.DefaultSensors()
	for i := range sensors {
		sensors[i].Interval = 20 * time.Millisecond
	}
	live, err := maskservice.LiveSensorsOf(sensors)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sim.New(sensors, sim.Options{Seed: 1, Live: live})
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	m, err := maskservice.NewMonitor(live, src, nil)
	if err != nil {
		t.Fatalf("NewMonitor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	// The default profile is normal and good on every sensor.
	waitState(t, m, maskservice.StateOnline)
	for _, rd := range m.Current().Current {
		if rd.Status != maskservice.StatusNormal {
			t.Errorf("%s: status %s with the default profile, want normal", rd.SensorID, rd.Status)
		}
	}

	setFault := func(f sim.Fault) {
		t.Helper()
		if err := src.SetFault("P1", f); err != nil {
			t.Fatalf("SetFault(P1, %s): %v", f.Kind, err)
		}
	}

	setFault(sim.Fault{Kind: sim.FaultReadError})
	waitReading(t, m, "P1", "a failed read", func(r maskservice.Reading) bool {
		return r.Quality == maskservice.QualityBad && r.Status == maskservice.StatusUnknown &&
			strings.Contains(r.Fault, "no response from transducer") && !r.HasValue()
	})
	waitState(t, m, maskservice.StateError) // P2 and P3 are still good

	setFault(sim.Fault{Kind: sim.FaultOutOfRange})
	rd := waitReading(t, m, "P1", "out of range", func(r maskservice.Reading) bool {
		return r.Quality == maskservice.QualityBad && r.Fault == "out of range"
	})
	if rd.Value != 11 || rd.Status != maskservice.StatusCritical {
		t.Errorf("out of range: value %v status %s, want 11 critical", rd.Value, rd.Status)
	}

	// Walk P1 across its thresholds: normal band 2-8, warning band 1.5-9.
	for _, step := range []struct {
		value float64
		want  maskservice.Status
	}{
		{5, maskservice.StatusNormal},
		{8.5, maskservice.StatusWarning},
		{9.5, maskservice.StatusCritical},
	} {
		setFault(sim.Fault{Kind: sim.FaultValue, Value: step.value})
		waitReading(t, m, "P1", fmt.Sprintf("%s at %g", step.want, step.value), func(r maskservice.Reading) bool {
			return r.Value == step.value && r.Quality == maskservice.QualityGood && r.Status == step.want
		})
	}

	src.SetConnected(false)
	waitState(t, m, maskservice.StateOffline)
	for _, rd := range m.Current().Current {
		if !strings.Contains(rd.Fault, "bus disconnected") {
			t.Errorf("%s offline: fault %q, want bus disconnected", rd.SensorID, rd.Fault)
		}
	}

	src.SetConnected(true)
	waitState(t, m, maskservice.StateOnline)
}
