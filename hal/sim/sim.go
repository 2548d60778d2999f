// Package sim simulates pressure transducers behind the maskservice.Source seam, so the
// daemon, the demo and the tests run without hardware.
//
// By default every sensor follows a realistic pressure-test profile that stays inside its
// normal band, so a demo raises no alarm on its own. A script (the config's sim_script)
// replaces the profile of one sensor with fixed points to walk it across its thresholds, and
// faults (stuck value, out of range, read error, disconnect, explicit value) can be injected
// and cleared at any time, even while the monitor reads.
package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// registerCounts is how many register counts a simulated transducer resolves over its range:
// a value is quantized to steps of range span / registerCounts, like a real register.
const registerCounts = 10000

// ScriptPoint is one point of a scripted sensor: at At after the source was created, the
// sensor reads Value.
type ScriptPoint struct {
	At    time.Duration // time since the source was created (Options.Now at New), >= 0
	Value float64       // in the sensor's unit; finite
}

// Options configure a Source. The zero value is valid: real time, seed 0, no scripts, no
// latency.
type Options struct {
	// Seed seeds the noise of the default profile. The noise is a function of the seed, the
	// sensor and the read time only, so the same seed and the same read times give the same
	// values, whatever else was read in between.
	Seed uint64
	// Now returns the current time; defaults to time.Now. The simulation's start is Now() at
	// New: scripts and the profile count time from there.
	Now func() time.Time
	// Scripts maps a sensor id to the points that replace its default profile. Between two
	// points the value is linear in time; before the first point it is the first point's
	// value, after the last point the last point's value. Scripted values are quantized like
	// the profile but not clamped to the range, so a script can also leave the range.
	Scripts map[string][]ScriptPoint
	// Latency is the simulated round-trip time of one sensor's read: Read waits it once for
	// every known sensor it reads (a bus serializes its transactions) and reports it as
	// Sample.RTT. Zero reads at once.
	Latency time.Duration
	// Live, when set, holds the sensor settings in force: every read takes its sensor's
	// range and bands from it, so a swap of settings reaches the simulated transducers from
	// the next read. The sensors given to New then only say which ones this source serves.
	Live *maskservice.LiveSensors
}

// Source is a simulated bus of transducers. It implements maskservice.Source. Read is called
// from one goroutine at a time (the monitor's); SetFault, ClearFault and SetConnected are
// safe to call from any goroutine, also while Read runs.
type Source struct {
	now     func() time.Time
	start   time.Time
	seed    uint64
	latency time.Duration
	sensors []simSensor    // in configuration order; the fault and last fields are guarded by mu
	index   map[string]int // sensor id -> index into sensors
	live    *maskservice.LiveSensors

	mu           sync.Mutex
	disconnected bool
	pcg          *rand.PCG  // reseeded for every value, see noise
	rng          *rand.Rand // draws from pcg
}

var _ maskservice.Source = (*Source)(nil)

// simSensor is the state of one simulated transducer.
type simSensor struct {
	cfg     maskservice.Sensor // the settings given to New; Options.Live's win when set
	perUnit float64            // register counts per unit of value, for cfg's range
	script  []ScriptPoint      // nil: the default profile
	phase   float64            // seconds by which this sensor's test cycle is shifted
	fault   Fault
	last    float64 // the newest value read successfully; NaN before the first
}

// New returns a simulator of sensors (validated with maskservice.ValidateSensors). It checks
// opts: every script names a known sensor and has at least one point, each point's At is >= 0
// and after the previous point's, and each Value is finite; Latency is >= 0. A script error
// names the sensor and the point's index (counting from 0). Errors are *maskservice.Error with
// code EINVALID.
func New(sensors []maskservice.Sensor, opts Options) (*Source, error) {
	if err := maskservice.ValidateSensors(sensors); err != nil {
		return nil, err
	}
	if opts.Live != nil {
		for _, sn := range sensors {
			if _, ok := opts.Live.Load().Sensor(sn.ID); !ok {
				return nil, maskservice.Errorf(maskservice.EINVALID, "sim sensor %s: not in the live sensor settings", sn.ID)
			}
		}
	}
	if opts.Latency < 0 {
		return nil, maskservice.Errorf(maskservice.EINVALID, "sim latency %s must be >= 0", opts.Latency)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{
		now:     opts.Now,
		seed:    opts.Seed,
		latency: opts.Latency,
		live:    opts.Live,
		index:   make(map[string]int, len(sensors)),
		pcg:     rand.NewPCG(0, 0),
	}
	s.rng = rand.New(s.pcg)
	for i, cfg := range sensors {
		s.index[cfg.ID] = i
		s.sensors = append(s.sensors, simSensor{
			cfg:     cfg,
			perUnit: registerCounts / (cfg.Range.High - cfg.Range.Low),
			// Shift each sensor's cycle so that the three do not pump in lockstep.
			phase: float64(i) * 27,
			last:  math.NaN(),
		})
	}
	// Check the scripts in a fixed order so that the same config gives the same error.
	ids := make([]string, 0, len(opts.Scripts))
	for id := range opts.Scripts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		i, ok := s.index[id]
		if !ok {
			return nil, maskservice.Errorf(maskservice.EINVALID, "sim script of %s: unknown sensor", id)
		}
		pts := opts.Scripts[id]
		if err := validateScript(id, pts); err != nil {
			return nil, err
		}
		s.sensors[i].script = slices.Clone(pts)
	}
	s.start = s.now()
	return s, nil
}

func validateScript(id string, pts []ScriptPoint) error {
	if len(pts) == 0 {
		return maskservice.Errorf(maskservice.EINVALID, "sim script of %s: no points", id)
	}
	for j, p := range pts {
		switch {
		case p.At < 0:
			return maskservice.Errorf(maskservice.EINVALID, "sim script of %s: point %d: time %s is negative", id, j, p.At)
		case j > 0 && p.At <= pts[j-1].At:
			return maskservice.Errorf(maskservice.EINVALID, "sim script of %s: point %d: time %s is not after the previous point's %s", id, j, p.At, pts[j-1].At)
		case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
			return maskservice.Errorf(maskservice.EINVALID, "sim script of %s: point %d: value %g is not a finite number", id, j, p.Value)
		}
	}
	return nil
}

// Read reads the sensors named by ids, as maskservice.Source describes: one Sample per id, in
// the order of ids, each stamped with Now() at the moment it was read. It waits Latency for
// each known sensor and returns nil and ctx's error as soon as ctx is done. A failed read has
// Value and Raw NaN and Err set: an unknown id fails with "unknown sensor", a disconnected bus
// (SetConnected(false)) fails every sensor with hal.ErrDisconnected, and a fault fails its
// sensor as Fault describes. Otherwise Raw is the register count, round(value / res) with res
// = range span / 10000, and Value is Raw * res in the sensor's unit (a fault's value is
// reported as it is; see Fault). Where the counts cannot express a value (a range too narrow
// to divide into them, a scripted value far outside the range) Value is the value as it is
// and Raw is NaN, so a finite value never turns into an infinite or NaN one.
func (s *Source) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]maskservice.Sample, len(ids))
	for k, id := range ids {
		i, ok := s.index[id]
		if !ok {
			out[k] = failed(id, s.now(), 0, fmt.Errorf("read %s: unknown sensor", id))
			continue
		}
		if err := wait(ctx, s.latency); err != nil {
			return nil, err
		}
		out[k] = s.read(i)
	}
	return out, nil
}

// wait blocks for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// settings returns sensor i with the settings in force: Options.Live's when set (the
// counts per unit follow its range), else those given to New. The caller holds mu.
func (s *Source) settings(i int) *simSensor {
	sn := &s.sensors[i]
	if s.live == nil {
		return sn
	}
	if cfg, ok := s.live.Load().Sensor(sn.cfg.ID); ok && cfg != sn.cfg {
		sn.cfg = cfg
		sn.perUnit = registerCounts / (cfg.Range.High - cfg.Range.Low)
	}
	return sn
}

// read takes one sample of sensor i, applying the bus state and the sensor's fault.
func (s *Source) read(i int) maskservice.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.settings(i)
	id := sn.cfg.ID
	now := s.now()
	switch {
	case s.disconnected, sn.fault.Kind == FaultDisconnect:
		return failed(id, now, s.latency, fmt.Errorf("read %s: %w", id, hal.ErrDisconnected))
	case sn.fault.Kind == FaultReadError:
		err := sn.fault.Err
		if err == nil {
			err = hal.ErrTimeout
		}
		return failed(id, now, s.latency, fmt.Errorf("read %s: %w", id, err))
	}
	var v float64
	switch sn.fault.Kind {
	case FaultStuck:
		if math.IsNaN(sn.last) {
			// Stuck before any good read: freeze the value the sensor would read now.
			sn.last = s.value(i, now)
		}
		v = sn.last
	case FaultOutOfRange:
		v = sn.fault.Value
		if v == 0 {
			span := sn.cfg.Range.High - sn.cfg.Range.Low
			v = sn.cfg.Range.High + 0.1*span
		}
	case FaultValue:
		v = sn.fault.Value
	default:
		v = s.value(i, now)
	}
	sn.last = v
	_, raw := sn.quantize(v)
	return maskservice.Sample{SensorID: id, Time: now, Raw: raw, Value: v, RTT: s.latency}
}

// value returns the quantized value of sensor i at now, from its script or the default
// profile. The caller holds mu.
func (s *Source) value(i int, now time.Time) float64 {
	sn := &s.sensors[i]
	elapsed := now.Sub(s.start)
	var v float64
	if sn.script != nil {
		v = interpolate(sn.script, elapsed)
	} else {
		v = profile(sn.cfg, elapsed.Seconds()+sn.phase) + s.noise(i, elapsed, sn.cfg)
		v = min(max(v, sn.cfg.Range.Low), sn.cfg.Range.High)
	}
	v, _ = sn.quantize(v)
	return v
}

// quantize returns v rounded to the nearest register count, and that count. Where the counts
// cannot express v (a range too narrow to divide into them, or a scripted value far outside
// the range) v is returned as it is, with a NaN count, rather than an infinite or NaN value.
func (sn *simSensor) quantize(v float64) (value, raw float64) {
	raw = math.Round(v * sn.perUnit)
	if math.IsInf(raw, 0) || math.IsNaN(raw) {
		return v, math.NaN()
	}
	// Dividing by the counts per unit (an integer for spans such as 10 or 1000) gives the
	// shortest decimal, 5.002 rather than 5.0020000000000004.
	return raw / sn.perUnit, raw
}

// failed returns a failed sample.
func failed(id string, at time.Time, rtt time.Duration, err error) maskservice.Sample {
	return maskservice.Sample{SensorID: id, Time: at, Raw: math.NaN(), Value: math.NaN(), RTT: rtt, Err: err}
}

// SetConnected plugs the whole simulated bus in or out. While it is disconnected every read
// of a known sensor fails with an error wrapping hal.ErrDisconnected, whatever its fault;
// faults are kept and apply again once it is connected. A new Source is connected.
func (s *Source) SetConnected(connected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnected = !connected
}
