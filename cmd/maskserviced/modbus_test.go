package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTransducerSim builds the transducer-sim binary into a temporary directory.
func buildTransducerSim(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "transducer-sim")
	if out, err := exec.Command("go", "build", "-o", bin, "../transducer-sim").CombinedOutput(); err != nil {
		tb.Fatalf("go build transducer-sim: %v\n%s", err, out)
	}
	return bin
}

// startTransducerSim runs the simulator on a new pty linked at link and waits for the link.
func startTransducerSim(tb testing.TB, bin, configFile, link string) *exec.Cmd {
	tb.Helper()
	_ = os.Remove(link)
	var stderr syncBuffer
	cmd := exec.Command(bin, "--config", configFile, "--link", link, "--seed", "3")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(tb, 10*time.Second, "transducer-sim's pty link", func() bool {
		_, err := os.Readlink(link)
		return err == nil
	})
	return cmd
}

// rs485Config is three transducers on one RTU line at link, with scripted constant values,
// in three different encodings.
func rs485Config(link string) string {
	return `
[[bus]]
name = "rs485"
driver = "modbus-rtu"
device = "` + link + `"
baud = 19200
parity = "E"
stop_bits = 1
timeout = "100ms"
retries = 1
[[sensor]]
id = "P1"
bus = "rs485"
slave = 1
address = 0
type = "int16"
scale = 0.001
interval = "100ms"
sim_script = [[0.0, 5.4321]]
[[sensor]]
id = "P2"
bus = "rs485"
slave = 1
address = 1
type = "float32"
word_order = "CDAB"
interval = "100ms"
sim_script = [[0.0, 3.3]]
[[sensor]]
id = "P3"
bus = "rs485"
slave = 2
register = "input"
address = 10
type = "uint16"
scale = 0.1
interval = "100ms"
sim_script = [[0.0, 512.3]]
`
}

// The acceptance of the Modbus issue, with real processes: transducer-sim serves on a pty, the
// daemon reads it over Modbus RTU and shows the served values within the registers'
// resolution; killing the simulator turns the sensors bad and the device OFFLINE within 3 s;
// starting it again brings them back within 5 s without restarting the daemon.
func TestMain_ModbusRTUOverPTY(t *testing.T) {
	bin := buildTransducerSim(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyRS485")
	text := rs485Config(link)
	cfgFile := filepath.Join(dir, "rs485.toml")
	if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	slave := startTransducerSim(t, bin, cfgFile, link)
	m := MustRunMain(t, text)
	token := signIn(t, m.Addr().String())

	// The simulator quantizes to its register steps; the daemon must show exactly what the
	// registers hold: P1 5.432 (int16, 0.001), P2 3.3 as a float32, P3 512.3 (uint16, 0.1).
	want := map[string]struct{ value, resolution float64 }{
		"P1": {5.432, 0.0005}, "P2": {3.3, 1e-6}, "P3": {512.3, 0.05},
	}
	var cur currentBody
	waitFor(t, 5*time.Second, "good readings of all three sensors", func() bool {
		if !tryGetJSON(baseURL(m)+"/api/sensors/current", token, &cur) {
			return false // 503 until the first round (the bus is opening: CONNECTING)
		}
		for id := range want {
			if cur.Sensors[id].Quality != "good" {
				return false
			}
		}
		return true
	})
	for id, w := range want {
		got := cur.Sensors[id].Value
		if got == nil || math.Abs(*got-w.value) > w.resolution {
			t.Errorf("%s = %v, want %v within %v", id, got, w.value, w.resolution)
		}
	}
	status := func() string {
		var st struct {
			Status string `json:"status"`
		}
		getJSON(t, baseURL(m)+"/api/device/status", token, &st)
		return st.Status
	}
	if s := status(); s != "ONLINE" {
		t.Fatalf("device %s, want ONLINE", s)
	}

	// Kill the slave: the pty hangs up under the daemon.
	if err := slave.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = slave.Wait()
	killed := time.Now()
	waitFor(t, 3*time.Second, "OFFLINE after killing transducer-sim", func() bool { return status() == "OFFLINE" })
	getJSON(t, baseURL(m)+"/api/sensors/current", token, &cur)
	for id := range want {
		if r := cur.Sensors[id]; r.Quality != "bad" || r.Value != nil {
			t.Errorf("%s after the kill: quality %s value %v, want bad and no value", id, r.Quality, r.Value)
		}
	}
	t.Logf("OFFLINE %v after the kill", time.Since(killed).Round(time.Millisecond))

	startTransducerSim(t, bin, cfgFile, link)
	restarted := time.Now()
	waitFor(t, 5*time.Second, "ONLINE after restarting transducer-sim", func() bool { return status() == "ONLINE" })
	t.Logf("ONLINE %v after the restart", time.Since(restarted).Round(time.Millisecond))

	// The bus counters are in /metrics.
	var metrics string
	waitFor(t, time.Second, "bus metrics", func() bool {
		metrics = getText(t, baseURL(m)+"/metrics")
		return strings.Contains(metrics, `bus_reconnects_total{bus="rs485"} 1`)
	})
	for _, line := range []string{`bus_connected{bus="rs485"} 1`, `bus_requests_total{bus="rs485",slave="2"}`, `bus_rtt_seconds_count{bus="rs485",slave="1"}`} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// getText fetches url (no token: /metrics on loopback) and returns the body, failing on any
// status but 200.
func getText(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

// tryGetJSON is getJSON for polling: it reports false instead of failing on any error.
func tryGetJSON(url, token string, v any) bool {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}
