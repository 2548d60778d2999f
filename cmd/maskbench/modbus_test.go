package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"1234 (maskserviced) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3 * time.Second, true},
		{"1234 (a b) c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, true},
		{"1234 maskserviced S 1", 0, false},
		{"1234 (x) S 1 2 3", 0, false},
		{"1234 (x) S 1 1 1 0 -1 0 0 0 0 0 x 3 0 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStatCPU(tt.stat)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseBusCounters(t *testing.T) {
	text := `# HELP bus_requests_total Modbus transactions started (a retry is another).
bus_requests_total{bus="rs485",slave="1"} 10
bus_requests_total{bus="rs485",slave="2"} 5
bus_successes_total{bus="rs485",slave="1"} 9
bus_rtt_seconds_sum{bus="rs485",slave="1"} 0.5
bus_rtt_seconds_count{bus="rs485",slave="1"} 9
bus_requests_totalx{bus="a"} 100
`
	c, err := parseBusCounters(strings.NewReader(text))
	if err != nil || c != (busCounters{requests: 15, successes: 9, rttSum: 0.5}) {
		t.Errorf("parseBusCounters = %+v, %v", c, err)
	}
	if _, err := parseBusCounters(strings.NewReader("go_goroutines 5\n")); err == nil {
		t.Error("no bus metrics: want an error")
	}
	if _, err := parseBusCounters(strings.NewReader(`bus_requests_total{bus="a"} many`)); err == nil {
		t.Error("bad number: want an error")
	}
}
