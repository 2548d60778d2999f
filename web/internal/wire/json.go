package wire

import (
	"time"

	"mask.services/maskservice"
)

// Number is a float64 that encodes as AppendNumber spells it: a missing value (NaN) is null.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) { return AppendNumber(nil, float64(n)), nil }

// Timestamp is a time that encodes as AppendTimestamp spells it.
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return AppendTimestamp(make([]byte, 0, len(TimestampLayout)+2), time.Time(t)), nil
}

// OptTime returns t as a *Timestamp, nil (JSON null) for the zero time.
func OptTime(t time.Time) *Timestamp {
	if t.IsZero() {
		return nil
	}
	ts := Timestamp(t)
	return &ts
}

// Alert is an alert as the REST answers and the WebSocket alert frames spell it: our names,
// and beside them the specification's (alert_type, acknowledged, acknowledged_by, created_at,
// resolved_at) so that a client written to it works unchanged.
//
// Value and Threshold are the trip of the alert's type: for a warning that escalated to
// critical, the critical crossing (EscalatedValue, EscalatedThreshold). FirstValue and
// FirstThreshold are the crossing that opened it, or that of its last reactivation.
type Alert struct {
	ID                 uint64                 `json:"id"`
	SensorID           string                 `json:"sensor_id"`
	Type               maskservice.AlertType  `json:"type"`
	State              maskservice.AlertState `json:"state"`
	Message            string                 `json:"message"`
	Value              Number                 `json:"value"`
	Threshold          Number                 `json:"threshold"`
	FirstValue         Number                 `json:"first_value"`
	FirstThreshold     Number                 `json:"first_threshold"`
	OpenedAt           Timestamp              `json:"opened_at"`
	EscalatedAt        *Timestamp             `json:"escalated_at"`
	EscalatedValue     Number                 `json:"escalated_value"`
	EscalatedThreshold Number                 `json:"escalated_threshold"`
	ClearedAt          *Timestamp             `json:"cleared_at"`
	ReactivatedAt      *Timestamp             `json:"reactivated_at"`
	AckedBy            string                 `json:"acked_by"`
	AckedAt            *Timestamp             `json:"acked_at"`
	Comment            string                 `json:"comment"`
	Reactivations      int                    `json:"reactivations"`
	UpdatedAt          Timestamp              `json:"updated_at"`

	// The specification's names.
	AlertType      maskservice.AlertType `json:"alert_type"`      // Type
	Acknowledged   bool                  `json:"acknowledged"`    // State.Acked: it needs no acknowledgement
	AcknowledgedBy *string               `json:"acknowledged_by"` // AckedBy while acknowledged, else null
	CreatedAt      Timestamp             `json:"created_at"`      // OpenedAt
	ResolvedAt     *Timestamp            `json:"resolved_at"`     // ClearedAt
}

// NewAlert returns a as the API spells it.
func NewAlert(a maskservice.Alert) Alert {
	out := Alert{ID: a.ID, SensorID: a.SensorID, Type: a.Type, State: a.State, Message: a.Message,
		Value: Number(a.Value), Threshold: Number(a.Threshold), FirstValue: Number(a.Value), FirstThreshold: Number(a.Threshold),
		OpenedAt: Timestamp(a.OpenedAt), EscalatedAt: OptTime(a.EscalatedAt), EscalatedValue: Number(a.EscalatedValue),
		EscalatedThreshold: Number(a.EscalatedThreshold), ClearedAt: OptTime(a.ClearedAt), ReactivatedAt: OptTime(a.ReactivatedAt),
		AckedBy: a.AckedBy, AckedAt: OptTime(a.AckedAt), Comment: a.Comment,
		Reactivations: a.Reactivations, UpdatedAt: Timestamp(a.UpdatedAt),
		AlertType: a.Type, Acknowledged: a.State.Acked(), CreatedAt: Timestamp(a.OpenedAt), ResolvedAt: OptTime(a.ClearedAt)}
	if a.Type == maskservice.AlertCritical && !a.EscalatedAt.IsZero() {
		out.Value, out.Threshold = Number(a.EscalatedValue), Number(a.EscalatedThreshold)
	}
	if out.Acknowledged && a.AckedBy != "" {
		by := a.AckedBy
		out.AcknowledgedBy = &by
	}
	return out
}
