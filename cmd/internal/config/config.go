// Package config reads and validates the daemon's TOML configuration file. The key names are a
// contract with the people who write these files: keys may be added, never renamed. Every
// error names the file, the line and the key.
//
// A rule of a type the file configures is that type's own: Parse maps the file to the domain's
// sensors, hal's registers, hal/modbus's bus settings, the simulator's options and the web
// server's CORS origins, and calls their validation (maskservice.ValidateSensors,
// hal.Register.Validate, modbus.Config.Validate, sim.New, cors.ParseOrigins), so that a
// file "config check" accepts is one the daemon starts with. What is checked here alone is
// the file's: its syntax and key names, the shape of values, defaults, keys that do not apply
// to a bus's driver, and the bounds the product sets on its own settings. OpenBuses opens
// the buses with the one table of drivers that validation also reads.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
	"mask.services/maskservice/hal/sim"
	"mask.services/maskservice/web/cors"
)

// Config is the whole configuration file.
type Config struct {
	DeviceID string    `toml:"device_id"`
	HTTP     HTTP      `toml:"http"`
	Storage  Storage   `toml:"storage"`
	Log      Log       `toml:"log"`
	Auth     Auth      `toml:"auth"`
	Alarms   Alarms    `toml:"alarms"`
	Buses    []Bus     `toml:"bus"`
	Sensors  []Sensor  `toml:"sensor"`
	file     string    // the file it was read from, "" for the built-in default
	lines    lineIndex // key path -> line, for errors found after decoding
}

// HTTP configures the listeners.
type HTTP struct {
	Listen       string `toml:"listen"`         // plain HTTP, for the LCD on loopback
	TLSListen    string `toml:"tls_listen"`     // HTTPS for the technicians on the hotspot, with a certificate made on the device
	MaxWSClients int    `toml:"max_ws_clients"` // WebSocket connection limit
	// MaxWSPerSession and MaxWSPerUser bound the WebSockets of one session and of one user
	// (the panel's not counted for the user).
	MaxWSPerSession int `toml:"max_ws_per_session"`
	MaxWSPerUser    int `toml:"max_ws_per_user"`
	// MaxConnsPerClient bounds the connections one client address (an IPv6 /64) may hold
	// open; loopback clients of Listen are exempt. 0 takes the default; -1 means no limit.
	MaxConnsPerClient int    `toml:"max_conns_per_client"`
	MetricsToken      string `toml:"metrics_token"` // bearer token that opens /metrics beyond loopback
	// CORSOrigins are the web origins ("https://host:port") whose pages may call the API from
	// a browser; none by default (the UI is served by the daemon itself, same-origin).
	CORSOrigins []string `toml:"cors_origins"`
	// PanelUser is the local user whose browser is the LCD's panel (the kiosk): a sign-in on
	// Listen counts as the panel's only from that user's processes. "" takes every loopback
	// client of Listen as the panel (a developer's machine); the device's image sets "kiosk".
	PanelUser string `toml:"panel_user"`
	// PanelLiveView lets the panel show the live values, states and alarms while nobody is
	// signed in (default true); acknowledging still needs a sign-in, and clients beyond the
	// panel see nothing without one either way. After Load it is never nil.
	PanelLiveView *bool `toml:"panel_live_view"`
	// AllowedHosts are the device's names besides its addresses and localhost, the ones a
	// request's Host may carry (against DNS rebinding); the device id's name, its .local
	// name and the machine's host name are always allowed.
	AllowedHosts []string `toml:"allowed_hosts"`
}

// Auth configures sign-in.
type Auth struct {
	// KeyFile is the RSA private key (PEM) that signs access tokens; "" means jwt-key.pem in
	// the data directory, generated at first start.
	KeyFile string `toml:"key_file"`
}

// Alarms configures the alarm engine.
type Alarms struct {
	// RepeatInterval bounds alert floods: a sensor whose last alert opened less than this
	// ago gets that alert back (active again) rather than a new one.
	RepeatInterval Duration `toml:"repeat_interval"`
}

// Storage configures the data on the device.
type Storage struct {
	CommitInterval Duration `toml:"commit_interval"` // readings are committed at most this far apart
	Retention      Duration `toml:"retention"`       // history older than this is deleted
	MaxSize        Size     `toml:"max_size"`        // the history file is kept below this size
	// BackupDir is where scheduled backups go (a daily and a weekly copy of the database);
	// "" turns them off.
	BackupDir        string `toml:"backup_dir"`
	BackupKeepDaily  *int   `toml:"backup_keep_daily"`  // daily copies kept (default 30)
	BackupKeepWeekly *int   `toml:"backup_keep_weekly"` // weekly copies kept (default 12)
}

// Log configures the structured log on stderr.
type Log struct {
	Level string `toml:"level"` // debug | info | warn | error
}

// Bus is one field bus the transducers hang on.
type Bus struct {
	Name              string   `toml:"name"`
	Driver            string   `toml:"driver"` // modbus-rtu | modbus-tcp | sim
	Device            string   `toml:"device"` // /dev/ttyUSB0, usb:VID:PID[:SERIAL], or host:port for modbus-tcp
	Baud              int      `toml:"baud"`
	DataBits          int      `toml:"data_bits"`
	Parity            string   `toml:"parity"` // N | E | O
	StopBits          int      `toml:"stop_bits"`
	Timeout           Duration `toml:"timeout"`
	Retries           *int     `toml:"retries"`
	InterRequestDelay Duration `toml:"inter_request_delay"`
	// MaxGap is how many unmapped registers one request may span to read neighbouring sensors
	// of a slave together; 0 (the default) reads only contiguous registers together.
	MaxGap     int      `toml:"max_gap"`
	SimLatency Duration `toml:"sim_latency"` // driver sim: simulated round-trip time
	SimSeed    uint64   `toml:"sim_seed"`    // driver sim: noise seed (0: random)
}

// Sensor is one transducer: how it is wired and how its values are judged. A sensor whose id
// is one of the specification's (P1, P2, P3) takes that sensor's name, unit, range and bands
// for every key it leaves out.
type Sensor struct {
	ID         string      `toml:"id"`
	Name       string      `toml:"name"`
	NamePL     string      `toml:"name_pl"` // the name on the UI in Polish; default name, or the specification sensor's
	NameEN     string      `toml:"name_en"` // the name on the UI in English; default name, or the specification sensor's
	Bus        string      `toml:"bus"`
	Slave      int         `toml:"slave"`
	Register   string      `toml:"register"` // holding | input
	Address    int         `toml:"address"`
	Type       string      `toml:"type"`       // int16 | uint16 | int32 | uint32 | float32
	WordOrder  string      `toml:"word_order"` // ABCD | CDAB | BADC | DCBA
	Scale      *float64    `toml:"scale"`
	Offset     float64     `toml:"offset"`
	Unit       string      `toml:"unit"`
	Range      []float64   `toml:"range"`
	Normal     []float64   `toml:"normal"`
	Warning    []float64   `toml:"warning"`
	Hysteresis *float64    `toml:"hysteresis"`
	OnDelay    Duration    `toml:"on_delay"`
	Interval   Duration    `toml:"interval"`
	SimScript  [][]float64 `toml:"sim_script"`
}

// Defaults used when a key is left out.
const (
	DefaultDeviceID     = "C20-1001"
	DefaultListen       = "127.0.0.1:8000"
	DefaultMaxWSClients = 1000 // the hub's default: the specification's MAX_WEBSOCKET_CONNECTIONS
	// DefaultMaxWSPerSession and DefaultMaxWSPerUser are the hub's defaults (a test holds
	// them equal): a few tabs of one browser, a few devices of one person.
	DefaultMaxWSPerSession = 8
	DefaultMaxWSPerUser    = 32
	// DefaultMaxConnsPerClient is room for a browser's six connections per host, a few
	// WebSockets and tabs, many times over, and far below what would crowd others out.
	DefaultMaxConnsPerClient = 64
	DefaultBaud              = 19200
	DefaultTimeout           = 300 * time.Millisecond
	DefaultRetries           = 2
	DefaultInterval          = time.Second
)

// DefaultMaxSize and MaxMaxSize bound the database file. bbolt maps the whole file into the
// address space: on a 32-bit board (linux/arm) the map cannot pass 2 GiB and real boards have
// failed far below it, so the default there is 512 MiB and 1 GiB is the most; 64-bit boards
// default to 1 GiB and allow 64 GiB.
const (
	DefaultMaxSize Size = 1 << 30 >> wordShift        // 1 GiB, or 512 MiB on 32-bit
	MaxMaxSize     Size = 64 << 30 >> (6 * wordShift) // 64 GiB, or 1 GiB on 32-bit
	wordShift           = 64/strconv.IntSize - 1      // 1 on a 32-bit platform, else 0
)

// Default returns the configuration used when no file is given: the three sensors of the
// specification on the simulator.
func Default() *Config {
	// 10 ms is what reading two registers takes at 19200 baud, so the status page shows
	// realistic round-trip times.
	c := &Config{Buses: []Bus{{Name: "sim", Driver: "sim", SimLatency: Duration(10 * time.Millisecond)}}}
	for _, s := range maskservice.DefaultSensors() {
		c.Sensors = append(c.Sensors, Sensor{ID: s.ID, Bus: "sim"})
	}
	if err := c.finish(); err != nil {
		panic("config: built-in default is invalid: " + err.Error()) // a bug, caught by tests
	}
	return c
}

// MaxFileBytes is the largest configuration file read: the biggest station (MaxSensors
// sensors, each with a simulator script) fits many times over, and a file beyond it is a
// mistake refused before it costs time to decode.
const MaxFileBytes = 1 << 20

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// One byte past the limit is enough to tell a file too big, whatever its size.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileBytes {
		if fi, err := f.Stat(); err == nil {
			return nil, fmt.Errorf("%s: %d bytes: a configuration file may have at most %d", path, fi.Size(), MaxFileBytes)
		}
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration of at most MaxFileBytes; name is used in
// error messages.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes: a configuration file may have at most %d", name, len(data), MaxFileBytes)
	}
	c := &Config{file: name}
	// Index the keys before decoding: go-toml would store a bare number where a duration
	// belongs as nanoseconds, so that must be refused first. A document that does not parse
	// gets its error, with the line, from the decoder.
	lines, ixErr := indexLines(data)
	c.lines = lines
	if ixErr == nil {
		if err := c.checkDurationKinds(); err != nil {
			return nil, err
		}
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(name, err)
	}
	if ixErr != nil {
		return nil, fmt.Errorf("%s: %w", name, ixErr)
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// durationKeys are the keys, without array indexes ("sensor.on_delay"), whose values are a
// Duration. Derived from the types, so a new Duration key is covered without a list to keep.
var durationKeys = func() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			switch {
			case !f.IsExported() || name == "":
			case ft == reflect.TypeFor[Duration]():
				keys[prefix+name] = true
			case ft.Kind() == reflect.Struct:
				walk(ft, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}()

// arrayIndex matches the "[n]" of a key path such as "sensor[2].interval".
var arrayIndex = regexp.MustCompile(`\[\d+\]`)

// checkDurationKinds refuses a duration written as anything but a string. go-toml would
// store on_delay = 5 as 5ns, silently, where the writer meant 5 s. Of several, the first in
// the file is reported.
func (c *Config) checkDurationKinds() error {
	bad := ""
	for key, e := range c.lines {
		if e.kind == unstable.String || !durationKeys[arrayIndex.ReplaceAllString(key, "")] {
			continue
		}
		if bad == "" || e.line < c.lines[bad].line || (e.line == c.lines[bad].line && key < bad) {
			bad = key
		}
	}
	if bad == "" {
		return nil
	}
	return c.fieldError(bad, "want a quoted duration with its unit, such as \"300ms\", \"5s\" or \"400d\" (a bare number would mean nanoseconds)")
}

// decodeError rewrites go-toml's errors as "file:line: key: problem".
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		msgs := make([]string, 0, len(strict.Errors))
		for i := range strict.Errors {
			de := &strict.Errors[i]
			row, _ := de.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %s", name, row, strings.Join(de.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		if key := de.Key(); len(key) > 0 {
			return fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(key, "."), de.Error())
		}
		return fmt.Errorf("%s:%d: %s", name, row, de.Error())
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fieldError is a validation error of one key.
func (c *Config) fieldError(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c.file == "" {
		return fmt.Errorf("built-in config: %s: %s", key, msg)
	}
	return fmt.Errorf("%s:%d: %s: %s", c.file, c.lines.line(key), key, msg)
}

// refuseZero refuses a duration written as zero ("0s"): left out, a key takes its default,
// but a zero written in the file is a mistake to name, not to replace silently.
func (c *Config) refuseZero(key string, d Duration) error {
	if _, written := c.lines[key]; written && d == 0 {
		return c.fieldError(key, "0s is not a valid %s; leave the key out for the default", key[strings.LastIndex(key, ".")+1:])
	}
	return nil
}

// finish applies defaults and validates.
func (c *Config) finish() error {
	if c.DeviceID == "" {
		c.DeviceID = DefaultDeviceID
	}
	if len(c.DeviceID) > 64 || !printable(c.DeviceID) || strings.ContainsAny(c.DeviceID, "\"\\") {
		return c.fieldError("device_id", "%q: must be at most 64 printable characters, without quotes or backslashes", c.DeviceID)
	}
	if err := c.finishHTTP(); err != nil {
		return err
	}
	if err := c.finishStorage(); err != nil {
		return err
	}
	switch {
	case c.Alarms.RepeatInterval == 0:
		c.Alarms.RepeatInterval = Duration(time.Minute)
	case c.Alarms.RepeatInterval < Duration(time.Second) || c.Alarms.RepeatInterval > Duration(24*time.Hour):
		return c.fieldError("alarms.repeat_interval", "%s must be between 1s and 24h", time.Duration(c.Alarms.RepeatInterval))
	}
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		return c.fieldError("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if len(c.Buses) == 0 {
		return c.fieldError("bus", "no [[bus]] configured")
	}
	for i := range c.Buses {
		if err := c.finishBus(i); err != nil {
			return err
		}
	}
	return c.finishSensors()
}

func (c *Config) finishHTTP() error {
	h := &c.HTTP
	if h.Listen == "" {
		h.Listen = DefaultListen
	}
	if err := c.checkListen("http.listen", h.Listen); err != nil {
		return err
	}
	if h.TLSListen != "" {
		if err := c.checkListen("http.tls_listen", h.TLSListen); err != nil {
			return err
		}
	}
	switch {
	case h.MaxWSClients == 0:
		h.MaxWSClients = DefaultMaxWSClients
	case h.MaxWSClients < 1 || h.MaxWSClients > 10000:
		return c.fieldError("http.max_ws_clients", "%d must be between 1 and 10000", h.MaxWSClients)
	}
	for _, lim := range []struct {
		key string
		v   *int
		def int
	}{{"http.max_ws_per_session", &h.MaxWSPerSession, DefaultMaxWSPerSession}, {"http.max_ws_per_user", &h.MaxWSPerUser, DefaultMaxWSPerUser}} {
		switch {
		case *lim.v == 0:
			*lim.v = lim.def
		case *lim.v < 1 || *lim.v > 10000:
			return c.fieldError(lim.key, "%d must be between 1 and 10000", *lim.v)
		}
	}
	switch {
	case h.MaxConnsPerClient == 0:
		h.MaxConnsPerClient = DefaultMaxConnsPerClient
	case h.MaxConnsPerClient == -1:
		h.MaxConnsPerClient = 0 // connlimit's "no limit"
	case h.MaxConnsPerClient < 1 || h.MaxConnsPerClient > 100000:
		return c.fieldError("http.max_conns_per_client", "%d must be between 1 and 100000, or -1 for no limit", h.MaxConnsPerClient)
	}
	if h.PanelLiveView == nil {
		on := true
		h.PanelLiveView = &on
	}
	if h.PanelUser != "" && !validUserName(h.PanelUser) {
		return c.fieldError("http.panel_user", "%q is not a user name", h.PanelUser)
	}
	for i, name := range h.AllowedHosts {
		if !validHostName(name) {
			return c.fieldError("http.allowed_hosts", "entry %d: %q is not a host name (letters, digits, hyphens and dots)", i, name)
		}
	}
	// web.New refuses what this refuses: one rule, web's.
	if _, err := cors.ParseOrigins(h.CORSOrigins); err != nil {
		var oe *cors.OriginError
		if errors.As(err, &oe) {
			return c.fieldError("http.cors_origins", "entry %d: %v", oe.Index, err)
		}
		return c.fieldError("http.cors_origins", "%v", err)
	}
	return nil
}

// validUserName reports whether name can be a user of the system (as useradd takes them).
func validUserName(name string) bool {
	if len(name) > 32 {
		return false
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	return name != ""
}

// validHostName reports whether name is a DNS name: dot-separated labels of letters, digits
// and hyphens, a trailing dot allowed. It is stricter than what web.New accepts.
func validHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func (c *Config) finishStorage() error {
	s := &c.Storage
	if err := c.refuseZero("storage.commit_interval", s.CommitInterval); err != nil {
		return err
	}
	if s.CommitInterval == 0 {
		s.CommitInterval = Duration(time.Second)
	}
	if s.CommitInterval < Duration(10*time.Millisecond) || s.CommitInterval > Duration(time.Minute) {
		return c.fieldError("storage.commit_interval", "%s must be between 10ms and 1m", time.Duration(s.CommitInterval))
	}
	if err := c.refuseZero("storage.retention", s.Retention); err != nil {
		return err
	}
	if s.Retention == 0 {
		s.Retention = Duration(400 * 24 * time.Hour)
	}
	if s.Retention < Duration(time.Hour) {
		return c.fieldError("storage.retention", "%s must be at least 1h", time.Duration(s.Retention))
	}
	if s.MaxSize == 0 {
		s.MaxSize = DefaultMaxSize
	}
	if s.MaxSize < 16<<20 {
		return c.fieldError("storage.max_size", "%d bytes is below the minimum of 16MiB", int64(s.MaxSize))
	}
	if s.BackupDir != "" && !filepath.IsAbs(s.BackupDir) {
		return c.fieldError("storage.backup_dir", "%q: want an absolute path", s.BackupDir)
	}
	for _, k := range []struct {
		key string
		v   **int
		def int
	}{{"storage.backup_keep_daily", &s.BackupKeepDaily, 30}, {"storage.backup_keep_weekly", &s.BackupKeepWeekly, 12}} {
		if *k.v == nil {
			*k.v = new(int)
			**k.v = k.def
		}
		if n := **k.v; n < 0 || n > 1000 {
			return c.fieldError(k.key, "%d must be between 0 and 1000", n)
		}
	}
	if s.MaxSize > MaxMaxSize {
		return c.fieldError("storage.max_size", "%d bytes is above the limit of %d MiB on this %d-bit platform (bbolt maps the whole file into memory)",
			int64(s.MaxSize), MaxMaxSize>>20, strconv.IntSize)
	}
	return nil
}

func (c *Config) finishBus(i int) error {
	b := &c.Buses[i]
	key := func(k string) string { return fmt.Sprintf("bus[%d].%s", i, k) }
	if b.Name == "" {
		return c.fieldError(key("name"), "missing")
	}
	for _, o := range c.Buses[:i] {
		if o.Name == b.Name {
			return c.fieldError(key("name"), "%q is used by another bus", b.Name)
		}
	}
	if _, ok := drivers[b.Driver]; !ok {
		return c.fieldError(key("driver"), "%q is not one of %s", b.Driver, strings.Join(Drivers(), ", "))
	}
	if b.Retries == nil {
		b.Retries = new(int)
		*b.Retries = DefaultRetries
	}
	if b.Timeout == 0 {
		b.Timeout = Duration(DefaultTimeout)
	}
	// sim.New refuses a negative latency (checked with the bus's sensors); the upper bound
	// is this file's: a simulated round trip of more than 10s is a typo.
	if b.SimLatency > Duration(10*time.Second) {
		return c.fieldError(key("sim_latency"), "%s must be between 0 and 10s", time.Duration(b.SimLatency))
	}
	// Keys that do not apply to the driver are refused rather than ignored: a file that
	// names them was meant for another driver.
	onlyFor := map[string][]string{
		"baud": {"modbus-rtu"}, "data_bits": {"modbus-rtu"}, "parity": {"modbus-rtu"}, "stop_bits": {"modbus-rtu"},
		"device": {"modbus-rtu", "modbus-tcp"}, "timeout": {"modbus-rtu", "modbus-tcp"}, "retries": {"modbus-rtu", "modbus-tcp"},
		"inter_request_delay": {"modbus-rtu", "modbus-tcp"}, "max_gap": {"modbus-rtu", "modbus-tcp"},
		"sim_latency": {"sim"}, "sim_seed": {"sim"},
	}
	for _, k := range slices.Sorted(maps.Keys(onlyFor)) {
		if _, set := c.lines[key(k)]; set && !slices.Contains(onlyFor[k], b.Driver) {
			return c.fieldError(key(k), "applies only to driver %s, not %q", strings.Join(onlyFor[k], " or "), b.Driver)
		}
	}
	if b.Driver == "sim" {
		return nil
	}
	if b.Driver == "modbus-rtu" {
		c.serialDefaults(b)
	}
	// The bus's settings as hal/modbus will open them, checked by its own rule.
	mc := c.ModbusBus(b, nil)
	if err := mc.Validate(); err != nil {
		return c.fieldError(key(maskservice.ErrorField(err)), "%s", maskservice.ErrorMessage(err))
	}
	if b.Driver == "modbus-rtu" {
		for k, o := range c.Buses[:i] {
			if o.Driver == "modbus-rtu" && samePort(o.Device, b.Device) {
				return c.fieldError(key("device"), "%q may be the same port as bus[%d] %q (%q): one port, one bus", b.Device, k, o.Name, o.Device)
			}
		}
	}
	return nil
}

// serialDefaults writes out every serial setting left out, so that no library default (such
// as two stop bits without parity) ever applies silently.
func (c *Config) serialDefaults(b *Bus) {
	if b.Baud == 0 {
		b.Baud = DefaultBaud
	}
	if b.DataBits == 0 {
		b.DataBits = 8
	}
	if b.Parity == "" {
		b.Parity = "E" // the Modbus RTU default
	}
	if b.StopBits == 0 {
		b.StopBits = 1
	}
}

// samePort reports whether two validated serial devices may name the same port: equal paths,
// or USB addresses of one vendor and product where either leaves the serial number out. A
// path and a USB address cannot be compared before the adapter is plugged in.
func samePort(a, b string) bool {
	if a == b {
		return true
	}
	ua, errA := modbus.ParseUSBAddress(a)
	ub, errB := modbus.ParseUSBAddress(b)
	if errA != nil || errB != nil {
		return false
	}
	return ua.VID == ub.VID && ua.PID == ub.PID && (ua.Serial == "" || ub.Serial == "" || ua.Serial == ub.Serial)
}

// specSensor returns the specification's sensor id, whose values fill in keys a sensor leaves
// out.
func specSensor(id string) (maskservice.Sensor, bool) {
	for _, s := range maskservice.DefaultSensors() {
		if s.ID == id {
			return s, true
		}
	}
	return maskservice.Sensor{}, false
}

// finishSensors applies the sensors' defaults and validates them, each with the rules of the
// types it becomes (maskservice.Sensor, hal.Register, the simulator's script), then the
// whole set as the monitor takes it, then every bus with its sensors as it will be opened.
func (c *Config) finishSensors() error {
	switch {
	case len(c.Sensors) == 0:
		return c.fieldError("sensor", "no [[sensor]] configured")
	case len(c.Sensors) > maskservice.MaxSensors:
		// Before any sensor is checked: the limit is what keeps the rest of the checks quick.
		return c.fieldError(fmt.Sprintf("sensor[%d]", maskservice.MaxSensors),
			"%d [[sensor]] tables: at most %d are supported", len(c.Sensors), maskservice.MaxSensors)
	}
	ids := make(map[string]int, len(c.Sensors))
	domain := make([]maskservice.Sensor, 0, len(c.Sensors))
	for i := range c.Sensors {
		if err := c.finishSensor(i); err != nil {
			return err
		}
		if first, dup := ids[c.Sensors[i].ID]; dup {
			return c.fieldError(fmt.Sprintf("sensor[%d].id", i), "sensor id %q: used twice (sensor[%d] has it)", c.Sensors[i].ID, first)
		}
		ids[c.Sensors[i].ID] = i
		domain = append(domain, c.DomainSensor(i))
	}
	// The monitor's rule for the set (NewMonitor calls ValidateSensors), once: each sensor
	// and the ids passed above, so this is a guard that the two rules agree.
	if err := maskservice.ValidateSensors(domain); err != nil {
		return c.fieldError("sensor", "%s", maskservice.ErrorMessage(err))
	}
	for i := range c.Buses {
		if err := c.checkBusSensors(i); err != nil {
			return err
		}
	}
	return nil
}

// checkBusSensors checks bus i with its sensors as OpenBuses will open it: the simulator's
// options with sim.New (which also takes the scripts), a modbus bus with modbus.Config's
// Validate.
func (c *Config) checkBusSensors(i int) error {
	b := &c.Buses[i]
	idx := c.sensorsOn(b.Name)
	if len(idx) == 0 {
		return nil
	}
	if b.Driver == "sim" {
		sensors, opts := c.simBus(b, idx)
		if _, err := sim.New(sensors, opts); err != nil {
			// Each sensor and its script passed alone: what is left is the bus's option.
			return c.fieldError(fmt.Sprintf("bus[%d].sim_latency", i), "%s", maskservice.ErrorMessage(err))
		}
		return nil
	}
	mc := c.ModbusBus(b, idx)
	if err := mc.Validate(); err != nil {
		return c.fieldError(fmt.Sprintf("bus[%d].%s", i, maskservice.ErrorField(err)), "%s", maskservice.ErrorMessage(err))
	}
	return nil
}

// sensorError is err, of the domain or of hal, as an error of sensor i's key.
func (c *Config) sensorError(i int, err error) error {
	k := fmt.Sprintf("sensor[%d]", i)
	if f := maskservice.ErrorField(err); f != "" {
		k += "." + f
	}
	return c.fieldError(k, "%s", maskservice.ErrorMessage(err))
}

func (c *Config) finishSensor(i int) error {
	s := &c.Sensors[i]
	key := func(k string) string { return fmt.Sprintf("sensor[%d].%s", i, k) }
	if s.ID == "" {
		return c.fieldError(key("id"), "missing")
	}
	// A name given in the file is the name in every language it does not name otherwise.
	for _, n := range []*string{&s.NamePL, &s.NameEN} {
		if *n == "" {
			*n = s.Name
		}
	}
	if spec, ok := specSensor(s.ID); ok {
		if s.Name == "" {
			s.Name = spec.Name
		}
		if s.NamePL == "" {
			s.NamePL = spec.Names.PL
		}
		if s.NameEN == "" {
			s.NameEN = spec.Names.EN
		}
		if s.Unit == "" {
			s.Unit = spec.Unit
		}
		if s.Range == nil {
			s.Range = []float64{spec.Range.Low, spec.Range.High}
		}
		if s.Normal == nil {
			s.Normal = []float64{spec.Thresholds.Normal.Low, spec.Thresholds.Normal.High}
		}
		if s.Warning == nil {
			s.Warning = []float64{spec.Thresholds.Warning.Low, spec.Thresholds.Warning.High}
		}
		if s.Hysteresis == nil {
			s.Hysteresis = &spec.Thresholds.Hysteresis
		}
	}
	for _, n := range []*string{&s.Name, &s.NamePL, &s.NameEN} {
		if *n == "" {
			*n = s.ID
		}
	}
	if s.Hysteresis == nil {
		s.Hysteresis = new(float64)
	}
	// The shape of a band is the file's: the domain's Band has exactly two ends.
	for _, band := range []struct {
		name string
		v    []float64
	}{{"range", s.Range}, {"normal", s.Normal}, {"warning", s.Warning}} {
		if len(band.v) != 2 {
			return c.fieldError(key(band.name), "want [low, high], got %d numbers", len(band.v))
		}
	}
	if err := c.refuseZero(key("interval"), s.Interval); err != nil {
		return err
	}
	if s.Interval == 0 {
		s.Interval = Duration(DefaultInterval)
	}
	bus := c.bus(s.Bus)
	switch {
	case s.Bus == "":
		return c.fieldError(key("bus"), "missing: name the [[bus]] the sensor is read on")
	case bus == nil:
		names := make([]string, len(c.Buses))
		for k, b := range c.Buses {
			names[k] = strconv.Quote(b.Name)
		}
		return c.fieldError(key("bus"), "%q is not a configured bus (have %s)", s.Bus, strings.Join(names, ", "))
	}
	if err := c.finishRegister(i, bus); err != nil {
		return err
	}
	if err := c.checkScript(i); err != nil {
		return err
	}
	if err := c.DomainSensor(i).Validate(); err != nil {
		return c.sensorError(i, err)
	}
	// The script, as the simulator plays it: the daemon's on a sim bus, transducer-sim's
	// on a modbus bus.
	if script := c.Script(i); script != nil {
		opts := sim.Options{Scripts: map[string][]sim.ScriptPoint{s.ID: script}}
		if _, err := sim.New([]maskservice.Sensor{c.DomainSensor(i)}, opts); err != nil {
			return c.fieldError(key("sim_script"), "%s", maskservice.ErrorMessage(err))
		}
	}
	return nil
}

// finishRegister applies the register map's defaults of sensor i and checks it with
// hal.Register's own rules; the names are parsed by hal's tables.
func (c *Config) finishRegister(i int, bus *Bus) error {
	s := &c.Sensors[i]
	key := func(k string) string { return fmt.Sprintf("sensor[%d].%s", i, k) }
	if s.Scale == nil {
		s.Scale = new(float64)
		*s.Scale = 1
	}
	if bus.Driver == "sim" {
		// The register map means nothing to the simulator; a file that names it was meant
		// for a modbus bus.
		for _, k := range []string{"slave", "register", "address", "type", "word_order", "scale", "offset"} {
			if _, set := c.lines[key(k)]; set {
				return c.fieldError(key(k), "applies only to sensors on a modbus bus, not on %q (driver sim)", bus.Name)
			}
		}
		return nil
	}
	if s.Register == "" {
		s.Register = "holding"
	}
	if s.Type == "" {
		s.Type = "int16"
	}
	if _, err := hal.ParseRegisterKind(s.Register); err != nil {
		return c.fieldError(key("register"), "%v", err)
	}
	typ, err := hal.ParseDataType(s.Type)
	if err != nil {
		return c.fieldError(key("type"), "%v", err)
	}
	named := s.WordOrder != ""
	if !named {
		s.WordOrder = "ABCD"
	}
	if _, err := hal.ParseWordOrder(s.WordOrder); err != nil {
		return c.fieldError(key("word_order"), "%v", err)
	}
	if named && typ.Words() == 1 {
		// hal ignores the order of a 16-bit value; naming one is a mistake in the file.
		return c.fieldError(key("word_order"), "applies only to 32-bit types, not %s", s.Type)
	}
	// The numbers must fit hal's fields before hal can judge them.
	if s.Slave < 0 || s.Slave > math.MaxUint8 {
		return c.fieldError(key("slave"), "%d is out of range", s.Slave)
	}
	if s.Address < 0 || s.Address > math.MaxUint16 {
		return c.fieldError(key("address"), "%d is out of range", s.Address)
	}
	if err := c.Register(i).Validate(); err != nil {
		return c.sensorError(i, err)
	}
	return nil
}

// maxScriptSeconds bounds a script point's time, far below where seconds overflow a
// time.Duration (about 292 years).
const maxScriptSeconds float64 = 100 * 365 * 24 * 3600

// checkScript checks that the sim_script of sensor i can be written as the simulator's
// points: [seconds, value] pairs whose seconds convert to a time.Duration. The points' rules
// (ascending, finite values) are the simulator's, checked with sim.New.
func (c *Config) checkScript(i int) error {
	s := &c.Sensors[i]
	key := fmt.Sprintf("sensor[%d].sim_script", i)
	for k, p := range s.SimScript {
		switch {
		case len(p) != 2:
			return c.fieldError(key, "point %d: want [seconds, value]", k)
		case !finite(p[0]) || p[0] < 0 || p[0] > maxScriptSeconds:
			return c.fieldError(key, "point %d: seconds %g must be between 0 and %.0f (100 years)", k, p[0], maxScriptSeconds)
		}
	}
	return nil
}

// scriptAt converts a script point's seconds to the time since the simulation's start.
func scriptAt(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }

// Script returns the sim_script of sensor i as the simulator takes it, nil if it has none.
// Call it only on a validated Config.
func (c *Config) Script(i int) []sim.ScriptPoint {
	pts := c.Sensors[i].SimScript
	if len(pts) == 0 {
		return nil
	}
	out := make([]sim.ScriptPoint, len(pts))
	for j, p := range pts {
		out[j] = sim.ScriptPoint{At: scriptAt(p[0]), Value: p[1]}
	}
	return out
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// printable reports whether s is valid UTF-8 made of printable characters only.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// hostPort reports whether s is host:port with a numeric port (the host may be empty, for
// every interface). net.Listen would also take a service name, but a port that is not a
// number is far more likely a typo that should fail validation than at start.
func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// checkListen checks a listen address: host:port with a port number, whose host resolves as
// the daemon's listener resolves it (net.Listen resolves with net.ResolveTCPAddr's rules: an
// IP address or an empty host is taken as it is, a name is looked up).
func (c *Config) checkListen(key, addr string) error {
	if !hostPort(addr) {
		return c.fieldError(key, "%q is not host:port with a port number", addr)
	}
	if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
		return c.fieldError(key, "%q: %v", addr, err)
	}
	return nil
}

func (c *Config) bus(name string) *Bus {
	for i := range c.Buses {
		if c.Buses[i].Name == name {
			return &c.Buses[i]
		}
	}
	return nil
}

// Bus returns the bus with the given name, or nil.
func (c *Config) Bus(name string) *Bus { return c.bus(name) }

// File returns the path the configuration was read from, "" for the built-in default.
func (c *Config) File() string { return c.file }

// DomainSensor returns sensor i as the domain sees it. Call it only on a validated Config.
func (c *Config) DomainSensor(i int) maskservice.Sensor {
	s := c.Sensors[i]
	band := func(v []float64) maskservice.Band {
		if len(v) != 2 {
			return maskservice.Band{}
		}
		return maskservice.Band{Low: v[0], High: v[1]}
	}
	var h float64
	if s.Hysteresis != nil {
		h = *s.Hysteresis
	}
	return maskservice.Sensor{
		ID: s.ID, Name: s.Name, Names: maskservice.SensorNames{PL: s.NamePL, EN: s.NameEN}, Unit: s.Unit, Bus: s.Bus,
		Range: band(s.Range),
		Thresholds: maskservice.Thresholds{
			Normal: band(s.Normal), Warning: band(s.Warning),
			Hysteresis: h, OnDelay: time.Duration(s.OnDelay),
		},
		Interval: time.Duration(s.Interval),
	}
}

// DomainSensors returns every sensor as the domain sees it, in file order.
func (c *Config) DomainSensors() []maskservice.Sensor {
	out := make([]maskservice.Sensor, len(c.Sensors))
	for i := range c.Sensors {
		out[i] = c.DomainSensor(i)
	}
	return out
}

// Register returns the register map of sensor i, as hal reads it. Call it only on a validated
// Config whose sensor i is on a modbus bus.
func (c *Config) Register(i int) hal.Register {
	s := c.Sensors[i]
	kind, _ := hal.ParseRegisterKind(s.Register)
	typ, _ := hal.ParseDataType(s.Type)
	order, _ := hal.ParseWordOrder(s.WordOrder)
	return hal.Register{Slave: uint8(s.Slave), Kind: kind, Address: uint16(s.Address), Type: typ, Order: order,
		Scale: *s.Scale, Offset: s.Offset}
}

// ModbusBus returns the configuration of the modbus bus b for hal/modbus, with the sensors on
// it (indexes into Sensors). Call it only on a validated Config.
func (c *Config) ModbusBus(b *Bus, sensors []int) modbus.Config {
	mc := modbus.Config{
		Name: b.Name, Driver: b.Driver, Device: b.Device,
		Baud: b.Baud, DataBits: b.DataBits, Parity: b.Parity, StopBits: b.StopBits,
		Timeout: time.Duration(b.Timeout), Retries: *b.Retries,
		InterRequestDelay: time.Duration(b.InterRequestDelay), MaxGap: b.MaxGap,
	}
	for _, i := range sensors {
		mc.Sensors = append(mc.Sensors, modbus.Sensor{ID: c.Sensors[i].ID, Register: c.Register(i)})
	}
	return mc
}
