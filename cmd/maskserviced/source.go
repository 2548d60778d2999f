package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal/modbus"
	"mask.services/maskservice/hal/sim"
)

// openBus opens the source of one bus for the given sensors (indexes into cfg.Sensors).
type openBus func(cfg *config.Config, bus *config.Bus, sensors []int, log *slog.Logger) (maskservice.Source, error)

// drivers is the table of bus drivers this build supports.
var drivers = map[string]openBus{
	"sim":        openSim,
	"modbus-rtu": openModbus,
	"modbus-tcp": openModbus,
}

// openSources opens one source per configured bus that has sensors and returns a source that
// reads them all.
func openSources(cfg *config.Config, log *slog.Logger) (src *multiSource, err error) {
	byBus := map[string][]int{}
	for i, s := range cfg.Sensors {
		byBus[s.Bus] = append(byBus[s.Bus], i)
	}
	multi := &multiSource{bus: map[string]int{}}
	defer func() {
		if err != nil {
			_ = multi.Close()
		}
	}()
	for _, b := range cfg.Buses {
		idx := byBus[b.Name]
		if len(idx) == 0 {
			log.Warn("bus has no sensors; not opened", "bus", b.Name)
			continue
		}
		open, ok := drivers[b.Driver]
		if !ok {
			return nil, configError(fmt.Errorf("bus %q: driver %q is not supported by this build (supported: %s)",
				b.Name, b.Driver, strings.Join(slices.Sorted(maps.Keys(drivers)), ", ")))
		}
		src, err := open(cfg, &b, idx, log)
		if err != nil {
			return nil, fmt.Errorf("open bus %q: %w", b.Name, err)
		}
		for _, i := range idx {
			multi.bus[cfg.Sensors[i].ID] = len(multi.sources)
		}
		multi.sources = append(multi.sources, src)
	}
	return multi, nil
}

// openSim opens the simulator for the sensors of a bus with driver "sim".
func openSim(cfg *config.Config, bus *config.Bus, idx []int, log *slog.Logger) (maskservice.Source, error) {
	sensors := make([]maskservice.Sensor, len(idx))
	scripts := map[string][]sim.ScriptPoint{}
	for k, i := range idx {
		sensors[k] = cfg.DomainSensor(i)
		if script := cfg.Script(i); script != nil {
			scripts[sensors[k].ID] = script
		}
	}
	seed := bus.SimSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	log.Info("simulated transducers", "bus", bus.Name, "sensors", len(sensors), "scripted", len(scripts))
	return sim.New(sensors, sim.Options{Seed: seed, Scripts: scripts, Latency: time.Duration(bus.SimLatency)})
}

// openModbus opens a bus with driver modbus-rtu or modbus-tcp. It does not wait for the port:
// a missing adapter shows as bad readings and the bus keeps trying to open it.
func openModbus(cfg *config.Config, bus *config.Bus, idx []int, log *slog.Logger) (maskservice.Source, error) {
	mc := cfg.ModbusBus(bus, idx)
	mc.Log = log
	for _, i := range idx {
		if len(cfg.Sensors[i].SimScript) > 0 {
			log.Info("sim_script ignored on a modbus bus (transducer-sim plays it)", "sensor", cfg.Sensors[i].ID, "bus", bus.Name)
		}
	}
	b, err := modbus.Open(mc)
	if err != nil {
		return nil, err
	}
	log.Info("modbus bus", "bus", bus.Name, "driver", bus.Driver, "device", bus.Device, "sensors", len(idx),
		"serial", fmt.Sprintf("%d %d%s%d", bus.Baud, bus.DataBits, bus.Parity, bus.StopBits),
		"timeout", time.Duration(bus.Timeout).String(), "retries", *bus.Retries)
	return b, nil
}

// multiSource reads sensors spread over several buses: each bus's share of a round is read
// concurrently, since the buses are independent lines. It implements maskservice.Source and
// maskservice.BusDiagnoser.
type multiSource struct {
	sources []maskservice.Source
	bus     map[string]int // sensor id -> index into sources
}

// Read implements maskservice.Source.
func (m *multiSource) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	if len(m.sources) == 1 {
		return m.sources[0].Read(ctx, ids)
	}
	perBus := make([][]string, len(m.sources))
	for _, id := range ids {
		b, ok := m.bus[id]
		if !ok {
			return nil, fmt.Errorf("read %s: sensor is on no bus", id)
		}
		perBus[b] = append(perBus[b], id)
	}
	results := make([][]maskservice.Sample, len(m.sources))
	errs := make([]error, len(m.sources))
	var wg sync.WaitGroup
	for b, busIDs := range perBus {
		if len(busIDs) == 0 {
			continue
		}
		wg.Go(func() { results[b], errs[b] = m.sources[b].Read(ctx, busIDs) })
	}
	wg.Wait()
	for b, busIDs := range perBus {
		if errs[b] == nil && len(results[b]) != len(busIDs) {
			errs[b] = fmt.Errorf("bus source returned %d samples for %d sensors", len(results[b]), len(busIDs))
		}
	}
	next := make([]int, len(m.sources))
	out := make([]maskservice.Sample, len(ids))
	for k, id := range ids {
		b := m.bus[id]
		if errs[b] != nil {
			out[k] = maskservice.Sample{SensorID: id, Raw: math.NaN(), Value: math.NaN(), Err: errs[b]}
			continue
		}
		out[k] = results[b][next[b]]
		next[b]++
	}
	return out, ctx.Err()
}

// BusDiagnostics implements maskservice.BusDiagnoser: the diagnostics of every bus that keeps
// them (the simulator does not), in configuration order.
func (m *multiSource) BusDiagnostics() []maskservice.BusDiagnostics {
	var out []maskservice.BusDiagnostics
	for _, s := range m.sources {
		if d, ok := s.(maskservice.BusDiagnoser); ok {
			out = append(out, d.BusDiagnostics()...)
		}
	}
	return out
}

// Close closes every bus that holds a port. Call it after the monitor has stopped.
func (m *multiSource) Close() error {
	var errs []error
	for _, s := range m.sources {
		if c, ok := s.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
