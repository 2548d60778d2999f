package hub_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/hub"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// wireReading is one sensor of a decoded sensors frame.
type wireReading struct {
	Value     *float64 `json:"value"`
	RawValue  *float64 `json:"raw_value"`
	Unit      string   `json:"unit"`
	Status    string   `json:"status"`
	Quality   string   `json:"quality"`
	Fault     string   `json:"fault"`
	Timestamp string   `json:"timestamp"`
}

// wireFrame is a decoded sensors frame.
type wireFrame struct {
	Type    string
	Seq     uint64
	TS      json.Number
	Keys    []string // top-level keys in order
	Sensors map[string]wireReading
}

// decodeFrame checks that b is valid JSON and decodes it as a sensors frame.
func decodeFrame(tb testing.TB, b []byte) wireFrame {
	tb.Helper()
	if !json.Valid(b) {
		tb.Fatalf("frame is not valid JSON: %q", b)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		tb.Fatalf("unmarshal frame %q: %v", b, err)
	}
	f := wireFrame{Sensors: map[string]wireReading{}}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening brace
		tb.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("frame %q: %v", b, err)
		}
		key := tok.(string)
		f.Keys = append(f.Keys, key)
		switch key {
		case "type":
			err = dec.Decode(&f.Type)
		case "seq":
			err = dec.Decode(&f.Seq)
		case "ts":
			err = dec.Decode(&f.TS)
		default:
			var r wireReading
			err = dec.Decode(&r)
			f.Sensors[key] = r
		}
		if err != nil {
			tb.Fatalf("frame %q: key %q: %v", b, key, err)
		}
	}
	return f
}

// jsonRoundTrip returns s as encoding/json turns it into JSON and back (invalid UTF-8 bytes
// become U+FFFD).
func jsonRoundTrip(tb testing.TB, s string) string {
	tb.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// reading returns a good reading of id.
func reading(id string, v float64, at time.Time) maskservice.Reading {
	return maskservice.Reading{
		SensorID: id, Time: at, Value: v, Raw: v * 1000, Unit: "bar",
		Status: maskservice.StatusNormal, Quality: maskservice.QualityGood,
	}
}

func TestAppendSensorsFrame(t *testing.T) {
	at := time.Date(2024, 4, 5, 19, 34, 38, 120_456_789, time.FixedZone("CEST", 2*3600))
	ts := time.Date(2024, 4, 5, 17, 34, 39, 5_678_900, time.UTC)
	failed := maskservice.Reading{
		SensorID: "P2", Time: at, Value: math.NaN(), Raw: math.NaN(), Unit: "bar",
		Status: maskservice.StatusUnknown, Quality: maskservice.QualityBad, Fault: "read timeout",
	}
	tests := []struct {
		name     string
		readings []maskservice.Reading
		wantKeys []string
		check    func(t *testing.T, f wireFrame)
	}{
		{
			name:     "good readings in configuration order",
			readings: []maskservice.Reading{reading("P3", 5.02, at), reading("P1", 0, at), reading("P2", -1.5, at)},
			wantKeys: []string{"type", "seq", "ts", "P3", "P1", "P2"},
			check: func(t *testing.T, f wireFrame) {
				p3 := f.Sensors["P3"]
				if p3.Value == nil || *p3.Value != 5.02 || p3.RawValue == nil || *p3.RawValue != 5020 {
					t.Errorf("P3 value %v raw %v, want 5.02 and 5020", p3.Value, p3.RawValue)
				}
				if p3.Unit != "bar" || p3.Status != "normal" || p3.Quality != "good" || p3.Fault != "" {
					t.Errorf("P3 = %+v", p3)
				}
				if p3.Timestamp != "2024-04-05T17:34:38.120Z" {
					t.Errorf("timestamp %q, want UTC with milliseconds", p3.Timestamp)
				}
				if v := f.Sensors["P1"].Value; v == nil || *v != 0 {
					t.Errorf("P1 value %v, want 0 (not null)", v)
				}
			},
		},
		{
			name:     "failed read gives null values",
			readings: []maskservice.Reading{failed},
			wantKeys: []string{"type", "seq", "ts", "P2"},
			check: func(t *testing.T, f wireFrame) {
				p2 := f.Sensors["P2"]
				if p2.Value != nil || p2.RawValue != nil {
					t.Errorf("value %v raw %v, want null", p2.Value, p2.RawValue)
				}
				if p2.Status != "unknown" || p2.Quality != "bad" || p2.Fault != "read timeout" {
					t.Errorf("P2 = %+v", p2)
				}
			},
		},
		{
			name: "infinities are null, extreme numbers stay numbers",
			readings: []maskservice.Reading{
				{SensorID: "A", Value: math.Inf(1), Raw: math.Inf(-1)},
				{SensorID: "B", Value: 1e-7, Raw: 1e21},
				{SensorID: "C", Value: math.Copysign(0, -1), Raw: math.MaxFloat64},
				{SensorID: "D", Value: math.SmallestNonzeroFloat64, Raw: -123456789.125},
			},
			wantKeys: []string{"type", "seq", "ts", "A", "B", "C", "D"},
			check: func(t *testing.T, f wireFrame) {
				if a := f.Sensors["A"]; a.Value != nil || a.RawValue != nil {
					t.Errorf("A: infinities must be null, got %v %v", a.Value, a.RawValue)
				}
				want := map[string][2]float64{
					"B": {1e-7, 1e21}, "C": {0, math.MaxFloat64}, "D": {math.SmallestNonzeroFloat64, -123456789.125},
				}
				for id, w := range want {
					r := f.Sensors[id]
					if r.Value == nil || *r.Value != w[0] || r.RawValue == nil || *r.RawValue != w[1] {
						t.Errorf("%s: got %v %v, want %v", id, r.Value, r.RawValue, w)
					}
				}
			},
		},
		{
			name: "any text in ids, units and faults",
			readings: []maskservice.Reading{{
				SensorID: "a\"b\\c\x00\x1f\u2028", Unit: "m³/h \u2029 <&>", Fault: "bad \xff\xfe utf8 \t\r\n end",
				Value: 1, Raw: 1, Status: maskservice.Status(9), Quality: maskservice.Quality(7),
			}},
			wantKeys: []string{"type", "seq", "ts", "a\"b\\c\x00\x1f\u2028"},
			check: func(t *testing.T, f wireFrame) {
				r := f.Sensors["a\"b\\c\x00\x1f\u2028"]
				if r.Unit != "m³/h \u2029 <&>" {
					t.Errorf("unit %q", r.Unit)
				}
				if want := "bad \ufffd\ufffd utf8 \t\r\n end"; r.Fault != want {
					t.Errorf("fault %q, want %q", r.Fault, want)
				}
				if r.Status != "status(9)" || r.Quality != "quality(7)" {
					t.Errorf("status %q quality %q", r.Status, r.Quality)
				}
			},
		},
		{
			name:     "no sensors",
			wantKeys: []string{"type", "seq", "ts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &maskservice.Round{Seq: 42, Time: at, Current: tt.readings}
			b := hub.AppendSensorsFrame([]byte("prefix"), r, ts)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("dst was not appended to: %q", b)
			}
			f := decodeFrame(t, b[len("prefix"):])
			if f.Type != "sensors" || f.Seq != 42 || f.TS != "1712338479.005678" {
				t.Errorf("type %q seq %d ts %s, want sensors 42 1712338479.005678", f.Type, f.Seq, f.TS)
			}
			if fmt.Sprint(f.Keys) != fmt.Sprint(tt.wantKeys) {
				t.Errorf("keys %q, want %q", f.Keys, tt.wantKeys)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestAppendSensorsFrame_TS(t *testing.T) {
	tests := []struct {
		ts   time.Time
		want string
	}{
		{time.Unix(0, 0), "0.000000"},
		{time.Unix(1712338479, 999_999_999), "1712338479.999999"},
		{time.Unix(-1, 500_000_000), "-0.500000"},
		{time.Unix(-62135596800, 1000), "-62135596799.999999"},
		{time.Unix(0, math.MaxInt64), "9223372036.854775"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := decodeFrame(t, hub.AppendSensorsFrame(nil, &maskservice.Round{Seq: 1}, tt.ts))
			if string(f.TS) != tt.want {
				t.Errorf("ts %s, want %s", f.TS, tt.want)
			}
		})
	}
}

func TestAppendSensorsFrame_NilRound(t *testing.T) {
	f := decodeFrame(t, hub.AppendSensorsFrame(nil, nil, time.Unix(1, 0)))
	if f.Seq != 0 || len(f.Sensors) != 0 || f.Type != "sensors" {
		t.Errorf("nil round gave %+v, want an empty sensors frame with seq 0", f)
	}
}

// TestAppendSensorsFrame_Golden pins the exact bytes of a frame: the UI and other clients
// parse them. Run with -update to rewrite testdata/sensors_frame.golden after a deliberate
// change.
func TestAppendSensorsFrame_Golden(t *testing.T) {
	at := time.Date(2024, 4, 5, 17, 34, 38, 120_000_000, time.UTC)
	r := &maskservice.Round{Seq: 7, Time: at, Current: []maskservice.Reading{
		reading("P1", 5.02, at),
		{SensorID: "P2", Time: at, Value: math.NaN(), Raw: math.NaN(), Unit: "bar",
			Status: maskservice.StatusUnknown, Quality: maskservice.QualityBad, Fault: "read timeout"},
		{SensorID: "P3", Time: at, Value: 950.5, Raw: 950500, Unit: "mbar",
			Status: maskservice.StatusCritical, Quality: maskservice.QualityGood},
	}}
	checkGolden(t, "sensors_frame.golden", hub.AppendSensorsFrame(nil, r, at.Add(5*time.Millisecond)))
}

// checkGolden compares got with testdata/name, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(got) != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("frame\n%s\nwant\n%s", got, want)
	}
}

func FuzzAppendSensorsFrame(f *testing.F) {
	f.Add("P1", "bar", "", 5.02, 5020.0, uint64(1), int64(1712338479005678900), uint8(1), uint8(0))
	f.Add("a\"\\\x00", "\u2028", "\xff", math.NaN(), math.Inf(1), uint64(math.MaxUint64), int64(math.MinInt64), uint8(200), uint8(9))
	f.Add("", "", "x\ty", 1e-300, -1e300, uint64(0), int64(0), uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, id, unit, fault string, value, raw float64, seq uint64, nanos int64, status, quality uint8) {
		at := time.Unix(0, nanos)
		r := &maskservice.Round{Seq: seq, Time: at, Current: []maskservice.Reading{{
			SensorID: id, Time: at, Value: value, Raw: raw, Unit: unit, Fault: fault,
			Status: maskservice.Status(status), Quality: maskservice.Quality(quality),
		}}}
		b := hub.AppendSensorsFrame(nil, r, at)
		fr := decodeFrame(t, b)
		if fr.Seq != seq || fr.Type != "sensors" {
			t.Fatalf("seq %d type %q, want %d sensors", fr.Seq, fr.Type, seq)
		}
		if _, err := fr.TS.Float64(); err != nil {
			t.Fatalf("ts %q is not a number: %v", fr.TS, err)
		}
		key := jsonRoundTrip(t, id)
		if len(fr.Keys) != 4 || fr.Keys[3] != key {
			t.Fatalf("keys %q, want the sensor id %q last", fr.Keys, key)
		}
		got := fr.Sensors[key]
		checkNumber(t, "value", got.Value, value)
		checkNumber(t, "raw_value", got.RawValue, raw)
		if got.Unit != jsonRoundTrip(t, unit) || got.Fault != jsonRoundTrip(t, fault) {
			t.Fatalf("unit %q fault %q, want %q %q", got.Unit, got.Fault, unit, fault)
		}
		if got.Status != maskservice.Status(status).String() || got.Quality != maskservice.Quality(quality).String() {
			t.Fatalf("status %q quality %q", got.Status, got.Quality)
		}
		if y := at.UTC().Year(); y >= 0 && y <= 9999 {
			ts, err := time.Parse(time.RFC3339, got.Timestamp)
			if err != nil || !ts.Equal(at.Truncate(time.Millisecond)) {
				t.Fatalf("timestamp %q (%v), want %v", got.Timestamp, err, at.UTC())
			}
		}
	})
}

// checkNumber checks that a decoded JSON number is want, or null when want is not finite.
func checkNumber(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	switch {
	case math.IsNaN(want) || math.IsInf(want, 0):
		if got != nil {
			t.Fatalf("%s = %v, want null for %v", name, *got, want)
		}
	case got == nil || *got != want:
		t.Fatalf("%s = %v, want %v", name, got, want)
	}
}

func BenchmarkAppendSensorsFrame(b *testing.B) {
	at := time.Now()
	r := &maskservice.Round{Seq: 1, Time: at, Current: []maskservice.Reading{
		reading("P1", 5.02, at), reading("P2", 2.5, at),
		{SensorID: "P3", Time: at, Value: math.NaN(), Raw: math.NaN(), Unit: "mbar", Quality: maskservice.QualityBad, Fault: "read timeout"},
	}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = hub.AppendSensorsFrame(buf[:0], r, at)
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppendAlertFrame_Golden pins the exact bytes of an alert frame, as GET /api/alerts/{id}
// spells the alert. Run with -update to rewrite testdata/alert_frame.golden after a
// deliberate change.
func TestAppendAlertFrame_Golden(t *testing.T) {
	at := time.Date(2024, 4, 5, 17, 34, 38, 120_000_000, time.UTC)
	a := maskservice.Alert{ID: 12, SensorID: "P1", Type: maskservice.AlertCritical, State: maskservice.AlertActiveAck,
		Message: "Pressure 1 critical: 9.6 bar beyond 9 bar", Value: 8.5, Threshold: 8, OpenedAt: at,
		EscalatedAt: at.Add(time.Second), EscalatedValue: 9.6, EscalatedThreshold: 9,
		AckedBy: "operator1", AckedAt: at.Add(2 * time.Second), Comment: "valve \"A\" closed",
		UpdatedAt: at.Add(2 * time.Second)}
	checkGolden(t, "alert_frame.golden", hub.AppendAlertFrame(nil, a, at.Add(2*time.Second+5*time.Millisecond)))
}
