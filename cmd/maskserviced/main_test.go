package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice/cmd/internal/config"
)

// MustRunMain starts the whole daemon on port 0 in a temporary data directory with the given
// configuration text ("" for the built-in default) and closes it when the test ends.
func MustRunMain(tb testing.TB, configText string) *Main {
	tb.Helper()
	m := NewMain()
	m.DataDir = filepath.Join(tb.TempDir(), "data")
	m.Listen = "127.0.0.1:0"
	m.Stderr = io.Discard
	m.Demo, m.BcryptCost = true, 4
	if configText != "" {
		c, err := config.Parse("test.toml", []byte(configText))
		if err != nil {
			tb.Fatal(err)
		}
		m.Config = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

func baseURL(m *Main) string { return "http://" + m.Addr().String() }

// signIn signs in as the demo operator at addr and returns the access token.
func signIn(tb testing.TB, addr string) string {
	tb.Helper()
	return signInAs(tb, addr, "operator1", "OPERATOR")
}

// getJSON fetches url with the token (if any) and decodes the JSON body into v, failing on
// any non-200 status.
func getJSON(tb testing.TB, url, token string, v any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// waitFor polls cond every 20 ms until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type currentBody struct {
	Seq     uint64 `json:"seq"`
	Sensors map[string]struct {
		Value   *float64   `json:"value"`
		Unit    string     `json:"unit"`
		Status  string     `json:"status"`
		Quality string     `json:"quality"`
		Range   [2]float64 `json:"range"`
	} `json:"sensors"`
}

// fastConfig is the three sensors on the simulator at 10 Hz, with p1 appended to P1's table.
func fastConfig(p1 string) string {
	return `
[[bus]]
name = "sim"
driver = "sim"
sim_seed = 7
[[sensor]]
id = "P1"
bus = "sim"
interval = "100ms"
` + p1 + `
[[sensor]]
id = "P2"
bus = "sim"
interval = "100ms"
[[sensor]]
id = "P3"
bus = "sim"
interval = "100ms"
`
}

// TestMain_Current checks the acceptance of the live pipeline over REST: the built-in
// configuration serves P1, P2 and P3 with values that move and stay inside their ranges.
func TestMain_Current(t *testing.T) {
	m := MustRunMain(t, "")
	url := baseURL(m) + "/api/sensors/current"
	token := signIn(t, m.Addr().String())
	waitFor(t, 5*time.Second, "readiness", func() bool {
		resp, err := http.Get(baseURL(m) + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The built-in configuration has the panel's live view on: this client, on loopback of the
	// plain listener, is the panel and reads without a token (TestMain_PanelLiveView has the
	// clients beyond it, which may not).
	var anonymous currentBody
	getJSON(t, url, "", &anonymous)
	var first currentBody
	getJSON(t, url, token, &first)
	seen := map[string]float64{}
	for _, id := range []string{"P1", "P2", "P3"} {
		s, ok := first.Sensors[id]
		if !ok {
			t.Fatalf("%s missing from %+v", id, first)
		}
		if s.Value == nil || *s.Value < s.Range[0] || *s.Value > s.Range[1] || s.Quality != "good" || s.Status != "normal" {
			t.Errorf("%s = %+v, want a good normal value inside its range", id, s)
		}
		seen[id] = *s.Value
	}
	var later currentBody
	waitFor(t, 5*time.Second, "the values to move", func() bool {
		getJSON(t, url, token, &later)
		return later.Seq > first.Seq && *later.Sensors["P1"].Value != seen["P1"]
	})
	var status struct {
		Status   string `json:"status"`
		DeviceID string `json:"device_id"`
	}
	getJSON(t, baseURL(m)+"/api/device/status", token, &status)
	if status.Status != "ONLINE" || status.DeviceID != config.DefaultDeviceID {
		t.Errorf("device status = %+v", status)
	}
}

// wsFrame is the part of a sensors frame the tests look at.
type wsFrame struct {
	Type string  `json:"type"`
	Seq  uint64  `json:"seq"`
	TS   float64 `json:"ts"`
	P1   *struct {
		Value  *float64 `json:"value"`
		Status string   `json:"status"`
	} `json:"P1"`
	P2, P3 json.RawMessage
}

func readFrame(tb testing.TB, ctx context.Context, c *websocket.Conn) wsFrame {
	tb.Helper()
	_, data, err := c.Read(ctx)
	if err != nil {
		tb.Fatalf("read frame: %v", err)
	}
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// TestMain_WebSocketScript walks P1 across its thresholds with a sim_script from the config
// file alone and checks the frames: the first at once, then one per round in seq order, the
// status following the script.
func TestMain_WebSocketScript(t *testing.T) {
	// 3 s of normal first: the client must connect within them, also on a loaded CI machine
	// (0.5 s was once too little).
	m := MustRunMain(t, fastConfig(`sim_script = [[0.0, 5.0], [3.0, 5.0], [3.1, 8.5], [3.7, 8.5], [3.8, 9.6], [4.4, 9.6], [4.5, 5.0]]`))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "readiness", func() bool {
		resp, err := http.Get(baseURL(m) + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	c, _, err := websocket.Dial(ctx, "ws://"+m.Addr().String()+"/api/ws/sensors?token="+signIn(t, m.Addr().String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	first := readFrame(t, ctx, c)
	if first.Type != "sensors" || first.Seq == 0 || first.TS == 0 || first.P1 == nil || first.P2 == nil || first.P3 == nil {
		t.Fatalf("first frame = %+v", first)
	}
	statuses := []string{first.P1.Status}
	last := first.Seq
	seenCritical := false
	for n := 0; n < 200 && !(seenCritical && statuses[len(statuses)-1] == "normal"); n++ {
		f := readFrame(t, ctx, c)
		if f.Type == "alert" {
			continue // the alarm frames of the excursion; TestMain_AlarmLifeCycle reads them
		}
		if f.Seq != last+1 {
			t.Fatalf("seq %d after %d: a frame was lost or repeated", f.Seq, last)
		}
		last = f.Seq
		if s := f.P1.Status; s != statuses[len(statuses)-1] {
			statuses = append(statuses, s)
			seenCritical = seenCritical || s == "critical"
		}
	}
	// The way down from 9.6 to 5.0 takes 100 ms, one poll: a read may land in the warning
	// band on the way, which is right too.
	got := fmt.Sprint(statuses)
	if got != "[normal warning critical normal]" && got != "[normal warning critical warning normal]" {
		t.Errorf("P1 statuses = %v, want normal, warning, critical, (warning,) normal", statuses)
	}
}

// TestMain_CloseWebSocket1001 checks that a graceful shutdown closes WebSocket clients with
// 1001 and finishes within the shutdown timeout.
func TestMain_CloseWebSocket1001(t *testing.T) {
	m := MustRunMain(t, fastConfig(""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+m.Addr().String()+"/api/ws/sensors?token="+signIn(t, m.Addr().String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	readFrame(t, ctx, c)
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > ShutdownTimeout {
		t.Errorf("Close took %s", d)
	}
	for {
		if _, _, err = c.Read(ctx); err != nil {
			break
		}
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status = %v (%v), want 1001", got, err)
	}
}

// TestRun_BadConfig checks that a bad config file stops the daemon before it starts, with exit
// code 2 and a message naming the file, line and key.
func TestRun_BadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	bad := fastConfig("normal = [2.0, 9.5]")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"serve", []string{"serve", "--config", path, "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, exitUsage,
			path + ":10: sensor[0].normal: sensor P1: normal band [2, 9.5] must lie inside the warning band [1.5, 9]"},
		{"config check", []string{"config", "check", "--config", path}, exitUsage, path + ":10: sensor[0].normal"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--colour"}, exitUsage, "flag provided but not defined: -colour"},
		{"missing file", []string{"serve", "--config", path + ".nope"}, exitUsage, "read config: open " + path + ".nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, strings.NewReader(""), &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
		})
	}
	var stdout bytes.Buffer
	good := filepath.Join(t.TempDir(), "good.toml")
	if err := os.WriteFile(good, []byte(fastConfig("")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"config", "check", "--config", good}, strings.NewReader(""), &stdout, io.Discard); code != exitOK ||
		!strings.Contains(stdout.String(), "ok (device "+config.DefaultDeviceID+", 1 buses, 3 sensors)") {
		t.Errorf("config check of a good file: %d %q", code, stdout.String())
	}
}

// TestServe_SIGTERM runs the real binary and stops it with SIGTERM: it must close its
// WebSocket clients with 1001 and exit 0 within 5 s.
func TestServe_SIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "maskserviced")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stderr syncBuffer
	cmd := exec.Command(bin, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--demo")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var addr string
	waitFor(t, 10*time.Second, "the listening log line", func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "http listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/api/ws/sensors?token="+signIn(t, addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	readFrame(t, ctx, c)

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err = c.Read(ctx); err != nil {
			break
		}
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status = %v (%v), want 1001", got, err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(ShutdownTimeout + 2*time.Second):
		t.Fatalf("still running %s after SIGTERM", time.Since(start))
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A key_file that is no key is a configuration error: config check and serve both exit 2,
// and serve creates nothing.
func TestRun_KeyFileNotAKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "plant.toml")
	if err := os.WriteFile(cfgPath, []byte("[auth]\nkey_file = \""+key+"\"\n"+fastConfig("")), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, args := range [][]string{
		{"config", "check", "--config", cfgPath},
		{"serve", "--config", cfgPath, "--data", data, "--listen", "127.0.0.1:0"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, strings.NewReader(""), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "auth.key_file: signing key") {
			t.Errorf("%v: exit %d, %s; want 2 and the key named", args[:2], code, stderr.String())
		}
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serve with a bad key file created the data directory: %v", err)
	}
}
