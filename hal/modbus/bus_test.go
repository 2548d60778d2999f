package modbus_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
	"mask.services/maskservice/hal/slave/pty"
	"mask.services/maskservice/hal/slave/rtu"
)

// image is a register map served by the test slave: what a transducer module holds.
type image struct {
	mu   sync.Mutex
	regs map[key]uint16
}

type key struct {
	slave uint8
	kind  hal.RegisterKind
	addr  uint16
}

func newImage() *image { return &image{regs: map[key]uint16{}} }

// put stores the encoding of value at the sensor's registers.
func (im *image) put(r hal.Register, value float64) {
	im.mu.Lock()
	defer im.mu.Unlock()
	for i, w := range r.Encode(nil, value) {
		im.regs[key{r.Slave, r.Kind, r.Address + uint16(i)}] = w
	}
}

// ReadRegisters implements rtu.Registers: a register no sensor maps is exception 02, and a
// slave with no register at all is not on the line.
func (im *image) ReadRegisters(slave uint8, kind hal.RegisterKind, addr, qty uint16) ([]uint16, uint8, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	served := false
	for k := range im.regs {
		served = served || k.slave == slave
	}
	if !served {
		return nil, 0, false
	}
	out := make([]uint16, qty)
	for i := range out {
		v, ok := im.regs[key{slave, kind, addr + uint16(i)}]
		if !ok {
			return nil, hal.ExIllegalAddress, true
		}
		out[i] = v
	}
	return out, 0, true
}

// line is a pty with our RTU slave on the master end, linked at a fixed path so that it can be
// taken away and brought back like a USB adapter.
type line struct {
	t     testing.TB
	link  string
	im    *image
	slave *rtu.Slave
	pty   *pty.PTY
	stop  context.CancelFunc
	done  chan struct{}
}

func newLine(t testing.TB, im *image) *line {
	t.Helper()
	l := &line{t: t, link: filepath.Join(t.TempDir(), "ttyRS485"), im: im}
	l.up()
	t.Cleanup(l.down)
	return l
}

// up plugs the line in: a new pty, linked at l.link, served by a new slave.
func (l *line) up() {
	l.t.Helper()
	p, err := pty.Open()
	if err != nil {
		l.t.Fatalf("open pty: %v", err)
	}
	if err := p.Link(l.link); err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.pty, l.stop, l.done = p, cancel, make(chan struct{})
	l.slave = rtu.NewSlave(l.im, rtu.SlaveOptions{Seed: 1})
	go func() {
		defer close(l.done)
		_ = l.slave.Serve(ctx, p.Master)
	}()
}

// down unplugs the line: the slave stops and the pty goes away.
func (l *line) down() {
	if l.pty == nil {
		return
	}
	l.stop()
	l.pty.Close()
	<-l.done
	l.pty = nil
}

func openBus(t testing.TB, l *line, sensors []modbus.Sensor, tweak func(*modbus.Config)) *modbus.Bus {
	t.Helper()
	cfg := modbus.Config{
		Name: "rs485", Driver: "modbus-rtu", Device: l.link,
		Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1,
		Timeout: 100 * time.Millisecond, Retries: 1,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Sensors: sensors,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := modbus.Open(cfg)
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func read(t *testing.T, b *modbus.Bus, ids ...string) []maskservice.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := b.Read(ctx, ids)
	if err != nil {
		t.Fatalf("Read(%v): %v", ids, err)
	}
	if len(s) != len(ids) {
		t.Fatalf("Read(%v) gave %d samples", ids, len(s))
	}
	return s
}

func slaveDiag(t *testing.T, b *modbus.Bus, slave int) maskservice.SlaveDiagnostics {
	t.Helper()
	for _, s := range b.BusDiagnostics()[0].Slaves {
		if s.Slave == slave {
			return s
		}
	}
	t.Fatalf("no diagnostics for slave %d", slave)
	return maskservice.SlaveDiagnostics{}
}

// Every data type and word order, over a real serial line, decoded to the value the slave
// holds within the register's resolution; contiguous registers of one slave in one request.
func TestBus_DecodesEveryTypeAndOrder(t *testing.T) {
	type tc struct {
		id    string
		reg   hal.Register
		value float64
	}
	var cases []tc
	addr := uint16(0)
	for ty := hal.Int16; ty <= hal.Float32; ty++ {
		for o := hal.ABCD; o <= hal.DCBA; o++ {
			if ty.Words() == 1 && o != hal.ABCD {
				continue
			}
			reg := hal.Register{Slave: 1, Kind: hal.Holding, Address: addr, Type: ty, Order: o, Scale: 0.001, Offset: -1}
			cases = append(cases, tc{id: ty.String() + "-" + o.String(), reg: reg, value: 7.3456})
			addr += uint16(ty.Words())
		}
	}
	// An input register on another slave, read in a request of its own.
	cases = append(cases, tc{id: "in", reg: hal.Register{Slave: 7, Kind: hal.Input, Address: 100, Type: hal.Uint16, Scale: 0.1}, value: 123.4})

	im := newImage()
	var sensors []modbus.Sensor
	var ids []string
	for _, c := range cases {
		im.put(c.reg, c.value)
		sensors = append(sensors, modbus.Sensor{ID: c.id, Register: c.reg})
		ids = append(ids, c.id)
	}
	b := openBus(t, newLine(t, im), sensors, nil)
	samples := read(t, b, ids...)
	for i, s := range samples {
		c := cases[i]
		if s.SensorID != c.id || s.Err != nil || math.Abs(s.Value-c.value) > c.reg.Scale/2+1e-9 {
			t.Errorf("%s: got %s %v (raw %v) err %v, want %v", c.id, s.SensorID, s.Value, s.Raw, s.Err, c.value)
		}
		if s.RTT <= 0 {
			t.Errorf("%s: RTT %v, want the transaction's round-trip time", c.id, s.RTT)
		}
	}
	if d := slaveDiag(t, b, 1); d.Requests != 1 || d.Successes != 1 || d.RTT.Count != 1 {
		t.Errorf("slave 1: %d requests, %d successes, %d RTTs; want the %d contiguous sensors in 1 request",
			d.Requests, d.Successes, d.RTT.Count, len(cases)-1)
	}
	if d := slaveDiag(t, b, 7); d.Requests != 1 || d.Successes != 1 {
		t.Errorf("slave 7: %d requests, %d successes, want 1 and 1", d.Requests, d.Successes)
	}
	// Reading a subset reads only what is due.
	if s := read(t, b, "in"); s[0].Err != nil || math.Abs(s[0].Value-123.4) > 0.05 {
		t.Errorf("in alone: %+v", s[0])
	}
	if d := slaveDiag(t, b, 1); d.Requests != 1 {
		t.Errorf("slave 1 read again (%d requests) although only slave 7 was due", d.Requests)
	}
}

// A gap of unmapped registers splits a request unless MaxGap allows it; our slave answers
// exception 02 to a read over unmapped registers, as many real modules do.
func TestBus_Gaps(t *testing.T) {
	im := newImage()
	p1 := hal.Register{Slave: 1, Address: 0, Type: hal.Uint16, Scale: 1}
	p2 := hal.Register{Slave: 1, Address: 4, Type: hal.Uint16, Scale: 1}
	im.put(p1, 11)
	im.put(p2, 22)
	sensors := []modbus.Sensor{{ID: "P1", Register: p1}, {ID: "P2", Register: p2}}

	t.Run("split", func(t *testing.T) {
		b := openBus(t, newLine(t, im), sensors, nil)
		s := read(t, b, "P2", "P1")
		if s[0].Value != 22 || s[1].Value != 11 || s[0].Err != nil || s[1].Err != nil {
			t.Fatalf("samples %+v", s)
		}
		if d := slaveDiag(t, b, 1); d.Requests != 2 {
			t.Errorf("%d requests, want 2 (the gap is not read)", d.Requests)
		}
	})
	t.Run("max_gap over unmapped registers", func(t *testing.T) {
		b := openBus(t, newLine(t, im), sensors, func(c *modbus.Config) { c.MaxGap = 3 })
		s := read(t, b, "P1", "P2")
		for _, smp := range s {
			var ex *hal.ExceptionError
			if !errors.As(smp.Err, &ex) || ex.Code != hal.ExIllegalAddress || !errors.Is(smp.Err, hal.ErrException) {
				t.Errorf("%s: err %v, want exception 02", smp.SensorID, smp.Err)
			}
		}
		if d := slaveDiag(t, b, 1); d.Requests != 1 || d.Exceptions[2] != 1 {
			t.Errorf("%d requests, exceptions %v; want 1 request answered with exception 02 (not retried)", d.Requests, d.Exceptions)
		}
	})
}

// Each fault of the line, injected by the slave, gives its hal error, no value, the configured
// retries, and its own counter.
func TestBus_Faults(t *testing.T) {
	reg := hal.Register{Slave: 3, Address: 10, Type: hal.Int32, Order: hal.CDAB, Scale: 0.01}
	im := newImage()
	im.put(reg, 4.2)
	sensors := []modbus.Sensor{{ID: "P1", Register: reg}}
	tests := []struct {
		name     string
		faults   rtu.Faults
		want     error
		requests uint64 // with Retries: 2
		counter  func(maskservice.SlaveDiagnostics) uint64
	}{
		{"timeout", rtu.Faults{Drop: 1}, hal.ErrTimeout, 3, func(d maskservice.SlaveDiagnostics) uint64 { return d.Timeouts }},
		{"crc", rtu.Faults{CorruptCRC: 1}, hal.ErrCRC, 3, func(d maskservice.SlaveDiagnostics) uint64 { return d.CRCErrors }},
		{"short frame", rtu.Faults{Short: 1}, hal.ErrFrame, 3, func(d maskservice.SlaveDiagnostics) uint64 { return d.FrameErrors }},
		{"exception", rtu.Faults{Exception: hal.ExDeviceBusy}, hal.ErrException, 1, func(d maskservice.SlaveDiagnostics) uint64 { return d.Exceptions[6] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLine(t, im)
			b := openBus(t, l, sensors, func(c *modbus.Config) { c.Retries = 2; c.Timeout = 50 * time.Millisecond })
			if err := l.slave.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			s := read(t, b, "P1")[0]
			if !errors.Is(s.Err, tt.want) || !math.IsNaN(s.Value) || !math.IsNaN(s.Raw) {
				t.Fatalf("sample %+v, want NaN and %v", s, tt.want)
			}
			d := slaveDiag(t, b, 3)
			if d.Requests != tt.requests || tt.counter(d) != tt.requests || d.Successes != 0 {
				t.Errorf("diagnostics %+v: want %d requests, all counted as %s", d, tt.requests, tt.name)
			}
			if got := b.BusDiagnostics()[0].LastError; got == "" {
				t.Error("LastError is empty")
			}
			// The fault cleared, the next read is good again.
			if err := l.slave.SetFaults(rtu.Faults{}); err != nil {
				t.Fatal(err)
			}
			if s := read(t, b, "P1")[0]; s.Err != nil || math.Abs(s.Value-4.2) > 0.005 {
				t.Errorf("after the fault: %+v", s)
			}
		})
	}
	t.Run("absent slave", func(t *testing.T) {
		other := hal.Register{Slave: 9, Type: hal.Uint16, Scale: 1}
		b := openBus(t, newLine(t, im), []modbus.Sensor{{ID: "X", Register: other}}, func(c *modbus.Config) { c.Retries = 0 })
		start := time.Now()
		if s := read(t, b, "X")[0]; !errors.Is(s.Err, hal.ErrTimeout) {
			t.Errorf("absent slave: %v, want a timeout", s.Err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("absent slave failed after %v, before the 100ms timeout", d)
		}
	})
	t.Run("intermittent drops are retried", func(t *testing.T) {
		l := newLine(t, im)
		b := openBus(t, l, sensors, func(c *modbus.Config) { c.Retries = 3; c.Timeout = 30 * time.Millisecond })
		if err := l.slave.SetFaults(rtu.Faults{Drop: 0.3}); err != nil {
			t.Fatal(err)
		}
		good := 0
		for range 20 {
			if read(t, b, "P1")[0].Err == nil {
				good++
			}
		}
		if d := slaveDiag(t, b, 3); good < 19 || d.Timeouts == 0 {
			t.Errorf("%d of 20 reads good with 30%% drops and 3 retries, %d timeouts; want >= 19 and some", good, d.Timeouts)
		}
	})
}

// The adapter unplugged: the bus fails its sensors with ErrDisconnected without blocking, and
// reopens by itself when the device returns.
func TestBus_PortGoneAndBack(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	im := newImage()
	im.put(reg, 42)
	l := newLine(t, im)
	b := openBus(t, l, []modbus.Sensor{{ID: "P1", Register: reg}}, nil)
	if s := read(t, b, "P1")[0]; s.Err != nil || s.Value != 42 {
		t.Fatalf("before: %+v", s)
	}
	l.down()
	deadline := time.Now().Add(2 * time.Second)
	var s maskservice.Sample
	for time.Now().Before(deadline) {
		if s = read(t, b, "P1")[0]; errors.Is(s.Err, hal.ErrDisconnected) {
			break
		}
	}
	if !errors.Is(s.Err, hal.ErrDisconnected) || !math.IsNaN(s.Value) {
		t.Fatalf("after unplugging: %+v, want NaN and ErrDisconnected", s)
	}
	// While the port is gone a read fails at once instead of waiting for a timeout.
	start := time.Now()
	if s = read(t, b, "P1")[0]; !errors.Is(s.Err, hal.ErrDisconnected) {
		t.Fatalf("still unplugged: %v", s.Err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("read of an unplugged bus took %v", d)
	}
	if d := b.BusDiagnostics()[0]; d.Connected || d.Port != "" {
		t.Errorf("diagnostics while unplugged: connected %v port %q", d.Connected, d.Port)
	}
	time.Sleep(300 * time.Millisecond) // several failed reopen attempts
	im.put(reg, 43)
	l.up()
	deadline = time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s = read(t, b, "P1")[0]; s.Err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.Err != nil || s.Value != 43 {
		t.Fatalf("after plugging back: %+v", s)
	}
	d := b.BusDiagnostics()[0]
	if !d.Connected || d.Reconnects != 1 || d.OpenFailures == 0 {
		t.Errorf("diagnostics: connected %v, %d reconnects, %d open failures; want true, 1, some", d.Connected, d.Reconnects, d.OpenFailures)
	}
}

// A bus whose device does not exist at start still opens, fails fast, and connects when the
// device appears.
func TestBus_MissingAtStart(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Int16, Scale: 0.5}
	im := newImage()
	im.put(reg, -3)
	l := newLine(t, im)
	l.down()
	b := openBus(t, l, []modbus.Sensor{{ID: "P1", Register: reg}}, nil)
	if s := read(t, b, "P1")[0]; !errors.Is(s.Err, hal.ErrDisconnected) {
		t.Fatalf("missing device: %v", s.Err)
	}
	l.up()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s := read(t, b, "P1")[0]; s.Err == nil {
			if s.Value != -3 {
				t.Fatalf("value %v, want -3", s.Value)
			}
			if d := b.BusDiagnostics()[0]; d.Reconnects != 0 {
				t.Errorf("first open counted as %d reconnects", d.Reconnects)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the bus did not connect when the device appeared")
}

func TestBus_CloseAndBadInput(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	im := newImage()
	im.put(reg, 1)
	b := openBus(t, newLine(t, im), []modbus.Sensor{{ID: "P1", Register: reg}}, nil)
	if s := read(t, b, "P1", "nope"); s[0].Err != nil || s[1].Err == nil || s[1].SensorID != "nope" {
		t.Errorf("unknown id: %+v", s)
	}
	b.Close()
	if _, err := b.Read(context.Background(), []string{"P1"}); !errors.Is(err, hal.ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}

	bad := map[string]modbus.Config{
		"no driver":   {Device: "/dev/x", Timeout: time.Second, Sensors: []modbus.Sensor{{ID: "a", Register: reg}}},
		"parity":      {Driver: "modbus-rtu", Device: "/dev/x", Baud: 9600, DataBits: 8, Parity: "X", StopBits: 1, Timeout: time.Second, Sensors: []modbus.Sensor{{ID: "a", Register: reg}}},
		"usb address": {Driver: "modbus-rtu", Device: "usb:123", Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1, Timeout: time.Second, Sensors: []modbus.Sensor{{ID: "a", Register: reg}}},
		"no sensors":  {Driver: "modbus-tcp", Device: "h:502", Timeout: time.Second},
		"twice":       {Driver: "modbus-tcp", Device: "h:502", Timeout: time.Second, Sensors: []modbus.Sensor{{ID: "a", Register: reg}, {ID: "a", Register: reg}}},
		"bad slave":   {Driver: "modbus-tcp", Device: "h:502", Timeout: time.Second, Sensors: []modbus.Sensor{{ID: "a", Register: hal.Register{Scale: 1}}}},
	}
	for name, cfg := range bad {
		if b, err := modbus.Open(cfg); err == nil {
			b.Close()
			t.Errorf("%s: Open accepted %+v", name, cfg)
		}
	}
}

// A reply that comes after the timeout must not be taken for the answer to the next request:
// RTU has no transaction ids, so the bus waits it out and reopens the port (a resync).
// Without that, every later reply would be one request behind and the two sensors would
// swap values with good quality.
func TestBus_LateReplyIsDropped(t *testing.T) {
	im := newImage()
	a := hal.Register{Slave: 1, Address: 0, Type: hal.Uint16, Scale: 1}
	b := hal.Register{Slave: 1, Address: 10, Type: hal.Uint16, Scale: 1}
	im.put(a, 1000)
	im.put(b, 1010)
	l := newLine(t, im)
	bus := openBus(t, l, []modbus.Sensor{{ID: "A", Register: a}, {ID: "B", Register: b}}, func(c *modbus.Config) {
		c.Retries, c.Timeout = 0, 80*time.Millisecond
	})
	if err := l.slave.SetFaults(rtu.Faults{Delay: 110 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if s := read(t, bus, "A"); !errors.Is(s[0].Err, hal.ErrTimeout) {
		t.Fatalf("slow slave: %v, want a timeout", s[0].Err)
	}
	if err := l.slave.SetFaults(rtu.Faults{}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s := read(t, bus, "B", "A")
		if s[0].Err != nil || s[0].Value != 1010 || s[1].Err != nil || s[1].Value != 1000 {
			t.Fatalf("read %d after the late reply: B=%v (%v) A=%v (%v); want 1010 and 1000", i, s[0].Value, s[0].Err, s[1].Value, s[1].Err)
		}
	}
	if d := bus.BusDiagnostics()[0]; d.Resyncs != 1 || d.Reconnects != 0 {
		t.Errorf("%d resyncs, %d reconnects; want 1 and 0", d.Resyncs, d.Reconnects)
	}
}

// An exception code the library has no name for is still an exception of that slave, not a
// failed port: the bus stays open.
func TestBus_UnknownExceptionCode(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	im := newImage()
	im.put(reg, 5)
	l := newLine(t, im)
	bus := openBus(t, l, []modbus.Sensor{{ID: "P1", Register: reg}}, nil)
	if err := l.slave.SetFaults(rtu.Faults{Exception: 0x0C}); err != nil {
		t.Fatal(err)
	}
	s := read(t, bus, "P1")[0]
	var ex *hal.ExceptionError
	if !errors.As(s.Err, &ex) || ex.Code != 0x0C {
		t.Fatalf("err %v, want exception 0C", s.Err)
	}
	d := bus.BusDiagnostics()[0]
	if !d.Connected || d.Reconnects != 0 || d.Slaves[0].Exceptions[0x0C] != 1 || d.Slaves[0].PortErrors != 0 {
		t.Errorf("diagnostics %+v: want the port still open and one exception 0C", d)
	}
}

// A device that never appears is retried with doubling waits capped at MaxBackoff.
func TestBus_BackoffIsCapped(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	bus, err := modbus.Open(modbus.Config{Name: "x", Driver: "modbus-rtu", Device: filepath.Join(t.TempDir(), "absent"),
		Baud: 9600, DataBits: 8, Parity: "N", StopBits: 2, Timeout: 50 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Sensors: []modbus.Sensor{{ID: "P1", Register: reg}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	time.Sleep(time.Second)
	// Attempts at 0, 5, 15, 35, 75 ms, then every 40 ms: about 27 in a second. Uncapped
	// doubling would give 8; no backoff at all, hundreds.
	if n := bus.BusDiagnostics()[0].OpenFailures; n < 15 || n > 35 {
		t.Errorf("%d attempts to open in 1 s with backoff 5ms..40ms, want about 27", n)
	}
	if s := read(t, bus, "P1")[0]; !errors.Is(s.Err, hal.ErrDisconnected) || !strings.Contains(s.Err.Error(), "absent") {
		t.Errorf("read: %v, want ErrDisconnected naming the device", s.Err)
	}
}

// Read returns when its context ends, even while the bus waits for a silent slave; Close is
// safe to call twice, concurrently with reads.
func TestBus_CancelAndClose(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	im := newImage()
	im.put(reg, 5)
	l := newLine(t, im)
	bus := openBus(t, l, []modbus.Sensor{{ID: "P1", Register: reg}}, func(c *modbus.Config) { c.Timeout = 300 * time.Millisecond })
	if err := l.slave.SetFaults(rtu.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := bus.Read(ctx, []string{"P1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read with a 30ms context: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Read returned %v after its context ended", d)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { _, _ = bus.Read(context.Background(), []string{"P1"}) })
	}
	wg.Go(func() { bus.Close() })
	wg.Go(func() { bus.Close() })
	wg.Wait()
	if _, err := bus.Read(context.Background(), []string{"P1"}); !errors.Is(err, hal.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
}
