package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
)

// The sensor settings of a running daemon change live: a band swapped in judges the next
// reading, in the sensors frames, the REST answers and the alarms alike; a bad swap is
// refused and changes nothing.
func TestMain_SwapSensorSettings(t *testing.T) {
	m := MustRunMain(t, fastConfig(`sim_script = [[0.0, 5.0]]`))
	token := signIn(t, m.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+m.Addr().String()+"/api/ws/sensors?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// next returns the next sensors frame's P1 status, and the alert frames before it.
	next := func() (string, []string) {
		t.Helper()
		var alerts []string
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read frame: %v", err)
			}
			var f frameHead
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			switch {
			case f.Type == "alert":
				alerts = append(alerts, f.Alert.Type+" "+f.Alert.State)
			case f.Type == "sensors" && f.P1 != nil:
				return f.P1.Status, alerts
			}
		}
	}
	if st, _ := next(); st != "normal" {
		t.Fatalf("P1 at 5.0 in the band 2-8: %s, want normal", st)
	}

	before := m.sensors.Load()
	sensors := before.All()
	sensors[0].Thresholds.Normal = maskservice.Band{Low: 6, High: 8}
	set, err := m.sensors.Swap(sensors)
	if err != nil {
		t.Fatalf("swap the normal band to 6-8: %v", err)
	}
	if set.Version() != before.Version()+1 {
		t.Errorf("version %d after a swap of %d", set.Version(), before.Version())
	}
	// The round under way may have started before the swap; the one after it has not.
	st, alerts := next()
	if st != "warning" {
		st, alerts = next()
	}
	if st != "warning" {
		t.Fatalf("P1 at 5.0 after the band moved to 6-8: %s, want warning", st)
	}
	for len(alerts) == 0 {
		_, alerts = next()
	}
	if alerts[0] != "WARNING ACTIVE_UNACK" {
		t.Errorf("alert %q after the swap, want a warning opened by the new band", alerts[0])
	}
	var cur currentBody
	getJSON(t, baseURL(m)+"/api/sensors/current", token, &cur)
	if cur.Sensors["P1"].Status != "warning" {
		t.Errorf("REST P1 status %q, want warning", cur.Sensors["P1"].Status)
	}

	for _, tc := range []struct {
		name   string
		change func([]maskservice.Sensor)
	}{
		{"normal band outside the warning band", func(s []maskservice.Sensor) { s[0].Thresholds.Normal = maskservice.Band{Low: 1, High: 8} }},
		{"a sensor renamed", func(s []maskservice.Sensor) { s[1].ID = "P9" }},
		{"a sensor removed", func(s []maskservice.Sensor) {}},
		{"a negative calibration gain", func(s []maskservice.Sensor) { s[0].Calibration.Gain = -1 }},
	} {
		bad := m.sensors.Load().All()
		tc.change(bad)
		if tc.name == "a sensor removed" {
			bad = bad[:2]
		}
		if _, err := m.sensors.Swap(bad); maskservice.ErrorCode(err) != maskservice.EINVALID {
			t.Errorf("swap with %s: %v, want EINVALID", tc.name, err)
		}
	}
	if got := m.sensors.Load(); got != set {
		t.Fatalf("a refused swap changed the settings: version %d, want %d", got.Version(), set.Version())
	}
	if st, _ := next(); st != "warning" {
		t.Errorf("P1 after the refused swaps: %s, want warning by the band in force", st)
	}

	// Back to the band of the start: the next reading is normal, and the alert clears.
	if _, err := m.sensors.Swap(before.All()); err != nil {
		t.Fatal(err)
	}
	st, alerts = next()
	if st != "normal" {
		st, alerts = next()
	}
	if st != "normal" {
		t.Fatalf("P1 after the band came back: %s, want normal", st)
	}
	for len(alerts) == 0 {
		_, alerts = next()
	}
	if alerts[0] != "WARNING CLEARED_UNACK" {
		t.Errorf("alert %q after the band came back, want the warning cleared", alerts[0])
	}
}
