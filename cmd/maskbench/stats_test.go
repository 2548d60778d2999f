package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := time.Millisecond
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * ms
	}
	twenty := hundred[:20]
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", []time.Duration{7 * ms}, 99, 7 * ms},
		{"p50 of 100", hundred, 50, 50 * ms},
		{"p99 of 100", hundred, 99, 99 * ms},
		{"p100 of 100", hundred, 100, 100 * ms},
		{"p0 clamps to the first", hundred, 0, 1 * ms},
		{"p99 of 20 is the max", twenty, 99, 20 * ms},
		{"p50 of 20", twenty, 50, 10 * ms},
		{"p50 of 2 is the lower", []time.Duration{1 * ms, 9 * ms}, 50, 1 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestComputeFrames(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	r := func(seq int64, ms int) recv { return recv{seq: seq, at: at(ms)} }
	ms := time.Millisecond
	tests := []struct {
		name        string
		logs        [][]recv
		first, last int64
		spreads     []time.Duration // in seq order
		missing     int
		gaps        int
	}{
		{
			name:    "all delivered",
			logs:    [][]recv{{r(5, 0), r(6, 1000)}, {r(5, 2), r(6, 1004)}, {r(5, 1), r(6, 1001)}},
			first:   5,
			last:    6,
			spreads: []time.Duration{2 * ms, 4 * ms},
		},
		{
			name:    "one client misses a frame",
			logs:    [][]recv{{r(5, 0), r(6, 1000)}, {r(5, 3)}, {r(5, 1), r(6, 1001)}},
			first:   5,
			last:    6,
			spreads: []time.Duration{3 * ms, 1 * ms},
			missing: 1,
		},
		{
			name:    "a seq nobody got is a gap, not missing",
			logs:    [][]recv{{r(5, 0), r(7, 2000)}, {r(5, 1), r(7, 2005)}},
			first:   5,
			last:    7,
			spreads: []time.Duration{1 * ms, 5 * ms},
			gaps:    1,
		},
		{
			name:    "out of range and duplicates ignored",
			logs:    [][]recv{{r(4, 0), r(5, 10), r(5, 900)}, {r(5, 12), r(9, 5000)}},
			first:   5,
			last:    5,
			spreads: []time.Duration{2 * ms},
		},
		{
			name:  "empty range",
			logs:  [][]recv{{r(5, 0)}},
			first: 6,
			last:  5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := computeFrames(tt.logs, tt.first, tt.last)
			if !slices.Equal(got.Spreads, tt.spreads) {
				t.Errorf("spreads = %v, want %v", got.Spreads, tt.spreads)
			}
			if got.Missing != tt.missing || got.Gaps != tt.gaps {
				t.Errorf("missing, gaps = %d, %d, want %d, %d", got.Missing, got.Gaps, tt.missing, tt.gaps)
			}
		})
	}
}

func TestComputeFrames_Latency(t *testing.T) {
	sent := time.Unix(1_700_000_000, 0)
	ts := float64(sent.UnixNano()) / 1e9
	logs := [][]recv{
		{{seq: 1, at: sent.Add(3 * time.Millisecond), sent: ts}},
		{{seq: 1, at: sent.Add(8 * time.Millisecond), sent: ts}},
		{{seq: 1, at: sent.Add(9 * time.Millisecond)}}, // no ts: no latency sample
	}
	got := computeFrames(logs, 1, 1)
	if len(got.Latencies) != 2 {
		t.Fatalf("latencies = %v, want 2 samples", got.Latencies)
	}
	for i, want := range []time.Duration{3 * time.Millisecond, 8 * time.Millisecond} {
		if d := got.Latencies[i] - want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("latency %d = %v, want %v", i, got.Latencies[i], want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]time.Duration{3, 1, 2})
	if s.P50 != 2 || s.Max != 3 || s.N != 3 {
		t.Errorf("summarize = %+v, want p50 2, max 3, n 3", s)
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"typical", "Name:\tmaskserviced\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n", 12345 * 1024, false},
		{"no line", "Name:\tx\n", 0, true},
		{"bad unit", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPadFrame(t *testing.T) {
	obj := []byte(`{"type":"sensors","seq":1}`)
	tests := []struct {
		name string
		size int
		want int
	}{
		{"grows to size", 100, 100},
		{"exactly fits the pad member", len(obj) + len(`,"pad":""`), len(obj) + len(`,"pad":""`)},
		{"too small to pad", len(obj) + 3, len(obj)},
		{"no size", 0, len(obj)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := padFrame(obj, tt.size)
			if len(got) != tt.want {
				t.Errorf("len = %d, want %d", len(got), tt.want)
			}
			var f struct {
				Type string `json:"type"`
				Seq  int64  `json:"seq"`
			}
			if err := json.Unmarshal(got, &f); err != nil || f.Type != "sensors" || f.Seq != 1 {
				t.Errorf("padded frame %s does not decode: %+v, %v", got, f, err)
			}
		})
	}
}
