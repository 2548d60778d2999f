package maskservice_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

var alarmP1 = maskservice.Sensor{ID: "P1", Name: "Pressure 1", Unit: "bar", Range: maskservice.Band{Low: 0, High: 10},
	Thresholds: maskservice.Thresholds{Normal: maskservice.Band{Low: 2, High: 8}, Warning: maskservice.Band{Low: 1.5, High: 9}},
	Interval:   time.Second}

// alarmAt feeds the engine one reading of P1 at second sec with the value and status given
// (a NaN value is a failed read) and returns what changed.
func alarmAt(t *testing.T, e *maskservice.AlarmEngine, sec int, v float64, st maskservice.Status) []maskservice.Alert {
	t.Helper()
	r := maskservice.Reading{SensorID: "P1", Time: t0.Add(time.Duration(sec) * time.Second), Value: v, Raw: v, Unit: "bar", Status: st}
	if math.IsNaN(v) {
		r.Quality, r.Fault, r.Status = maskservice.QualityBad, "no response from transducer", maskservice.StatusUnknown
	}
	changed, err := e.Process(context.Background(), &maskservice.Round{Readings: []maskservice.Reading{r}})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func openStore(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// live returns sensors as the settings in force.
func live(tb testing.TB, sensors ...maskservice.Sensor) *maskservice.LiveSensors {
	tb.Helper()
	l, err := maskservice.LiveSensorsOf(sensors)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func newEngine(t *testing.T, db *bolt.DB) *maskservice.AlarmEngine {
	t.Helper()
	e, err := maskservice.NewAlarmEngine(context.Background(), db, live(t, alarmP1),
		maskservice.AlarmOptions{RepeatInterval: 30 * time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func one(t *testing.T, changed []maskservice.Alert) maskservice.Alert {
	t.Helper()
	if len(changed) != 1 {
		t.Fatalf("%d alerts changed, want 1: %+v", len(changed), changed)
	}
	return changed[0]
}

// The life cycle of ISA-18.2 with an escalation, acknowledged at each stage.
func TestAlarm_LifeCycle(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	e := newEngine(t, db)
	if c := alarmAt(t, e, 0, 5, maskservice.StatusNormal); len(c) != 0 {
		t.Fatalf("normal reading changed %+v", c)
	}
	a := one(t, alarmAt(t, e, 1, 8.5, maskservice.StatusWarning))
	if a.ID == 0 || a.Type != maskservice.AlertWarning || a.State != maskservice.AlertActiveUnack || a.Value != 8.5 || a.Threshold != 8 {
		t.Fatalf("opened %+v", a)
	}
	if c := alarmAt(t, e, 2, 8.6, maskservice.StatusWarning); len(c) != 0 {
		t.Fatalf("the same condition changed %+v", c)
	}
	if a, _ = e.Ack(ctx, maskservice.Actor{Username: "operator1"}, a.ID, "checking"); a.State != maskservice.AlertActiveAck || a.AckedBy != "operator1" || a.Comment != "checking" {
		t.Fatalf("acked %+v", a)
	}
	if _, err := e.Ack(ctx, maskservice.Actor{Username: "admin1"}, a.ID, ""); maskservice.ErrorCode(err) != maskservice.ECONFLICT {
		t.Fatalf("second ack: %v, want ECONFLICT", err)
	}
	esc := one(t, alarmAt(t, e, 3, 9.6, maskservice.StatusCritical))
	if esc.ID != a.ID || esc.Type != maskservice.AlertCritical || esc.State != maskservice.AlertActiveUnack ||
		esc.EscalatedValue != 9.6 || esc.EscalatedThreshold != 9 || esc.Value != 8.5 || esc.Threshold != 8 {
		t.Fatalf("escalated %+v: want the same alert, CRITICAL, unacknowledged, both trips recorded", esc)
	}
	if c := alarmAt(t, e, 4, 8.5, maskservice.StatusWarning); len(c) != 0 {
		t.Fatalf("de-escalation changed %+v", c)
	}
	cl := one(t, alarmAt(t, e, 5, 5, maskservice.StatusNormal))
	if cl.State != maskservice.AlertClearedUnack || !cl.ClearedAt.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("cleared %+v", cl)
	}
	closed, err := e.Ack(ctx, maskservice.Actor{Username: "admin1"}, a.ID, "")
	if err != nil || closed.State != maskservice.AlertClosed {
		t.Fatalf("ack of the cleared alert: %+v %v", closed, err)
	}
	stored, err := db.Alert(ctx, a.ID)
	if err != nil || stored.State != maskservice.AlertClosed || stored.AckedBy != "admin1" || stored.Type != maskservice.AlertCritical {
		t.Fatalf("stored %+v %v", stored, err)
	}
	// A new excursion after the repeat interval is a new alert.
	if n := one(t, alarmAt(t, e, 100, 1.7, maskservice.StatusWarning)); n.ID == a.ID || n.Threshold != 2 {
		t.Fatalf("new excursion %+v", n)
	}
}

// A value flapping around a threshold makes one alert, however often it crosses.
func TestAlarm_Flapping(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	e := newEngine(t, db)
	var ids = map[uint64]bool{}
	for i := range 20 {
		v, st := 8.1, maskservice.StatusWarning
		if i%2 == 1 {
			v, st = 7.9, maskservice.StatusNormal
		}
		for _, a := range alarmAt(t, e, i, v, st) {
			ids[a.ID] = true
		}
		if i == 6 { // acknowledged while cleared: closed, and still no new alert next time
			var id uint64
			for k := range ids {
				id = k
			}
			if _, err := e.Ack(ctx, maskservice.Actor{Username: "operator1"}, id, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d alerts for 10 crossings within the repeat interval, want 1", len(ids))
	}
}

// A failed read raises a sensor fault; a reading that comes back clears it.
func TestAlarm_SensorFault(t *testing.T) {
	db := openStore(t)
	e := newEngine(t, db)
	f := one(t, alarmAt(t, e, 0, math.NaN(), maskservice.StatusUnknown))
	if f.Type != maskservice.AlertSensorFault || !math.IsNaN(f.Value) || !math.IsNaN(f.Threshold) || f.Message == "" {
		t.Fatalf("fault %+v", f)
	}
	if c := one(t, alarmAt(t, e, 1, 5, maskservice.StatusNormal)); c.ID != f.ID || c.State != maskservice.AlertClearedUnack {
		t.Fatalf("after the fault %+v", c)
	}
}

// A value outside the transducer's range is a fault; over the range it is also a critical
// pressure (the tile shows CRITICAL, and the alarm agrees), under it only the fault.
func TestAlarm_OutOfRange(t *testing.T) {
	outside := func(v float64, st maskservice.Status) maskservice.Reading {
		return maskservice.Reading{SensorID: "P1", Time: t0, Value: v, Raw: v, Unit: "bar", Status: st,
			Quality: maskservice.QualityBad, Fault: "out of range"}
	}
	for _, tc := range []struct {
		name  string
		r     maskservice.Reading
		types []maskservice.AlertType
	}{
		{"overpressure", outside(11, maskservice.StatusCritical), []maskservice.AlertType{maskservice.AlertSensorFault, maskservice.AlertCritical}},
		{"under the range (a broken loop)", outside(-2.5, maskservice.StatusCritical), []maskservice.AlertType{maskservice.AlertSensorFault}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, openStore(t))
			changed, err := e.Process(context.Background(), &maskservice.Round{Readings: []maskservice.Reading{tc.r}})
			if err != nil {
				t.Fatal(err)
			}
			var types []maskservice.AlertType
			for _, a := range changed {
				types = append(types, a.Type)
				if a.Type == maskservice.AlertCritical && (a.Value != 11 || a.Threshold != 9 || !strings.Contains(a.Message, "over the transducer's range of 10 bar")) {
					t.Errorf("critical alert %+v: want 11 over 9, and the range in the message", a)
				}
			}
			if !slices.Equal(types, tc.types) {
				t.Fatalf("alerts %v, want %v", types, tc.types)
			}
			// Back in the range and normal: both clear.
			back, err := e.Process(context.Background(), &maskservice.Round{Readings: []maskservice.Reading{{SensorID: "P1",
				Time: t0.Add(time.Second), Value: 5, Raw: 5, Unit: "bar", Status: maskservice.StatusNormal}}})
			if err != nil || len(back) != len(tc.types) {
				t.Fatalf("back to normal: %v, %d alerts changed, want %d", err, len(back), len(tc.types))
			}
			for _, a := range back {
				if a.State != maskservice.AlertClearedUnack {
					t.Errorf("after the excursion %s is %s, want CLEARED_UNACK", a.Type, a.State)
				}
			}
		})
	}
}

// The engine records every acknowledgement in the audit log itself, whoever asks: one entry
// per alert, with who, in which role, from where, and the comment.
func TestAlarm_AckIsAudited(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	e, err := maskservice.NewAlarmEngine(ctx, db, live(t, alarmP1),
		maskservice.AlarmOptions{Now: func() time.Time { return t0 }, Audit: db})
	if err != nil {
		t.Fatal(err)
	}
	a := one(t, alarmAt(t, e, 0, 9.5, maskservice.StatusCritical))
	by := maskservice.Actor{Username: "operator1", Role: maskservice.RoleOperator, Source: "127.0.0.1"}
	if _, err := e.Ack(ctx, by, a.ID, "valve closed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ack(ctx, by, a.ID, ""); maskservice.ErrorCode(err) != maskservice.ECONFLICT {
		t.Fatalf("second ack: %v", err)
	}
	var got []maskservice.AuditEntry
	if err := db.ScanAudit(ctx, maskservice.AuditFilter{}, func(e maskservice.AuditEntry) bool { got = append(got, e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Action != maskservice.AuditAlertAck || got[0].Username != "operator1" || got[0].Role != maskservice.RoleOperator ||
		got[0].Source != "127.0.0.1" || !strings.Contains(got[0].Details, "valve closed") || !strings.Contains(got[0].Details, "P1 CRITICAL") {
		t.Errorf("audit %+v, want one alert_ack of operator1 from 127.0.0.1 naming the alert and the comment", got)
	}
}

// A restart with an open alert: the new engine knows it, and the condition still holding
// opens no duplicate.
func TestAlarm_Restart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := one(t, alarmAt(t, newEngine(t, db), 0, 9.5, maskservice.StatusCritical))
	db.Close()
	db2, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	e2 := newEngine(t, db2)
	if c := alarmAt(t, e2, 1, 9.6, maskservice.StatusCritical); len(c) != 0 {
		t.Fatalf("after restart the same condition changed %+v: a duplicate", c)
	}
	var open []maskservice.Alert
	_ = db2.ScanAlerts(ctx, maskservice.AlertFilter{States: []maskservice.AlertState{maskservice.AlertActiveUnack}}, func(x maskservice.Alert) bool {
		open = append(open, x)
		return true
	})
	if len(open) != 1 || open[0].ID != a.ID {
		t.Fatalf("open alerts after restart %+v, want alert %d once", open, a.ID)
	}
}

// Two acknowledgements at the same moment: one wins, the other gets ECONFLICT.
func TestAlarm_ConcurrentAck(t *testing.T) {
	db := openStore(t)
	e := newEngine(t, db)
	a := one(t, alarmAt(t, e, 0, 9.5, maskservice.StatusCritical))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, user := range []string{"operator1", "admin1"} {
		wg.Go(func() { _, errs[i] = e.Ack(context.Background(), maskservice.Actor{Username: user}, a.ID, "") })
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case maskservice.ErrorCode(err) == maskservice.ECONFLICT:
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("errors %v: want one success and one conflict", errs)
	}
	if _, err := e.Ack(context.Background(), maskservice.Actor{Username: "x"}, 999, ""); maskservice.ErrorCode(err) != maskservice.ENOTFOUND {
		t.Errorf("unknown alert: %v", err)
	}
}

// A sensor in warning whose reads fail every other poll: one value alert that stays active,
// and one sensor fault that comes and goes, not an alert per switch.
func TestAlarm_FaultsDuringAValueAlarm(t *testing.T) {
	db := openStore(t)
	e := newEngine(t, db)
	ids := map[uint64]maskservice.AlertType{}
	for i := range 20 {
		v, st := 8.5, maskservice.StatusWarning
		if i%2 == 1 {
			v, st = math.NaN(), maskservice.StatusUnknown
		}
		for _, a := range alarmAt(t, e, i, v, st) {
			ids[a.ID] = a.Type
		}
	}
	if len(ids) != 2 {
		t.Fatalf("alerts %v, want one WARNING and one SENSOR_FAULT", ids)
	}
	var warn maskservice.Alert
	_ = db.ScanAlerts(context.Background(), maskservice.AlertFilter{}, func(a maskservice.Alert) bool {
		if a.Type == maskservice.AlertWarning {
			warn = a
		}
		return true
	})
	if warn.State != maskservice.AlertActiveUnack || warn.Reactivations != 0 {
		t.Errorf("the warning %+v: want it active all along", warn)
	}
}

// At start, an active alert of a sensor no longer configured is cleared, and the alerts of
// the configured ones are found whatever came after them.
func TestAlarm_RebuildWithARemovedSensor(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	old := maskservice.Sensor{ID: "P9", Name: "Old", Unit: "bar", Range: alarmP1.Range, Thresholds: alarmP1.Thresholds, Interval: time.Second}
	e, err := maskservice.NewAlarmEngine(ctx, db, live(t, alarmP1, old), maskservice.AlarmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1 := one(t, alarmAt(t, e, 0, 9.5, maskservice.StatusCritical))
	r := maskservice.Reading{SensorID: "P9", Time: t0.Add(time.Second), Value: 9.5, Status: maskservice.StatusCritical}
	if _, err := e.Process(ctx, &maskservice.Round{Readings: []maskservice.Reading{r}}); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, db) // P9 is gone from the config
	if c := alarmAt(t, e2, 2, 9.6, maskservice.StatusCritical); len(c) != 0 {
		t.Fatalf("P1's open alert not found at start: %+v", c)
	}
	var p9 maskservice.Alert
	_ = db.ScanAlerts(ctx, maskservice.AlertFilter{SensorID: "P9"}, func(a maskservice.Alert) bool { p9 = a; return false })
	if p9.State != maskservice.AlertClearedUnack || p9.ClearedAt.IsZero() {
		t.Errorf("alert of the removed sensor %+v: want cleared", p9)
	}
	_ = p1
}

// The bus gets an AlertEvent of every committed change in commit order, acknowledgements
// included.
func TestAlarm_Events(t *testing.T) {
	db := openStore(t)
	bus := maskservice.NewEventBus()
	events := maskservice.Subscribe[maskservice.AlertEvent](bus, "test", 16)
	e, err := maskservice.NewAlarmEngine(context.Background(), db, live(t, alarmP1), maskservice.AlarmOptions{Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	a := one(t, alarmAt(t, e, 0, 9.5, maskservice.StatusCritical))
	if _, err := e.Ack(context.Background(), maskservice.Actor{Username: "operator1"}, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	alarmAt(t, e, 1, 5, maskservice.StatusNormal)
	bus.Close()
	var seen []maskservice.AlertState
	for ev := range events.C {
		seen = append(seen, ev.Alert.State)
	}
	want := []maskservice.AlertState{maskservice.AlertActiveUnack, maskservice.AlertActiveAck, maskservice.AlertClosed}
	if len(seen) != 3 || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Errorf("changes %v, want %v", seen, want)
	}
}
