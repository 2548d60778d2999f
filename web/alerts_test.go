package web_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/web"
)

// alertFixture is the server with a real alarm engine over a bbolt file, one critical alert
// of P1 and one warning of P2 open, and the alerts published to WebSocket clients recorded.
type alertFixture struct {
	*fixture
	engine *maskservice.AlarmEngine
	events *maskservice.Subscription[maskservice.AlertEvent] // what the hub would be told
	ids    map[string]uint64                                 // sensor -> its alert
}

func newAlertFixture(t *testing.T) *alertFixture {
	t.Helper()
	ctx := context.Background()
	db, err := bolt.Open(ctx, t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	af := &alertFixture{ids: map[string]uint64{}}
	af.fixture = newFixture(t, fixtureConfig{opts: func(o *web.Options) {
		bus := maskservice.NewEventBus()
		af.events = maskservice.Subscribe[maskservice.AlertEvent](bus, "test", 64)
		live, err := maskservice.LiveSensorsOf(o.Monitor.Sensors())
		if err != nil {
			t.Fatal(err)
		}
		engine, err := maskservice.NewAlarmEngine(ctx, db, live, maskservice.AlarmOptions{Events: bus})
		if err != nil {
			t.Fatal(err)
		}
		af.engine = engine
		o.Alarms, o.Alerts = engine, db
	}})
	now := time.Now()
	changed, err := af.engine.Process(ctx, &maskservice.Round{Readings: []maskservice.Reading{
		{SensorID: "P1", Time: now, Value: 9.6, Raw: 9600, Unit: "bar", Status: maskservice.StatusCritical},
		{SensorID: "P2", Time: now, Value: 4.2, Raw: 4200, Unit: "bar", Status: maskservice.StatusWarning},
	}})
	if err != nil || len(changed) != 2 {
		t.Fatalf("seed alerts: %v %+v", err, changed)
	}
	for _, a := range changed {
		af.ids[a.SensorID] = a.ID
	}
	return af
}

type alertBody struct {
	ID        uint64   `json:"id"`
	SensorID  string   `json:"sensor_id"`
	Type      string   `json:"type"`
	State     string   `json:"state"`
	Value     *float64 `json:"value"`
	Threshold *float64 `json:"threshold"`
	AckedBy   string   `json:"acked_by"`
	Comment   string   `json:"comment"`
	// The specification's names.
	AlertType      string  `json:"alert_type"`
	Acknowledged   bool    `json:"acknowledged"`
	AcknowledgedBy *string `json:"acknowledged_by"`
}

func TestServer_Alerts(t *testing.T) {
	f := newAlertFixture(t)
	type list struct {
		Alerts       []alertBody `json:"alerts"`
		NextBeforeID *uint64     `json:"next_before_id"`
	}
	got := decode[list](t, f.get(t, "/api/alerts"))
	if len(got.Alerts) != 2 || got.Alerts[0].SensorID != "P2" || got.Alerts[1].Type != "CRITICAL" || got.NextBeforeID != nil {
		t.Fatalf("alerts %+v, want P2's then P1's, newest first", got)
	}
	if p1 := got.Alerts[1]; *p1.Value != 9.6 || *p1.Threshold != 9 || p1.State != "ACTIVE_UNACK" ||
		p1.AlertType != p1.Type || p1.Acknowledged || p1.AcknowledgedBy != nil {
		t.Errorf("P1's alert %+v", p1)
	}
	// A naive time is UTC, as the specification's clients send it.
	if l := decode[list](t, f.get(t, "/api/alerts?since=2000-01-01T00:00:00&until=9999-01-01T00:00:00.000001")); len(l.Alerts) != 2 {
		t.Errorf("naive since and until: %+v", l)
	}
	page := decode[list](t, f.get(t, "/api/alerts?limit=1"))
	if len(page.Alerts) != 1 || page.NextBeforeID == nil {
		t.Fatalf("first page %+v", page)
	}
	rest := decode[list](t, f.get(t, "/api/alerts?limit=1&before_id="+itoa(*page.NextBeforeID)))
	if len(rest.Alerts) != 1 || rest.Alerts[0].SensorID != "P1" {
		t.Fatalf("second page %+v", rest)
	}
	if l := decode[list](t, f.get(t, "/api/alerts?sensor_id=P1&state=ACTIVE_UNACK,CLEARED_UNACK")); len(l.Alerts) != 1 {
		t.Errorf("filtered: %+v", l)
	}
	if l := decode[list](t, f.get(t, "/api/alerts?state=closed")); len(l.Alerts) != 0 {
		t.Errorf("closed: %+v", l)
	}
	one := decode[alertBody](t, f.get(t, "/api/alerts/"+itoa(f.ids["P1"])))
	if one.ID != f.ids["P1"] || one.SensorID != "P1" {
		t.Errorf("GET one: %+v", one)
	}
	for _, tc := range []struct{ target, code, want string }{
		{"/api/alerts?state=OPEN", maskservice.EINVALID, "state"},
		{"/api/alerts?since=yesterday", maskservice.EINVALID, "since"},
		{"/api/alerts?limit=0", maskservice.EINVALID, "limit"},
		{"/api/alerts?before_id=-1", maskservice.EINVALID, "before_id"},
		{"/api/alerts/abc", maskservice.EINVALID, "alert id"},
		{"/api/alerts/999", maskservice.ENOTFOUND, "999"},
	} {
		status := 400
		if tc.code == maskservice.ENOTFOUND {
			status = 404
		}
		wantError(t, f.get(t, tc.target), status, tc.code, tc.want)
	}
}

func TestServer_AckAlerts(t *testing.T) {
	f := newAlertFixture(t)
	p1 := itoa(f.ids["P1"])
	res := f.do(t, "POST", "/api/alerts/"+p1+"/ack", jsonBody(`{"comment":"valve closed"}`))
	a := decode[alertBody](t, res)
	if res.status != 200 || a.State != "ACTIVE_ACK" || a.AckedBy != userOf[maskservice.RoleOperator] || a.Comment != "valve closed" ||
		!a.Acknowledged || a.AcknowledgedBy == nil || *a.AcknowledgedBy != a.AckedBy {
		t.Fatalf("ack: %d %+v", res.status, a)
	}
	wantError(t, f.do(t, "POST", "/api/alerts/"+p1+"/ack", f.as(maskservice.RoleAdmin), jsonBody(`{}`)), 409, maskservice.ECONFLICT, "already acknowledged")
	wantError(t, f.do(t, "POST", "/api/alerts/"+p1+"/ack", jsonBody(`{"comment":"`+strings.Repeat("x", 600)+`"}`)), 400, maskservice.EINVALID, "comment")
	wantError(t, f.do(t, "POST", "/api/alerts/"+p1+"/ack", jsonBody(`{"comment":5}`)), 400, maskservice.EINVALID, "")
	res = f.do(t, "POST", "/api/alerts/ack-all", f.as(maskservice.RoleServiceTech), jsonBody(``))
	all := decode[struct {
		Acknowledged []alertBody `json:"acknowledged"`
	}](t, res)
	if res.status != 200 || len(all.Acknowledged) != 1 || all.Acknowledged[0].SensorID != "P2" || all.Acknowledged[0].AckedBy != userOf[maskservice.RoleServiceTech] {
		t.Fatalf("ack-all: %d %+v", res.status, all)
	}
	// The two openings, then the two acknowledgements, in commit order.
	var published []maskservice.Alert
	for len(f.events.C) > 0 {
		published = append(published, (<-f.events.C).Alert)
	}
	if len(published) != 4 || published[2].State != maskservice.AlertActiveAck || published[3].AckedBy != userOf[maskservice.RoleServiceTech] {
		t.Errorf("published %+v: want the openings and both acknowledgements, in order", published)
	}
}

// Two clients acknowledging the same alert at the same moment: one wins, one gets 409.
func TestServer_AckRace(t *testing.T) {
	f := newAlertFixture(t)
	p1 := itoa(f.ids["P1"])
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, role := range []maskservice.Role{maskservice.RoleOperator, maskservice.RoleAdmin} {
		wg.Go(func() { codes[i] = f.do(t, "POST", "/api/alerts/"+p1+"/ack", f.as(role), jsonBody(`{}`)).status })
	}
	wg.Wait()
	if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
		t.Fatalf("statuses %v, want one 200 and one 409", codes)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
