package rtu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"mask.services/maskservice/hal"
)

// Registers holds the register image a Slave serves. Implementations are called from the
// Slave's Serve goroutine only.
type Registers interface {
	// ReadRegisters returns quantity registers of the given kind from address on, for slave.
	// served is false when no slave of that id is on this line: the Slave then stays silent,
	// as a real bus does. A non-zero exception is answered instead of data (for example
	// hal.ExIllegalAddress when a register in the range is not mapped).
	ReadRegisters(slave uint8, kind hal.RegisterKind, address, quantity uint16) (regs []uint16, exception uint8, served bool)
}

// Faults are the misbehaviours a Slave can inject into its replies, each with its own share
// of replies (0 never, 1 always). Several may hit one reply; drop wins over the others.
type Faults struct {
	Drop       float64       // share of replies not sent at all (the master times out)
	CorruptCRC float64       // share of replies sent with a wrong CRC
	Short      float64       // share of data replies with one register fewer than asked
	Delay      time.Duration // every reply is sent this late (a slow or overloaded slave)
	// Exception, when non-zero, is answered instead of data to a share ExceptionShare of the
	// reads (1 when ExceptionShare is 0).
	Exception      uint8
	ExceptionShare float64
}

// Validate reports shares outside [0, 1] and a negative delay.
func (f Faults) Validate() error {
	for name, v := range map[string]float64{"drop": f.Drop, "corrupt-crc": f.CorruptCRC, "short": f.Short, "exception share": f.ExceptionShare} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s %v: must be a share between 0 and 1", name, v)
		}
	}
	if f.Delay < 0 {
		return fmt.Errorf("delay %s: must not be negative", f.Delay)
	}
	return nil
}

// SlaveStats count what a Slave saw and did.
type SlaveStats struct {
	Frames     uint64 // well-formed request frames addressed to any slave
	Replies    uint64 // replies sent (data or exception)
	Exceptions uint64 // exception replies among them
	CRCErrors  uint64 // frames dropped for a bad CRC
	Garbage    uint64 // incomplete or overlong frames dropped at a silence
	Injected   uint64 // replies dropped, corrupted, cut or replaced by an injected fault
}

// SlaveOptions configure a Slave. The zero value is valid.
type SlaveOptions struct {
	// Gap is the silence that ends an incomplete or unknown frame; default 10 ms, well above
	// the 3.5 characters of any standard baud rate, since a pseudo-terminal's timing is not a
	// line's.
	Gap time.Duration
	// Seed seeds the fault injection, so that a test's faults are reproducible.
	Seed uint64
	// Log receives a debug line per dropped frame; nil discards.
	Log *slog.Logger
}

// Slave is a Modbus RTU slave: it reads request frames from a serial line, answers register
// reads (functions 03 and 04) from its Registers, refuses everything else with exception 01,
// and stays silent for slave ids it does not serve and for broadcasts.
type Slave struct {
	regs Registers
	gap  time.Duration
	log  *slog.Logger

	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand

	frames, replies, exceptions, crcErrors, garbage, injected atomic.Uint64
}

// NewSlave returns a slave answering from regs.
func NewSlave(regs Registers, opts SlaveOptions) *Slave {
	if opts.Gap <= 0 {
		opts.Gap = 10 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Slave{regs: regs, gap: opts.Gap, log: opts.Log, rng: rand.New(rand.NewPCG(opts.Seed, 0x6d6f64627573))}
}

// SetFaults replaces the injected faults; safe to call while Serve runs.
func (s *Slave) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

// Stats returns the slave's counters.
func (s *Slave) Stats() SlaveStats {
	return SlaveStats{Frames: s.frames.Load(), Replies: s.replies.Load(), Exceptions: s.exceptions.Load(),
		CRCErrors: s.crcErrors.Load(), Garbage: s.garbage.Load(), Injected: s.injected.Load()}
}

// Serve answers requests on port until ctx is done (it then returns ctx.Err()) or the port
// fails (it returns the read or write error). Serve does not close port; the caller closes it
// after Serve returns, which also ends Serve's reader goroutine if it is blocked in Read.
func (s *Slave) Serve(ctx context.Context, port io.ReadWriter) error {
	chunks := make(chan []byte, 16)
	readErr := make(chan error, 1)
	stopped := make(chan struct{}) // the reader must not block on chunks once Serve returned
	defer close(stopped)
	go func() {
		for {
			buf := make([]byte, MaxFrame)
			n, err := port.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-stopped:
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	gap := time.NewTimer(time.Hour)
	gap.Stop()
	defer gap.Stop()
	var buf []byte
	resync := false // drop everything until the line falls silent
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("read serial line: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("read serial line: %w", err)
		case c := <-chunks:
			gap.Reset(s.gap)
			if resync {
				continue
			}
			buf = append(buf, c...)
			var err error
			buf, resync, err = s.process(ctx, port, buf)
			if err != nil {
				return err
			}
		case <-gap.C:
			resync = false
			if len(buf) > 0 {
				if err := s.atSilence(ctx, port, buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
}

// process answers every whole frame at the start of buf and returns what is left. It asks for
// a resync (drop until silence) after a bad frame, since the next frame's start is unknown.
func (s *Slave) process(ctx context.Context, port io.Writer, buf []byte) (rest []byte, resync bool, err error) {
	for len(buf) > 0 {
		n, lerr := RequestLength(buf)
		switch {
		case errors.Is(lerr, ErrUnknownFunction):
			return buf, false, nil // delimited by the silence
		case lerr != nil:
			s.garbage.Add(1)
			s.log.Debug("rtu: dropped frame", "err", lerr)
			return buf[:0], true, nil
		case n == 0 || len(buf) < n:
			return buf, false, nil // wait for the rest
		}
		req, perr := ParseRequest(buf[:n])
		if perr != nil {
			s.crcErrors.Add(1)
			s.log.Debug("rtu: dropped frame", "err", perr, "frame", fmt.Sprintf("% x", buf[:n]))
			return buf[:0], true, nil
		}
		buf = buf[n:]
		if err := s.answer(ctx, port, req); err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// atSilence handles what was left when the line fell silent: a frame of a function code we
// do not know (refused with exception 01 if its CRC is right) or garbage.
func (s *Slave) atSilence(ctx context.Context, port io.Writer, buf []byte) error {
	req, err := ParseRequest(buf)
	if errors.Is(err, ErrUnknownFunction) {
		return s.answer(ctx, port, req)
	}
	s.garbage.Add(1)
	s.log.Debug("rtu: dropped incomplete frame", "bytes", len(buf), "err", err)
	return nil
}

// answer replies to one well-formed request.
func (s *Slave) answer(ctx context.Context, port io.Writer, req Request) error {
	s.frames.Add(1)
	if req.Slave == 0 {
		return nil // broadcasts are never answered
	}
	var reply []byte
	switch {
	case req.Function == FuncReadHolding || req.Function == FuncReadInput:
		if req.Quantity < 1 || req.Quantity > MaxReadQuantity {
			reply = AppendException(nil, req.Slave, req.Function, hal.ExIllegalValue)
			break
		}
		kind := hal.Holding
		if req.Function == FuncReadInput {
			kind = hal.Input
		}
		regs, ex, served := s.regs.ReadRegisters(req.Slave, kind, req.Address, req.Quantity)
		switch {
		case !served:
			return nil
		case ex != 0:
			reply = AppendException(nil, req.Slave, req.Function, ex)
		case len(regs) != int(req.Quantity):
			reply = AppendException(nil, req.Slave, req.Function, hal.ExDeviceFailure)
		default:
			reply = AppendReadReply(nil, req.Slave, req.Function, regs)
		}
	default:
		if _, _, served := s.regs.ReadRegisters(req.Slave, hal.Holding, 0, 0); !served {
			return nil
		}
		reply = AppendException(nil, req.Slave, req.Function, hal.ExIllegalFunction)
	}
	reply, delay := s.inject(req, reply)
	if reply == nil {
		return nil
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if _, err := port.Write(reply); err != nil {
		return fmt.Errorf("write reply to slave %d: %w", req.Slave, err)
	}
	s.replies.Add(1)
	if reply[1]&0x80 != 0 {
		s.exceptions.Add(1)
	}
	return nil
}

// inject applies the configured faults to a reply: nil means drop it.
func (s *Slave) inject(req Request, reply []byte) ([]byte, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	hit := func(share float64) bool { return share > 0 && s.rng.Float64() < share }
	switch {
	case hit(f.Drop):
		s.injected.Add(1)
		return nil, 0
	case f.Exception != 0 && reply[1]&0x80 == 0 && (f.ExceptionShare == 0 || hit(f.ExceptionShare)):
		s.injected.Add(1)
		reply = AppendException(nil, req.Slave, req.Function, f.Exception)
	case hit(f.CorruptCRC):
		s.injected.Add(1)
		reply[len(reply)-1] ^= 0xFF
	case reply[1]&0x80 == 0 && reply[2] >= 2 && hit(f.Short):
		// One register fewer than asked, with a byte count and CRC that match: a frame
		// that is well-formed but short, which a timeout-based master would not notice.
		s.injected.Add(1)
		short := append([]byte(nil), reply[:len(reply)-4]...)
		short[2] -= 2
		reply = AppendCRC(short)
	}
	return reply, f.Delay
}
