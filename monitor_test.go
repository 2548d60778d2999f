package maskservice_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mask.services/maskservice"
)

// wait is how long a test waits for something that should happen at once; generous, so a
// loaded machine does not make the tests flaky.
const wait = 10 * time.Second

// testRTT is the round-trip time the scripted source reports for every sample.
const testRTT = 2 * time.Millisecond

// errStall makes a scripted Read block until its context is done, like a hung bus.
var errStall = errors.New("stall")

// scriptSource is a Source driven by the test: it records the ids of every Read and answers
// each sensor from value.
type scriptSource struct {
	// value returns the value of the n-th read (from 0) of sensor id, or the error that
	// sample fails with.
	value func(id string, n int) (float64, error)
	// readErr, if not nil, returns the error the call-th Read (from 0) fails with as a
	// whole (nil for none); errStall blocks that Read until its context is done.
	readErr func(call int) error
	// delay, if not zero, is how long every Read takes.
	delay time.Duration

	mu    sync.Mutex
	calls [][]string
	reads map[string]int
}

func (s *scriptSource) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	s.mu.Lock()
	call := len(s.calls)
	// The monitor reuses ids between rounds, so keep a copy.
	s.calls = append(s.calls, slices.Clone(ids))
	if s.reads == nil {
		s.reads = make(map[string]int)
	}
	ns := make([]int, len(ids))
	for k, id := range ids {
		ns[k] = s.reads[id]
		s.reads[id]++
	}
	s.mu.Unlock()

	if s.readErr != nil {
		switch err := s.readErr(call); {
		case errors.Is(err, errStall):
			<-ctx.Done()
			return nil, ctx.Err()
		case err != nil:
			return nil, err
		}
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]maskservice.Sample, len(ids))
	for k, id := range ids {
		v, err := s.value(id, ns[k])
		out[k] = maskservice.Sample{SensorID: id, Raw: v * 1000, Value: v, RTT: testRTT, Err: err}
	}
	return out, nil
}

// Calls returns a copy of the ids of every Read so far.
func (s *scriptSource) Calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Reads returns how many times sensor id was asked for.
func (s *scriptSource) Reads(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[id]
}

// good answers every default sensor with a value in the middle of its normal band.
func good(id string, _ int) (float64, error) {
	switch id {
	case "P1":
		return 5, nil
	case "P2":
		return 2.5, nil
	default:
		return 500, nil
	}
}

// failing answers sensor bad with err and every other sensor as good does.
func failing(bad string, err error) func(string, int) (float64, error) {
	return func(id string, n int) (float64, error) {
		if id == bad {
			return math.NaN(), err
		}
		return good(id, n)
	}
}

// sensorsEvery returns the first len(intervals) default sensors, read at those intervals.
func sensorsEvery(intervals ...time.Duration) []maskservice.Sensor {
	sensors := maskservice.DefaultSensors()[:len(intervals)]
	for i, d := range intervals {
		sensors[i].Interval = d
	}
	return sensors
}

func newMonitor(tb testing.TB, sensors []maskservice.Sensor, src maskservice.Source) *maskservice.Monitor {
	tb.Helper()
	live, err := maskservice.LiveSensorsOf(sensors)
	if err != nil {
		tb.Fatalf("LiveSensorsOf: %v", err)
	}
	m, err := maskservice.NewMonitor(live, src, nil)
	if err != nil {
		tb.Fatalf("NewMonitor: %v", err)
	}
	return m
}

// run starts m.Run with a context derived from ctx and returns a func that cancels it and
// returns what Run returned. The test fails if Run does not return within wait; cleanup stops
// it in any case.
func run(tb testing.TB, ctx context.Context, m *maskservice.Monitor) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(wait):
				tb.Errorf("Run did not return within %s of its context's end", wait)
			}
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// receive returns the next round of sub, failing the test if none comes within wait or C is
// closed.
func receive(tb testing.TB, sub *maskservice.Subscription[*maskservice.Round]) *maskservice.Round {
	tb.Helper()
	select {
	case r, ok := <-sub.C:
		if !ok {
			tb.Fatal("subscription closed, want a round")
		}
		return r
	case <-time.After(wait):
		tb.Fatalf("no round within %s", wait)
	}
	return nil
}

// drain receives from sub until C is closed and returns the rounds received, failing the test
// if C is not closed within wait.
func drain(tb testing.TB, sub *maskservice.Subscription[*maskservice.Round]) []*maskservice.Round {
	tb.Helper()
	var rounds []*maskservice.Round
	timeout := time.After(wait)
	for {
		select {
		case r, ok := <-sub.C:
			if !ok {
				return rounds
			}
			rounds = append(rounds, r)
		case <-timeout:
			tb.Fatalf("subscription not closed within %s", wait)
		}
	}
}

// firstRound runs a monitor of sensors on src until its first round and returns that round
// and the stopped monitor.
func firstRound(tb testing.TB, sensors []maskservice.Sensor, src *scriptSource) (*maskservice.Round, *maskservice.Monitor) {
	tb.Helper()
	m := newMonitor(tb, sensors, src)
	sub := m.Subscribe("test", 16)
	stop := run(tb, context.Background(), m)
	r := receive(tb, sub)
	if err := stop(); !errors.Is(err, context.Canceled) {
		tb.Fatalf("Run returned %v, want context.Canceled", err)
	}
	return r, m
}

// offsetClock is time.Now moved forward by a duration the test sets, safe for concurrent use.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Set(d time.Duration) { c.offset.Store(int64(d)) }

// ids returns the sensor id of each reading.
func ids(rs []maskservice.Reading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.SensorID
	}
	return out
}

func TestNewMonitor(t *testing.T) {
	src := &scriptSource{value: good}
	if _, err := maskservice.NewMonitor(nil, src, nil); maskservice.ErrorCode(err) != maskservice.EINVALID {
		t.Errorf("NewMonitor(no sensors) = %v, want an EINVALID error", err)
	}
	if _, err := maskservice.LiveSensorsOf(nil); maskservice.ErrorCode(err) != maskservice.EINVALID {
		t.Errorf("LiveSensorsOf(no sensors) = %v, want an EINVALID error", err)
	}
	bad := maskservice.DefaultSensors()
	bad[1].Interval = 0
	if _, err := maskservice.LiveSensorsOf(bad); maskservice.ErrorCode(err) != maskservice.EINVALID {
		t.Errorf("LiveSensorsOf(interval 0) = %v, want an EINVALID error", err)
	}

	sensors := maskservice.DefaultSensors()
	m := newMonitor(t, sensors, src)
	sensors[0].ID = "changed" // the monitor keeps its own copy
	got := m.Sensors()
	if want := []string{"P1", "P2", "P3"}; len(got) != 3 || got[0].ID != want[0] || got[1].ID != want[1] || got[2].ID != want[2] {
		t.Errorf("Sensors() = %v, want ids %v", got, want)
	}
	got[1].ID = "changed too"
	if s, ok := m.Sensor("P2"); !ok || s.ID != "P2" || s.Unit != "bar" {
		t.Errorf("Sensor(P2) = %+v, %v; want the P2 configured", s, ok)
	}
	if _, ok := m.Sensor("P9"); ok {
		t.Error("Sensor(P9) found a sensor that is not configured")
	}
	if r := m.Current(); r != nil {
		t.Errorf("Current() before Run = %+v, want nil", r)
	}
}

// TestMonitor_IntervalsHonoured reads one sensor every 20 ms and one every 60 ms: the faster
// must be read about three times as often. The bound is loose because a loaded machine may
// make the monitor skip slots (it never catches up by reading back to back).
func TestMonitor_IntervalsHonoured(t *testing.T) {
	src := &scriptSource{value: good}
	m := newMonitor(t, sensorsEvery(20*time.Millisecond, 60*time.Millisecond), src)
	stop := run(t, context.Background(), m)
	const slowReads = 10
	waitFor(t, "10 reads of the slow sensor", func() bool { return src.Reads("P2") >= slowReads })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	calls := src.Calls()
	if want := []string{"P1", "P2"}; !slices.Equal(calls[0], want) {
		t.Errorf("first Read asked for %v, want %v: every sensor is due at the start", calls[0], want)
	}
	// Count the reads up to the slowReads-th read of the slow sensor.
	fast, slow := 0, 0
	for _, c := range calls {
		fast += count(c, "P1")
		slow += count(c, "P2")
		if slow == slowReads {
			break
		}
	}
	ratio := float64(fast) / float64(slow)
	if ratio < 1.5 || ratio > 4 {
		t.Errorf("fast sensor read %d times to the slow one's %d (ratio %.2f), want about 3", fast, slow, ratio)
	}
}

func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// TestMonitor_DueTogetherOneRead checks that sensors due at the same time are read in one Read
// call, in configuration order.
func TestMonitor_DueTogetherOneRead(t *testing.T) {
	src := &scriptSource{value: good}
	m := newMonitor(t, sensorsEvery(20*time.Millisecond, 20*time.Millisecond, 60*time.Millisecond), src)
	sub := m.Subscribe("test", 1000)
	stop := run(t, context.Background(), m)
	waitFor(t, "20 Read calls", func() bool { return len(src.Calls()) >= 20 })
	stop()

	calls := src.Calls()
	if want := []string{"P1", "P2", "P3"}; !slices.Equal(calls[0], want) {
		t.Errorf("first Read asked for %v, want %v", calls[0], want)
	}
	order := map[string]int{"P1": 0, "P2": 1, "P3": 2}
	for i, c := range calls {
		// P1 and P2 share an interval, so they are always due together.
		if count(c, "P1") != count(c, "P2") {
			t.Errorf("Read %d asked for %v: P1 and P2 are due together and must be read together", i, c)
		}
		if !slices.IsSortedFunc(c, func(a, b string) int { return order[a] - order[b] }) || len(c) != len(slices.Compact(slices.Clone(c))) {
			t.Errorf("Read %d asked for %v, want distinct ids in configuration order", i, c)
		}
	}
	// One round per Read: the round's readings are the sensors asked for.
	rounds := drain(t, sub)
	for _, r := range rounds {
		if int(r.Seq) > len(calls) {
			t.Fatalf("round %d but only %d Read calls", r.Seq, len(calls))
		}
		if got, want := ids(r.Readings), calls[r.Seq-1]; !slices.Equal(got, want) {
			t.Errorf("round %d holds readings of %v, want those read: %v", r.Seq, got, want)
		}
	}
}

func TestMonitor_Rounds(t *testing.T) {
	// Each read of a sensor gives a new value, so a stale Current entry is noticed.
	src := &scriptSource{value: func(id string, n int) (float64, error) {
		v, _ := good(id, n)
		return v + float64(n)/1000, nil
	}}
	sensors := sensorsEvery(10*time.Millisecond, 30*time.Millisecond, 50*time.Millisecond)
	m := newMonitor(t, sensors, src)
	sub := m.Subscribe("test", 1000)
	stop := run(t, context.Background(), m)
	var rounds []*maskservice.Round
	for len(rounds) < 20 {
		rounds = append(rounds, receive(t, sub))
	}
	stop()

	newest := map[string]maskservice.Reading{}
	for k, r := range rounds {
		if r.Seq != uint64(k+1) {
			t.Fatalf("round %d has Seq %d, want %d", k, r.Seq, k+1)
		}
		if k > 0 && r.Time.Before(rounds[k-1].Time) {
			t.Errorf("round %d started before round %d", r.Seq, r.Seq-1)
		}
		if len(r.Readings) == 0 {
			t.Errorf("round %d has no readings", r.Seq)
		}
		for _, rd := range r.Readings {
			if rd.Time != r.Time {
				t.Errorf("round %d: reading of %s at %s, want the round's time %s (the source gave none)", r.Seq, rd.SensorID, rd.Time, r.Time)
			}
			newest[rd.SensorID] = rd
		}
		if got, want := ids(r.Current), []string{"P1", "P2", "P3"}; !slices.Equal(got, want) {
			t.Fatalf("round %d: Current holds %v, want %v", r.Seq, got, want)
		}
		for _, cur := range r.Current {
			if want, ok := newest[cur.SensorID]; !ok || cur != want {
				t.Errorf("round %d: Current %s = %v, want the newest reading %v", r.Seq, cur.SensorID, cur.Value, want.Value)
			}
		}
		if r.RTT != testRTT {
			t.Errorf("round %d: RTT = %s, want %s", r.Seq, r.RTT, testRTT)
		}
	}
	if cur := m.Current(); cur == nil || cur.Seq < 20 {
		t.Errorf("Current() after 20 rounds = %+v, want round 20 or later", cur)
	}
}

// TestMonitor_SlowSubscriber has one subscriber that never reads: it loses rounds, counted,
// while another receives every round in order and the poll loop keeps going.
func TestMonitor_SlowSubscriber(t *testing.T) {
	src := &scriptSource{value: good}
	m := newMonitor(t, sensorsEvery(10*time.Millisecond, 10*time.Millisecond), src)
	slow := m.Subscribe("slow", 1)
	fast := m.Subscribe("fast", 10000)
	stop := run(t, context.Background(), m)

	var got []uint64
	for len(got) < 30 {
		got = append(got, receive(t, fast).Seq)
	}
	st := m.Stats()
	dropped := map[string]uint64{}
	for _, s := range st.Subscribers {
		dropped[s.Name] = s.Dropped
	}
	if len(st.Subscribers) != 2 || dropped["slow"] == 0 || dropped["fast"] != 0 {
		t.Errorf("Stats().Subscribers = %+v, want slow with drops and fast without", st.Subscribers)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	for _, r := range drain(t, fast) {
		got = append(got, r.Seq)
	}
	total := m.Current().Seq
	want := make([]uint64, total)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("fast subscriber got rounds %v, want 1..%d with no gap", got, total)
	}
	if fast.Dropped() != 0 {
		t.Errorf("fast subscriber dropped %d rounds, want 0", fast.Dropped())
	}
	// The slow queue held round 1; every later round was dropped.
	if d := slow.Dropped(); d != total-1 {
		t.Errorf("slow subscriber dropped %d rounds of %d, want %d", d, total, total-1)
	}
	rs := drain(t, slow)
	if len(rs) != 1 || rs[0].Seq != 1 {
		t.Errorf("slow subscriber's queue held %d rounds, want round 1 only", len(rs))
	}
}

func TestSubscription_Close(t *testing.T) {
	t.Run("before Run", func(t *testing.T) {
		m := newMonitor(t, sensorsEvery(10*time.Millisecond), &scriptSource{value: good})
		sub := m.Subscribe("a", 4)
		other := m.Subscribe("b", 4)
		sub.Close()
		sub.Close() // idempotent: no panic on a second close
		if _, ok := <-sub.C; ok {
			t.Error("C delivered a round after Close, want it closed")
		}
		if st := m.Stats(); len(st.Subscribers) != 1 || st.Subscribers[0].Name != "b" {
			t.Errorf("Stats().Subscribers = %+v, want only b", st.Subscribers)
		}
		// The monitor keeps publishing to the other subscriber.
		stop := run(t, context.Background(), m)
		if r := receive(t, other); r.Seq != 1 {
			t.Errorf("other subscriber got round %d first, want 1", r.Seq)
		}
		stop()
	})
	t.Run("while running", func(t *testing.T) {
		m := newMonitor(t, sensorsEvery(10*time.Millisecond), &scriptSource{value: good})
		sub := m.Subscribe("a", 100)
		run(t, context.Background(), m)
		receive(t, sub)
		sub.Close()
		drain(t, sub) // rounds queued before Close may come, then C must be closed
		sub.Close()
	})
	t.Run("after Run returned", func(t *testing.T) {
		m := newMonitor(t, sensorsEvery(10*time.Millisecond), &scriptSource{value: good})
		sub := m.Subscribe("a", 100)
		stop := run(t, context.Background(), m)
		receive(t, sub)
		stop()
		drain(t, sub)
		sub.Close() // Run already closed C: closing again must not panic
		sub.Close()
		late := m.Subscribe("late", 1)
		if _, ok := <-late.C; ok {
			t.Error("a subscription made after Run returned delivered a round, want C closed")
		}
		late.Close()
	})
}

func TestMonitor_RunReturnsCtxErr(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stall   bool // the source hangs from the second Read on
		timeout time.Duration
		want    error
	}{
		{name: "canceled", want: context.Canceled},
		{name: "canceled during a hung Read", stall: true, want: context.Canceled},
		{name: "deadline", timeout: 200 * time.Millisecond, want: context.DeadlineExceeded},
		{name: "deadline during a hung Read", stall: true, timeout: 200 * time.Millisecond, want: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &scriptSource{value: good}
			if tc.stall {
				src.readErr = func(call int) error {
					if call > 0 {
						return errStall
					}
					return nil
				}
			}
			m := newMonitor(t, sensorsEvery(10*time.Millisecond, 10*time.Millisecond), src)
			subs := []*maskservice.Subscription[*maskservice.Round]{m.Subscribe("a", 1), m.Subscribe("b", 1000), m.Subscribe("c", 1)}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.timeout)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			if tc.timeout == 0 {
				// Cancel after a round, and with stall once the hanging Read has begun.
				receive(t, subs[1])
				if tc.stall {
					waitFor(t, "the second Read", func() bool { return len(src.Calls()) >= 2 })
				}
				cancel()
			}
			select {
			case err := <-done:
				if err != tc.want {
					t.Errorf("Run returned %v, want %v", err, tc.want)
				}
			case <-time.After(wait):
				t.Fatalf("Run did not return within %s", wait)
			}
			for _, s := range subs {
				drain(t, s) // fails unless C is closed
			}
		})
	}
}

func TestMonitor_Judge(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		value   float64
		err     error
		quality maskservice.Quality
		status  maskservice.Status
		fault   string
		wantVal float64 // NaN: no value
	}{
		{name: "normal", value: 5, quality: maskservice.QualityGood, status: normal, wantVal: 5},
		{name: "warning", value: 8.5, quality: maskservice.QualityGood, status: warning, wantVal: 8.5},
		{name: "critical in range", value: 9.5, quality: maskservice.QualityGood, status: critical, wantVal: 9.5},
		{name: "on the range's high end", value: 10, quality: maskservice.QualityGood, status: critical, wantVal: 10},
		{name: "on the range's low end", value: 0, quality: maskservice.QualityGood, status: critical, wantVal: 0},
		{name: "above range", value: 10.5, quality: maskservice.QualityBad, status: critical, fault: "out of range", wantVal: 10.5},
		{name: "below range", value: -0.2, quality: maskservice.QualityBad, status: critical, fault: "out of range", wantVal: -0.2},
		{name: "failed read", value: 5, err: errors.New("read P1: timeout"), quality: maskservice.QualityBad, status: maskservice.StatusUnknown, fault: "read P1: timeout", wantVal: nan},
		{name: "NaN without error", value: nan, quality: maskservice.QualityBad, status: maskservice.StatusUnknown, fault: "invalid value", wantVal: nan},
		{name: "infinite value", value: math.Inf(1), quality: maskservice.QualityBad, status: maskservice.StatusUnknown, fault: "invalid value", wantVal: nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &scriptSource{value: func(string, int) (float64, error) { return tc.value, tc.err }}
			r, _ := firstRound(t, sensorsEvery(time.Second), src)
			if len(r.Readings) != 1 {
				t.Fatalf("round holds %d readings, want 1", len(r.Readings))
			}
			rd := r.Readings[0]
			if rd.SensorID != "P1" || rd.Unit != "bar" || rd.Quality != tc.quality || rd.Status != tc.status || rd.Fault != tc.fault {
				t.Errorf("reading = %s %s quality %s status %s fault %q; want P1 bar %s %s %q",
					rd.SensorID, rd.Unit, rd.Quality, rd.Status, rd.Fault, tc.quality, tc.status, tc.fault)
			}
			if math.IsNaN(tc.wantVal) {
				if rd.HasValue() {
					t.Errorf("Value = %v, want NaN", rd.Value)
				}
			} else if rd.Value != tc.wantVal {
				t.Errorf("Value = %v, want %v", rd.Value, tc.wantVal)
			}
			if tc.err != nil && !math.IsNaN(rd.Raw) {
				t.Errorf("Raw = %v for a failed read, want NaN", rd.Raw)
			}
			if tc.err == nil && !math.IsNaN(tc.value) && !math.IsInf(tc.value, 0) && rd.Raw != tc.value*1000 {
				t.Errorf("Raw = %v, want the source's %v", rd.Raw, tc.value*1000)
			}
			if !sameReading(r.Current[0], rd) {
				t.Errorf("Current[0] = %+v, want the round's reading", r.Current[0])
			}
		})
	}
}

// TestMonitor_SourceError fails a whole Read: every sensor due gets a bad reading naming the
// error, and the next round reads normally again.
func TestMonitor_SourceError(t *testing.T) {
	src := &scriptSource{value: good, readErr: func(call int) error {
		if call == 0 {
			return errors.New("bus rs485 closed")
		}
		return nil
	}}
	m := newMonitor(t, sensorsEvery(10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond), src)
	sub := m.Subscribe("test", 100)
	stop := run(t, context.Background(), m)
	first, second := receive(t, sub), receive(t, sub)
	stop()

	if got := ids(first.Readings); !slices.Equal(got, []string{"P1", "P2", "P3"}) {
		t.Fatalf("failed round holds readings of %v, want every sensor due", got)
	}
	for _, rd := range first.Readings {
		if rd.Quality != maskservice.QualityBad || rd.Status != maskservice.StatusUnknown || rd.Fault != "bus rs485 closed" || rd.HasValue() {
			t.Errorf("%s after a failed Read: quality %s status %s fault %q value %v; want bad, unknown, the error, NaN",
				rd.SensorID, rd.Quality, rd.Status, rd.Fault, rd.Value)
		}
		if rd.Time != first.Time {
			t.Errorf("%s: Time %s, want the round's %s", rd.SensorID, rd.Time, first.Time)
		}
	}
	for _, rd := range second.Readings {
		if rd.Quality != maskservice.QualityGood || rd.Status != normal {
			t.Errorf("%s after the source recovered: quality %s status %s, want good normal", rd.SensorID, rd.Quality, rd.Status)
		}
	}
}

func TestMonitor_State(t *testing.T) {
	boom := errors.New("read timeout")
	for _, tc := range []struct {
		name  string
		value func(string, int) (float64, error)
		want  maskservice.DeviceState
	}{
		{name: "all good", value: good, want: maskservice.StateOnline},
		{name: "one failed", value: failing("P2", boom), want: maskservice.StateError},
		{name: "one out of range", value: func(id string, n int) (float64, error) {
			if id == "P3" {
				return 1200, nil
			}
			return good(id, n)
		}, want: maskservice.StateError},
		{name: "all failed on a working line", value: func(string, int) (float64, error) { return 0, boom }, want: maskservice.StateError},
		{name: "line gone", value: func(string, int) (float64, error) {
			return 0, fmt.Errorf("read: %w", maskservice.ErrDisconnected)
		}, want: maskservice.StateOffline},
		{name: "one line gone, one failing", value: func(id string, _ int) (float64, error) {
			if id == "P1" {
				return 0, fmt.Errorf("read: %w", maskservice.ErrDisconnected)
			}
			return 0, boom
		}, want: maskservice.StateOffline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m := firstRound(t, sensorsEvery(time.Second, time.Second, time.Second), &scriptSource{value: tc.value})
			if got := m.State(); got != tc.want {
				t.Errorf("State() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMonitor_StateConnecting(t *testing.T) {
	src := &scriptSource{value: good, readErr: func(int) error { return errStall }}
	m := newMonitor(t, sensorsEvery(10*time.Millisecond), src)
	if got := m.State(); got != maskservice.StateConnecting {
		t.Errorf("State() before Run = %s, want %s", got, maskservice.StateConnecting)
	}
	stop := run(t, context.Background(), m)
	waitFor(t, "the first Read", func() bool { return len(src.Calls()) > 0 })
	if got := m.State(); got != maskservice.StateConnecting {
		t.Errorf("State() during a first Read that hangs = %s, want %s", got, maskservice.StateConnecting)
	}
	stop()
	if got := m.State(); got != maskservice.StateConnecting {
		t.Errorf("State() after a Run that finished no round = %s, want %s", got, maskservice.StateConnecting)
	}
}

// TestMonitor_StateStalled hangs the source after the first round and moves the monitor's
// clock forward: once no round has started for three intervals (at least 5 s) the state is
// ERROR, although every reading of the last round was good.
func TestMonitor_StateStalled(t *testing.T) {
	for _, tc := range []struct {
		name         string
		interval     time.Duration
		fresh, stale time.Duration
	}{
		{name: "short intervals: 5 s", interval: 20 * time.Millisecond, fresh: 4 * time.Second, stale: 6 * time.Second},
		{name: "3 s interval: 9 s", interval: 3 * time.Second, fresh: 8 * time.Second, stale: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock offsetClock
			src := &scriptSource{value: good, readErr: func(call int) error {
				if call > 0 {
					return errStall
				}
				return nil
			}}
			m := newMonitor(t, sensorsEvery(tc.interval, tc.interval), src)
			m.Now = clock.Now
			sub := m.Subscribe("test", 10)
			run(t, context.Background(), m)
			receive(t, sub)
			if got := m.State(); got != maskservice.StateOnline {
				t.Fatalf("State() after a good round = %s, want ONLINE", got)
			}
			clock.Set(tc.fresh)
			if got := m.State(); got != maskservice.StateOnline {
				t.Errorf("State() %s after the last round = %s, want ONLINE (not stalled yet)", tc.fresh, got)
			}
			clock.Set(tc.stale)
			if got := m.State(); got != maskservice.StateError {
				t.Errorf("State() %s after the last round = %s, want ERROR (stalled)", tc.stale, got)
			}
		})
	}
}

func TestMonitor_Stats(t *testing.T) {
	src := &scriptSource{value: func(id string, n int) (float64, error) {
		switch id {
		case "P2":
			return 0, errors.New("read timeout")
		case "P3":
			return 1500, nil // out of range
		}
		return good(id, n)
	}}
	m := newMonitor(t, sensorsEvery(10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond), src)
	sub := m.Subscribe("ws", 1000)
	m.Subscribe("log", 1)

	before := m.Stats()
	if before.Rounds != 0 || !before.LastRound.IsZero() || before.GoodShare != 0 || len(before.Sensors) != 3 || len(before.Subscribers) != 2 {
		t.Errorf("Stats() before Run = %+v, want no rounds, 3 sensors, 2 subscribers", before)
	}
	stop := run(t, context.Background(), m)
	for range 5 {
		receive(t, sub)
	}
	running := m.Stats()
	stop()
	after := m.Stats()

	for _, st := range []maskservice.MonitorStats{running, after} {
		if st.Rounds < 5 {
			t.Errorf("Rounds = %d, want at least 5", st.Rounds)
		}
		// Every sensor is read in every round, and the counters change with the round.
		for i, want := range []struct {
			id     string
			errors uint64
		}{{"P1", 0}, {"P2", st.Rounds}, {"P3", st.Rounds}} {
			s := st.Sensors[i]
			if s.SensorID != want.id || s.Reads != st.Rounds || s.Errors != want.errors || s.LastRTT != testRTT {
				t.Errorf("Sensors[%d] = %+v, want %s with %d reads, %d errors, RTT %s", i, s, want.id, st.Rounds, want.errors, testRTT)
			}
		}
		if math.Abs(st.GoodShare-1.0/3) > 1e-9 {
			t.Errorf("GoodShare = %v, want 1/3 (P1 good, P2 failed, P3 out of range)", st.GoodShare)
		}
		if st.LastRTT != testRTT || st.LastRound.IsZero() {
			t.Errorf("LastRTT = %s, LastRound = %s; want %s and the newest round's start", st.LastRTT, st.LastRound, testRTT)
		}
	}
	if cur := m.Current(); after.Rounds != cur.Seq || !after.LastRound.Equal(cur.Time) {
		t.Errorf("Stats() = round %d at %s, want the newest round %d at %s", after.Rounds, after.LastRound, cur.Seq, cur.Time)
	}
	names := map[string]bool{}
	for _, s := range running.Subscribers {
		names[s.Name] = true
	}
	if len(names) != 2 || !names["ws"] || !names["log"] {
		t.Errorf("Subscribers while running = %+v, want ws and log", running.Subscribers)
	}
	if len(after.Subscribers) != 0 {
		t.Errorf("Subscribers after Run returned = %+v, want none", after.Subscribers)
	}
}

func TestMonitor_GoodShareWindow(t *testing.T) {
	var clock offsetClock
	m := newMonitor(t, sensorsEvery(time.Second), &scriptSource{value: good})
	m.Now = clock.Now
	sub := m.Subscribe("test", 4)
	stop := run(t, context.Background(), m)
	receive(t, sub)
	stop()
	if got := m.Stats().GoodShare; got != 1 {
		t.Errorf("GoodShare after one good round = %v, want 1", got)
	}
	// The share covers the last minute only.
	clock.Set(2 * time.Minute)
	if got := m.Stats().GoodShare; got != 0 {
		t.Errorf("GoodShare two minutes after the last read = %v, want 0", got)
	}
}

// TestMonitor_Overrun makes every Read take longer than the interval: the monitor counts the
// overruns and skips the missed slots instead of reading back to back.
func TestMonitor_Overrun(t *testing.T) {
	src := &scriptSource{value: good, delay: 30 * time.Millisecond}
	m := newMonitor(t, sensorsEvery(10*time.Millisecond), src)
	sub := m.Subscribe("test", 100)
	stop := run(t, context.Background(), m)
	for range 3 {
		receive(t, sub)
	}
	stop()
	st := m.Stats()
	if st.Overruns == 0 {
		t.Errorf("Overruns = 0 after %d rounds of 30 ms reads every 10 ms, want > 0", st.Rounds)
	}
}

// TestMonitor_OverrunKeepsPhase makes one read of the fast sensor take longer than its
// interval. The monitor must skip to the next slot on the sensor's own grid, so that the
// fast sensor (every 20 ms) is again read together with the slow one (every 40 ms); restarting
// the grid from the end of the late read would keep the two in separate rounds for good.
func TestMonitor_OverrunKeepsPhase(t *testing.T) {
	clock := &offsetClock{}
	src := &scriptSource{value: good}
	src.readErr = func(call int) error {
		if call == 1 {
			// The second Read (P2 alone, 20 ms in) takes 30 ms: the clock jumps instead of
			// the test sleeping, so the overrun does not depend on the machine's speed.
			clock.Set(30 * time.Millisecond)
		}
		return nil
	}
	m := newMonitor(t, sensorsEvery(40*time.Millisecond, 20*time.Millisecond), src)
	m.Now = clock.Now
	run(t, context.Background(), m)
	waitFor(t, "P1 and P2 read together again after the overrun", func() bool {
		calls := src.Calls()
		for _, c := range calls[min(2, len(calls)):] {
			if count(c, "P1") == 1 && count(c, "P2") == 1 {
				return true
			}
		}
		return false
	})
	if st := m.Stats(); st.Overruns == 0 {
		t.Errorf("Overruns = 0 after a 30 ms read of a sensor read every 20 ms, want > 0")
	}
}

// TestMonitor_RunTwice checks that a second Run refuses to start instead of polling the same
// sensors from a second goroutine.
func TestMonitor_RunTwice(t *testing.T) {
	m := newMonitor(t, sensorsEvery(20*time.Millisecond), &scriptSource{value: good})
	sub := m.Subscribe("test", 4)
	stop := run(t, context.Background(), m)
	receive(t, sub)
	if err := m.Run(context.Background()); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("second Run = %v, want an error at once", err)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("first Run returned %v, want context.Canceled", err)
	}
}
