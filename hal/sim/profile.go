package sim

import (
	"math"
	"sort"
	"time"

	"mask.services/maskservice"
)

// The default profile, as fractions of the normal band's width above its low end and as
// seconds. A test cycle pumps up from base to top, holds while the pressure leaks a little,
// releases back to base and rests. Its extremes plus the drift and the clamped noise stay
// within 0.19 .. 0.91 of the band, so the profile never leaves the normal band.
const (
	profBase  = 0.25 // resting pressure
	profTop   = 0.85 // test pressure
	profLeak  = 0.04 // the most the pressure falls while held
	profDrift = 0.02 // amplitude of the slow drift

	rampSec    = 20.0
	holdSec    = 30.0
	releaseSec = 10.0
	restSec    = 20.0
	cycleSec   = rampSec + holdSec + releaseSec + restSec
	leakTau    = 15.0  // time constant of the leak while held
	driftSec   = 600.0 // period of the slow drift

	noiseSpan = 0.0015 // noise standard deviation as a share of the range span ...
	noiseBand = 0.01   // ... but at most this share of the normal band's width
	noiseCap  = 4.0    // noise is clamped to this many standard deviations
)

// profile returns the noise-free value of the default profile at t seconds of the cycle.
func profile(cfg maskservice.Sensor, t float64) float64 {
	n := cfg.Thresholds.Normal
	w := n.High - n.Low
	base, top := n.Low+profBase*w, n.Low+profTop*w
	held := top - profLeak*w*(1-math.Exp(-holdSec/leakTau)) // the pressure at the end of the hold
	c := math.Mod(t, cycleSec)
	if c < 0 {
		c += cycleSec
	}
	var v float64
	switch {
	case c < rampSec:
		v = base + (top-base)*smoothstep(c/rampSec)
	case c < rampSec+holdSec:
		v = top - profLeak*w*(1-math.Exp(-(c-rampSec)/leakTau))
	case c < rampSec+holdSec+releaseSec:
		v = held + (base-held)*smoothstep((c-rampSec-holdSec)/releaseSec)
	default:
		v = base
	}
	return v + profDrift*w*math.Sin(2*math.Pi*t/driftSec)
}

// smoothstep eases x in [0, 1] in and out, as a valve opening and a pressure settling do.
func smoothstep(x float64) float64 { return x * x * (3 - 2*x) }

// noise returns the Gaussian noise of sensor i at elapsed. The generator is reseeded from the
// seed, the sensor and the time for every value, so the noise does not depend on what else was
// read before. The caller holds mu.
func (s *Source) noise(i int, elapsed time.Duration, cfg maskservice.Sensor) float64 {
	span := cfg.Range.High - cfg.Range.Low
	sigma := min(noiseSpan*span, noiseBand*(cfg.Thresholds.Normal.High-cfg.Thresholds.Normal.Low))
	s.pcg.Seed(s.seed, mix(uint64(i), uint64(elapsed)))
	return min(max(s.rng.NormFloat64(), -noiseCap), noiseCap) * sigma
}

// mix hashes a and b into one well-spread 64-bit value (the splitmix64 finalizer), so that
// neighbouring sensors and read times seed unrelated noise.
func mix(a, b uint64) uint64 {
	z := (a+1)*0x9e3779b97f4a7c15 ^ b
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// interpolate returns the value of the script pts at elapsed: linear between points, the
// first value before the first point and the last value after the last.
func interpolate(pts []ScriptPoint, elapsed time.Duration) float64 {
	j := sort.Search(len(pts), func(j int) bool { return pts[j].At > elapsed })
	switch j {
	case 0:
		return pts[0].Value
	case len(pts):
		return pts[len(pts)-1].Value
	}
	a, b := pts[j-1], pts[j]
	// Weighting the two ends, rather than a + (b-a)*frac, cannot overflow for any finite
	// values: b-a, or b-a times nanoseconds, can.
	frac := float64(elapsed-a.At) / float64(b.At-a.At)
	return a.Value*(1-frac) + b.Value*frac
}
