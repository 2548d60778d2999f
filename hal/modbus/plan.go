package modbus

import (
	"cmp"
	"slices"

	"mask.services/maskservice/hal"
)

// maxQuantity is the most registers one read request may ask for (Modbus application
// protocol, function 03/04).
const maxQuantity = 125

// request is one read transaction of a plan: the registers of one slave and kind, and the
// sensors whose values it holds.
type request struct {
	slave    uint8
	kind     hal.RegisterKind
	address  uint16
	quantity uint16
	members  []member
}

// member is one sensor of a request: its position in the ids of the Read call, and where its
// value starts among the request's registers.
type member struct {
	pos    int
	sensor int // index into Bus.sensors
	offset int
}

// plan groups the sensors named by positions (index into Bus.sensors, one per id of a Read
// call, -1 for an id not on this bus, which is left out) into as few requests as possible: sensors of one slave and register kind are read in
// one request when the registers between them that no sensor maps number at most maxGap, and
// the request stays within 125 registers. Requests come out ordered by slave, kind and
// address, so a plan is the same whatever the order of the ids.
func plan(sensors []Sensor, positions []int, maxGap int) []request {
	order := make([]int, 0, len(positions)) // indexes into positions, unknown sensors (-1) left out
	for i, p := range positions {
		if p >= 0 {
			order = append(order, i)
		}
	}
	reg := func(i int) hal.Register { return sensors[positions[i]].Register }
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := reg(a), reg(b)
		return cmp.Or(cmp.Compare(ra.Slave, rb.Slave), cmp.Compare(ra.Kind, rb.Kind), cmp.Compare(ra.Address, rb.Address))
	})
	var out []request
	end := 0 // address past the last register of the open request
	for _, i := range order {
		r := reg(i)
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.slave == r.Slave && last.kind == r.Kind && int(r.Address) <= end+maxGap &&
				max(end, r.End())-int(last.address) <= maxQuantity {
				end = max(end, r.End())
				last.quantity = uint16(end - int(last.address))
				last.members = append(last.members, member{pos: i, sensor: positions[i], offset: int(r.Address - last.address)})
				continue
			}
		}
		end = r.End()
		out = append(out, request{slave: r.Slave, kind: r.Kind, address: r.Address, quantity: uint16(r.Words()),
			members: []member{{pos: i, sensor: positions[i]}}})
	}
	return out
}
