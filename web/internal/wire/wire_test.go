package wire_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"mask.services/maskservice"
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

// TestNewAlert_SpecificationNames checks the specification's names beside ours: value and
// threshold follow alert_type, acknowledged follows the state (an escalation needs a new
// acknowledgement even though acked_by still names who acknowledged the warning), and
// acknowledged_by and resolved_at are null until they happen.
func TestNewAlert_SpecificationNames(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	warning := maskservice.Alert{ID: 1, SensorID: "P1", Type: maskservice.AlertWarning, State: maskservice.AlertActiveUnack,
		Value: 8.5, Threshold: 8, OpenedAt: at, EscalatedValue: math.NaN(), EscalatedThreshold: math.NaN(), UpdatedAt: at}
	acked := warning
	acked.State, acked.AckedBy, acked.AckedAt = maskservice.AlertActiveAck, "operator1", at.Add(time.Second)
	escalated := acked // escalation keeps acked_by but needs a new acknowledgement
	escalated.Type, escalated.State = maskservice.AlertCritical, maskservice.AlertActiveUnack
	escalated.EscalatedAt, escalated.EscalatedValue, escalated.EscalatedThreshold = at.Add(2*time.Second), 9.6, 9
	closed := escalated
	closed.State, closed.AckedBy, closed.ClearedAt = maskservice.AlertClosed, "admin1", at.Add(3*time.Second)
	critical := warning // critical from its first reading: no escalation
	critical.Type, critical.Value, critical.Threshold = maskservice.AlertCritical, 9.7, 9
	for _, tc := range []struct {
		name             string
		a                maskservice.Alert
		value, threshold float64
		acknowledged     bool
		by               string // "" for null
		resolved         bool
	}{
		{"open warning", warning, 8.5, 8, false, "", false},
		{"acknowledged warning", acked, 8.5, 8, true, "operator1", false},
		{"escalated after the acknowledgement", escalated, 9.6, 9, false, "", false},
		{"closed", closed, 9.6, 9, true, "admin1", true},
		{"critical from the start", critical, 9.7, 9, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wire.NewAlert(tc.a)
			if got.AlertType != tc.a.Type || float64(got.Value) != tc.value || float64(got.Threshold) != tc.threshold {
				t.Errorf("alert_type %s value %v threshold %v, want %s %v %v", got.AlertType, got.Value, got.Threshold, tc.a.Type, tc.value, tc.threshold)
			}
			if float64(got.FirstValue) != tc.a.Value || float64(got.FirstThreshold) != tc.a.Threshold {
				t.Errorf("first trip %v over %v, want %v over %v", got.FirstValue, got.FirstThreshold, tc.a.Value, tc.a.Threshold)
			}
			if got.Acknowledged != tc.acknowledged || (got.AcknowledgedBy == nil) != (tc.by == "") || (got.AcknowledgedBy != nil && *got.AcknowledgedBy != tc.by) {
				t.Errorf("acknowledged %v by %v, want %v by %q", got.Acknowledged, got.AcknowledgedBy, tc.acknowledged, tc.by)
			}
			if (got.ResolvedAt != nil) != tc.resolved || time.Time(got.CreatedAt) != tc.a.OpenedAt {
				t.Errorf("resolved_at %v created_at %v", got.ResolvedAt, got.CreatedAt)
			}
		})
	}
}
