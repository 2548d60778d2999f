package hal_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// fakeBus is one bus: it reads value 1 for every id, or fails as told.
type fakeBus struct {
	name     string
	err      error         // Read fails with it
	short    bool          // Read returns one sample too few
	wait     time.Duration // Read takes this long
	closeErr error
	closed   atomic.Bool
	calls    atomic.Int32
}

func (f *fakeBus) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	f.calls.Add(1)
	time.Sleep(f.wait)
	if f.err != nil {
		return nil, f.err
	}
	out := make([]maskservice.Sample, 0, len(ids))
	for _, id := range ids {
		out = append(out, maskservice.Sample{SensorID: id, Raw: 1, Value: 1})
	}
	if f.short {
		out = out[:len(out)-1]
	}
	return out, nil
}

func (f *fakeBus) Close() error { f.closed.Store(true); return f.closeErr }

// diagBus is a bus that keeps diagnostics, as hal/modbus.Bus does.
type diagBus struct{ *fakeBus }

func (d diagBus) BusDiagnostics() []maskservice.BusDiagnostics {
	return []maskservice.BusDiagnostics{{Bus: d.name}}
}

// readOnly is a bus without a port to close, as hal/sim.Source is.
type readOnly struct{ bus *fakeBus }

func (r readOnly) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	return r.bus.Read(ctx, ids)
}

func TestBuses_Read(t *testing.T) {
	boom := errors.New("port gone")
	tests := []struct {
		name    string
		buses   []*fakeBus
		busOf   map[string]int
		ids     []string
		wantErr string   // Read's error
		failed  []string // sensors whose sample carries an error
	}{
		{"one bus", []*fakeBus{{}}, map[string]int{"P1": 0, "P2": 0}, []string{"P2", "P1"}, "", nil},
		{"two buses keep the order of ids", []*fakeBus{{}, {}}, map[string]int{"P1": 0, "P2": 1, "P3": 0},
			[]string{"P3", "P2", "P1"}, "", nil},
		{"a failing bus fails its sensors only", []*fakeBus{{err: boom}, {}}, map[string]int{"P1": 0, "P2": 1, "P3": 0},
			[]string{"P1", "P2", "P3"}, "", []string{"P1", "P3"}},
		{"a bus that loses a sample fails its sensors", []*fakeBus{{}, {short: true}}, map[string]int{"P1": 0, "P2": 1},
			[]string{"P1", "P2"}, "", []string{"P2"}},
		{"a sensor on no bus fails the round", []*fakeBus{{}, {}}, map[string]int{"P1": 0, "P2": 1},
			[]string{"P1", "X"}, "read X: sensor is on no bus", nil},
		{"a bus with no sensor of the round is not read", []*fakeBus{{err: boom}, {}}, map[string]int{"P1": 0, "P2": 1},
			[]string{"P2"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sources := make([]maskservice.Source, len(tt.buses))
			for i, b := range tt.buses {
				sources[i] = b
			}
			buses, err := hal.NewBuses(sources, tt.busOf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := buses.Read(context.Background(), tt.ids)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Read error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.ids) {
				t.Fatalf("got %d samples for %d ids", len(got), len(tt.ids))
			}
			for k, s := range got {
				if s.SensorID != tt.ids[k] {
					t.Errorf("sample %d is %s, want %s", k, s.SensorID, tt.ids[k])
				}
				if want := slices.Contains(tt.failed, s.SensorID); want != (s.Err != nil) {
					t.Errorf("%s: Err = %v, want failed=%v", s.SensorID, s.Err, want)
				}
				if s.Err != nil && !math.IsNaN(s.Value) {
					t.Errorf("%s failed but has value %g", s.SensorID, s.Value)
				}
			}
			for i, b := range tt.buses {
				if b.calls.Load() > 1 {
					t.Errorf("bus %d read %d times in one round", i, b.calls.Load())
				}
			}
		})
	}
}

// TestBuses_ReadConcurrently checks that the buses' shares of a round are read at the same
// time: independent lines, so a round takes as long as the slowest bus, not their sum.
func TestBuses_ReadConcurrently(t *testing.T) {
	const wait = 100 * time.Millisecond
	a, b := &fakeBus{wait: wait}, &fakeBus{wait: wait}
	buses, err := hal.NewBuses([]maskservice.Source{a, b}, map[string]int{"P1": 0, "P2": 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := buses.Read(context.Background(), []string{"P1", "P2"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 2*wait {
		t.Errorf("round took %s: the buses were read one after the other", d)
	}
}

func TestBuses_DiagnosticsAndClose(t *testing.T) {
	rtu, sim, tcp := &fakeBus{name: "rs485"}, &fakeBus{name: "sim"}, &fakeBus{name: "tcp", closeErr: errors.New("close tcp: reset")}
	buses, err := hal.NewBuses([]maskservice.Source{diagBus{rtu}, readOnly{sim}, diagBus{tcp}},
		map[string]int{"P1": 0, "P2": 1, "P3": 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range buses.BusDiagnostics() {
		names = append(names, d.Bus)
	}
	if want := []string{"rs485", "tcp"}; !slices.Equal(names, want) {
		t.Errorf("diagnostics of %v, want %v (the simulator keeps none)", names, want)
	}
	err = buses.Close()
	if err == nil || !strings.Contains(err.Error(), "close tcp: reset") {
		t.Errorf("Close = %v, want the tcp bus's error", err)
	}
	if !rtu.closed.Load() || !tcp.closed.Load() {
		t.Error("a bus with a port was not closed")
	}
	if sim.closed.Load() {
		t.Error("a source without Close was closed")
	}
}

func TestNewBuses_Refuses(t *testing.T) {
	tests := []struct {
		name    string
		sources []maskservice.Source
		busOf   map[string]int
		want    string
	}{
		{"nil source", []maskservice.Source{nil}, map[string]int{"P1": 0}, "new buses: bus 0: source is nil"},
		{"sensor past the buses", []maskservice.Source{&fakeBus{}}, map[string]int{"P1": 1}, "new buses: sensor P1: bus 1 of 1"},
		{"negative bus", []maskservice.Source{&fakeBus{}}, map[string]int{"P1": -1}, "new buses: sensor P1: bus -1 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hal.NewBuses(tt.sources, tt.busOf)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewBuses = %v, want %q", err, tt.want)
			}
		})
	}
}
