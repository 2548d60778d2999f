package chunk_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/chunk"
)

// randomReadings makes n readings the way a sensor produces them: times about interval apart
// with jitter, values from raw register counts (or arbitrary floats when floats is set), and
// now and then a failed read, an out-of-range value or a status change.
func randomReadings(rng *rand.Rand, n int, floats bool) []maskservice.Reading {
	scales := []float64{0.001, 0.00625, 0.1, 0.0005, 1, 0.01}
	offsets := []float64{0, 0, -2.5, 4.75}
	scale, offset := scales[rng.IntN(len(scales))], offsets[rng.IntN(len(offsets))]
	t := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(1e15)))
	interval := []time.Duration{10 * time.Millisecond, time.Second, time.Minute}[rng.IntN(3)]
	raw := float64(rng.IntN(20000) - 5000)
	divide := rng.IntN(3) == 0
	perUnit := []float64{1000, 2000, 10, 16}[rng.IntN(4)]
	status := maskservice.StatusNormal
	out := make([]maskservice.Reading, n)
	for i := range out {
		t = t.Add(interval + time.Duration(rng.Int64N(int64(2*time.Millisecond))) - time.Millisecond)
		raw += float64(rng.IntN(41) - 20)
		r := maskservice.Reading{SensorID: "P1", Unit: "bar", Time: t, Raw: raw, Value: float64(raw*scale) + offset,
			Status: status, Quality: maskservice.QualityGood}
		if divide {
			r.Value = raw / perUnit // as the simulator computes it
		}
		if floats {
			r.Value = rng.NormFloat64() * 3
			r.Raw = r.Value
		}
		switch rng.IntN(40) {
		case 0:
			r.Value, r.Raw = math.NaN(), math.NaN()
			r.Status, r.Quality, r.Fault = maskservice.StatusUnknown, maskservice.QualityBad, "read P1 (slave 1, holding register 0): no response from transducer"
		case 1:
			r.Quality, r.Fault = maskservice.QualityBad, "out of range"
		case 2:
			status = maskservice.Status(1 + rng.IntN(3))
			r.Status = status
		case 3:
			if rng.IntN(5) == 0 { // the clock jumped back
				t = t.Add(-time.Hour)
				r.Time = t
			}
		}
		out[i] = r
	}
	return out
}

func decodeAll(t *testing.T, b []byte) []maskservice.Reading {
	t.Helper()
	var out []maskservice.Reading
	if err := chunk.Decode(b, "P1", "bar", func(r maskservice.Reading) bool { out = append(out, r); return true }); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return out
}

// same reports whether two floats are the same bits, or both NaN.
func same(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// Property: any chunk decodes to the readings it was made of, with times to the millisecond;
// the raw value survives when every value is raw * scale + offset.
func TestEncodeDecode_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		floats := iter%5 == 4
		rs := randomReadings(rng, 1+rng.IntN(300), floats)
		b, sc := chunk.Encode(nil, rs, chunk.Scale{})
		if sc.OK == floats {
			t.Fatalf("iteration %d: raw mode %v for floats=%v (scale %+v)", iter, sc.OK, floats, sc)
		}
		got := decodeAll(t, b)
		if len(got) != len(rs) {
			t.Fatalf("iteration %d: %d readings back, want %d", iter, len(got), len(rs))
		}
		for i, w := range rs {
			g := got[i]
			wantRaw := w.Raw
			if !sc.OK {
				wantRaw = math.NaN()
			}
			if !g.Time.Equal(w.Time.Truncate(time.Millisecond)) || !same(g.Value, w.Value) || !same(g.Raw, wantRaw) ||
				g.Status != w.Status || g.Quality != w.Quality || g.Fault != w.Fault || g.SensorID != "P1" || g.Unit != "bar" {
				t.Fatalf("iteration %d reading %d:\n got %+v\nwant %+v", iter, i, g, w)
			}
		}
		h, err := chunk.ReadHeader(b)
		lo, hi := got[0].Time, got[0].Time
		for _, r := range got {
			lo, hi = minT(lo, r.Time), maxT(hi, r.Time)
		}
		if err != nil || h.Count != len(rs) || !h.Start.Equal(got[0].Time) || !h.End.Equal(got[len(got)-1].Time) || !h.Min.Equal(lo) || !h.Max.Equal(hi) {
			t.Fatalf("iteration %d: header %+v, %v", iter, h, err)
		}
	}
}

// Negative zero survives, in either mode.
func TestEncode_NegativeZero(t *testing.T) {
	rs := []maskservice.Reading{{Time: time.Unix(1, 0), Raw: math.Copysign(0, -1), Value: math.Copysign(0, -1)},
		{Time: time.Unix(2, 0), Raw: 3, Value: 3}}
	b, _ := chunk.Encode(nil, rs, chunk.Scale{})
	got := decodeAll(t, b)
	if math.Float64bits(got[0].Value) != math.Float64bits(rs[0].Value) || got[1].Value != 3 {
		t.Errorf("values %v %v, want -0 and 3", got[0].Value, got[1].Value)
	}
}

// A reading at 1 Hz must cost at most 4 bytes (the budget), chunk header included.
func TestEncode_Size(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rs := make([]maskservice.Reading, 256)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	raw := 5000.0
	for i := range rs {
		raw += float64(rng.IntN(21) - 10) // noise of ±10 counts
		jitter := time.Duration(rng.IntN(400)) * time.Microsecond
		rs[i] = maskservice.Reading{Time: t0.Add(time.Duration(i)*time.Second + jitter), Raw: raw, Value: raw * 0.001,
			Status: maskservice.StatusNormal}
	}
	b, sc := chunk.Encode(nil, rs, chunk.Scale{})
	if !sc.OK || sc.Scale != 0.001 {
		t.Errorf("scale %+v, want raw mode with 0.001", sc)
	}
	if per := float64(len(b)) / float64(len(rs)); per > 2.5 {
		t.Errorf("%.2f bytes per reading, want <= 2.5 (budget 4 with the key and bbolt's overhead)", per)
	} else {
		t.Logf("%d readings in %d bytes: %.2f bytes per reading", len(rs), len(b), per)
	}
	// The hint is used when it fits, and a wrong hint does not break anything.
	if _, sc2 := chunk.Encode(nil, rs, sc); sc2 != sc {
		t.Errorf("with its own hint: %+v", sc2)
	}
	if b3, _ := chunk.Encode(nil, rs, chunk.Scale{Scale: 0.5, OK: true}); len(decodeAll(t, b3)) != len(rs) {
		t.Error("wrong hint broke the chunk")
	}
}

func TestDecode_Corrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	good, _ := chunk.Encode(nil, randomReadings(rng, 50, false), chunk.Scale{})
	tests := map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"extra bytes": append(append([]byte(nil), good...), 0),
		"header only": good[:4],
	}
	for name, b := range tests {
		err := chunk.Decode(b, "P1", "bar", func(maskservice.Reading) bool { return true })
		if !errors.Is(err, chunk.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// Stopping early is not an error.
	n := 0
	if err := chunk.Decode(good, "P1", "bar", func(maskservice.Reading) bool { n++; return n < 3 }); err != nil || n != 3 {
		t.Errorf("early stop: %d readings, %v", n, err)
	}
}

// FuzzDecode: arbitrary bytes never panic, never loop without end, and a chunk that decodes
// re-encodes to one that decodes to the same readings.
func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, floats := range []bool{false, true} {
		b, _ := chunk.Encode(nil, randomReadings(rng, 20, floats), chunk.Scale{})
		f.Add(b)
	}
	f.Add([]byte{1, 1, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var rs []maskservice.Reading
		if err := chunk.Decode(b, "P1", "bar", func(r maskservice.Reading) bool { rs = append(rs, r); return len(rs) < 1<<16 }); err != nil {
			if !errors.Is(err, chunk.ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		if len(rs) == 0 {
			t.Fatal("a valid chunk with no readings")
		}
		again, _ := chunk.Encode(nil, rs, chunk.Scale{})
		var back []maskservice.Reading
		if err := chunk.Decode(again, "P1", "bar", func(r maskservice.Reading) bool { back = append(back, r); return true }); err != nil {
			t.Fatalf("re-encoded chunk does not decode: %v", err)
		}
		if len(back) != len(rs) {
			t.Fatalf("%d readings, re-encoded %d", len(rs), len(back))
		}
		for i := range rs {
			if !back[i].Time.Equal(rs[i].Time) || !same(back[i].Value, rs[i].Value) || back[i].Status != rs[i].Status || back[i].Fault != rs[i].Fault {
				t.Fatalf("reading %d: %+v re-encoded as %+v", i, rs[i], back[i])
			}
		}
	})
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
