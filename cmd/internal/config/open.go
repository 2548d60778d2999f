package config

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
	"mask.services/maskservice/hal/sim"
)

// opener opens the source of bus b for the given sensors (indexes into Config.Sensors), whose
// settings in force live holds. The Config is validated.
type opener func(c *Config, b *Bus, sensors []int, live *maskservice.LiveSensors, log *slog.Logger) (maskservice.Source, error)

// drivers is the one table of bus drivers: the names a config may give a bus, and how each
// is opened. Validation and OpenBuses both read it, so a name the check takes is one the
// daemon opens.
var drivers = map[string]opener{
	"sim":        openSim,
	"modbus-rtu": openModbus,
	"modbus-tcp": openModbus,
}

// Drivers returns the names of the bus drivers a config may name, sorted.
func Drivers() []string { return slices.Sorted(maps.Keys(drivers)) }

// OpenBuses opens one source per configured bus that has sensors, with the driver the bus
// names, and returns them as one Source. A bus without sensors is not opened (and logged). A
// modbus bus does not wait for its port: a missing adapter shows as bad readings and the bus
// keeps trying to open it. The simulator takes its sensors' settings from live at every read
// (nil: those of c). On error, the buses already opened are closed again. Call it only on a
// validated Config; close the result after the poll loop has stopped.
func OpenBuses(c *Config, live *maskservice.LiveSensors, log *slog.Logger) (_ *hal.Buses, err error) {
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
	for i := range c.Buses {
		b := &c.Buses[i]
		idx := c.sensorsOn(b.Name)
		if len(idx) == 0 {
			log.Warn("bus has no sensors; not opened", "bus", b.Name)
			continue
		}
		open, ok := drivers[b.Driver]
		if !ok {
			return nil, fmt.Errorf("bus %q: driver %q is not one of %v", b.Name, b.Driver, Drivers())
		}
		src, err := open(c, b, idx, live, log)
		if err != nil {
			return nil, fmt.Errorf("open bus %q: %w", b.Name, err)
		}
		for _, k := range idx {
			busOf[c.Sensors[k].ID] = len(sources)
		}
		sources = append(sources, src)
	}
	return hal.NewBuses(sources, busOf)
}

// sensorsOn returns the indexes into Sensors of the sensors on the named bus, in file order.
func (c *Config) sensorsOn(bus string) []int {
	var idx []int
	for i, s := range c.Sensors {
		if s.Bus == bus {
			idx = append(idx, i)
		}
	}
	return idx
}

// simBus returns the sensors idx of the sim bus b and the simulator's options for them, as
// sim.New takes them: the bus's latency and seed (0 as written), and the sensors' scripts.
func (c *Config) simBus(b *Bus, idx []int) ([]maskservice.Sensor, sim.Options) {
	sensors := make([]maskservice.Sensor, len(idx))
	scripts := map[string][]sim.ScriptPoint{}
	for k, i := range idx {
		sensors[k] = c.DomainSensor(i)
		if script := c.Script(i); script != nil {
			scripts[sensors[k].ID] = script
		}
	}
	return sensors, sim.Options{Seed: b.SimSeed, Scripts: scripts, Latency: time.Duration(b.SimLatency)}
}

// openSim opens the simulator for the sensors of a bus with driver "sim".
func openSim(c *Config, b *Bus, idx []int, live *maskservice.LiveSensors, log *slog.Logger) (maskservice.Source, error) {
	sensors, opts := c.simBus(b, idx)
	opts.Live = live
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	log.Info("simulated transducers", "bus", b.Name, "sensors", len(sensors), "scripted", len(opts.Scripts))
	return sim.New(sensors, opts)
}

// openModbus opens a bus with driver modbus-rtu or modbus-tcp. It does not wait for the port:
// a missing adapter shows as bad readings and the bus keeps trying to open it.
func openModbus(c *Config, b *Bus, idx []int, _ *maskservice.LiveSensors, log *slog.Logger) (maskservice.Source, error) {
	mc := c.ModbusBus(b, idx)
	mc.Log = log
	for _, i := range idx {
		if len(c.Sensors[i].SimScript) > 0 {
			log.Info("sim_script ignored on a modbus bus (transducer-sim plays it)", "sensor", c.Sensors[i].ID, "bus", b.Name)
		}
	}
	bus, err := modbus.Open(mc)
	if err != nil {
		return nil, err
	}
	log.Info("modbus bus", "bus", b.Name, "driver", b.Driver, "device", b.Device, "sensors", len(idx),
		"serial", fmt.Sprintf("%d %d%s%d", b.Baud, b.DataBits, b.Parity, b.StopBits),
		"timeout", time.Duration(b.Timeout).String(), "retries", *b.Retries)
	return bus, nil
}
