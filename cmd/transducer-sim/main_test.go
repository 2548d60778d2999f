package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/sim"
)

const testConfig = `
[[bus]]
name = "rs485"
driver = "modbus-rtu"
device = "/dev/ttyUSB0"
baud = 19200
parity = "E"
stop_bits = 1
[[sensor]]
id = "P1"
bus = "rs485"
slave = 1
address = 0
type = "int16"
scale = 0.001
sim_script = [[0.0, 5.4321]]
[[sensor]]
id = "P2"
bus = "rs485"
slave = 1
address = 1
type = "float32"
word_order = "CDAB"
sim_script = [[0.0, 3.3]]
[[sensor]]
id = "P3"
bus = "rs485"
slave = 2
register = "input"
address = 10
type = "uint16"
scale = 0.1
sim_script = [[0.0, 512.3]]
`

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" for accepted
	}{
		{[]string{"--config", "c.toml", "--link", "/tmp/x"}, ""},
		{[]string{"--config", "c.toml", "--device", "/dev/ttyUSB1", "--drop", "0.5", "--exception", "4"}, ""},
		{[]string{"--link", "/tmp/x"}, "--config is required"},
		{[]string{"--config", "c.toml"}, "give exactly one of --link"},
		{[]string{"--config", "c.toml", "--link", "a", "--device", "b"}, "give exactly one of --link"},
		{[]string{"--config", "c.toml", "--link", "a", "--drop", "1.5"}, "drop 1.5: must be a share between 0 and 1"},
		{[]string{"--config", "c.toml", "--link", "a", "--exception", "300"}, "--exception 300"},
		{[]string{"--config", "c.toml", "--link", "a", "--delay", "-1s"}, "delay -1s: must not be negative"},
		{[]string{"--config", "c.toml", "--link", "a", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, &bytes.Buffer{})
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("parseFlags(%q) = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestRun_BadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	simOnly := write("sim.toml", "[[bus]]\nname = \"sim\"\ndriver = \"sim\"\n[[sensor]]\nid = \"P1\"\nbus = \"sim\"\n")
	broken := write("broken.toml", "[[bus]]\nname = 5\n")
	good := write("good.toml", testConfig)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--config", simOnly, "--link", filepath.Join(dir, "l")}, "has no bus with driver modbus-rtu to serve"},
		{[]string{"--config", broken, "--link", filepath.Join(dir, "l")}, "broken.toml:2: bus.name"},
		{[]string{"--config", good, "--bus", "nope", "--link", filepath.Join(dir, "l")}, `--bus "nope": not a modbus-rtu bus`},
		{[]string{"--config", good, "--device", filepath.Join(dir, "no-such-port")}, "open " + filepath.Join(dir, "no-such-port")},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) = %d, stderr %q; want a failure saying %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestImage(t *testing.T) {
	sensors := []maskservice.Sensor{
		{ID: "A", Name: "A", Unit: "bar", Range: maskservice.Band{Low: 0, High: 10}, Interval: time.Second,
			Thresholds: maskservice.Thresholds{Normal: maskservice.Band{Low: 1, High: 9}, Warning: maskservice.Band{Low: 0.5, High: 9.5}}},
		{ID: "B", Name: "B", Unit: "bar", Range: maskservice.Band{Low: 0, High: 10}, Interval: time.Second,
			Thresholds: maskservice.Thresholds{Normal: maskservice.Band{Low: 1, High: 9}, Warning: maskservice.Band{Low: 0.5, High: 9.5}}},
	}
	src, err := sim.New(sensors, sim.Options{Scripts: map[string][]sim.ScriptPoint{
		"A": {{Value: 2.5}}, "B": {{Value: 7.25}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := hal.Register{Slave: 4, Kind: hal.Holding, Address: 100, Type: hal.Uint32, Order: hal.DCBA, Scale: 0.001}
	b := hal.Register{Slave: 4, Kind: hal.Holding, Address: 102, Type: hal.Int16, Scale: 0.01}
	im := newImage(src, []mapped{{"A", a}, {"B", b}})

	regs, ex, served := im.ReadRegisters(4, hal.Holding, 100, 3)
	if !served || ex != 0 || len(regs) != 3 {
		t.Fatalf("read 100..102: %v %d %v", regs, ex, served)
	}
	if raw, _ := a.Decode(regs[:2]); raw != 2500 {
		t.Errorf("A raw %v, want 2500", raw)
	}
	if regs[2] != 725 {
		t.Errorf("B register %d, want 725", regs[2])
	}
	// The second word of A alone is served (a master may read any part of a value).
	if regs, ex, _ := im.ReadRegisters(4, hal.Holding, 101, 1); ex != 0 || len(regs) != 1 {
		t.Errorf("read 101: %v exception %d", regs, ex)
	}
	for _, tc := range []struct {
		slave      uint8
		kind       hal.RegisterKind
		addr, qty  uint16
		wantEx     uint8
		wantServed bool
	}{
		{4, hal.Holding, 99, 2, hal.ExIllegalAddress, true},
		{4, hal.Holding, 102, 2, hal.ExIllegalAddress, true},
		{4, hal.Input, 100, 1, hal.ExIllegalAddress, true},
		{5, hal.Holding, 100, 1, 0, false},
	} {
		if _, ex, served := im.ReadRegisters(tc.slave, tc.kind, tc.addr, tc.qty); ex != tc.wantEx || served != tc.wantServed {
			t.Errorf("read %d/%s/%d+%d: exception %d served %v; want %d %v", tc.slave, tc.kind, tc.addr, tc.qty, ex, served, tc.wantEx, tc.wantServed)
		}
	}
	// A transducer with a failing input answers exception 04.
	src.SetFault("B", sim.Fault{Kind: sim.FaultReadError})
	if _, ex, _ := im.ReadRegisters(4, hal.Holding, 100, 3); ex != hal.ExDeviceFailure {
		t.Errorf("failing sensor: exception %d, want 04", ex)
	}
}

// startSim runs transducer-sim in-process on a new pty linked at link until the test ends.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rs485.toml")
	if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "ttyV0")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var stderr bytes.Buffer
	wg.Go(func() {
		if code := run(ctx, append([]string{"--config", cfg, "--link", link, "--seed", "1"}, args...), &stderr); code != 0 {
			t.Errorf("transducer-sim exited %d: %s", code, stderr.String())
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Readlink(link); err == nil {
			return link
		}
		if time.Now().After(deadline) {
			t.Fatal("transducer-sim made no link")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An independent Modbus master, libmodbus's mbpoll from Debian, reads transducer-sim
// correctly: every value, an exception for an unmapped register, silence for an absent slave.
func TestMbpoll(t *testing.T) {
	mbpoll, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Fatal("mbpoll is not installed: apt-get install mbpoll (.ci/run installs it); this test checks transducer-sim against an independent master")
	}
	link := startSim(t)
	poll := func(args ...string) (string, error) {
		all := append([]string{"-m", "rtu", "-b", "19200", "-P", "even", "-1", "-o", "0.5"}, args...)
		out, err := exec.Command(mbpoll, append(all, link)...).CombinedOutput()
		return string(out), err
	}
	value := regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(-?[\d.]+)`)
	tests := []struct {
		name string
		args []string
		ref  string  // mbpoll's 1-based reference
		want float64 // the register content as mbpoll prints it
	}{
		{"int16 holding", []string{"-a", "1", "-t", "4", "-r", "1", "-c", "1"}, "1", 5432},
		// mbpoll's float is little-endian word order by default: CDAB.
		{"float32 CDAB", []string{"-a", "1", "-t", "4:float", "-r", "2", "-c", "1"}, "2", 3.3},
		{"uint16 input", []string{"-a", "2", "-t", "3", "-r", "11", "-c", "1"}, "11", 5123},
	}
	for _, tt := range tests {
		out, err := poll(tt.args...)
		if err != nil {
			t.Errorf("%s: mbpoll failed: %v\n%s", tt.name, err, out)
			continue
		}
		m := value.FindStringSubmatch(out)
		if m == nil || m[1] != tt.ref {
			t.Errorf("%s: no value for reference %s in\n%s", tt.name, tt.ref, out)
			continue
		}
		if got, _ := strconv.ParseFloat(m[2], 64); math.Abs(got-tt.want) > 1e-3 {
			t.Errorf("%s: mbpoll read %v, want %v", tt.name, got, tt.want)
		}
	}
	if out, err := poll("-a", "1", "-t", "4", "-r", "10", "-c", "1"); err == nil || !strings.Contains(out, "Illegal data address") {
		t.Errorf("unmapped register: err %v, output\n%s\nwant Illegal data address", err, out)
	}
	if out, err := poll("-a", "9", "-t", "4", "-r", "1", "-c", "1"); err == nil || !strings.Contains(out, "timed out") {
		t.Errorf("absent slave: err %v, output\n%s\nwant a timeout", err, out)
	}
}
