package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice/web/auth"
)

// TestConfigCheck_AgreesWithServe is the promise of "maskserviced config check": a file it
// accepts is one serve starts with, and a file it refuses is one serve refuses, with the same
// message. It runs over the README's example configurations, every configuration file in the
// tree, the config package's fuzz corpus and variants of these at the edges of the rules
// (such as an origin in capitals, which check once took and serve refused). "Serve" is the
// real start: ParseFlags and Run of Main, on port 0 in a temporary data directory.
func TestConfigCheck_AgreesWithServe(t *testing.T) {
	// One signing key for every start: generating an RSA key per case would take most of
	// the test's time, and the key is not what is checked.
	key := filepath.Join(t.TempDir(), "jwt-key.pem")
	if _, err := auth.LoadOrCreateKey(key); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range exampleConfigs(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "f.toml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			checkErr := configCmd([]string{"check", "--config", path}, io.Discard)
			serveErr := serveOnce(t, path, keyPEM)
			switch {
			case checkErr == nil && serveErr != nil:
				t.Fatalf("config check accepts it, serve refuses it: %v\n%s", serveErr, tc.text)
			case checkErr != nil && serveErr == nil:
				t.Fatalf("config check refuses it (%v), serve starts with it\n%s", checkErr, tc.text)
			case checkErr != nil && checkErr.Error() != serveErr.Error():
				t.Fatalf("config check and serve refuse it differently:\n  check: %v\n  serve: %v", checkErr, serveErr)
			case tc.refused && checkErr == nil:
				t.Fatalf("config check accepts a file meant to be refused\n%s", tc.text)
			case !tc.refused && checkErr != nil && !tc.anyVerdict:
				t.Fatalf("config check refuses an example: %v", checkErr)
			}
		})
	}
}

// serveOnce starts the daemon as "maskserviced serve --config path" would, stops it again
// and returns why it did not start, nil if it did. Paths outside the test's directories
// (the signing key, the backup folder) and the HTTPS port move into the test's own; the
// host of tls_listen stays, so its address is still opened.
func serveOnce(t *testing.T, path string, keyPEM []byte) error {
	t.Helper()
	m := NewMain()
	m.Stderr = io.Discard
	data := t.TempDir()
	if err := m.ParseFlags([]string{"--config", path, "--data", data, "--listen", "127.0.0.1:0"}); err != nil {
		return err
	}
	m.BcryptCost = 4
	if err := os.WriteFile(filepath.Join(data, "jwt-key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := m.Config
	if cfg.Auth.KeyFile != "" {
		cfg.Auth.KeyFile = filepath.Join(data, "jwt-key.pem")
	}
	if cfg.Storage.BackupDir != "" {
		cfg.Storage.BackupDir = filepath.Join(t.TempDir(), "backups")
	}
	if host, _, err := net.SplitHostPort(cfg.HTTP.TLSListen); err == nil {
		cfg.HTTP.TLSListen = net.JoinHostPort(host, "0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil && cerr != nil {
		t.Errorf("close after a good start: %v", cerr)
	}
	return err
}

// exampleConfig is one file for TestConfigCheck_AgreesWithServe.
type exampleConfig struct {
	name       string
	text       string
	refused    bool // a variant meant to be refused
	anyVerdict bool // fuzz input: only the agreement counts
}

// exampleConfigs returns the configurations the project shows or ships, the fuzz corpus of
// cmd/internal/config, and variants of the README's example.
func exampleConfigs(t *testing.T) []exampleConfig {
	t.Helper()
	readme := readFile(t, "../../README.md")
	var out []exampleConfig
	blocks := tomlBlocks(readme)
	if len(blocks) == 0 {
		t.Fatal("README.md: no ```toml blocks")
	}
	for i, b := range blocks {
		out = append(out, exampleConfig{name: "README block " + strconv.Itoa(i+1), text: b})
	}
	example := readmeConfigExample(t, readme)

	// Every TOML file in the repository (the Buildroot image's configuration among them).
	files, err := exec.Command("git", "-C", "../..", "ls-files", "*.toml").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(files)) {
		out = append(out, exampleConfig{name: f, text: readFile(t, filepath.Join("../..", f))})
	}
	// The file install-debian.sh writes when it is given none.
	script := readFile(t, "../../scripts/install-debian.sh")
	m := regexp.MustCompile(`printf '(\[\[bus\]\][^']*)'`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("scripts/install-debian.sh: no default configuration found")
	}
	out = append(out, exampleConfig{name: "install-debian.sh default", text: strings.ReplaceAll(m[1], `\n`, "\n")})
	// The tests' own configurations; a serial port that is not there does not stop the
	// start (the bus keeps trying to open it).
	rs485 := rs485Config("/dev/ttyNONE0")
	out = append(out,
		exampleConfig{name: "fastConfig", text: fastConfig("")},
		exampleConfig{name: "rs485Config", text: rs485},
	)
	for _, v := range []struct {
		name, old, new string
		refused        bool
	}{
		{"tcp", "driver = \"modbus-rtu\"\ndevice = \"/dev/ttyNONE0\"\nbaud = 19200\nparity = \"E\"\nstop_bits = 1",
			"driver = \"modbus-tcp\"\ndevice = \"127.0.0.1:1\"", false},
		{"tcp without a port", "driver = \"modbus-rtu\"\ndevice = \"/dev/ttyNONE0\"\nbaud = 19200\nparity = \"E\"\nstop_bits = 1",
			"driver = \"modbus-tcp\"\ndevice = \"127.0.0.1\"", true},
		{"usb adapter", `device = "/dev/ttyNONE0"`, `device = "usb:0403:6001:NONE"`, false},
		{"relative device", `device = "/dev/ttyNONE0"`, `device = "ttyNONE0"`, true},
		{"odd baud", `baud = 19200`, `baud = 12345`, true},
		{"fastest baud", `baud = 19200`, `baud = 115200`, false},
		{"no parity, 2 stop bits", "parity = \"E\"\nstop_bits = 1", "parity = \"N\"\nstop_bits = 2", false},
		{"timeout shortest", `timeout = "100ms"`, `timeout = "10ms"`, false},
		{"timeout too short", `timeout = "100ms"`, `timeout = "9ms"`, true},
		{"retries most", `retries = 1`, `retries = 10`, false},
		{"retries too many", `retries = 1`, "retries = 11", true},
		{"max gap most", `retries = 1`, "retries = 1\nmax_gap = 100", false},
		{"max gap too wide", `retries = 1`, "retries = 1\nmax_gap = 101", true},
		{"slave 247", `slave = 2`, `slave = 247`, false},
		{"slave 248", `slave = 2`, `slave = 248`, true},
		{"slave 256", `slave = 2`, `slave = 256`, true},
		{"float32 at the top", "address = 1\ntype = \"float32\"", "address = 65534\ntype = \"float32\"", false},
		{"float32 past the top", "address = 1\ntype = \"float32\"", "address = 65535\ntype = \"float32\"", true},
		{"scale 0", `scale = 0.001`, `scale = 0.0`, true},
	} {
		if !strings.Contains(rs485, v.old) {
			t.Fatalf("variant %q: rs485Config has no %q", v.name, v.old)
		}
		out = append(out, exampleConfig{name: "rs485 " + v.name, text: strings.Replace(rs485, v.old, v.new, 1), refused: v.refused})
	}

	// The fuzz corpus: what go test replays as seeds, and what fuzzing found.
	corpus, _ := filepath.Glob("../internal/config/testdata/fuzz/FuzzParse/*")
	for _, f := range corpus {
		for _, v := range fuzzCorpusValues(t, f) {
			out = append(out, exampleConfig{name: "fuzz " + filepath.Base(f), text: v, anyVerdict: true})
		}
	}

	// Variants at the edges of the rules that serve checks at start. The example's WebSocket
	// limit is matched whatever its number, so a change of the default does not need the
	// README and this test changed in one commit.
	wsLimit := regexp.MustCompile(`max_ws_clients = \d+`).FindString(example)
	if wsLimit == "" {
		t.Fatal("README example has no max_ws_clients")
	}
	for _, v := range []struct {
		name, old, new string
		refused        bool
	}{
		{"cors origin", `cors_origins = []`, `cors_origins = ["https://panel.example:8443"]`, false},
		{"cors origin in capitals", `cors_origins = []`, `cors_origins = ["https://Panel.example:8443"]`, true},
		{"cors scheme in capitals", `cors_origins = []`, `cors_origins = ["HTTPS://panel.example"]`, true},
		{"cors origin with a path", `cors_origins = []`, `cors_origins = ["https://panel.example/ui"]`, true},
		{"cors origin with a slash", `cors_origins = []`, `cors_origins = ["https://panel.example/"]`, true},
		{"cors origin with a user", `cors_origins = []`, `cors_origins = ["http://u@192.0.2.1"]`, true},
		{"tls listen on loopback", `tls_listen = ""`, `tls_listen = "127.0.0.1:8443"`, false},
		{"tls listen on every interface", `tls_listen = ""`, `tls_listen = ":8443"`, false},
		{"tls listen without a port", `tls_listen = ""`, `tls_listen = "127.0.0.1"`, true},
		{"tls listen on a named port", `tls_listen = ""`, `tls_listen = "127.0.0.1:https"`, true},
		{"tls listen on localhost", `tls_listen = ""`, `tls_listen = "localhost:8443"`, false},
		{"tls listen on an unknown host", `tls_listen = ""`, `tls_listen = "nonexistent.invalid:8443"`, true},
		{"tls listen on a bad address", `tls_listen = ""`, `tls_listen = "256.1.1.1:8443"`, true},
		{"max ws clients", wsLimit, `max_ws_clients = 1`, false},
		{"max ws clients too many", wsLimit, `max_ws_clients = 10001`, true},
		{"repeat interval short", `repeat_interval = "1m"`, `repeat_interval = "1s"`, false},
		{"repeat interval too short", `repeat_interval = "1m"`, `repeat_interval = "999ms"`, true},
		{"commit interval fast", `commit_interval = "1s"`, `commit_interval = "10ms"`, false},
		{"retention short", `retention = "400d"`, `retention = "1h"`, false},
		{"max size small", `max_size = "1GiB"`, `max_size = "16MiB"`, false},
		{"backup dir", `backup_dir = ""`, `backup_dir = "/var/backups/maskservice"`, false},
		{"backup dir relative", `backup_dir = ""`, `backup_dir = "backups"`, true},
		{"key file", `key_file = ""`, `key_file = "/etc/maskservice/jwt.pem"`, false},
		{"log level", `level = "info"`, `level = "debug"`, false},
		{"log level in capitals", `level = "info"`, `level = "INFO"`, true},
		{"sim latency 0", `sim_latency = "10ms"`, `sim_latency = "0s"`, false},
		{"sim latency negative", `sim_latency = "10ms"`, `sim_latency = "-1ms"`, true},
		{"interval fastest", `interval = "1s"`, `interval = "10ms"`, false},
		{"interval too fast", `interval = "1s"`, `interval = "9ms"`, true},
		{"hysteresis 0", `hysteresis = 0.05`, `hysteresis = 0.0`, false},
		{"hysteresis negative", `hysteresis = 0.05`, `hysteresis = -0.1`, true},
		{"on delay", `on_delay = "0s"`, `on_delay = "5s"`, false},
		{"script of one point", `sim_script = [[0.0, 5.0], [5.0, 5.0], [6.0, 9.5], [20.0, 9.5], [21.0, 5.0]]`, `sim_script = [[0.0, 5.0]]`, false},
		{"script empty", `sim_script = [[0.0, 5.0], [5.0, 5.0], [6.0, 9.5], [20.0, 9.5], [21.0, 5.0]]`, `sim_script = []`, false},
		{"script descending", `sim_script = [[0.0, 5.0], [5.0, 5.0], [6.0, 9.5], [20.0, 9.5], [21.0, 5.0]]`, `sim_script = [[1.0, 5.0], [0.0, 5.0]]`, true},
		{"script far outside the range", `sim_script = [[0.0, 5.0], [5.0, 5.0], [6.0, 9.5], [20.0, 9.5], [21.0, 5.0]]`, `sim_script = [[0.0, 1e300]]`, false},
		{"reserved sensor id", `id = "P1"`, "id = \"seq\"", true},
		{"custom sensor", `id = "P1"`, "id = \"PT\"", false},
		{"device id", `device_id = "C15.25.1010"`, `device_id = "Ä station 1"`, false},
		{"device id with a quote", `device_id = "C15.25.1010"`, `device_id = "a\"b"`, true},
	} {
		if !strings.Contains(example, v.old) {
			t.Fatalf("variant %q: README example has no %q", v.name, v.old)
		}
		out = append(out, exampleConfig{name: "README " + v.name, text: strings.Replace(example, v.old, v.new, 1), refused: v.refused})
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// tomlBlocks returns the ```toml code blocks of a Markdown text.
func tomlBlocks(md string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(md, "```toml\n")
		if !ok {
			return out
		}
		block, after, _ := strings.Cut(rest, "```")
		out = append(out, block)
		md = after
	}
}

// readmeConfigExample returns the TOML example of README.md's "Configuration" section.
func readmeConfigExample(t *testing.T, readme string) string {
	t.Helper()
	_, section, _ := strings.Cut(readme, "\n## Configuration\n")
	blocks := tomlBlocks(section)
	if len(blocks) == 0 {
		t.Fatal("README.md: no ```toml block in the Configuration section")
	}
	return blocks[0]
}

// fuzzCorpusValues decodes a file of Go's fuzz corpus format holding []byte values.
func fuzzCorpusValues(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if first {
			if line != "go test fuzz v1" {
				t.Fatalf("%s: not a fuzz corpus file", path)
			}
			continue
		}
		q, ok := strings.CutPrefix(line, "[]byte(")
		q, ok2 := strings.CutSuffix(q, ")")
		if !ok || !ok2 {
			t.Fatalf("%s: unexpected value %q", path, line)
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
