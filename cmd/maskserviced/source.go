package main

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
	"mask.services/maskservice/hal"
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
func openSources(cfg *config.Config, log *slog.Logger) (_ *hal.Buses, err error) {
	byBus := map[string][]int{}
	for i, s := range cfg.Sensors {
		byBus[s.Bus] = append(byBus[s.Bus], i)
	}
	var sources []maskservice.Source
	busOf := map[string]int{}
	defer func() {
		if err != nil {
			// The mapping names only the buses opened so far, so this cannot fail.
			if opened, e := hal.NewBuses(sources, busOf); e == nil {
				_ = opened.Close()
			}
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
			busOf[cfg.Sensors[i].ID] = len(sources)
		}
		sources = append(sources, src)
	}
	return hal.NewBuses(sources, busOf)
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
