package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
)

// alertRecordVersion is the version of alertRecord.
const alertRecordVersion = 1

// alertRecord is an alert as stored. Values and thresholds that are NaN (a failed read, a
// sensor fault) are stored as null, since JSON has no NaN.
type alertRecord struct {
	V                  int       `json:"v"`
	ID                 uint64    `json:"id"`
	SensorID           string    `json:"sensor_id"`
	Type               string    `json:"type"`
	State              string    `json:"state"`
	Message            string    `json:"message"`
	Value              *float64  `json:"value"`
	Threshold          *float64  `json:"threshold"`
	OpenedAt           time.Time `json:"opened_at"`
	EscalatedAt        time.Time `json:"escalated_at,omitzero"`
	EscalatedValue     *float64  `json:"escalated_value,omitempty"`
	EscalatedThreshold *float64  `json:"escalated_threshold,omitempty"`
	ClearedAt          time.Time `json:"cleared_at,omitzero"`
	ReactivatedAt      time.Time `json:"reactivated_at,omitzero"`
	AckedBy            string    `json:"acked_by,omitempty"`
	AckedAt            time.Time `json:"acked_at,omitzero"`
	Comment            string    `json:"comment,omitempty"`
	Reactivations      int       `json:"reactivations,omitempty"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func ptr(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func alertKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func encodeAlert(a maskservice.Alert) ([]byte, error) {
	return json.Marshal(alertRecord{V: alertRecordVersion, ID: a.ID, SensorID: a.SensorID, Type: string(a.Type),
		State: string(a.State), Message: a.Message, Value: ptr(a.Value), Threshold: ptr(a.Threshold),
		OpenedAt: a.OpenedAt, EscalatedAt: a.EscalatedAt, EscalatedValue: ptr(a.EscalatedValue),
		EscalatedThreshold: ptr(a.EscalatedThreshold), ClearedAt: a.ClearedAt, ReactivatedAt: a.ReactivatedAt, AckedBy: a.AckedBy,
		AckedAt: a.AckedAt, Comment: a.Comment, Reactivations: a.Reactivations, UpdatedAt: a.UpdatedAt})
}

func decodeAlert(b []byte) (maskservice.Alert, error) {
	var r alertRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return maskservice.Alert{}, fmt.Errorf("decode alert record: %w", err)
	}
	if r.V != alertRecordVersion {
		return maskservice.Alert{}, fmt.Errorf("decode alert record %d: version %d, want %d", r.ID, r.V, alertRecordVersion)
	}
	return maskservice.Alert{ID: r.ID, SensorID: r.SensorID, Type: maskservice.AlertType(r.Type),
		State: maskservice.AlertState(r.State), Message: r.Message, Value: val(r.Value), Threshold: val(r.Threshold),
		OpenedAt: r.OpenedAt, EscalatedAt: r.EscalatedAt, EscalatedValue: val(r.EscalatedValue),
		EscalatedThreshold: val(r.EscalatedThreshold), ClearedAt: r.ClearedAt, ReactivatedAt: r.ReactivatedAt, AckedBy: r.AckedBy,
		AckedAt: r.AckedAt, Comment: r.Comment, Reactivations: r.Reactivations, UpdatedAt: r.UpdatedAt}, nil
}

// PutAlert implements maskservice.AlertStore: it stores a under its ID, assigning the next
// one when the ID is 0, in one committed transaction: the alert is on disk when PutAlert
// returns, and a power cut before leaves the previous version.
func (db *DB) PutAlert(ctx context.Context, a maskservice.Alert) (maskservice.Alert, error) {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAlerts)
		if b == nil {
			return fmt.Errorf("no %s bucket", bucketAlerts)
		}
		if a.ID == 0 {
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			a.ID = id
		}
		v, err := encodeAlert(a)
		if err != nil {
			return err
		}
		return b.Put(alertKey(a.ID), v)
	})
	if err != nil {
		return maskservice.Alert{}, fmt.Errorf("store alert: %w", err)
	}
	return a, nil
}

// Alert implements maskservice.AlertStore: the alert with the id, or ENOTFOUND.
func (db *DB) Alert(ctx context.Context, id uint64) (maskservice.Alert, error) {
	var a maskservice.Alert
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketAlerts).Get(alertKey(id))
		if v == nil {
			return maskservice.Errorf(maskservice.ENOTFOUND, "alert %d: no such alert", id)
		}
		var err error
		a, err = decodeAlert(v)
		return err
	})
	return a, err
}

// ScanAlerts implements maskservice.AlertStore: the alerts matching f, newest first. Alerts
// are few (a handful a day), so one read transaction serves the scan.
func (db *DB) ScanAlerts(ctx context.Context, f maskservice.AlertFilter, fn func(maskservice.Alert) bool) error {
	return db.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAlerts).Cursor()
		var k, v []byte
		if f.BeforeID > 0 {
			k, v = c.Seek(alertKey(f.BeforeID))
			if k == nil {
				k, v = c.Last()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil; k, v = c.Prev() {
			a, err := decodeAlert(v)
			if err != nil {
				return err
			}
			if f.Match(a) && !fn(a) {
				return nil
			}
		}
		return nil
	})
}
