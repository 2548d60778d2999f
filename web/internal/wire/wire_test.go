package wire_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"mask.services/maskservice/web/internal/wire"
)

func TestAppendTimestamp(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"utc, milliseconds cut not rounded", time.Date(2024, 4, 5, 17, 34, 38, 120_999_999, time.UTC), `"2024-04-05T17:34:38.120Z"`},
		{"an offset becomes UTC", time.Date(2024, 4, 5, 19, 34, 38, 0, time.FixedZone("CEST", 2*3600)), `"2024-04-05T17:34:38.000Z"`},
		{"the zero time", time.Time{}, `"0001-01-01T00:00:00.000Z"`},
		{"a board booted at 1970", time.Unix(0, 0), `"1970-01-01T00:00:00.000Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(wire.AppendTimestamp([]byte("x"), tt.t))
			if got != "x"+tt.want {
				t.Errorf("got %s, want x%s", got, tt.want)
			}
			var back time.Time
			if err := json.Unmarshal([]byte(tt.want), &back); err != nil || !back.Equal(tt.t.Truncate(time.Millisecond)) {
				t.Errorf("reads back as %v (%v), want %v", back, err, tt.t.Truncate(time.Millisecond))
			}
		})
	}
}

func TestAppendNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{5.02, "5.02"},
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{5020, "5020"},
		{1e-7, "1e-07"},
		{1e21, "1e+21"},
		{123456789.125, "123456789.125"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
		{math.Inf(-1), "null"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := string(wire.AppendNumber(nil, tt.v)); got != tt.want {
				t.Errorf("AppendNumber(%v) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
}

// FuzzAppendNumber checks that every finite float64 reads back exactly and NaN and the
// infinities are null.
func FuzzAppendNumber(f *testing.F) {
	for _, v := range []float64{0, 5.02, 1e-7, 1e21, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(-1)} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		b := wire.AppendNumber(nil, v)
		var got *float64
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s is not JSON: %v", b, err)
		}
		finite := !math.IsNaN(v) && !math.IsInf(v, 0)
		if finite != (got != nil) || (finite && *got != v) {
			t.Fatalf("%v encodes as %s", v, b)
		}
	})
}
