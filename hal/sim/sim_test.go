package sim_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/sim"
)

// clock is a fake time source that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustNew returns a simulator of the default sensors whose time is clk.
func mustNew(tb testing.TB, clk *clock, opts sim.Options) *sim.Source {
	tb.Helper()
	opts.Now = clk.Now
	s, err := sim.New(maskservice.DefaultSensors(), opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// mustRead reads ids and fails the test if Read fails as a whole.
func mustRead(tb testing.TB, s *sim.Source, ids ...string) []maskservice.Sample {
	tb.Helper()
	samples, err := s.Read(context.Background(), ids)
	if err != nil {
		tb.Fatalf("Read(%v): %v", ids, err)
	}
	if len(samples) != len(ids) {
		tb.Fatalf("Read(%v) returned %d samples", ids, len(samples))
	}
	return samples
}

// sec returns s seconds as a duration.
func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestSource_Script(t *testing.T) {
	// The sim_script example of DESIGN.md on P1, and one that starts late on P2.
	scripts := map[string][]sim.ScriptPoint{
		"P1": {{0, 5}, {sec(5), 5}, {sec(6), 9.5}, {sec(20), 9.5}, {sec(21), 5}},
		"P2": {{sec(2), 3}, {sec(4), 4}},
		"P3": {{0, 1200}}, // a script may leave the range
	}
	tests := []struct {
		at         float64 // seconds since New
		p1, p2, p3 float64
	}{
		{0, 5, 3, 1200},
		{2.5, 5, 3.25, 1200},
		{5, 5, 4, 1200},
		{5.5, 7.25, 4, 1200},
		{6, 9.5, 4, 1200},
		{13, 9.5, 4, 1200},
		{20.5, 7.25, 4, 1200},
		{20.9, 5.45, 4, 1200},
		{21, 5, 4, 1200},
		{3600, 5, 4, 1200},
	}
	clk := newClock()
	s := mustNew(t, clk, sim.Options{Scripts: scripts})
	start := clk.Now()
	for _, tt := range tests {
		t.Run(fmt.Sprintf("t=%gs", tt.at), func(t *testing.T) {
			clk.Advance(start.Add(sec(tt.at)).Sub(clk.Now()))
			got := mustRead(t, s, "P1", "P2", "P3")
			for k, want := range []float64{tt.p1, tt.p2, tt.p3} {
				g := got[k]
				if g.Err != nil || g.Value != want {
					t.Errorf("%s = %v (err %v), want %v", g.SensorID, g.Value, g.Err, want)
				}
				if !g.Time.Equal(clk.Now()) {
					t.Errorf("%s: Time = %s, want %s", g.SensorID, g.Time, clk.Now())
				}
			}
			// P1 has 1000 counts per bar.
			if want := math.Round(tt.p1 * 1000); got[0].Raw != want {
				t.Errorf("P1 Raw = %v, want %v", got[0].Raw, want)
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name    string
		sensors []maskservice.Sensor
		opts    sim.Options
		wantIn  []string
	}{
		{
			name:   "unknown sensor",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P9": {{0, 1}}}},
			wantIn: []string{"P9", "unknown sensor"},
		},
		{
			name:   "no points",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P2": {}}},
			wantIn: []string{"P2", "no points"},
		},
		{
			name:   "negative time",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P1": {{-time.Second, 1}}}},
			wantIn: []string{"P1", "point 0", "negative"},
		},
		{
			name:   "equal times",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P1": {{0, 1}, {sec(2), 2}, {sec(2), 3}}}},
			wantIn: []string{"P1", "point 2", "not after"},
		},
		{
			name:   "descending times",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P3": {{sec(5), 1}, {sec(4), 2}}}},
			wantIn: []string{"P3", "point 1", "4s", "5s"},
		},
		{
			name:   "NaN value",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P1": {{0, 1}, {sec(1), math.NaN()}}}},
			wantIn: []string{"P1", "point 1", "not a finite number"},
		},
		{
			name:   "infinite value",
			opts:   sim.Options{Scripts: map[string][]sim.ScriptPoint{"P2": {{0, math.Inf(1)}}}},
			wantIn: []string{"P2", "point 0", "not a finite number"},
		},
		{
			name:   "negative latency",
			opts:   sim.Options{Latency: -time.Millisecond},
			wantIn: []string{"latency", "-1ms"},
		},
		{
			name:    "no sensors",
			sensors: []maskservice.Sensor{},
			wantIn:  []string{"no sensors"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sensors := tt.sensors
			if sensors == nil {
				sensors = maskservice.DefaultSensors()
			}
			s, err := sim.New(sensors, tt.opts)
			if err == nil {
				t.Fatalf("New = %v, want an error", s)
			}
			if code := maskservice.ErrorCode(err); code != maskservice.EINVALID {
				t.Errorf("ErrorCode(%q) = %q, want %q", err, code, maskservice.EINVALID)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestSource_Faults(t *testing.T) {
	// P1 rises linearly by 0.01 bar a second, so a value that does not move is visible.
	script := []sim.ScriptPoint{{0, 5}, {sec(100), 6}}
	tests := []struct {
		name  string
		fault sim.Fault
		want  float64 // the value read with the fault set; NaN for a failed read
		raw   float64
		is    error // the error the failed read wraps
		msg   string
	}{
		{name: "none", fault: sim.Fault{Kind: sim.FaultNone}, want: 5.2, raw: 5200},
		{name: "stuck", fault: sim.Fault{Kind: sim.FaultStuck}, want: 5.1, raw: 5100},
		{name: "out of range default", fault: sim.Fault{Kind: sim.FaultOutOfRange}, want: 11, raw: 11000},
		{name: "out of range given", fault: sim.Fault{Kind: sim.FaultOutOfRange, Value: -0.5}, want: -0.5, raw: -500},
		{name: "read error default", fault: sim.Fault{Kind: sim.FaultReadError}, want: math.NaN(), is: hal.ErrTimeout,
			msg: "read P1: no response from transducer"},
		{name: "read error given", fault: sim.Fault{Kind: sim.FaultReadError, Err: hal.ErrCRC}, want: math.NaN(), is: hal.ErrCRC,
			msg: "read P1: bad frame checksum"},
		{name: "disconnect", fault: sim.Fault{Kind: sim.FaultDisconnect}, want: math.NaN(), is: hal.ErrDisconnected,
			msg: "read P1: bus disconnected"},
		{name: "value", fault: sim.Fault{Kind: sim.FaultValue, Value: 8.5}, want: 8.5, raw: 8500},
		{name: "value off the register grid", fault: sim.Fault{Kind: sim.FaultValue, Value: 8.0004}, want: 8.0004, raw: 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := mustNew(t, clk, sim.Options{Scripts: map[string][]sim.ScriptPoint{"P1": script}})
			clk.Advance(10 * time.Second)
			before := mustRead(t, s, "P1")[0]
			if before.Err != nil || before.Value != 5.1 {
				t.Fatalf("before the fault: P1 = %v (err %v), want 5.1", before.Value, before.Err)
			}
			if err := s.SetFault("P1", tt.fault); err != nil {
				t.Fatalf("SetFault: %v", err)
			}
			for n := range 3 { // the fault holds over several reads
				clk.Advance(10 * time.Second)
				got := mustRead(t, s, "P1", "P2")
				p1, p2 := got[0], got[1]
				if p2.Err != nil || !maskservice.DefaultSensors()[1].Range.Contains(p2.Value) {
					t.Errorf("P2 = %v (err %v), want a good value: a fault touches only its sensor", p2.Value, p2.Err)
				}
				if tt.is != nil {
					if !errors.Is(p1.Err, tt.is) || p1.Err.Error() != tt.msg {
						t.Errorf("P1 err = %v, want %q wrapping %v", p1.Err, tt.msg, tt.is)
					}
					if !math.IsNaN(p1.Value) || !math.IsNaN(p1.Raw) {
						t.Errorf("failed read: Value = %v, Raw = %v, want NaN", p1.Value, p1.Raw)
					}
					continue
				}
				if tt.fault.Kind == sim.FaultNone {
					// The script moves on: 5.2, 5.3, 5.4.
					tt.raw = float64(5200 + 100*n)
					tt.want = tt.raw / 1000
				}
				if p1.Err != nil || p1.Value != tt.want || p1.Raw != tt.raw {
					t.Errorf("P1 = %v raw %v (err %v), want %v raw %v", p1.Value, p1.Raw, p1.Err, tt.want, tt.raw)
				}
			}
			if err := s.ClearFault("P1"); err != nil {
				t.Fatalf("ClearFault: %v", err)
			}
			clk.Advance(10 * time.Second) // 50 s since New
			if after := mustRead(t, s, "P1")[0]; after.Err != nil || after.Value != 5.5 {
				t.Errorf("after ClearFault: P1 = %v (err %v), want the script's 5.5", after.Value, after.Err)
			}
		})
	}
}

func TestSource_StuckBeforeFirstRead(t *testing.T) {
	clk := newClock()
	s := mustNew(t, clk, sim.Options{Seed: 3})
	if err := s.SetFault("P3", sim.Fault{Kind: sim.FaultStuck}); err != nil {
		t.Fatalf("SetFault: %v", err)
	}
	first := mustRead(t, s, "P3")[0]
	for range 5 {
		clk.Advance(7 * time.Second)
		if got := mustRead(t, s, "P3")[0]; got.Err != nil || got.Value != first.Value || got.Raw != first.Raw {
			t.Fatalf("stuck P3 = %v raw %v (err %v), want the first value %v raw %v", got.Value, got.Raw, got.Err, first.Value, first.Raw)
		}
	}
}

func TestSource_SetFaultErrors(t *testing.T) {
	s := mustNew(t, newClock(), sim.Options{})
	tests := []struct {
		name   string
		call   func() error
		code   string
		wantIn string
	}{
		{"set on unknown sensor", func() error { return s.SetFault("P7", sim.Fault{Kind: sim.FaultStuck}) }, maskservice.ENOTFOUND, "P7"},
		{"clear on unknown sensor", func() error { return s.ClearFault("P7") }, maskservice.ENOTFOUND, "P7"},
		{"unknown kind", func() error { return s.SetFault("P1", sim.Fault{Kind: 42}) }, maskservice.EINVALID, "kind 42"},
		{"negative kind", func() error { return s.SetFault("P1", sim.Fault{Kind: -1}) }, maskservice.EINVALID, "kind -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || maskservice.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("err = %v (code %q), want code %q containing %q", err, maskservice.ErrorCode(err), tt.code, tt.wantIn)
			}
		})
	}
}

func TestFaultKind_String(t *testing.T) {
	tests := []struct {
		kind sim.FaultKind
		want string
	}{
		{sim.FaultNone, "none"},
		{sim.FaultStuck, "stuck"},
		{sim.FaultOutOfRange, "out_of_range"},
		{sim.FaultReadError, "read_error"},
		{sim.FaultDisconnect, "disconnect"},
		{sim.FaultValue, "value"},
		{99, "fault(99)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSource_SetConnected(t *testing.T) {
	clk := newClock()
	s := mustNew(t, clk, sim.Options{})
	if err := s.SetFault("P2", sim.Fault{Kind: sim.FaultValue, Value: 2}); err != nil {
		t.Fatalf("SetFault: %v", err)
	}
	s.SetConnected(false)
	for range 3 {
		clk.Advance(time.Second)
		for _, smp := range mustRead(t, s, "P1", "P2", "P3") {
			if !errors.Is(smp.Err, hal.ErrDisconnected) || !math.IsNaN(smp.Value) || !math.IsNaN(smp.Raw) {
				t.Errorf("%s: Value %v Raw %v Err %v, want NaN and hal.ErrDisconnected", smp.SensorID, smp.Value, smp.Raw, smp.Err)
			}
		}
	}
	s.SetConnected(true)
	got := mustRead(t, s, "P1", "P2", "P3")
	for _, smp := range got {
		if smp.Err != nil {
			t.Errorf("%s after reconnect: %v", smp.SensorID, smp.Err)
		}
	}
	if got[1].Value != 2 {
		t.Errorf("P2 after reconnect = %v, want the fault value 2 (faults survive a disconnect)", got[1].Value)
	}
}

func TestSource_Read(t *testing.T) {
	clk := newClock()
	s := mustNew(t, clk, sim.Options{})
	ids := []string{"P3", "nope", "P1", "P3"}
	got := mustRead(t, s, ids...)
	for k, smp := range got {
		if smp.SensorID != ids[k] {
			t.Errorf("sample %d is %q, want %q: samples follow the order of ids", k, smp.SensorID, ids[k])
		}
	}
	if err := got[1].Err; err == nil || err.Error() != "read nope: unknown sensor" || !math.IsNaN(got[1].Value) {
		t.Errorf("unknown id: Value %v, Err %v, want NaN and \"read nope: unknown sensor\"", got[1].Value, err)
	}
	if got[0].Err != nil || got[2].Err != nil {
		t.Errorf("known ids failed next to an unknown one: %v, %v", got[0].Err, got[2].Err)
	}
	if got[0] != got[3] {
		t.Errorf("P3 read twice at the same time: %+v and %+v, want equal samples", got[0], got[3])
	}
}

func TestSource_DefaultProfile(t *testing.T) {
	// Read the default sensors every 250 ms for three simulated hours: more than two drift
	// periods and over a hundred test cycles.
	clk := newClock()
	s := mustNew(t, clk, sim.Options{Seed: 42})
	sensors := maskservice.DefaultSensors()
	ids := []string{"P1", "P2", "P3"}
	lo, hi := []float64{math.Inf(1), math.Inf(1), math.Inf(1)}, []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	prev := make([]float64, 3)
	changed := make([]int, 3)
	const steps = 3 * 3600 * 4
	for step := range steps {
		for k, smp := range mustRead(t, s, ids...) {
			cfg := sensors[k]
			if smp.Err != nil {
				t.Fatalf("step %d: %s: %v", step, cfg.ID, smp.Err)
			}
			if lvl := cfg.Thresholds.Level(smp.Value); lvl != maskservice.StatusNormal || !cfg.Range.Contains(smp.Value) {
				t.Fatalf("step %d: %s = %v is %s, want normal", step, cfg.ID, smp.Value, lvl)
			}
			res := (cfg.Range.High - cfg.Range.Low) / 10000
			if smp.Raw != math.Round(smp.Raw) || math.Abs(smp.Value-smp.Raw*res) > res*1e-6 {
				t.Fatalf("step %d: %s: Value %v, Raw %v, want Raw an integer and Value = Raw * %g", step, cfg.ID, smp.Value, smp.Raw, res)
			}
			lo[k], hi[k] = min(lo[k], smp.Value), max(hi[k], smp.Value)
			if smp.Value != prev[k] {
				changed[k]++
			}
			prev[k] = smp.Value
		}
		clk.Advance(250 * time.Millisecond)
	}
	for k, cfg := range sensors {
		n := cfg.Thresholds.Normal
		// A pressure test swings over most of the normal band ...
		if swing := (hi[k] - lo[k]) / (n.High - n.Low); swing < 0.5 {
			t.Errorf("%s swings over %.0f%% of its normal band, want at least 50%%", cfg.ID, swing*100)
		}
		// ... and noise moves nearly every reading, even at rest.
		if changed[k] < steps*9/10 {
			t.Errorf("%s changed in %d of %d reads, want nearly all", cfg.ID, changed[k], steps)
		}
	}
}

func TestSource_DefaultProfilePhases(t *testing.T) {
	// Each sensor runs its cycle with its own phase: normalized to their normal bands, the
	// three sensors do not move in lockstep.
	clk := newClock()
	s := mustNew(t, clk, sim.Options{})
	sensors := maskservice.DefaultSensors()
	diff := make([]float64, 3) // largest gap between P1 and each sensor
	for range 160 {
		got := mustRead(t, s, "P1", "P2", "P3")
		pos := make([]float64, 3)
		for k, smp := range got {
			n := sensors[k].Thresholds.Normal
			pos[k] = (smp.Value - n.Low) / (n.High - n.Low)
		}
		for k := range pos {
			diff[k] = max(diff[k], math.Abs(pos[k]-pos[0]))
		}
		clk.Advance(500 * time.Millisecond)
	}
	for k := 1; k < 3; k++ {
		if diff[k] < 0.2 {
			t.Errorf("%s stays within %.2f of P1 over a cycle, want a different phase", sensors[k].ID, diff[k])
		}
	}
}

func TestSource_Determinism(t *testing.T) {
	// a and b share the seed and the clock; b also reads at times a does not, and c has
	// another seed.
	clk := newClock()
	a := mustNew(t, clk, sim.Options{Seed: 7})
	b := mustNew(t, clk, sim.Options{Seed: 7})
	c := mustNew(t, clk, sim.Options{Seed: 8})
	differ := 0
	for i := range 200 {
		mustRead(t, b, "P3", "P2")
		clk.Advance(100 * time.Millisecond)
		if i%2 == 0 {
			mustRead(t, b, "P1")
			continue
		}
		sa, sb, sc := mustRead(t, a, "P1", "P2", "P3"), mustRead(t, b, "P1", "P2", "P3"), mustRead(t, c, "P1", "P2", "P3")
		for k := range sa {
			if sa[k] != sb[k] {
				t.Fatalf("read %d: same seed and time gave %+v and %+v", i, sa[k], sb[k])
			}
			if sa[k].Value != sc[k].Value {
				differ++
			}
		}
	}
	if differ < 100 {
		t.Errorf("seeds 7 and 8 gave different values in %d of 300 samples, want most", differ)
	}
}

func TestSource_Latency(t *testing.T) {
	s := mustNew(t, newClock(), sim.Options{Latency: time.Millisecond})
	for _, smp := range mustRead(t, s, "P1", "P2", "P3", "unknown") {
		want := time.Millisecond
		if smp.SensorID == "unknown" {
			want = 0 // no transaction for a sensor that is not on the bus
		}
		if smp.RTT != want {
			t.Errorf("%s: RTT = %s, want %s", smp.SensorID, smp.RTT, want)
		}
	}
}

func TestSource_ReadCancel(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel during latency", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline during latency", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An hour of latency: only ctx can end this Read within the test's patience.
			s := mustNew(t, newClock(), sim.Options{Latency: time.Hour})
			ctx, cancel := tt.ctx()
			defer cancel()
			type result struct {
				samples []maskservice.Sample
				err     error
			}
			done := make(chan result, 1)
			go func() {
				samples, err := s.Read(ctx, []string{"P1", "P2"})
				done <- result{samples, err}
			}()
			select {
			case r := <-done:
				if !errors.Is(r.err, tt.want) || r.samples != nil {
					t.Errorf("Read = %v, %v; want nil, %v", r.samples, r.err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read did not return after ctx was done")
			}
		})
	}
}

func TestSource_ConcurrentFaults(t *testing.T) {
	// Run with -race: faults and the bus state change while the monitor's goroutine reads.
	s, err := sim.New(maskservice.DefaultSensors(), sim.Options{Seed: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	faults := []sim.Fault{
		{Kind: sim.FaultStuck}, {Kind: sim.FaultOutOfRange}, {Kind: sim.FaultReadError},
		{Kind: sim.FaultDisconnect}, {Kind: sim.FaultValue, Value: 3}, {},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g, id := range []string{"P1", "P2", "P3"} {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.SetFault(id, faults[i%len(faults)]); err != nil {
					t.Errorf("SetFault: %v", err)
					return
				}
				if i%7 == 0 {
					s.SetConnected(i%2 == 0)
				}
				if i%5 == 0 {
					if err := s.ClearFault(id); err != nil {
						t.Errorf("ClearFault: %v", err)
						return
					}
				}
			}
		})
	}
	for range 2000 {
		for _, smp := range mustRead(t, s, "P1", "P2", "P3") {
			// Every sample is consistent: a value, or NaN with an error.
			if (smp.Err != nil) != math.IsNaN(smp.Value) {
				t.Fatalf("%s: Value %v with Err %v", smp.SensorID, smp.Value, smp.Err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestSource_BeyondTheCounts reads values the register counts cannot express: a range too
// narrow to divide into 10000 counts (the counts per unit overflow), scripted values so far
// outside the range that their counts overflow, and interpolation between such values. The
// values must stay finite.
func TestSource_BeyondTheCounts(t *testing.T) {
	tiny := maskservice.Sensor{
		ID: "T1", Unit: "bar", Range: maskservice.Band{Low: 0, High: 1e-306},
		Thresholds: maskservice.Thresholds{
			Normal:  maskservice.Band{Low: 2e-307, High: 8e-307},
			Warning: maskservice.Band{Low: 1e-307, High: 9e-307},
		},
		Interval: time.Second,
	}
	sensors := append(maskservice.DefaultSensors(), tiny)
	clk := newClock()
	s, err := sim.New(sensors, sim.Options{Now: clk.Now, Scripts: map[string][]sim.ScriptPoint{
		"P1": {{0, 1e308}},
		// Between these points, b-a overflows, and so does (b-a) times the nanoseconds.
		"P2": {{0, -1e308}, {time.Second, 1e308}, {2 * time.Second, 0}, {3 * time.Second, 1e300}},
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p2 := []float64{-1e308, 0, 1e308, 5e307, 0, 5e299, 1e300}
	for k := range p2 {
		got := mustRead(t, s, "P2")
		if g := got[0]; g.Err != nil || math.Abs(g.Value-p2[k]) > 1e-9*math.Abs(p2[k]) {
			t.Errorf("P2 at %gs: value %v err %v, want %v", float64(k)/2, g.Value, g.Err, p2[k])
		}
		clk.Advance(500 * time.Millisecond)
	}
	for range 3 {
		got := mustRead(t, s, "P1", "T1")
		if g := got[0]; g.Err != nil || g.Value != 1e308 || !math.IsNaN(g.Raw) {
			t.Errorf("P1 scripted 1e308: value %v raw %v err %v, want 1e308 with a NaN raw count", g.Value, g.Raw, g.Err)
		}
		if g := got[1]; g.Err != nil || !tiny.Range.Contains(g.Value) {
			t.Errorf("T1 with range [0, 1e-306]: value %v err %v, want a finite value in the range", g.Value, g.Err)
		}
		clk.Advance(7 * time.Second)
	}
}
