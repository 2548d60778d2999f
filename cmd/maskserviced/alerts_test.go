package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice/cmd/internal/config"
)

// frameHead is the part of every WebSocket frame the alarm test reads.
type frameHead struct {
	Type  string `json:"type"`
	Seq   uint64 `json:"seq"`
	Alert *struct {
		ID      uint64 `json:"id"`
		Type    string `json:"type"`
		State   string `json:"state"`
		AckedBy string `json:"acked_by"`
	} `json:"alert"`
	P1 *struct {
		Status string `json:"status"`
	} `json:"P1"`
}

// post sends a JSON body with the token and returns the status and body.
func post(tb testing.TB, url, token, body string) (int, []byte) {
	tb.Helper()
	return send(tb, http.MethodPost, url, token, body)
}

// The acceptance of the alarm issue through the whole daemon: the simulator walks P1 from
// normal to warning to critical and back; the alert opens, is acknowledged, escalates, is
// acknowledged again and closes, each change an alert frame right after the sensors frame of
// its round, and the stored alert says what happened.
func TestMain_AlarmLifeCycle(t *testing.T) {
	m := MustRunMain(t, fastConfig(`sim_script = [[0.0, 5.0], [2.0, 5.0], [2.05, 8.5], [3.0, 8.5], [3.05, 9.6], [4.0, 9.6], [4.05, 5.0]]`))
	token := signIn(t, m.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+m.Addr().String()+"/api/ws/sensors?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var prev frameHead
	next := func() frameHead {
		t.Helper()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read frame: %v", err)
			}
			var f frameHead
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			if f.Type == "alert" {
				if prev.Type != "sensors" && prev.Type != "alert" {
					t.Fatalf("alert frame after a %q frame", prev.Type)
				}
				prev = f
				return f
			}
			prev = f
		}
	}
	ack := func(id uint64) {
		t.Helper()
		if code, body := post(t, baseURL(m)+"/api/alerts/"+strconv.FormatUint(id, 10)+"/ack", token, `{"comment":"seen"}`); code != 200 {
			t.Fatalf("ack: %d %s", code, body)
		}
	}
	want := func(f frameHead, typ, state string) {
		t.Helper()
		if f.Alert == nil || f.Alert.Type != typ || f.Alert.State != state {
			t.Fatalf("alert frame %+v, want %s %s", f.Alert, typ, state)
		}
	}
	opened := next()
	want(opened, "WARNING", "ACTIVE_UNACK")
	id := opened.Alert.ID
	ack(id)
	want(next(), "WARNING", "ACTIVE_ACK")
	esc := next()
	want(esc, "CRITICAL", "ACTIVE_UNACK")
	if esc.Alert.ID != id {
		t.Fatalf("escalation opened alert %d, want the same alert %d", esc.Alert.ID, id)
	}
	ack(id)
	want(next(), "CRITICAL", "ACTIVE_ACK")
	closed := next()
	want(closed, "CRITICAL", "CLOSED")
	if closed.Alert.AckedBy != "operator1" {
		t.Errorf("acked by %q", closed.Alert.AckedBy)
	}
	var stored struct {
		State   string `json:"state"`
		Type    string `json:"type"`
		Escal   string `json:"escalated_at"`
		Cleared string `json:"cleared_at"`
	}
	getJSON(t, baseURL(m)+"/api/alerts/"+strconv.FormatUint(id, 10), token, &stored)
	if stored.State != "CLOSED" || stored.Type != "CRITICAL" || stored.Escal == "" || stored.Cleared == "" {
		t.Errorf("stored alert %+v", stored)
	}
	// The audit trail has both acknowledgements, by the operator, from loopback.
	var audit struct {
		Entries []struct {
			Action, Username, Role, Source, Details string
		} `json:"entries"`
	}
	getJSON(t, baseURL(m)+"/api/audit?action=alert_ack", signInAs(t, m.Addr().String(), "admin1", "ADMIN"), &audit)
	if len(audit.Entries) != 2 {
		t.Fatalf("audit entries %+v, want 2 acknowledgements", audit.Entries)
	}
	for _, e := range audit.Entries {
		if e.Username != "operator1" || e.Role != "OPERATOR" || e.Source != "127.0.0.1" || !strings.Contains(e.Details, "alert "+strconv.FormatUint(id, 10)) || !strings.Contains(e.Details, "seen") {
			t.Errorf("audit entry %+v", e)
		}
	}
}

// signInAs signs in with a demo account and returns the access token.
func signInAs(tb testing.TB, addr, user, role string) string {
	tb.Helper()
	resp, err := http.Post("http://"+addr+"/api/auth/login", "application/json",
		strings.NewReader(`{"username":"`+user+`","password":"password123","role":"`+role+`"}`))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		tb.Fatalf("sign in as %s: %d %s", user, resp.StatusCode, raw)
	}
	return out.AccessToken
}

// A restart with an open alert: the alert is still open, once, with the same id.
func TestMain_AlarmSurvivesRestart(t *testing.T) {
	text := fastConfig(`sim_script = [[0.0, 9.6]]`)
	m := MustRunMain(t, text)
	token := signIn(t, m.Addr().String())
	type list struct {
		Alerts []struct {
			ID    uint64 `json:"id"`
			State string `json:"state"`
		} `json:"alerts"`
	}
	var before list
	waitFor(t, 5*time.Second, "the critical alert", func() bool {
		getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P1", token, &before)
		return len(before.Alerts) == 1
	})
	dir := m.DataDir
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := NewMain()
	m2.DataDir, m2.Listen, m2.Stderr, m2.Demo, m2.BcryptCost = dir, "127.0.0.1:0", io.Discard, true, 4
	c, err := config.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	m2.Config = c
	if err := m2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	token2 := signIn(t, m2.Addr().String())
	// Several rounds of the same critical condition judged by the new engine.
	waitFor(t, 10*time.Second, "five rounds after the restart", func() bool {
		var st struct {
			Rounds uint64 `json:"rounds"`
		}
		getJSON(t, baseURL(m2)+"/api/device/status", token2, &st)
		return st.Rounds >= 5
	})
	var after list
	getJSON(t, baseURL(m2)+"/api/alerts?sensor_id=P1", token2, &after)
	if len(after.Alerts) != 1 || after.Alerts[0].ID != before.Alerts[0].ID || after.Alerts[0].State != "ACTIVE_UNACK" {
		t.Fatalf("after restart %+v, want alert %d still open, once", after, before.Alerts[0].ID)
	}
}

// A flapping value and a sensor fault through the simulator: P1 crosses 8 bar every 400 ms
// (one alert, active again at each crossing); P2 leaves its range (a sensor fault).
func TestMain_AlarmFlappingAndFault(t *testing.T) {
	var pts []string
	for i := range 12 {
		v := 7.9
		if i%2 == 1 {
			v = 8.3
		}
		// Each level held 400 ms, four polls: a loaded machine still sees every one.
		at := 0.5 + 0.4*float64(i)
		pts = append(pts, "["+strconv.FormatFloat(at, 'f', 2, 64)+", "+strconv.FormatFloat(v, 'f', 1, 64)+"], ["+
			strconv.FormatFloat(at+0.39, 'f', 2, 64)+", "+strconv.FormatFloat(v, 'f', 1, 64)+"]")
	}
	text := strings.Replace(fastConfig("sim_script = ["+strings.Join(pts, ", ")+"]"),
		"id = \"P2\"\nbus = \"sim\"\ninterval = \"100ms\"", "id = \"P2\"\nbus = \"sim\"\ninterval = \"100ms\"\nsim_script = [[0.0, 2.5], [0.5, 2.5], [0.6, 6.0]]", 1)
	if !strings.Contains(text, "[0.6, 6.0]") {
		t.Fatal("fixture: P2's script not placed")
	}
	m := MustRunMain(t, text)
	token := signIn(t, m.Addr().String())
	type alert struct {
		ID            uint64 `json:"id"`
		Type          string `json:"type"`
		Reactivations int    `json:"reactivations"`
	}
	type list struct {
		Alerts []alert `json:"alerts"`
	}
	var p1, p2 list
	waitFor(t, 20*time.Second, "the flapping to end and the fault", func() bool {
		getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P1", token, &p1)
		getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P2", token, &p2)
		return len(p1.Alerts) > 0 && p1.Alerts[0].Reactivations >= 4 && slices.ContainsFunc(p2.Alerts, func(a alert) bool { return a.Type == "SENSOR_FAULT" })
	})
	time.Sleep(time.Second) // the rest of the flapping: still one alert
	getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P1", token, &p1)
	getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P2", token, &p2)
	if len(p1.Alerts) != 1 || p1.Alerts[0].Type != "WARNING" {
		t.Errorf("P1 alerts %+v, want one WARNING, active again at each crossing", p1.Alerts)
	}
	// Over its range P2 is a fault and a critical pressure: one SENSOR_FAULT and one
	// CRITICAL (opened on the way out of the range, in its critical band, or by the
	// overpressure itself).
	count := map[string]int{}
	for _, a := range p2.Alerts {
		count[a.Type]++
	}
	if count["SENSOR_FAULT"] != 1 || count["CRITICAL"] != 1 || len(p2.Alerts) != 2 {
		t.Errorf("P2 alerts %+v, want one SENSOR_FAULT and one CRITICAL", p2.Alerts)
	}
}
