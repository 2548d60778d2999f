package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"mask.services/maskservice"
)

// Buses is the set of field buses behind one maskservice.Source: each sensor is read on its
// own bus, and each bus's share of a round is read concurrently, since the buses are
// independent lines. It implements maskservice.Source and maskservice.Buses. Read is called
// from one goroutine at a time (the monitor's), as each bus's source expects; BusDiagnostics
// from any. Create it with NewBuses; Close it after the poll loop has stopped.
type Buses struct {
	sources []maskservice.Source
	bus     map[string]int // sensor id -> index into sources
}

var (
	_ maskservice.Source = (*Buses)(nil)
	_ maskservice.Buses  = (*Buses)(nil)
)

// NewBuses returns the buses sources, already opened, in configuration order; busOf maps each
// sensor id to the index in sources of the bus it is read on. It fails if a source is nil or
// a sensor names no source. Buses takes ownership of the sources: Close closes them.
func NewBuses(sources []maskservice.Source, busOf map[string]int) (*Buses, error) {
	for i, s := range sources {
		if s == nil {
			return nil, fmt.Errorf("new buses: bus %d: source is nil", i)
		}
	}
	b := &Buses{sources: append([]maskservice.Source(nil), sources...), bus: make(map[string]int, len(busOf))}
	for id, i := range busOf {
		if i < 0 || i >= len(sources) {
			return nil, fmt.Errorf("new buses: sensor %s: bus %d of %d", id, i, len(sources))
		}
		b.bus[id] = i
	}
	return b, nil
}

// Read implements maskservice.Source. With several buses, a sensor on no bus fails the round,
// and a bus whose source fails (or returns the wrong number of samples) fails its own sensors
// only: their samples carry the error, and the other buses' sensors are read.
func (m *Buses) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	if len(m.sources) == 1 {
		// One bus: its source reads the round itself, and reports a sensor it does not
		// know in that sample's Err.
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
func (m *Buses) BusDiagnostics() []maskservice.BusDiagnostics {
	var out []maskservice.BusDiagnostics
	for _, s := range m.sources {
		if d, ok := s.(maskservice.BusDiagnoser); ok {
			out = append(out, d.BusDiagnostics()...)
		}
	}
	return out
}

// Close closes every bus that holds a port (those that implement io.Closer) and returns
// their errors joined. Call it after the monitor has stopped.
func (m *Buses) Close() error {
	var errs []error
	for _, s := range m.sources {
		if c, ok := s.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
