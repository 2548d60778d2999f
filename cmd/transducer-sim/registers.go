package main

import (
	"context"
	"fmt"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// mapped is one sensor's place in the register image.
type mapped struct {
	id  string
	reg hal.Register
}

// image serves the registers of the simulated transducers: each read takes the sensors'
// simulated values now and encodes them as the transducers would. It implements
// rtu.Registers.
type image struct {
	src     maskservice.Source
	sensors []mapped
	slaves  map[uint8]bool
	timeout time.Duration // bound on one read of the simulator
}

func newImage(src maskservice.Source, sensors []mapped) *image {
	im := &image{src: src, sensors: sensors, slaves: map[uint8]bool{}, timeout: time.Second}
	for _, s := range sensors {
		im.slaves[s.reg.Slave] = true
	}
	return im
}

// ReadRegisters implements rtu.Registers. A register that no sensor maps gets exception 02
// (illegal data address); a sensor whose simulated read fails (an injected fault) makes the
// request fail with exception 04 (server device failure), as a module with a broken input
// channel answers.
func (im *image) ReadRegisters(slave uint8, kind hal.RegisterKind, address, quantity uint16) ([]uint16, uint8, bool) {
	if !im.slaves[slave] {
		return nil, 0, false
	}
	if quantity == 0 {
		return nil, 0, true
	}
	start, end := int(address), int(address)+int(quantity)
	covered := make([]bool, quantity)
	var hit []mapped
	for _, s := range im.sensors {
		if s.reg.Slave != slave || s.reg.Kind != kind || s.reg.End() <= start || int(s.reg.Address) >= end {
			continue
		}
		hit = append(hit, s)
		for a := max(start, int(s.reg.Address)); a < min(end, s.reg.End()); a++ {
			covered[a-start] = true
		}
	}
	for _, c := range covered {
		if !c {
			return nil, hal.ExIllegalAddress, true
		}
	}
	ids := make([]string, len(hit))
	for i, s := range hit {
		ids[i] = s.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), im.timeout)
	defer cancel()
	samples, err := im.src.Read(ctx, ids)
	if err != nil || len(samples) != len(ids) {
		return nil, hal.ExDeviceFailure, true
	}
	out := make([]uint16, quantity)
	var words []uint16
	for i, s := range hit {
		if samples[i].Err != nil {
			return nil, hal.ExDeviceFailure, true
		}
		words = s.reg.Encode(words[:0], samples[i].Value)
		for k, w := range words {
			if a := int(s.reg.Address) + k - start; a >= 0 && a < len(out) {
				out[a] = w
			}
		}
	}
	return out, 0, true
}

// describe lists the register map for the start-up log.
func (im *image) describe() []string {
	out := make([]string, len(im.sensors))
	for i, s := range im.sensors {
		r := s.reg
		out[i] = fmt.Sprintf("%s: slave %d %s %d %s", s.id, r.Slave, r.Kind, r.Address, r.Type)
		if r.Words() == 2 {
			out[i] += " " + r.Order.String()
		}
	}
	return out
}
