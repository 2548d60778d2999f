package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// alertCrossings is how many times the alert measurement's script crosses into the critical
// band; each crossing makes one alert frame.
const alertCrossings = 12

// measureAlerts runs the daemon with P1 scripted to cross into the critical band and back
// every two seconds, and measures for each crossing the time from the poll that read the
// critical value (the alert's updated_at) to the alert frame at a WebSocket client. The
// alert is committed to bbolt (fsync) before the frame goes out, so this includes a commit.
func (b *bench) measureAlerts(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "maskbench-alerts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var pts []string
	for i := range alertCrossings {
		t0 := 2 + 2*float64(i)
		pts = append(pts, fmt.Sprintf("[%g, 5.0], [%g, 9.6], [%g, 9.6], [%g, 5.0]", t0, t0+0.01, t0+1, t0+1.01))
	}
	cfg := fmt.Sprintf(`
[[bus]]
name = "sim"
driver = "sim"
[[sensor]]
id = "P1"
bus = "sim"
interval = "50ms"
sim_script = [[0.0, 5.0], %s]
`, strings.Join(pts, ", "))
	cfgFile := filepath.Join(dir, "alerts.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	d, err := b.startDaemon(ctx, "alerts", true, "--config", cfgFile)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "alerts")
	token, err := d.signIn(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(2*alertCrossings+10)*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(wctx, "ws://"+d.addr+"/api/ws/sensors?token="+token, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	var lat []time.Duration
	b.progressf("alerts: waiting for %d threshold crossings", alertCrossings)
	for len(lat) < alertCrossings {
		_, data, err := c.Read(wctx)
		if err != nil {
			return fmt.Errorf("after %d alert frames: %w", len(lat), err)
		}
		got := time.Now()
		var f struct {
			Type  string `json:"type"`
			Alert struct {
				State     string `json:"state"`
				UpdatedAt string `json:"updated_at"`
			} `json:"alert"`
		}
		if json.Unmarshal(data, &f) != nil || f.Type != "alert" || f.Alert.State != "ACTIVE_UNACK" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, f.Alert.UpdatedAt)
		if err != nil {
			return fmt.Errorf("alert frame time %q: %w", f.Alert.UpdatedAt, err)
		}
		lat = append(lat, got.Sub(at))
	}
	s := summarize(lat)
	b.alertLatency = &s
	fmt.Fprintf(b.out, "\n== alerts: poll that crosses the critical limit -> alert frame at a WebSocket client (%d crossings) ==\n", len(lat))
	fmt.Fprintf(b.out, "  latency: p50 %s  p99 %s  max %s (includes the alert's fsync; times are milliseconds)\n", ms(s.P50), ms(s.P99), ms(s.Max))
	b.fig("alert_latency_p50", msf(s.P50), "ms", 2)
	b.fig("alert_latency_p99", msf(s.P99), "ms", 2)
	return nil
}
