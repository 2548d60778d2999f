// Package modbus reads transducers over Modbus: RTU on an RS-485 serial line, or TCP for bench
// use. A Bus implements maskservice.Source for the sensors of one line.
//
// One goroutine owns each bus: it opens the port, serializes the transactions, and closes and
// reopens the port with capped exponential backoff when it fails, so that an unplugged USB
// adapter turns the bus's sensors bad (hal.ErrDisconnected) until it returns, without the
// daemon noticing anything else. Sensors of one slave whose registers are contiguous (or within
// MaxGap registers) are read in one request; a transaction that times out or gets a corrupt
// reply is retried as configured; an exception is not retried (the slave would answer the same).
//
// The master is simonvetter/modbus's client, used as it is. It opens the serial port through
// goburrow/serial; every serial setting is written out, since its defaults (two stop bits
// without parity) are not ours.
//
// RS-485 direction: neither library switches a half-duplex transceiver between sending and
// receiving. The board needs a transceiver with automatic direction control (as nearly every
// USB-RS485 adapter has), or the UART's driver must run in the kernel's rs485 mode
// (TIOCSRS485, set up by the device tree or at boot), which drives RTS around each frame.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
	"go.bug.st/serial/enumerator"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// Sensor is one transducer value on the bus.
type Sensor struct {
	ID       string
	Register hal.Register
}

// Config configures a Bus.
type Config struct {
	Name   string // the bus's name, for logs and diagnostics
	Driver string // "modbus-rtu" or "modbus-tcp"
	// Device is the serial device (/dev/ttyUSB0, /dev/ttyAMA0), a USB adapter written as
	// usb:VID:PID[:SERIAL] (found again at every reopen), or host:port for modbus-tcp.
	Device   string
	Baud     int    // modbus-rtu: 1200 to 115200
	DataBits int    // modbus-rtu: 7 or 8
	Parity   string // modbus-rtu: "N", "E" or "O"
	StopBits int    // modbus-rtu: 1 or 2
	// Timeout is how long a transaction waits for the reply.
	Timeout time.Duration
	// Retries is how many times a transaction that timed out or got a corrupt reply is
	// repeated before the sensors fail.
	Retries int
	// InterRequestDelay is the pause between the end of one transaction and the start of the
	// next, for slaves that need time between requests.
	InterRequestDelay time.Duration
	// MaxGap is how many registers that no sensor maps a request may span to read two
	// sensors of one slave at once. 0 reads only contiguous registers together; set it only
	// for devices that answer reads over unmapped registers (many answer exception 02).
	MaxGap int
	// MinBackoff and MaxBackoff bound the wait between attempts to reopen a failed port; it
	// doubles from MinBackoff (default 100ms) up to MaxBackoff (default 2s).
	MinBackoff, MaxBackoff time.Duration
	Sensors                []Sensor
	// Log receives the bus's connection events and the library's own messages (at debug).
	Log *slog.Logger
	// listPorts replaces enumerator.GetDetailedPortsList in tests.
	listPorts portLister
}

// Bus is one Modbus line and the sensors on it. It implements maskservice.Source and
// maskservice.BusDiagnoser. Create it with Open; Read may be called from one goroutine at a
// time; BusDiagnostics from any.
type Bus struct {
	cfg     Config
	log     *slog.Logger
	byID    map[string]int // sensor id -> index into cfg.Sensors
	slaves  []uint8        // distinct slave ids, ascending
	stats   *stats
	jobs    chan job
	quit    chan struct{}
	quitNow sync.Once
	stopped chan struct{}

	// Owned by the bus goroutine:
	client     *mb.ModbusClient
	openErr    error     // why the port is closed, nil while open
	portFailed bool      // the open port failed in the current read; reopen soon
	everOpen   bool      // the port was open once: opening again is a reconnect
	stale      time.Time // when an RTU exchange timed out or was garbled; zero when in sync
	backoff    time.Duration
	lastDone   time.Time // end of the previous transaction, for InterRequestDelay
	plans      map[string][]request
}

type job struct {
	ctx   context.Context
	ids   []string
	reply chan []maskservice.Sample
}

// Open validates cfg (Validate, and at least one sensor) and starts the bus goroutine, which opens the port. Open does not wait
// for the port: a bus whose adapter is missing still starts, fails its reads with
// hal.ErrDisconnected and keeps trying to open the port. Close the bus with Close.
func Open(cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		if f := maskservice.ErrorField(err); f != "" {
			return nil, fmt.Errorf("bus %q: %s: %w", cfg.Name, f, err)
		}
		return nil, fmt.Errorf("bus %q: %w", cfg.Name, err)
	}
	if len(cfg.Sensors) == 0 {
		return nil, fmt.Errorf("bus %q: no sensors", cfg.Name)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Second, cfg.MinBackoff)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.listPorts == nil {
		cfg.listPorts = func() ([]*enumerator.PortDetails, error) { return enumerator.GetDetailedPortsList() }
	}
	b := &Bus{
		cfg: cfg, log: cfg.Log.With("bus", cfg.Name), byID: map[string]int{},
		jobs: make(chan job), quit: make(chan struct{}), stopped: make(chan struct{}),
		plans: map[string][]request{}, backoff: cfg.MinBackoff,
		openErr: errors.New("port not opened yet"),
	}
	for i, s := range cfg.Sensors {
		b.byID[s.ID] = i
		if !slices.Contains(b.slaves, s.Register.Slave) {
			b.slaves = append(b.slaves, s.Register.Slave)
		}
	}
	slices.Sort(b.slaves)
	b.stats = newStats(b.slaves)
	go b.run()
	return b, nil
}

// parities are the serial parities a Config may name, as simonvetter/modbus spells them.
var parities = map[string]uint{"N": mb.PARITY_NONE, "E": mb.PARITY_EVEN, "O": mb.PARITY_ODD}

// Read implements maskservice.Source. It blocks until the bus goroutine has read the sensors
// (at most a few timeouts per request) or ctx is done.
func (b *Bus) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	j := job{ctx: ctx, ids: ids, reply: make(chan []maskservice.Sample, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.stopped:
		return nil, hal.ErrClosed
	}
	select {
	case s := <-j.reply:
		return s, ctx.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the bus goroutine and closes the port. It waits for a transaction in progress
// (at most the timeout). Reads after Close fail with hal.ErrClosed.
//
// A modbus-tcp bus that is reconnecting may take up to the library's 5 s dial timeout.
func (b *Bus) Close() error {
	b.quitNow.Do(func() { close(b.quit) })
	<-b.stopped
	return nil
}

// BusDiagnostics implements maskservice.BusDiagnoser for this one bus.
func (b *Bus) BusDiagnostics() []maskservice.BusDiagnostics {
	d := maskservice.BusDiagnostics{Bus: b.cfg.Name, Driver: b.cfg.Driver, Device: b.cfg.Device}
	b.stats.snapshot(&d, b.slaves)
	return []maskservice.BusDiagnostics{d}
}

// run is the bus goroutine: it owns the port.
func (b *Bus) run() {
	defer close(b.stopped)
	// The first open happens before any read is taken, so the monitor's first round waits
	// for it (the device shows CONNECTING meanwhile).
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	if !b.open(openFirst) {
		retry.Reset(b.backoff)
		b.backoff = min(2*b.backoff, b.cfg.MaxBackoff)
	}
	for {
		select {
		case <-b.quit:
			b.closePort()
			return
		case <-retry.C:
			if b.client == nil && !b.open(openReconnect) {
				retry.Reset(b.backoff)
				b.backoff = min(2*b.backoff, b.cfg.MaxBackoff)
			}
		case j := <-b.jobs:
			j.reply <- b.read(j.ctx, j.ids)
			if b.portFailed {
				// The port failed in this read. The backoff is reset only by a transaction
				// that succeeds, so a port that opens but fails at once is not reopened at
				// every poll.
				b.portFailed = false
				retry.Reset(b.backoff)
				b.backoff = min(2*b.backoff, b.cfg.MaxBackoff)
			}
		}
	}
}

// Why the port is opened.
const (
	openFirst     = iota // at start
	openReconnect        // after the port failed or could not be opened
	openResync           // to drop a late reply after a timeout (RTU)
)

// open opens the port; it reports whether the port is open.
func (b *Bus) open(why int) bool {
	reconnect := b.everOpen && why == openReconnect
	port, err := b.device()
	var client *mb.ModbusClient
	if err == nil {
		client, err = mb.NewClient(b.clientConfig(port))
	}
	if err == nil {
		if err = client.Open(); err != nil {
			err = fmt.Errorf("open %s: %w", port, err)
		}
	}
	now := time.Now()
	b.stats.opened(port, err, reconnect, now)
	if err != nil {
		if b.openErr == nil || b.openErr.Error() != err.Error() {
			b.log.Warn("cannot open bus; retrying with backoff", "device", b.cfg.Device, "err", err)
		}
		b.openErr = err
		return false
	}
	if why == openResync {
		b.log.Debug("bus reopened to drop a late reply", "port", port)
	} else {
		b.log.Info("bus open", "device", b.cfg.Device, "port", port, "reconnect", reconnect)
	}
	b.client, b.openErr, b.everOpen = client, nil, true
	return true
}

// device returns what to open: the configured path or host:port, or the device file a USB
// address resolves to now.
func (b *Bus) device() (string, error) {
	if b.cfg.Driver != "modbus-rtu" || !IsUSBAddress(b.cfg.Device) {
		return b.cfg.Device, nil
	}
	addr, err := ParseUSBAddress(b.cfg.Device)
	if err != nil {
		return "", err
	}
	return addr.resolve(b.cfg.listPorts)
}

func (b *Bus) clientConfig(port string) *mb.ClientConfiguration {
	c := &mb.ClientConfiguration{Timeout: b.cfg.Timeout, Logger: slog.NewLogLogger(b.log.Handler(), slog.LevelDebug)}
	if b.cfg.Driver == "modbus-tcp" {
		c.URL = "tcp://" + port
		return c
	}
	// Every serial setting written out: the library's defaults are not ours.
	c.URL = "rtu://" + port
	c.Speed, c.DataBits, c.Parity, c.StopBits = uint(b.cfg.Baud), uint(b.cfg.DataBits), parities[b.cfg.Parity], uint(b.cfg.StopBits)
	return c
}

func (b *Bus) closePort() {
	if b.client != nil {
		if err := b.client.Close(); err != nil {
			b.log.Debug("close port", "err", err)
		}
		b.client = nil
		b.stats.closed()
	}
}

// read reads the sensors named by ids, one sample per id.
func (b *Bus) read(ctx context.Context, ids []string) []maskservice.Sample {
	out := make([]maskservice.Sample, len(ids))
	key := strings.Join(ids, "\x00")
	reqs, ok := b.plans[key]
	if !ok {
		positions := make([]int, len(ids))
		for k, id := range ids {
			i, known := b.byID[id]
			if !known {
				i = -1
			}
			positions[k] = i
		}
		reqs = plan(b.cfg.Sensors, positions, b.cfg.MaxGap)
		b.plans[key] = reqs
	}
	for k, id := range ids {
		if _, known := b.byID[id]; !known {
			out[k] = maskservice.Sample{SensorID: id, Time: time.Now(), Raw: math.NaN(), Value: math.NaN(),
				Err: fmt.Errorf("read %s: sensor is not on bus %q", id, b.cfg.Name)}
		}
	}
	for _, req := range reqs {
		regs, rtt, at, err := b.transact(ctx, req)
		for _, m := range req.members {
			s := b.cfg.Sensors[m.sensor]
			smp := maskservice.Sample{SensorID: s.ID, Time: at, RTT: rtt}
			if err == nil {
				smp.Raw, smp.Err = s.Register.Decode(regs[m.offset : m.offset+s.Register.Words()])
				smp.Value = s.Register.Value(smp.Raw)
			} else {
				smp.Raw, smp.Value = math.NaN(), math.NaN()
				smp.Err = fmt.Errorf("read %s (slave %d, %s register %d): %w", s.ID, s.Register.Slave, s.Register.Kind, s.Register.Address, err)
			}
			out[m.pos] = smp
		}
	}
	return out
}

// transact runs one read request with its retries and returns the registers, the round-trip
// time of the last attempt and when it started. The error wraps a hal sentinel.
func (b *Bus) transact(ctx context.Context, req request) (regs []uint16, rtt time.Duration, at time.Time, err error) {
	kind := mb.HOLDING_REGISTER
	if req.kind == hal.Input {
		kind = mb.INPUT_REGISTER
	}
	for attempt := 0; ; attempt++ {
		at = time.Now()
		if b.client == nil {
			return nil, 0, at, fmt.Errorf("%w: %v", hal.ErrDisconnected, b.openErr)
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, at, err
		}
		if !b.stale.IsZero() {
			if err := b.resync(ctx); err != nil {
				return nil, 0, at, err
			}
			at = time.Now()
		}
		if wait := b.cfg.InterRequestDelay - at.Sub(b.lastDone); wait > 0 && !b.lastDone.IsZero() {
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, 0, at, err
			}
			at = time.Now()
		}
		var raw error
		if raw = b.client.SetUnitId(req.slave); raw == nil {
			regs, raw = b.client.ReadRegisters(req.address, req.quantity, kind)
		}
		b.lastDone = time.Now()
		rtt = b.lastDone.Sub(at)
		err = classify(raw)
		b.stats.transaction(req.slave, rtt, err, b.lastDone)
		if b.cfg.Driver == "modbus-rtu" && (errors.Is(err, hal.ErrTimeout) || errors.Is(err, hal.ErrFrame) || errors.Is(err, hal.ErrCRC)) {
			b.stale = b.lastDone
		}
		switch {
		case err == nil:
			if len(regs) != int(req.quantity) {
				return nil, rtt, at, fmt.Errorf("%w: %d registers, want %d", hal.ErrFrame, len(regs), req.quantity)
			}
			b.backoff = b.cfg.MinBackoff
			return regs, rtt, at, nil
		case errors.Is(err, hal.ErrDisconnected):
			b.log.Warn("bus port failed; closing it to reopen", "err", raw)
			b.closePort()
			b.openErr, b.portFailed = raw, true
			return nil, rtt, at, err
		case attempt < b.cfg.Retries && retryable(err):
			continue
		}
		if attempt > 0 {
			err = fmt.Errorf("%w (%d attempts)", err, attempt+1)
		}
		return nil, rtt, at, err
	}
}

// resync drops a late reply that a timed-out or garbled exchange may have left in the line's
// input buffer. RTU frames carry no transaction id: a late reply would be read as the answer
// to the next request, and from then on every reply would be one request behind, giving one
// sensor's value to another with good quality. resync waits out the reply window (the bus
// timeout once more) and reopens the port, whose open discards what arrived.
func (b *Bus) resync(ctx context.Context) error {
	wait := time.Until(b.stale.Add(b.cfg.Timeout))
	b.stale = time.Time{}
	if err := sleepCtx(ctx, wait); err != nil {
		return err
	}
	b.closePort()
	b.stats.resynced()
	if !b.open(openResync) {
		b.portFailed = true
		return fmt.Errorf("%w: %v", hal.ErrDisconnected, b.openErr)
	}
	return nil
}

// sleepCtx sleeps d (nothing if d <= 0) or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryable reports whether a failed transaction may succeed when repeated: a timeout or a
// reply garbled on the line. An exception would only be answered again.
func retryable(err error) bool {
	return errors.Is(err, hal.ErrTimeout) || errors.Is(err, hal.ErrCRC) || errors.Is(err, hal.ErrFrame)
}

// exceptionCodes maps the library's exception errors to their codes.
var exceptionCodes = map[error]uint8{
	mb.ErrIllegalFunction:         hal.ExIllegalFunction,
	mb.ErrIllegalDataAddress:      hal.ExIllegalAddress,
	mb.ErrIllegalDataValue:        hal.ExIllegalValue,
	mb.ErrServerDeviceFailure:     hal.ExDeviceFailure,
	mb.ErrAcknowledge:             hal.ExAcknowledge,
	mb.ErrServerDeviceBusy:        hal.ExDeviceBusy,
	mb.ErrMemoryParityError:       hal.ExMemoryParity,
	mb.ErrGWPathUnavailable:       hal.ExGatewayPath,
	mb.ErrGWTargetFailedToRespond: hal.ExGatewayNoResponse,
}

// classify turns the library's error into one wrapping a hal sentinel. Anything that is not a
// protocol outcome is the port failing: an I/O error, a hangup, a vanished device.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var me mb.Error
	if errors.As(err, &me) {
		if code, ok := exceptionCodes[me]; ok {
			return &hal.ExceptionError{Code: code}
		}
		switch me {
		case mb.ErrRequestTimedOut:
			return hal.ErrTimeout
		case mb.ErrBadCRC:
			return hal.ErrCRC
		case mb.ErrShortFrame, mb.ErrProtocolError, mb.ErrBadUnitId, mb.ErrBadTransactionId, mb.ErrUnknownProtocolId:
			return fmt.Errorf("%w (%s)", hal.ErrFrame, me)
		}
	}
	if os.IsTimeout(err) {
		return hal.ErrTimeout
	}
	// The library reports an exception code it has no name for as a plain error.
	var code uint8
	if _, scanErr := fmt.Sscanf(err.Error(), "unknown exception code (%d)", &code); scanErr == nil {
		return &hal.ExceptionError{Code: code}
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("port hung up: %w", err)
	}
	return fmt.Errorf("%w: %v", hal.ErrDisconnected, err)
}
