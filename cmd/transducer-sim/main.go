// Command transducer-sim is a Modbus RTU slave that serves simulated pressure transducers on
// a serial line: for tests, benchmarks, and technicians without hardware.
//
// It reads the daemon's own config file and serves the sensors of one modbus-rtu bus with the
// register map the daemon reads (slave, table, address, type, word order, scale, offset):
// each sensor's simulated value (the realistic profile, or its sim_script) is turned back
// into the raw register value through the inverse of scale and offset, rounded to the nearest
// step. A read of a register that no sensor maps gets exception 02.
//
// Usage:
//
//	transducer-sim --config FILE --link PATH [flags]     create a pty and link it at PATH
//	transducer-sim --config FILE --device /dev/ttyUSB1   serve on a real serial port
//
// With --link, point the daemon's bus at PATH (device = "PATH"); the link is replaced when the
// simulator restarts, so the daemon reconnects by itself. Faults are injected with --drop,
// --corrupt-crc, --short, --delay and --exception. SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal/sim"
	"mask.services/maskservice/hal/slave/pty"
	"mask.services/maskservice/hal/slave/rtu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the command line.
type options struct {
	config, bus, link, device string
	seed                      uint64
	faults                    rtu.Faults
	exception                 uint
	verbose                   bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("transducer-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "the daemon's config `file` (required): the register map to serve")
	fs.StringVar(&o.bus, "bus", "", "the modbus-rtu bus of the config to serve (default: the only one)")
	fs.StringVar(&o.link, "link", "", "create a pseudo-terminal and link it at `path`")
	fs.StringVar(&o.device, "device", "", "serve on this serial `port` instead, with the bus's serial settings")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the simulated noise and of the fault injection (0: random)")
	fs.Float64Var(&o.faults.Drop, "drop", 0, "share of replies not sent (0..1): the master times out")
	fs.Float64Var(&o.faults.CorruptCRC, "corrupt-crc", 0, "share of replies sent with a wrong CRC (0..1)")
	fs.Float64Var(&o.faults.Short, "short", 0, "share of replies one register short (0..1)")
	fs.DurationVar(&o.faults.Delay, "delay", 0, "send every reply this late (such as 50ms)")
	fs.UintVar(&o.exception, "exception", 0, "answer this Modbus exception `code` (1-255) instead of data")
	fs.Float64Var(&o.faults.ExceptionShare, "exception-share", 0, "share of reads answered with --exception (0..1; 0 means all)")
	fs.BoolVar(&o.verbose, "v", false, "log every dropped frame")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.config == "":
		return nil, errors.New("--config is required: the register map comes from the daemon's config file")
	case (o.link == "") == (o.device == ""):
		return nil, errors.New("give exactly one of --link PATH (a new pty) and --device PORT (a serial port)")
	case o.exception > 255:
		return nil, fmt.Errorf("--exception %d: a code is 1 to 255", o.exception)
	}
	o.faults.Exception = uint8(o.exception)
	if err := o.faults.Validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "transducer-sim: %v\n", err)
		}
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, o, log); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "transducer-sim: %v\n", err)
		return 1
	}
	return 0
}

// serve builds the simulated transducers and answers on the line until ctx is done.
func serve(ctx context.Context, o *options, log *slog.Logger) error {
	cfg, err := config.Load(o.config)
	if err != nil {
		return err
	}
	bus, err := pickBus(cfg, o.bus)
	if err != nil {
		return err
	}
	var domain []maskservice.Sensor
	var regs []mapped
	scripts := map[string][]sim.ScriptPoint{}
	for i, s := range cfg.Sensors {
		if s.Bus != bus.Name {
			continue
		}
		domain = append(domain, cfg.DomainSensor(i))
		regs = append(regs, mapped{id: s.ID, reg: cfg.Register(i)})
		if sc := cfg.Script(i); sc != nil {
			scripts[s.ID] = sc
		}
	}
	if len(regs) == 0 {
		return fmt.Errorf("bus %q has no sensors to serve", bus.Name)
	}
	seed := o.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	src, err := sim.New(domain, sim.Options{Seed: seed, Scripts: scripts})
	if err != nil {
		return fmt.Errorf("simulate bus %q: %w", bus.Name, err)
	}
	im := newImage(src, regs)
	slave := rtu.NewSlave(im, rtu.SlaveOptions{Seed: seed, Log: log})
	if err := slave.SetFaults(o.faults); err != nil {
		return err
	}

	var line io.ReadWriter // what the slave serves on
	var closer io.Closer   // closing it unblocks the slave's read
	var where string
	if o.link != "" {
		p, err := pty.Open()
		if err != nil {
			return err
		}
		if err := p.Link(o.link); err != nil {
			p.Close()
			return err
		}
		line, closer, where = p.Master, p, o.link+" -> "+p.Name
		defer p.Close()
	} else {
		port, err := serial.Open(o.device, serialMode(bus))
		if err != nil {
			return fmt.Errorf("open %s: %w", o.device, err)
		}
		line, closer, where = port, port, o.device
		defer port.Close()
	}
	log.Info("serving simulated transducers", "bus", bus.Name, "line", where,
		"serial", fmt.Sprintf("%d %d%s%d", bus.Baud, bus.DataBits, bus.Parity, bus.StopBits),
		"registers", strings.Join(im.describe(), "; "), "faults", fmt.Sprintf("%+v", o.faults))

	serveErr := make(chan error, 1)
	go func() { serveErr <- slave.Serve(ctx, line) }()
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		closer.Close()
		err = <-serveErr
	}
	st := slave.Stats()
	log.Info("stopped", "frames", st.Frames, "replies", st.Replies, "exceptions", st.Exceptions,
		"crc_errors", st.CRCErrors, "garbage", st.Garbage, "injected", st.Injected)
	return err
}

// pickBus returns the modbus-rtu bus named name, or the only one when name is "".
func pickBus(cfg *config.Config, name string) (*config.Bus, error) {
	var rtuBuses []string
	for _, b := range cfg.Buses {
		if b.Driver == "modbus-rtu" {
			rtuBuses = append(rtuBuses, b.Name)
		}
	}
	switch {
	case name != "":
		b := cfg.Bus(name)
		if b == nil || b.Driver != "modbus-rtu" {
			return nil, fmt.Errorf("--bus %q: not a modbus-rtu bus of %s (have %s)", name, cfg.File(), strings.Join(rtuBuses, ", "))
		}
		return b, nil
	case len(rtuBuses) == 1:
		return cfg.Bus(rtuBuses[0]), nil
	case len(rtuBuses) == 0:
		return nil, fmt.Errorf("%s has no bus with driver modbus-rtu to serve", cfg.File())
	}
	slices.Sort(rtuBuses)
	return nil, fmt.Errorf("%s has several modbus-rtu buses (%s): choose one with --bus", cfg.File(), strings.Join(rtuBuses, ", "))
}

// serialMode is the bus's serial settings for go.bug.st/serial.
func serialMode(b *config.Bus) *serial.Mode {
	m := &serial.Mode{BaudRate: b.Baud, DataBits: b.DataBits, StopBits: serial.OneStopBit}
	if b.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	switch b.Parity {
	case "E":
		m.Parity = serial.EvenParity
	case "O":
		m.Parity = serial.OddParity
	default:
		m.Parity = serial.NoParity
	}
	return m
}
