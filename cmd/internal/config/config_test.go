package config_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal/sim"
	"mask.services/maskservice/web/hub"
)

const good = `device_id = "C15.25.1010"
[http]
listen = "127.0.0.1:8000"
[storage]
commit_interval = "1s"
retention = "400d"
max_size = "1GiB"
[[bus]]
name = "rs485"
driver = "modbus-rtu"
device = "/dev/ttyUSB0"
baud = 19200
data_bits = 8
parity = "E"
stop_bits = 1
timeout = "300ms"
retries = 2
[[bus]]
name = "sim"
driver = "sim"
[[sensor]]
id = "P1"
name = "Pressure 1"
bus = "rs485"
slave = 1
register = "holding"
address = 0
type = "int16"
scale = 0.001
offset = 0.0
unit = "bar"
range = [0.0, 10.0]
normal = [2.0, 8.0]
warning = [1.5, 9.0]
hysteresis = 0.05
on_delay = "0s"
interval = "1s"
[[sensor]]
id = "P2"
bus = "sim"
sim_script = [[0.0, 2.0], [5.0, 2.0], [6.0, 4.7]]
`

func TestParse_Good(t *testing.T) {
	c, err := config.Parse("good.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "C15.25.1010" || c.HTTP.Listen != "127.0.0.1:8000" {
		t.Errorf("device/http: %+v %+v", c.DeviceID, c.HTTP)
	}
	if got := time.Duration(c.Storage.Retention); got != 400*24*time.Hour {
		t.Errorf("retention = %s", got)
	}
	if c.Storage.MaxSize != 1<<30 {
		t.Errorf("max_size = %d", c.Storage.MaxSize)
	}
	s := c.DomainSensors()
	if len(s) != 2 || s[0].ID != "P1" || s[0].Thresholds.Normal.High != 8 || s[0].Interval != time.Second {
		t.Fatalf("sensors: %+v", s)
	}
	// P2 names only its id and bus: the specification fills in the rest.
	if s[1].Unit != "bar" || s[1].Range.High != 5 || s[1].Thresholds.Warning.Low != 0.5 {
		t.Errorf("P2 defaults: %+v", s[1])
	}
	if len(c.Sensors[1].SimScript) != 3 {
		t.Errorf("sim_script: %v", c.Sensors[1].SimScript)
	}
}

// readmeExample returns the TOML example of README.md's "Configuration" section.
func readmeExample(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile("../../../README.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "\n## Configuration\n")
	_, block, ok := strings.Cut(section, "```toml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		tb.Fatal("README.md: no ```toml block in the Configuration section")
	}
	return block
}

// TestParse_READMEExample checks the promise of README.md: its example configuration is valid
// and means what its comments say.
func TestParse_READMEExample(t *testing.T) {
	c, err := config.Parse("README.md", []byte(readmeExample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Buses) != 1 || c.Buses[0].Driver != "sim" || time.Duration(c.Buses[0].SimLatency) != 10*time.Millisecond {
		t.Errorf("buses: %+v", c.Buses)
	}
	s := c.DomainSensors()
	if len(s) != 1 || s[0].ID != "P1" || s[0].Thresholds.Hysteresis != 0.05 || s[0].Interval != time.Second {
		t.Fatalf("sensors: %+v", s)
	}
	var want []sim.ScriptPoint
	for _, p := range [][2]float64{{0, 5}, {5, 5}, {6, 9.5}, {20, 9.5}, {21, 5}} {
		want = append(want, sim.ScriptPoint{At: time.Duration(p[0]) * time.Second, Value: p[1]})
	}
	if got := c.Script(0); !slices.Equal(got, want) {
		t.Errorf("Script(0) = %v, want %v", got, want)
	}
}

func TestDefault(t *testing.T) {
	c := config.Default()
	if len(c.Sensors) != 3 || c.Buses[0].Driver != "sim" || c.HTTP.Listen != config.DefaultListen {
		t.Fatalf("default: %+v", c)
	}
	if c.File() != "" {
		t.Errorf("File() = %q", c.File())
	}
}

// TestParse_Errors checks that every kind of mistake is refused with the file, the line and
// the key named. The line is the one holding the replacement's first line, or the line of
// atLine when the key at fault is not written in the file.
func TestParse_Errors(t *testing.T) {
	const custom = "id = \"X9\"\nbus = \"sim\"\nrange = [0.0, 1.0]\nnormal = [0.2, 0.8]\nwarning = [0.1, 0.9]"
	tests := []struct {
		name, replace, with string
		atLine              string // text on the line the error must name; "" means the line of with
		delta               int    // added to that line: -1 names the table header above it
		want                string // what follows "bad.toml:LINE: "
	}{
		{"unknown key", `hysteresis = 0.05`, `hysteresys = 0.05`, "", 0, `unknown key sensor.hysteresys`},
		{"wrong type", `baud = 19200`, `baud = "fast"`, "", 0, `bus.baud`},
		{"syntax", `max_size = "1GiB"`, `max_size = "1GiB`, "", 0, ``},
		{"bad duration", `timeout = "300ms"`, `timeout = "300"`, "", 0, `bus.timeout: `},
		{"bad size", `max_size = "1GiB"`, `max_size = "lots"`, "", 0, `storage.max_size: `},
		{"normal outside warning", `normal = [2.0, 8.0]`, `normal = [2.0, 9.5]`, "", 0, `sensor[0].normal: sensor P1: normal band [2, 9.5] must lie inside the warning band`},
		{"warning outside range", `warning = [1.5, 9.0]`, `warning = [1.5, 11.0]`, "", 0, `sensor[0].warning: sensor P1: warning band`},
		{"band shape", `range = [0.0, 10.0]`, `range = [0.0]`, "", 0, `sensor[0].range: want [low, high], got 1 numbers`},
		{"hysteresis", `hysteresis = 0.05`, `hysteresis = 4.0`, "", 0, `sensor[0].hysteresis: sensor P1: hysteresis 4 must be less than half`},
		{"interval", "\ninterval = \"1s\"", "\ninterval = \"1ms\"", "", 0, `sensor[0].interval: sensor P1: interval 1ms`},
		{"commit interval", `commit_interval = "1s"`, `commit_interval = "1h"`, "", 0, `storage.commit_interval: 1h0m0s must be between 10ms and 1m`},
		// Left out, a duration takes its default; written as zero it is a mistake, named.
		{"commit interval zero", `commit_interval = "1s"`, `commit_interval = "0s"`, "", 0, `storage.commit_interval: 0s is not a valid commit_interval; leave the key out for the default`},
		{"interval zero", "\ninterval = \"1s\"", "\ninterval = \"0s\"", "", 0, `sensor[0].interval: 0s is not a valid interval`},
		{"retention zero", `retention = "400d"`, `retention = "0s"`, "", 0, `storage.retention: 0s is not a valid retention`},
		{"driver", `driver = "modbus-rtu"`, `driver = "canbus"`, "", 0, `bus[0].driver: "canbus" is not one of modbus-rtu, modbus-tcp, sim`},
		{"parity", `parity = "E"`, `parity = "X"`, "", 0, `bus[0].parity: "X" must be N, E or O`},
		{"unknown bus", `bus = "rs485"`, `bus = "rs232"`, "", 0, `sensor[0].bus: "rs232" is not a configured bus (have "rs485", "sim")`},
		{"slave", `slave = 1`, `slave = 300`, "", 0, `sensor[0].slave: 300 is out of range`},
		{"slave past 247", `slave = 1`, `slave = 248`, "", 0, `sensor[0].slave: slave 248: must be between 1 and 247`},
		{"slave 0", `slave = 1`, `slave = 0`, "", 0, `sensor[0].slave: slave 0: must be between 1 and 247`},
		{"baud", `baud = 19200`, `baud = 12345`, "", 0, `bus[0].baud: 12345 is not a standard rate (1200 to 115200)`},
		{"timeout", `timeout = "300ms"`, `timeout = "5ms"`, "", 0, `bus[0].timeout: 5ms must be between 10ms and 10s`},
		{"retries", `retries = 2`, `retries = 11`, "", 0, `bus[0].retries: 11 must be between 0 and 10`},
		{"register kind", `register = "holding"`, `register = "coil"`, "", 0, `sensor[0].register: "coil" is not a register kind (want one of [holding input])`},
		{"type", `type = "int16"`, `type = "int8"`, "", 0, `sensor[0].type: "int8" is not a data type (want one of [int16 uint16 int32 uint32 float32])`},
		{"word order on int16", `type = "int16"`, "type = \"int16\"\nword_order = \"CDAB\"", "word_order", 0, `sensor[0].word_order: applies only to 32-bit types`},
		{"listen", `listen = "127.0.0.1:8000"`, `listen = "localhost"`, "", 0, `http.listen: "localhost" is not host:port`},
		{"panel live view not a bool", `listen = "127.0.0.1:8000"`, "listen = \"127.0.0.1:8000\"\npanel_live_view = \"no\"", "panel_live_view", 0, `http.panel_live_view`},
		{"script on modbus is checked too", `bus = "rs485"`, "bus = \"rs485\"\nsim_script = [[1.0, 1.0], [0.5, 2.0]]", "sim_script", 0, `sensor[0].sim_script: sim script of P1: point 1: time 500ms is not after the previous point's 1s`},
		{"serial key on a sim bus", "name = \"sim\"\ndriver = \"sim\"", "name = \"sim\"\ndriver = \"sim\"\nbaud = 9600", "baud = 9600", 0, `bus[1].baud: applies only to driver modbus-rtu, not "sim"`},
		{"sim key on a modbus bus", `retries = 2`, "retries = 2\nsim_seed = 4", "sim_seed", 0, `bus[0].sim_seed: applies only to driver sim, not "modbus-rtu"`},
		{"device relative", `device = "/dev/ttyUSB0"`, `device = "ttyUSB0"`, "", 0, `bus[0].device: "ttyUSB0": want an absolute path`},
		{"usb address", `device = "/dev/ttyUSB0"`, `device = "usb:0403"`, "", 0, `bus[0].device: "usb:0403" is not usb:VID:PID[:SERIAL]`},
		{"two buses on one port", "name = \"sim\"\ndriver = \"sim\"", "name = \"sim\"\ndriver = \"modbus-rtu\"\ndevice = \"/dev/ttyUSB0\"", "device = \"/dev/ttyUSB0\"\n[[sensor]]", 0, `bus[1].device: "/dev/ttyUSB0" may be the same port as bus[0] "rs485" ("/dev/ttyUSB0"): one port, one bus`},
		{"register key on a sim sensor", "id = \"P2\"\nbus = \"sim\"", "id = \"P2\"\nbus = \"sim\"\nslave = 3", "slave = 3", 0, `sensor[1].slave: applies only to sensors on a modbus bus, not on "sim" (driver sim)`},
		{"max_size above the platform's limit", `max_size = "1GiB"`, `max_size = "100GiB"`, "", 0, `storage.max_size: 107374182400 bytes is above the limit of 65536 MiB on this 64-bit platform`},
		{"backup dir relative", `max_size = "1GiB"`, "max_size = \"1GiB\"\nbackup_dir = \"backups\"", "backup_dir", 0, `storage.backup_dir: "backups": want an absolute path`},
		{"backup keep", `max_size = "1GiB"`, "max_size = \"1GiB\"\nbackup_keep_daily = -1", "backup_keep_daily", 0, `storage.backup_keep_daily: -1 must be between 0 and 1000`},
		{"repeat interval", `device_id = "C15.25.1010"`, "device_id = \"C15.25.1010\"\n[alarms]\nrepeat_interval = \"100ms\"", "repeat_interval", 0, `alarms.repeat_interval: 100ms must be between 1s and 24h`},
		{"max gap", `retries = 2`, "retries = 2\nmax_gap = 500", "max_gap", 0, `bus[0].max_gap: 500 must be between 0 and 100 registers`},
		{"32-bit at the last register", "address = 0\ntype = \"int16\"", "address = 65535\ntype = \"float32\"", "address = 65535", 0, `sensor[0].address: address 65535: a float32 ends past register 65535`},
		{"script order", `[5.0, 2.0], [6.0, 4.7]`, `[5.0, 2.0], [4.0, 4.7]`, "sim_script", 0, `sensor[1].sim_script: sim script of P2: point 2: time 4s is not after the previous point's 5s`},
		{"duplicate id", `id = "P2"`, `id = "P1"`, "id = \"P1\"\nbus = \"sim\"", 0, `sensor[1].id: sensor id "P1": used twice`},
		{"reserved id", "id = \"P2\"\nbus = \"sim\"", strings.Replace(custom, "X9", "seq", 1) + "\nunit = \"bar\"", "", 0, `sensor[1].id: sensor id "seq": reserved word`},
		{"missing unit", "id = \"P2\"\nbus = \"sim\"", custom, `id = "X9"`, -1, `sensor[1].unit: sensor X9: unit is empty`},
		{"missing bands", "id = \"P2\"", `id = "X9"`, "", -1, `sensor[1].range: want [low, high], got 0 numbers`},
		{"duration as an integer", `on_delay = "0s"`, `on_delay = 5`, "", 0, `sensor[0].on_delay: want a quoted duration with its unit`},
		{"duration as a float", "\ninterval = \"1s\"", "\ninterval = 1.5", "", 0, `sensor[0].interval: want a quoted duration with its unit`},
		{"retention as an integer", `retention = "400d"`, `retention = 3600`, "", 0, `storage.retention: want a quoted duration`},
		{"scale NaN", `scale = 0.001`, `scale = nan`, "", 0, `sensor[0].scale: scale NaN: must be a finite number other than 0`},
		{"offset infinite", `offset = 0.0`, `offset = -inf`, "", 0, `sensor[0].offset: offset -Inf: must be a finite number`},
		{"range of infinite width", `range = [0.0, 10.0]`, `range = [-1e308, 1e308]`, "", 0, `sensor[0].range: sensor P1: range [-1e+308, 1e+308] must be finite with low < high and a finite width`},
		{"script time NaN", `[5.0, 2.0], [6.0, 4.7]`, `[nan, 2.0], [6.0, 4.7]`, "sim_script", 0, `sensor[1].sim_script: point 1: seconds NaN must be between 0 and`},
		{"script time huge", `[5.0, 2.0], [6.0, 4.7]`, `[5.0, 2.0], [1e300, 4.7]`, "sim_script", 0, `sensor[1].sim_script: point 2: seconds 1e+300 must be between 0 and`},
		{"script value infinite", `[6.0, 4.7]`, `[6.0, inf]`, "sim_script", 0, `sensor[1].sim_script: sim script of P2: point 2: value +Inf is not a finite number`},
		{"script times a nanosecond apart", `[5.0, 2.0], [6.0, 4.7]`, `[5.0, 2.0], [5.000000000000001, 4.7]`, "sim_script", 0, `sensor[1].sim_script: sim script of P2: point 2: time 5s is not after the previous point's 5s`},
		{"size NaN", `max_size = "1GiB"`, `max_size = "NaN MiB"`, "", 0, `storage.max_size: `},
		{"device id with a control character", `device_id = "C15.25.1010"`, `device_id = "C15\u0007"`, "", 0, `device_id: "C15\a": must be at most 64 printable characters`},
		{"listen port out of range", `listen = "127.0.0.1:8000"`, `listen = "127.0.0.1:80000"`, "", 0, `http.listen: "127.0.0.1:80000" is not host:port with a port number`},
		{"listen port a name", `listen = "127.0.0.1:8000"`, `listen = "127.0.0.1:http"`, "", 0, `http.listen: "127.0.0.1:http" is not host:port with a port number`},
		{"missing bus", `bus = "rs485"`, `bus = ""`, "", 0, `sensor[0].bus: missing`},
		// The daemon's listener resolves the host; a name that does not resolve would fail
		// the start, so it fails the check.
		{"tls listen host that does not resolve", `listen = "127.0.0.1:8000"`, "listen = \"127.0.0.1:8000\"\ntls_listen = \"256.1.1.1:8443\"", "tls_listen", 0, `http.tls_listen: "256.1.1.1:8443": lookup 256.1.1.1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.replace) {
				t.Fatalf("test fixture lacks %q", tt.replace)
			}
			bad := strings.Replace(good, tt.replace, tt.with, 1)
			_, err := config.Parse("bad.toml", []byte(bad))
			if err == nil {
				t.Fatalf("no error for %s", tt.with)
			}
			at := tt.atLine
			if at == "" {
				at = strings.TrimPrefix(tt.with, "\n")
			}
			want := fmt.Sprintf("bad.toml:%d: %s", lineOf(t, bad, at)+tt.delta, tt.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, want)
			}
		})
	}
}

// TestParse_InlineTables checks that keys inside inline tables, and inside arrays of them, are
// checked and named like keys under a table header.
func TestParse_InlineTables(t *testing.T) {
	const sensors = "bus = [{name = \"sim\", driver = \"sim\"}]\n" +
		"sensor = [\n  {id = \"P1\", bus = \"sim\"},\n  {id = \"P2\", bus = \"sim\", on_delay = %s},\n]\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"duration in an inline table", "storage = {commit_interval = \"1s\", retention = 400}\n" + fmt.Sprintf(sensors, `"1s"`),
			`inline.toml:1: storage.retention: want a quoted duration`},
		{"duration in an array of inline tables", fmt.Sprintf(sensors, "2"), `inline.toml:4: sensor[1].on_delay: want a quoted duration`},
		{"error in an array of inline tables", strings.Replace(fmt.Sprintf(sensors, `"2s"`), `id = "P2"`, `id = "P1"`, 1),
			`inline.toml:4: sensor[1].id: sensor id "P1": used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("inline.toml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
	c, err := config.Parse("inline.toml", []byte(fmt.Sprintf(sensors, `"2s"`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DomainSensors()[1].Thresholds.OnDelay; got != 2*time.Second {
		t.Errorf("sensor[1] on_delay = %s, want 2s", got)
	}
}

// lineOf returns the 1-based line on which text starts in doc.
func lineOf(t *testing.T, doc, text string) int {
	t.Helper()
	i := strings.Index(doc, text)
	if i < 0 {
		t.Fatalf("%q not in document", text)
	}
	return strings.Count(doc[:i], "\n") + 1
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("err = %v", err)
	}
}

// A configuration with more sensors than the station supports is refused by the count,
// before any sensor is checked, with the line of the first one too many; up to the limit,
// the set is checked in time linear in its size (BenchmarkParse_MaxSensors).
func TestParse_TooManySensors(t *testing.T) {
	for _, n := range []int{maskservice.MaxSensors, maskservice.MaxSensors + 1, 2000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			doc := manySensors(n)
			_, err := config.Parse("many.toml", doc)
			if n <= maskservice.MaxSensors {
				if err != nil {
					t.Fatalf("Parse(%d sensors) = %v, want nil", n, err)
				}
				return
			}
			line := 1 + bytes.Count(doc[:bytes.Index(doc, []byte(`id = "S64"`))], []byte("\n"))
			want := fmt.Sprintf("many.toml:%d: sensor[64]: %d [[sensor]] tables: at most 64 are supported", line-1, n)
			if err == nil || err.Error() != want {
				t.Fatalf("Parse(%d sensors) = %v\nwant %s", n, err, want)
			}
		})
	}
}

// manySensors is a configuration of n sensors S0, S1, ... on the simulator.
func manySensors(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[[bus]]\nname = \"sim\"\ndriver = \"sim\"\n")
	for i := range n {
		fmt.Fprintf(&b, "[[sensor]]\nid = \"S%d\"\nbus = \"sim\"\nunit = \"bar\"\nrange = [0.0, 10.0]\nnormal = [2.0, 8.0]\nwarning = [1.0, 9.0]\n", i)
	}
	return b.Bytes()
}

// A file bigger than any configuration needs is refused before it is decoded: a million
// sensors took minutes to check.
func TestParse_TooBig(t *testing.T) {
	doc := manySensors(1_000_000)
	_, err := config.Parse("huge.toml", doc)
	want := fmt.Sprintf("huge.toml: %d bytes: a configuration file may have at most 1048576", len(doc))
	if err == nil || err.Error() != want {
		t.Fatalf("Parse = %v, want %s", err, want)
	}
	path := filepath.Join(t.TempDir(), "huge.toml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "a configuration file may have at most 1048576") {
		t.Fatalf("Load = %v", err)
	}
}

func BenchmarkParse_MaxSensors(b *testing.B) {
	doc := manySensors(maskservice.MaxSensors)
	for b.Loop() {
		if _, err := config.Parse("many.toml", doc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoad_File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != path {
		t.Errorf("File() = %q", c.File())
	}
}

func TestParse_AuthAndCORS(t *testing.T) {
	c, err := config.Parse("c.toml", []byte(good+"[auth]\nkey_file = \"/etc/maskservice/jwt.pem\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.KeyFile != "/etc/maskservice/jwt.pem" {
		t.Errorf("auth.key_file = %q", c.Auth.KeyFile)
	}
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://panel.example:8443", true},
		{"http://192.0.2.10", true},
		{"https://panel.example/app", false},
		{"ftp://panel.example", false},
		{"panel.example", false},
		{"https://user@panel.example", false},
		// web.New compares the Origin header byte for byte: it refuses capitals, so the
		// check must too.
		{"https://Panel.example:8443", false},
		{"HTTPS://panel.example", false},
	}
	for _, tt := range tests {
		doc := strings.Replace(good, `listen = "127.0.0.1:8000"`, fmt.Sprintf("listen = \"127.0.0.1:8000\"\ncors_origins = [%q]", tt.origin), 1)
		_, err := config.Parse("c.toml", []byte(doc))
		if (err == nil) != tt.ok {
			t.Errorf("cors_origins [%q]: err = %v, want ok=%v", tt.origin, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "c.toml:4: http.cors_origins: entry 0") {
			t.Errorf("error %v does not name the line and key", err)
		}
	}
}

// TestParse_PanelLiveView: the panel's live view is on unless the file turns it off.
func TestParse_PanelLiveView(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		want       bool
	}{{"left out", "", true}, {"on", "panel_live_view = true", true}, {"off", "panel_live_view = false", false}} {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(good, `listen = "127.0.0.1:8000"`, "listen = \"127.0.0.1:8000\"\n"+tt.line, 1)
			c, err := config.Parse("c.toml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP.PanelLiveView == nil || *c.HTTP.PanelLiveView != tt.want {
				t.Errorf("http.panel_live_view = %v, want %v", c.HTTP.PanelLiveView, tt.want)
			}
		})
	}
	if d := config.Default(); d.HTTP.PanelLiveView == nil || !*d.HTTP.PanelLiveView {
		t.Error("the built-in config has no live view on the panel")
	}
}

// Two modbus-rtu buses must not share a port: the same path, or USB addresses that may name
// one adapter.
func TestParse_OnePortOneBus(t *testing.T) {
	tests := []struct {
		a, b string
		ok   bool
	}{
		{"/dev/ttyUSB0", "/dev/ttyUSB1", true},
		{"/dev/ttyUSB0", "/dev/ttyUSB0", false},
		{"usb:0403:6001:A1", "usb:0403:6001:B2", true},
		{"usb:0403:6001:A1", "usb:0403:6001", false},
		{"usb:0403:6001", "usb:0403:6001", false},
		{"usb:0403:6001:A1", "usb:0403:6001:A1", false},
		{"usb:0403:6001", "usb:1a86:7523", true},
	}
	for _, tt := range tests {
		text := fmt.Sprintf(`
[[bus]]
name = "a"
driver = "modbus-rtu"
device = %q
[[bus]]
name = "b"
driver = "modbus-rtu"
device = %q
[[sensor]]
id = "P1"
bus = "a"
slave = 1
`, tt.a, tt.b)
		_, err := config.Parse("ports.toml", []byte(text))
		want := fmt.Sprintf(`ports.toml:9: bus[1].device: %q may be the same port as bus[0] "a" (%q): one port, one bus`, tt.b, tt.a)
		if tt.ok != (err == nil) || (err != nil && err.Error() != want) {
			t.Errorf("%s and %s: %v", tt.a, tt.b, err)
		}
	}
}

// The configuration's defaults of the hub's limits are the hub's own.
func TestDefaults_AgreeWithHub(t *testing.T) {
	if config.DefaultMaxWSClients != hub.DefaultMaxClients || config.DefaultMaxWSPerSession != hub.DefaultMaxPerSession ||
		config.DefaultMaxWSPerUser != hub.DefaultMaxPerUser {
		t.Errorf("config %d/%d/%d, hub %d/%d/%d", config.DefaultMaxWSClients, config.DefaultMaxWSPerSession, config.DefaultMaxWSPerUser,
			hub.DefaultMaxClients, hub.DefaultMaxPerSession, hub.DefaultMaxPerUser)
	}
}

// TestParse_SensorNames checks the names per language: the specification's sensors take
// "Ciśnienie N" and "Pressure N", a name given in the file is every language's the file does
// not name otherwise, and a bad name is refused with its key and line.
func TestParse_SensorNames(t *testing.T) {
	const head = "bus = [{name = \"sim\", driver = \"sim\"}]\n"
	for _, tc := range []struct {
		name, sensor         string
		wantName, wantPL, en string
		err                  string
	}{
		{"the specification's", `{id = "P1", bus = "sim"}`, "Pressure 1", "Ciśnienie 1", "Pressure 1", ""},
		{"one name for every language", `{id = "P2", bus = "sim", name = "Reduktor"}`, "Reduktor", "Reduktor", "Reduktor", ""},
		{"one language named", `{id = "P3", bus = "sim", name_pl = "Głowica"}`, "Pressure 3", "Głowica", "Pressure 3", ""},
		{"both named", `{id = "T1", bus = "sim", unit = "bar", range = [0, 1], normal = [0, 1], warning = [0, 1], name_pl = "Głowica", name_en = "Test head"}`, "T1", "Głowica", "Test head", ""},
		{"neither, not the specification's", `{id = "T1", bus = "sim", unit = "bar", range = [0, 1], normal = [0, 1], warning = [0, 1]}`, "T1", "T1", "T1", ""},
		{"too long", `{id = "P1", bus = "sim", name_en = "` + strings.Repeat("x", 65) + `"}`, "", "", "", "names.toml:3: sensor[0].name_en: sensor P1: name_en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("names.toml", []byte(head+"sensor = [\n"+tc.sensor+"]\n"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := c.DomainSensors()[0]
			if s.Name != tc.wantName || s.Names.PL != tc.wantPL || s.Names.EN != tc.en {
				t.Errorf("name %q, pl %q, en %q; want %q, %q, %q", s.Name, s.Names.PL, s.Names.EN, tc.wantName, tc.wantPL, tc.en)
			}
		})
	}
}
