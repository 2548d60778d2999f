package web_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"mask.services/maskservice/web/hub"
)

// TestServer_ReadingsMatchWebSocketFrames checks that a reading is spelled the same, byte for
// byte, in the REST answers and in the WebSocket frames: same timestamp layout, same numbers,
// null for a failed read, so a client needs one parser for both.
func TestServer_ReadingsMatchWebSocketFrames(t *testing.T) {
	f := newFixture(t, fixtureConfig{faults: map[string]error{"P3": errors.New("read timeout")}})
	round := f.mon.Current()
	var frame map[string]json.RawMessage
	if err := json.Unmarshal(hub.AppendSensorsFrame(nil, round, time.Now()), &frame); err != nil {
		t.Fatalf("decode frame: %v", err)
	}
	var current struct {
		Sensors map[string]map[string]json.RawMessage `json:"sensors"`
	}
	if err := json.Unmarshal(f.get(t, "/api/sensors/current").body, &current); err != nil {
		t.Fatalf("decode /api/sensors/current: %v", err)
	}
	for _, rd := range round.Current {
		var ws map[string]json.RawMessage
		if err := json.Unmarshal(frame[rd.SensorID], &ws); err != nil {
			t.Fatalf("frame entry of %s: %v", rd.SensorID, err)
		}
		rest := current.Sensors[rd.SensorID]
		if len(ws) < 7 {
			t.Fatalf("frame entry of %s has %d keys, want value, raw_value, unit, status, quality, fault, timestamp", rd.SensorID, len(ws))
		}
		for key, want := range ws {
			if got := rest[key]; string(got) != string(want) {
				t.Errorf("%s.%s: REST %s, WebSocket %s", rd.SensorID, key, got, want)
			}
		}
	}
	if p3 := current.Sensors["P3"]["value"]; string(p3) != "null" {
		t.Errorf("failed P3 value %s, want null", p3)
	}
}
