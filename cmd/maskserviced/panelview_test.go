package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// panelViewRoutes are the routes of the panel's live view, as the UI reads them.
var panelViewRoutes = []string{"/api/sensors/current", "/api/sensors/P1/history", "/api/alerts", "/api/device/status"}

// The acceptance of the live view without a sign-in: the panel (loopback on the plain
// listener) reads the live data and the open alert without a token but cannot acknowledge
// it; a client of the HTTPS listener (the hotspot) gets 401 on every route of the live view
// and its WebSocket is closed with 4001; with http.panel_live_view = false the panel gets
// 401 too.
func TestMain_PanelLiveView(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setting  string
		wantOpen bool
	}{{"default", "", true}, {"turned off", "panel_live_view = false\n", false}} {
		t.Run(tc.name, func(t *testing.T) {
			m := MustRunMain(t, "[http]\ntls_listen = \"127.0.0.1:0\"\n"+tc.setting+fastConfig(`sim_script = [[0.0, 9.6]]`))
			panel := &http.Client{Timeout: 10 * time.Second}
			hotspot := hotspotClient(t, m)
			var id uint64
			if tc.wantOpen {
				id = panelOpenAlert(t, panel, baseURL(m))
			}
			for _, path := range panelViewRoutes {
				want := http.StatusUnauthorized
				if tc.wantOpen {
					want = http.StatusOK
				}
				wantAnswer(t, panel, http.MethodGet, baseURL(m)+path, want)
				wantAnswer(t, hotspot, http.MethodGet, "https://"+m.TLSAddr().String()+path, http.StatusUnauthorized)
			}
			wantAnswer(t, panel, http.MethodPost, baseURL(m)+"/api/alerts/"+strconv.FormatUint(id, 10)+"/ack", http.StatusUnauthorized)
			wantSocket(t, "ws://"+m.Addr().String(), nil, tc.wantOpen)
			wantSocket(t, "wss://"+m.TLSAddr().String(), hotspot, false)
		})
	}
}

// hotspotClient is a client of m's HTTPS listener that trusts the device's certificate.
func hotspotClient(t *testing.T, m *Main) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(m.DataDir, tlsCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
}

// panelOpenAlert waits until the panel, without a token, sees P1's open critical alert, and
// returns its id.
func panelOpenAlert(t *testing.T, panel *http.Client, base string) uint64 {
	t.Helper()
	var id uint64
	waitFor(t, 10*time.Second, "P1's critical alert on the panel", func() bool {
		res, err := panel.Get(base + "/api/alerts")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var list struct {
			Alerts []struct {
				ID       uint64 `json:"id"`
				SensorID string `json:"sensor_id"`
				Type     string `json:"type"`
			} `json:"alerts"`
		}
		if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&list) != nil {
			return false
		}
		for _, a := range list.Alerts {
			if a.SensorID == "P1" && a.Type == "CRITICAL" {
				id = a.ID
				return true
			}
		}
		return false
	})
	return id
}

// wantAnswer sends a request without a token and checks its status; a refusal must carry
// the detail every error has.
func wantAnswer(t *testing.T, c *http.Client, method, url string, want int) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s without a token: %d %s, want %d", method, url, res.StatusCode, body, want)
	}
	var e struct {
		Detail string `json:"detail"`
	}
	if want >= 400 && (json.Unmarshal(body, &e) != nil || e.Detail == "") {
		t.Errorf("%s %s: refusal without a detail: %s", method, url, body)
	}
}

// wantSocket dials the WebSocket at base without a token: it must send a sensors frame when
// open, and be closed with 4001 otherwise.
func wantSocket(t *testing.T, base string, c *http.Client, open bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, base+"/api/ws/sensors", &websocket.DialOptions{HTTPClient: c})
	if err != nil {
		t.Fatalf("dial %s: %v", base, err)
	}
	defer conn.CloseNow()
	_, msg, err := conn.Read(ctx)
	var ce websocket.CloseError
	switch {
	case open && (err != nil || !strings.Contains(string(msg), `"type":"sensors"`)):
		t.Errorf("%s: first frame %q, %v; want a sensors frame", base, msg, err)
	case !open && (!errors.As(err, &ce) || ce.Code != 4001):
		t.Errorf("%s: read %q, %v; want close 4001", base, msg, err)
	}
}
