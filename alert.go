package maskservice

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// AlertType is what an alert is about.
type AlertType string

// The alert types. A warning that worsens becomes a critical alert (the same alert,
// escalated); a sensor whose readings are bad (a failed read, a value outside the range)
// raises a sensor fault.
const (
	AlertWarning     AlertType = "WARNING"
	AlertCritical    AlertType = "CRITICAL"
	AlertSensorFault AlertType = "SENSOR_FAULT"
)

// AlertState is where an alert is in the alarm life cycle of ISA-18.2.
type AlertState string

// The alert states. An alert opens ACTIVE_UNACK. Acknowledged while active it becomes
// ACTIVE_ACK; back to normal before that it becomes CLEARED_UNACK. It is CLOSED once it is
// both back to normal and acknowledged. An alert that is not closed becomes active again (and
// unacknowledged) when its sensor leaves the normal band again.
const (
	AlertActiveUnack  AlertState = "ACTIVE_UNACK"
	AlertActiveAck    AlertState = "ACTIVE_ACK"
	AlertClearedUnack AlertState = "CLEARED_UNACK"
	AlertClosed       AlertState = "CLOSED"
)

// Active reports whether the condition of an alert in state s still holds.
func (s AlertState) Active() bool { return s == AlertActiveUnack || s == AlertActiveAck }

// Acked reports whether an alert in state s needs no acknowledgement.
func (s AlertState) Acked() bool { return s == AlertActiveAck || s == AlertClosed }

// Alert is one alarm of one sensor and its history: when it opened, escalated, cleared, and
// who acknowledged it.
type Alert struct {
	ID        uint64 // assigned by the store, increasing
	SensorID  string
	Type      AlertType
	State     AlertState
	Message   string
	Value     float64   // the value that tripped it; NaN for a failed read
	Threshold float64   // the limit it crossed; NaN for a sensor fault
	OpenedAt  time.Time // when it opened
	// Escalation from WARNING to CRITICAL: when, at which value, over which limit. Zero
	// time when the alert never escalated.
	EscalatedAt        time.Time
	EscalatedValue     float64
	EscalatedThreshold float64
	ClearedAt          time.Time // when its sensor was last back to normal; zero while active
	AckedBy            string    // who acknowledged it, "" before
	AckedAt            time.Time
	Comment            string // the acknowledging user's comment
	Reactivations      int    // times it became active again after clearing
	UpdatedAt          time.Time
}

// AlertFilter selects alerts. The zero value selects all.
type AlertFilter struct {
	States   []AlertState // any of these; none for any
	SensorID string       // "" for any
	Since    time.Time    // opened at or after; zero for no bound
	Until    time.Time    // opened before; zero for no bound
	BeforeID uint64       // only alerts with a smaller ID (paging backwards); 0 for no bound
}

// Match reports whether a passes the filter.
func (f AlertFilter) Match(a Alert) bool {
	if len(f.States) > 0 {
		ok := false
		for _, s := range f.States {
			ok = ok || a.State == s
		}
		if !ok {
			return false
		}
	}
	return (f.SensorID == "" || a.SensorID == f.SensorID) &&
		(f.Since.IsZero() || !a.OpenedAt.Before(f.Since)) &&
		(f.Until.IsZero() || a.OpenedAt.Before(f.Until)) &&
		(f.BeforeID == 0 || a.ID < f.BeforeID)
}

// AlertStore keeps alerts durably. Implementation: store/bolt.DB.
type AlertStore interface {
	// PutAlert stores a, assigning its ID when it is 0, and returns it; it is on disk when
	// PutAlert returns.
	PutAlert(ctx context.Context, a Alert) (Alert, error)
	// Alert returns the alert with the id, or an ENOTFOUND error.
	Alert(ctx context.Context, id uint64) (Alert, error)
	// ScanAlerts calls fn with the alerts that match f, newest first, until fn returns false.
	ScanAlerts(ctx context.Context, f AlertFilter, fn func(Alert) bool) error
}

// AlarmOptions configure an AlarmEngine.
type AlarmOptions struct {
	// RepeatInterval bounds alert floods: a sensor whose last alert opened less than this ago
	// gets that alert back (active again) rather than a new one. Default one minute.
	RepeatInterval time.Duration
	// Now returns the current time for acknowledgements; default time.Now.
	Now func() time.Time
}

// AlarmEngine turns judged readings into alerts and keeps their life cycle. Every change is
// committed to the store before it is returned, so what clients are told is never lost, and
// the engine rebuilds its state from the store at start: a restart neither loses an open
// alert nor opens a duplicate. Safe for concurrent use.
type AlarmEngine struct {
	store   AlertStore
	sensors map[string]Sensor
	opts    AlarmOptions

	mu     sync.Mutex
	latest map[string]Alert // the newest alert of each sensor (open or not)
}

// NewAlarmEngine returns an engine for sensors that keeps alerts in store, rebuilding its
// state from the alerts there.
func NewAlarmEngine(ctx context.Context, store AlertStore, sensors []Sensor, opts AlarmOptions) (*AlarmEngine, error) {
	if opts.RepeatInterval <= 0 {
		opts.RepeatInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &AlarmEngine{store: store, sensors: map[string]Sensor{}, opts: opts, latest: map[string]Alert{}}
	for _, s := range sensors {
		e.sensors[s.ID] = s
	}
	// Newest first: the first alert seen of each sensor is its latest.
	err := store.ScanAlerts(ctx, AlertFilter{}, func(a Alert) bool {
		if _, seen := e.latest[a.SensorID]; !seen {
			e.latest[a.SensorID] = a
		}
		return len(e.latest) < len(e.sensors)
	})
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	return e, nil
}

// condition is what a reading asks of the alarm system.
type condition struct {
	typ       AlertType // "" for normal
	threshold float64
	message   string
}

// judge returns the condition of reading r of sensor s.
func judge(s Sensor, r Reading) condition {
	th := s.Thresholds
	switch {
	case r.Quality != QualityGood:
		msg := fmt.Sprintf("%s: sensor fault: %s", s.Name, r.Fault)
		if r.HasValue() {
			msg = fmt.Sprintf("%s: sensor fault: %s (%.4g %s)", s.Name, r.Fault, r.Value, s.Unit)
		}
		return condition{AlertSensorFault, math.NaN(), msg}
	case r.Status == StatusCritical:
		limit := th.Warning.High
		if r.Value < th.Warning.Low {
			limit = th.Warning.Low
		}
		return condition{AlertCritical, limit, fmt.Sprintf("%s critical: %.4g %s beyond %.4g %s", s.Name, r.Value, s.Unit, limit, s.Unit)}
	case r.Status == StatusWarning:
		limit := th.Normal.High
		if r.Value < th.Normal.Low {
			limit = th.Normal.Low
		}
		return condition{AlertWarning, limit, fmt.Sprintf("%s warning: %.4g %s beyond %.4g %s", s.Name, r.Value, s.Unit, limit, s.Unit)}
	}
	return condition{}
}

// Process evaluates the readings of a round and returns the alerts that changed, each
// already committed to the store. On a store failure it returns the changes committed so far
// and the error; the readings not processed are evaluated again with the next round.
func (e *AlarmEngine) Process(ctx context.Context, r *Round) ([]Alert, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var changed []Alert
	for _, rd := range r.Readings {
		s, ok := e.sensors[rd.SensorID]
		if !ok {
			continue
		}
		a, err := e.step(ctx, s, rd)
		if err != nil {
			return changed, err
		}
		if a != nil {
			changed = append(changed, *a)
		}
	}
	return changed, nil
}

// step applies one reading to its sensor's latest alert and returns the alert it changed.
func (e *AlarmEngine) step(ctx context.Context, s Sensor, rd Reading) (*Alert, error) {
	c := judge(s, rd)
	a, has := e.latest[s.ID]
	open := has && a.State != AlertClosed
	now := rd.Time
	next := a
	switch {
	case c.typ == "" && open && a.State.Active():
		// Back to normal.
		next.ClearedAt = now
		next.State = AlertClearedUnack
		if a.State == AlertActiveAck {
			next.State = AlertClosed
		}
	case c.typ == "":
		return nil, nil
	case open && a.State.Active() && a.Type == c.typ:
		return nil, nil // still the same condition
	case open && a.State.Active() && a.Type == AlertWarning && c.typ == AlertCritical:
		// Worse: the same alert escalates, and must be acknowledged again.
		next.Type, next.State = AlertCritical, AlertActiveUnack
		next.EscalatedAt, next.EscalatedValue, next.EscalatedThreshold = now, rd.Value, c.threshold
		next.Message = c.message
	case open && a.State.Active() && a.Type == AlertCritical && c.typ == AlertWarning:
		return nil, nil // better, but not normal: the alert keeps its highest type
	case has && !a.State.Active() && sameClass(a.Type, c.typ) && (open || now.Sub(a.OpenedAt) < e.opts.RepeatInterval):
		// The condition is back soon after clearing (flapping): the same alert becomes
		// active again instead of a flood of new ones.
		next.State, next.ClearedAt = AlertActiveUnack, time.Time{}
		next.AckedBy, next.AckedAt, next.Comment = "", time.Time{}, ""
		next.Reactivations++
		if c.typ == AlertCritical && a.Type == AlertWarning {
			next.Type, next.EscalatedAt, next.EscalatedValue, next.EscalatedThreshold = AlertCritical, now, rd.Value, c.threshold
			next.Message = c.message
		}
	default:
		// A new condition: close what is open (a fault giving way to a value alarm, or the
		// reverse) and open a new alert.
		if open {
			closed := a
			if closed.ClearedAt.IsZero() {
				closed.ClearedAt = now
			}
			closed.State = AlertClearedUnack
			if a.State.Acked() {
				closed.State = AlertClosed
			}
			closed.UpdatedAt = now
			if _, err := e.store.PutAlert(ctx, closed); err != nil {
				return nil, fmt.Errorf("close alert %d: %w", a.ID, err)
			}
		}
		next = Alert{SensorID: s.ID, Type: c.typ, State: AlertActiveUnack, Message: c.message,
			Value: rd.Value, Threshold: c.threshold, OpenedAt: now,
			EscalatedValue: math.NaN(), EscalatedThreshold: math.NaN()}
	}
	next.UpdatedAt = now
	stored, err := e.store.PutAlert(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("store alert of %s: %w", s.ID, err)
	}
	e.latest[s.ID] = stored
	return &stored, nil
}

// sameClass reports whether two alert types are both about the value (warning, critical)
// or both a sensor fault.
func sameClass(a, b AlertType) bool { return (a == AlertSensorFault) == (b == AlertSensorFault) }

// Ack acknowledges alert id for user with an optional comment and returns it. Acknowledging
// an alert that needs none (acknowledged already, or closed) is an ECONFLICT error; an
// unknown id ENOTFOUND.
func (e *AlarmEngine) Ack(ctx context.Context, id uint64, user, comment string) (Alert, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, err := e.store.Alert(ctx, id)
	if err != nil {
		return Alert{}, err
	}
	// The engine's copy is newer than the store's only if a write failed; take the newest.
	if l, ok := e.latest[a.SensorID]; ok && l.ID == a.ID {
		a = l
	}
	if a.State.Acked() {
		by := ""
		if a.AckedBy != "" {
			by = " by " + a.AckedBy
		}
		return a, Errorf(ECONFLICT, "alert %d is already acknowledged%s", id, by)
	}
	now := e.opts.Now()
	a.AckedBy, a.AckedAt, a.Comment, a.UpdatedAt = user, now, comment, now
	if a.State == AlertActiveUnack {
		a.State = AlertActiveAck
	} else {
		a.State = AlertClosed
	}
	stored, err := e.store.PutAlert(ctx, a)
	if err != nil {
		return Alert{}, fmt.Errorf("acknowledge alert %d: %w", id, err)
	}
	if l, ok := e.latest[a.SensorID]; ok && l.ID == a.ID {
		e.latest[a.SensorID] = stored
	}
	return stored, nil
}

// AckAll acknowledges every alert that needs it (active or cleared, unacknowledged) and
// returns them.
func (e *AlarmEngine) AckAll(ctx context.Context, user, comment string) ([]Alert, error) {
	var ids []uint64
	err := e.store.ScanAlerts(ctx, AlertFilter{States: []AlertState{AlertActiveUnack, AlertClearedUnack}}, func(a Alert) bool {
		ids = append(ids, a.ID)
		return true
	})
	if err != nil {
		return nil, err
	}
	var out []Alert
	for _, id := range ids {
		a, err := e.Ack(ctx, id, user, comment)
		if ErrorCode(err) == ECONFLICT {
			continue // acknowledged meanwhile by someone else
		}
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}
