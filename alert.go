package maskservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// AlertType is what an alert is about.
type AlertType string

// The alert types. A warning that worsens becomes a critical alert (the same alert,
// escalated); a sensor whose readings are bad (a failed read, a value outside the range)
// raises a sensor fault. A device fault is about the device itself, not a sensor (see
// DeviceFault): its SensorID names the part at fault (DevicePartStorage), and since no
// reading can bring it back to normal it is latched: it stays active until someone
// acknowledges it, and the acknowledgement closes it.
const (
	AlertWarning     AlertType = "WARNING"
	AlertCritical    AlertType = "CRITICAL"
	AlertSensorFault AlertType = "SENSOR_FAULT"
	AlertDeviceFault AlertType = "DEVICE_FAULT"
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
	// ReactivatedAt is when it last became active again after clearing (a flapping value, or
	// an excursion within the repeat interval); Message, Value and Threshold then describe
	// that reactivation. Zero if it never did.
	ReactivatedAt time.Time
	AckedBy       string // who acknowledged it, "" before
	AckedAt       time.Time
	Comment       string // the acknowledging user's comment
	Reactivations int    // times it became active again after clearing
	UpdatedAt     time.Time
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
	// Events is the bus the engine takes its rounds from (Run) and publishes an AlertEvent
	// on for every change after it is committed, in commit order. Nil: no events, and Run
	// fails.
	Events *EventBus
	// Logger gets every alert change at info level and store failures as errors; nil
	// discards.
	Logger *slog.Logger
	// Audit records every acknowledgement, whoever asks for it (the API, the LCD); nil
	// records none.
	Audit AuditLog
}

// alarmQueue is how many rounds the engine's subscription holds: a minute at 1 Hz, time
// enough for a slow commit of an alert on a busy SD card.
const alarmQueue = 64

// AlarmEngine turns judged readings into alerts and keeps their life cycle. Every change is
// committed to the store before it is returned, so what clients are told is never lost, and
// the engine rebuilds its state from the store at start: a restart neither loses an open
// alert nor opens a duplicate. Safe for concurrent use.
type AlarmEngine struct {
	store  AlertStore
	live   *LiveSensors
	opts   AlarmOptions
	log    *slog.Logger
	rounds *Subscription[*Round] // nil without Events

	mu     sync.Mutex
	latest map[alertSlot]Alert // the newest alert of each sensor and class (open or not)
}

// alertSlot is where a sensor's alerts of one class follow each other: a sensor has a value
// alarm (warning or critical) and a sensor fault independently, so that a sensor whose reads
// fail now and then does not clear its value alarm, or open a new one, at every switch.
type alertSlot struct {
	sensor string
	fault  bool
}

func slotOf(a Alert) alertSlot { return alertSlot{a.SensorID, a.Type == AlertSensorFault} }

// NewAlarmEngine returns an engine for the live sensors that keeps alerts in store,
// rebuilding its state from the alerts there. With opts.Events it subscribes to the rounds
// at once, so that none published before Run starts is missed.
func NewAlarmEngine(ctx context.Context, store AlertStore, sensors *LiveSensors, opts AlarmOptions) (*AlarmEngine, error) {
	if sensors == nil || sensors.Load() == nil {
		return nil, Errorf(EINVALID, "new alarm engine: no sensor settings")
	}
	if opts.RepeatInterval <= 0 {
		opts.RepeatInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &AlarmEngine{store: store, live: sensors, opts: opts, log: opts.Logger, latest: map[alertSlot]Alert{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	configured := sensors.Load()
	// Newest first: the first alert seen of each slot is its latest. Alerts of sensors no
	// longer configured that are still active could never clear: they are cleared here.
	var orphans []Alert
	err := store.ScanAlerts(ctx, AlertFilter{}, func(a Alert) bool {
		if a.Type == AlertDeviceFault {
			return true // no reading changes it; only an acknowledgement does
		}
		slot := slotOf(a)
		if _, seen := e.latest[slot]; seen {
			return true
		}
		e.latest[slot] = a
		if _, ok := configured.Sensor(a.SensorID); !ok && a.State.Active() {
			orphans = append(orphans, a)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	now := opts.Now()
	for _, a := range orphans {
		a.ClearedAt, a.UpdatedAt = now, now
		if a.State == AlertActiveAck {
			a.State = AlertClosed
		} else {
			a.State = AlertClearedUnack
		}
		a.Message += " (sensor no longer configured)"
		if _, err := store.PutAlert(ctx, a); err != nil {
			return nil, fmt.Errorf("clear alert %d of removed sensor %s: %w", a.ID, a.SensorID, err)
		}
	}
	if opts.Events != nil {
		e.rounds = Subscribe[*Round](opts.Events, "alarms", alarmQueue)
	}
	return e, nil
}

// Run evaluates every round published on the bus (AlarmOptions.Events) until the bus closes
// or ctx is done, and returns nil, or ctx's error. After rounds were lost (its queue
// overflowed) it evaluates the newest reading of every sensor, so no condition goes unseen. A
// failure to store an alert is logged; the condition is evaluated again with the next round.
func (e *AlarmEngine) Run(ctx context.Context) error {
	if e.rounds == nil {
		return errors.New("alarm engine: Run needs AlarmOptions.Events")
	}
	var last uint64
	return e.rounds.Each(ctx, func(r *Round) {
		round := r
		if last != 0 && r.Seq != last+1 {
			round = &Round{Seq: r.Seq, Time: r.Time, Readings: readSince(r.Current), Sensors: r.Sensors}
		}
		last = r.Seq
		changed, err := e.Process(ctx, round)
		if err != nil && ctx.Err() == nil {
			e.log.Error("alarm engine: storing an alert failed", "err", err)
		}
		for _, a := range changed {
			e.log.Info("alert", "id", a.ID, "sensor", a.SensorID, "type", string(a.Type), "state", string(a.State), "message", a.Message)
		}
	})
}

// readSince returns the readings of current that were taken (not the placeholders of
// sensors not read yet).
func readSince(current []Reading) []Reading {
	out := make([]Reading, 0, len(current))
	for _, rd := range current {
		if rd.Fault != FaultNotReadYet {
			out = append(out, rd)
		}
	}
	return out
}

// condition is what a reading asks of the alarm system.
type condition struct {
	typ       AlertType // "" for normal
	threshold float64
	message   string
}

// conditionOf returns what reading r of sensor s asks of the alarm system.
func conditionOf(s Sensor, r Reading) condition {
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

// valueCondition returns what reading r asks of sensor s's value alarm, and false when r
// says nothing about the pressure and the value alarm keeps its state. A good reading is
// judged by its status. A value over the transducer's range is a pressure at least that high
// (the transducer saturates or its loop reads over 20 mA): a critical alarm as well as the
// fault, so that the tile's CRITICAL and the alarm agree. A value under the range (a broken
// loop reads 0 mA) tells nothing of the pressure: only the fault.
func valueCondition(s Sensor, r Reading) (condition, bool) {
	switch {
	case r.Quality == QualityGood:
		return conditionOf(s, r), true
	case r.HasValue() && r.Value > s.Range.High && r.Status == StatusCritical:
		limit := s.Thresholds.Warning.High
		return condition{AlertCritical, limit, fmt.Sprintf("%s critical: %.4g %s beyond %.4g %s, over the transducer's range of %.4g %s",
			s.Name, r.Value, s.Unit, limit, s.Unit, s.Range.High, s.Unit)}, true
	}
	return condition{}, false
}

// Process evaluates the readings of a round, by the sensor settings the round was judged
// with (the settings in force when it has none), and returns the alerts that changed, each
// already committed to the store. On a store failure it returns the changes committed so far
// and the error; the readings not processed are evaluated again with the next round.
func (e *AlarmEngine) Process(ctx context.Context, r *Round) ([]Alert, error) {
	set := r.Sensors
	if set == nil {
		set = e.live.Load()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var changed []Alert
	for _, rd := range r.Readings {
		s, ok := set.Sensor(rd.SensorID)
		if !ok {
			continue
		}
		// The fault machine follows the quality; the value machine follows the status,
		// while the value can be trusted and when it is over the range (overpressure).
		fault := condition{}
		if rd.Quality != QualityGood {
			fault = conditionOf(s, rd)
		}
		steps := []struct {
			slot alertSlot
			c    condition
		}{{alertSlot{s.ID, true}, fault}}
		if c, ok := valueCondition(s, rd); ok {
			steps = append(steps, struct {
				slot alertSlot
				c    condition
			}{alertSlot{s.ID, false}, c})
		}
		for _, st := range steps {
			a, err := e.step(ctx, st.slot, st.c, rd)
			if err != nil {
				return changed, err
			}
			if a != nil {
				changed = append(changed, *a)
			}
		}
	}
	return changed, nil
}

// step applies the condition c of reading rd to the latest alert of its slot and returns
// the alert it changed, committed.
func (e *AlarmEngine) step(ctx context.Context, slot alertSlot, c condition, rd Reading) (*Alert, error) {
	a, has := e.latest[slot]
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
	case open && a.State.Active():
		return nil, nil // critical back to warning: better, but not normal; the alert keeps its highest type
	case has && (open || now.Sub(a.OpenedAt) < e.opts.RepeatInterval):
		// The condition is back while the alert is not closed, or soon after it opened (a
		// flapping value): the same alert becomes active again instead of a flood of new ones.
		next.State, next.ClearedAt, next.ReactivatedAt = AlertActiveUnack, time.Time{}, now
		next.AckedBy, next.AckedAt, next.Comment = "", time.Time{}, ""
		next.Reactivations++
		next.Message, next.Value, next.Threshold = c.message, rd.Value, c.threshold
		if c.typ == AlertCritical && a.Type == AlertWarning {
			next.Type, next.EscalatedAt, next.EscalatedValue, next.EscalatedThreshold = AlertCritical, now, rd.Value, c.threshold
		}
	default:
		next = Alert{SensorID: slot.sensor, Type: c.typ, State: AlertActiveUnack, Message: c.message,
			Value: rd.Value, Threshold: c.threshold, OpenedAt: now,
			EscalatedValue: math.NaN(), EscalatedThreshold: math.NaN()}
	}
	next.UpdatedAt = now
	stored, err := e.store.PutAlert(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("store alert of %s: %w", slot.sensor, err)
	}
	e.latest[slot] = stored
	e.changed(stored)
	return &stored, nil
}

// changed publishes a committed change; e.mu is held, so events follow the commit order.
func (e *AlarmEngine) changed(a Alert) {
	if e.opts.Events != nil {
		e.opts.Events.Publish(AlertEvent{Alert: a})
	}
}

// Ack acknowledges alert id for by with an optional comment, records it in the audit log and
// returns it. Acknowledging an alert that needs none (acknowledged already, or closed) is an
// ECONFLICT error; an unknown id ENOTFOUND.
func (e *AlarmEngine) Ack(ctx context.Context, by Actor, id uint64, comment string) (Alert, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, err := e.store.Alert(ctx, id)
	if err != nil {
		return Alert{}, err
	}
	// The engine's copy and the store's are the same: every change is written before the
	// engine keeps it.
	if a.State.Acked() {
		by := ""
		if a.AckedBy != "" {
			by = " by " + a.AckedBy
		}
		return a, Errorf(ECONFLICT, "alert %d is already acknowledged%s", id, by)
	}
	now := e.opts.Now()
	a.AckedBy, a.AckedAt, a.Comment, a.UpdatedAt = by.Username, now, comment, now
	switch {
	case a.Type == AlertDeviceFault:
		// Latched: the acknowledgement is its return to normal.
		a.State, a.ClearedAt = AlertClosed, now
	case a.State == AlertActiveUnack:
		a.State = AlertActiveAck
	default:
		a.State = AlertClosed
	}
	stored, err := e.store.PutAlert(ctx, a)
	if err != nil {
		return Alert{}, fmt.Errorf("acknowledge alert %d: %w", id, err)
	}
	if l, ok := e.latest[slotOf(stored)]; ok && l.ID == stored.ID {
		e.latest[slotOf(stored)] = stored
	}
	e.changed(stored)
	if e.opts.Audit != nil {
		details := fmt.Sprintf("alert %d (%s %s) acknowledged, now %s", stored.ID, stored.SensorID, stored.Type, stored.State)
		if stored.Comment != "" {
			details += ": " + stored.Comment
		}
		appendAudit(ctx, e.opts.Audit, e.log, now, by, AuditAlertAck, details)
	}
	return stored, nil
}

// AckAll acknowledges every alert that needs it (active or cleared, unacknowledged) for by,
// each recorded as Ack records it, and returns them.
func (e *AlarmEngine) AckAll(ctx context.Context, by Actor, comment string) ([]Alert, error) {
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
		a, err := e.Ack(ctx, by, id, comment)
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
