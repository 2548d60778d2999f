// Package chunk is the on-disk format of the history log: a run of one sensor's readings,
// packed so that a reading at 1 Hz costs about 2 bytes.
//
// # Format, version 1
//
// All integers are Go varints (encoding/binary: zigzag for signed ones).
//
//	byte     version (1)
//	uvarint  count: readings in the chunk, >= 1
//	varint   start: time of the first reading, Unix milliseconds
//	varint   last: time of the last reading minus start, milliseconds
//	varint   min, max: the earliest and the latest reading's time minus start (they differ
//	         from the first and the last only after the clock jumped back)
//	byte     mode: 0 = values as float64 bit patterns, 1 = raw integers with scale and offset,
//	         2 = raw integers with divisor and offset
//	mode 1, 2: float64 scale (or divisor), float64 offset (little-endian IEEE 754 bits)
//	uvarint  events, then each event: uvarint index delta (from the previous event's index;
//	         the first event is at index 0), byte state, and when the state says so a fault
//	         text (uvarint length, bytes). An event sets the status, quality, fault and
//	         whether there is a value for its reading and every later one up to the next event.
//	times    for readings 1..count-1: varint delta-of-delta of the milliseconds between readings
//	values   for each reading that has a value, in order:
//	         mode 1, 2: varint raw minus the previous raw (the first against 0); value = raw *
//	                 scale + offset (mode 2: raw / divisor + offset), which reproduces the
//	                 reading's value bit for bit;
//	         mode 0: the value's bits XOR the previous value's (the first against 0): one byte
//	                 0xFF when equal, else a byte (leading zero bytes << 4 | trailing zero
//	                 bytes) and the bytes between.
//
// State byte: bits 0-1 status (unknown, normal, warning, critical), bit 2 quality bad, bit 3 no
// value (a failed read), bit 4 a fault text follows.
//
// Times are kept to the millisecond. Mode 1 is chosen when every value is its raw register
// count times a scale plus an offset (which the encoder infers and verifies bit for bit), so
// the chunk keeps the raw value too; otherwise mode 0 keeps the values exactly and the raw
// values are lost (decoded as NaN). Status, quality and fault are kept exactly.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"mask.services/maskservice"
)

// Version is the format version this package writes and reads.
const Version = 1

// The modes of the values section.
const (
	modeFloat     = 0
	modeRaw       = 1
	modeRawDivide = 2
)

// State byte bits.
const (
	stateStatus  = 0x03
	stateBad     = 0x04
	stateNoValue = 0x08
	stateFault   = 0x10
)

// maxExactRaw bounds raw values kept as integers: beyond 2^53 a float64 no longer holds every
// integer.
const maxExactRaw = 1 << 53

// ErrCorrupt is wrapped by every decoding error: the bytes are not a valid chunk.
var ErrCorrupt = errors.New("corrupt history chunk")

// Scale is the raw-to-value conversion the encoder found for a chunk: value = raw * Scale +
// Offset. Passing the previous chunk's Scale to Encode saves inferring it again.
type Scale struct {
	Scale, Offset float64
	Divide        bool // value = raw / Scale + Offset (as a register's counts per unit give it)
	OK            bool // the conversion is known
}

// Encode appends the chunk of readings rs (at least one, in the order they were taken) to
// dst. hint, when OK, is tried first as the raw-to-value conversion. It returns the extended
// slice and the conversion used (OK false when the values had to be stored as they are).
func Encode(dst []byte, rs []maskservice.Reading, hint Scale) ([]byte, Scale) {
	if len(rs) == 0 {
		panic("chunk: Encode of no readings")
	}
	sc := inferScale(rs, hint)
	start := rs[0].Time.UnixMilli()
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	dst = binary.AppendVarint(dst, start)
	lo, hi := start, start
	for _, r := range rs {
		ms := r.Time.UnixMilli()
		lo, hi = min(lo, ms), max(hi, ms)
	}
	dst = binary.AppendVarint(dst, rs[len(rs)-1].Time.UnixMilli()-start)
	dst = binary.AppendVarint(dst, lo-start)
	dst = binary.AppendVarint(dst, hi-start)
	mode := byte(modeFloat)
	if sc.OK {
		mode = modeRaw
		if sc.Divide {
			mode = modeRawDivide
		}
	}
	dst = append(dst, mode)
	if sc.OK {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(sc.Scale))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(sc.Offset))
	}

	// Events: where the state changes.
	type event struct {
		at    int
		state byte
		fault string
	}
	var events []event
	for i, r := range rs {
		st := stateOf(r)
		if n := len(events); n == 0 || events[n-1].state != st || events[n-1].fault != r.Fault {
			events = append(events, event{i, st, r.Fault})
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	prev := 0
	for _, e := range events {
		dst = binary.AppendUvarint(dst, uint64(e.at-prev))
		prev = e.at
		dst = append(dst, e.state)
		if e.state&stateFault != 0 {
			dst = binary.AppendUvarint(dst, uint64(len(e.fault)))
			dst = append(dst, e.fault...)
		}
	}

	// Times: delta of delta, in milliseconds.
	var prevDelta int64
	for i := 1; i < len(rs); i++ {
		d := rs[i].Time.UnixMilli() - rs[i-1].Time.UnixMilli()
		dst = binary.AppendVarint(dst, d-prevDelta)
		prevDelta = d
	}

	// Values.
	var prevRaw int64
	var prevBits uint64
	for _, r := range rs {
		if !r.HasValue() {
			continue
		}
		if sc.OK {
			raw := int64(r.Raw)
			dst = binary.AppendVarint(dst, raw-prevRaw)
			prevRaw = raw
			continue
		}
		bits := math.Float64bits(r.Value)
		dst = appendXOR(dst, bits^prevBits)
		prevBits = bits
	}
	return dst, sc
}

// stateOf packs a reading's status, quality and whether it has a value and a fault.
func stateOf(r maskservice.Reading) byte {
	st := byte(r.Status) & stateStatus
	if r.Quality != maskservice.QualityGood {
		st |= stateBad
	}
	if !r.HasValue() {
		st |= stateNoValue
	}
	if r.Fault != "" {
		st |= stateFault
	}
	return st
}

// appendXOR appends x (the XOR of two values' bits) without its zero bytes at either end.
func appendXOR(dst []byte, x uint64) []byte {
	if x == 0 {
		return append(dst, 0xFF)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], x)
	lead, trail := 0, 0
	for b[lead] == 0 {
		lead++
	}
	for b[7-trail] == 0 {
		trail++
	}
	dst = append(dst, byte(lead<<4|trail))
	return append(dst, b[lead:8-trail]...)
}

// inferScale finds scale and offset such that every value of rs is raw * scale + offset bit
// for bit, with integral raw values: then the chunk stores the raw integers. The candidates are
// hint, and the quotient through the readings of the lowest and highest raw value rounded to
// 4 to 12 significant digits (a configured scale such as 0.00625 is recovered exactly from the
// quotient's rounding noise). Any reading that does not fit makes the chunk store plain values.
func inferScale(rs []maskservice.Reading, hint Scale) Scale {
	lo, hi := -1, -1 // the readings with the lowest and the highest raw value
	for i, r := range rs {
		if !r.HasValue() {
			continue
		}
		if math.IsNaN(r.Raw) || r.Raw != math.Trunc(r.Raw) || math.Abs(r.Raw) > maxExactRaw {
			return Scale{}
		}
		if lo < 0 || r.Raw < rs[lo].Raw {
			lo = i
		}
		if hi < 0 || r.Raw > rs[hi].Raw {
			hi = i
		}
	}
	if lo < 0 {
		return Scale{Scale: 1, OK: true} // no values at all: nothing to convert
	}
	fits := func(s Scale) bool {
		if s.Scale == 0 || math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) || math.IsNaN(s.Offset) || math.IsInf(s.Offset, 0) {
			return false
		}
		for _, r := range rs {
			// The raw value as the decoder will have it: an integer (so -0 becomes 0).
			if r.HasValue() && math.Float64bits(rawToValue(float64(int64(r.Raw)), s)) != math.Float64bits(r.Value) {
				return false
			}
		}
		return true
	}
	if hint.OK && fits(hint) {
		return hint
	}
	a, b := rs[lo], rs[hi]
	var scales []float64
	switch {
	case a.Raw != b.Raw:
		// The widest spread gives the quotient with the smallest relative error.
		scales = append(scales, (b.Value-a.Value)/(b.Raw-a.Raw))
	case a.Raw != 0:
		scales = append(scales, a.Value/a.Raw)
	}
	if hint.OK {
		scales = append(scales, hint.Scale)
	}
	scales = append(scales, 1)
	for _, s0 := range scales {
		for _, digits := range []int{4, 6, 8, 10, 12} {
			// Multiplying by the scale, as a transducer's register map says; or dividing by
			// the counts per unit, as some sources compute it.
			for _, c := range []Scale{{Scale: roundSig(s0, digits)}, {Scale: roundSig(1/s0, digits), Divide: true}} {
				c.OK = true
				base := rawToValue(a.Raw, c)
				for _, off := range []float64{0, roundSig(a.Value-base, digits), a.Value - base} {
					if c.Offset = off; fits(c) {
						return c
					}
				}
			}
		}
	}
	return Scale{}
}

// rawToValue is raw * scale + offset, rounded after the multiplication: the conversion makes
// the compiler keep the two roundings, where on arm64 it could otherwise fuse them into one
// multiply-add and give another last bit than the encoder verified.
func rawToValue(raw float64, s Scale) float64 {
	if s.Divide {
		return float64(raw/s.Scale) + s.Offset
	}
	return float64(raw*s.Scale) + s.Offset
}

// roundSig rounds f to digits significant decimal digits.
func roundSig(f float64, digits int) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', digits, 64), 64)
	if err != nil {
		return f
	}
	return r
}

// Header is what a chunk says about itself before its readings.
type Header struct {
	Count      int
	Start, End time.Time // times of the first and the last reading
	Min, Max   time.Time // the earliest and the latest reading's time
}

// ReadHeader decodes the header of a chunk without its readings.
func ReadHeader(b []byte) (Header, error) {
	d := decoder{b: b}
	h, _ := d.header()
	return h, d.err
}

// Decode calls fn for each reading of the chunk b, oldest first, until fn returns false. The
// readings get sensorID and unit, which the chunk does not store.
func Decode(b []byte, sensorID, unit string, fn func(maskservice.Reading) bool) error {
	d := decoder{b: b}
	h, sc := d.header()
	if d.err != nil {
		return d.err
	}
	type event struct {
		at    int
		state byte
		fault string
	}
	nEvents := d.uvarint("events", uint64(h.Count))
	events := make([]event, 0, nEvents)
	at := 0
	for i := range nEvents {
		delta := d.uvarint("event index", uint64(h.Count))
		if i > 0 && delta == 0 {
			d.fail("two events at one reading")
		}
		at += int(delta)
		if i == 0 && at != 0 {
			d.fail("first event after the first reading")
		}
		if at >= h.Count {
			d.fail("event past the last reading")
		}
		st := d.byte("event state")
		if st&^(stateStatus|stateBad|stateNoValue|stateFault) != 0 {
			d.fail("unknown state bits")
		}
		var fault string
		if st&stateFault != 0 {
			n := d.uvarint("fault length", uint64(len(d.b)))
			fault = string(d.bytes(int(n)))
		}
		if d.err != nil {
			return d.err
		}
		events = append(events, event{at, st, fault})
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrCorrupt)
	}

	times := make([]int64, h.Count)
	times[0] = h.Start.UnixMilli()
	var delta int64
	for i := 1; i < h.Count && d.err == nil; i++ {
		delta += d.varint("time")
		times[i] = times[i-1] + delta
	}
	if d.err != nil {
		return d.err
	}
	if times[h.Count-1] != h.End.UnixMilli() {
		return fmt.Errorf("%w: times end at %d, header says %d", ErrCorrupt, times[h.Count-1], h.End.UnixMilli())
	}
	for _, t := range times {
		if t < h.Min.UnixMilli() || t > h.Max.UnixMilli() {
			return fmt.Errorf("%w: a time outside the header's bounds", ErrCorrupt)
		}
	}

	var prevRaw int64
	var prevBits uint64
	ev := 0
	for i := range h.Count {
		for ev+1 < len(events) && events[ev+1].at <= i {
			ev++
		}
		e := events[ev]
		r := maskservice.Reading{
			SensorID: sensorID, Unit: unit, Time: time.UnixMilli(times[i]).UTC(),
			Status: maskservice.Status(e.state & stateStatus), Fault: e.fault,
			Value: math.NaN(), Raw: math.NaN(),
		}
		if e.state&stateBad != 0 {
			r.Quality = maskservice.QualityBad
		}
		if e.state&stateNoValue == 0 {
			if sc.OK {
				prevRaw += d.varint("raw")
				r.Raw = float64(prevRaw)
				r.Value = rawToValue(r.Raw, sc)
			} else {
				prevBits ^= d.xor()
				r.Value = math.Float64frombits(prevBits)
			}
			if d.err != nil {
				return d.err
			}
		}
		if !fn(r) {
			return nil
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last value", ErrCorrupt, len(d.b))
	}
	return nil
}

// decoder reads a chunk front to back; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (d *decoder) header() (Header, Scale) {
	var h Header
	var sc Scale
	if v := d.byte("version"); d.err == nil && v != Version {
		d.err = fmt.Errorf("%w: format version %d (this build reads %d)", ErrCorrupt, v, Version)
	}
	// Every reading after the first takes at least one byte of time, so the count is bounded
	// by the bytes left: a corrupt count cannot make the decoder allocate much.
	h.Count = int(d.uvarint("count", uint64(len(d.b))))
	if d.err == nil && h.Count == 0 {
		d.fail("no readings")
	}
	start := d.varint("start")
	last, lo, hi := d.varint("last"), d.varint("min"), d.varint("max")
	const limit = 1 << 60 // milliseconds: far beyond any clock, far from overflowing
	for _, v := range []int64{start, last, lo, hi} {
		if d.err == nil && (v < -limit || v > limit) {
			d.fail("time out of range")
		}
	}
	if d.err == nil && (lo > 0 || hi < 0 || last < lo || last > hi) {
		d.fail("times outside their bounds")
	}
	h.Start = time.UnixMilli(start).UTC()
	h.End = time.UnixMilli(start + last).UTC()
	h.Min, h.Max = time.UnixMilli(start+lo).UTC(), time.UnixMilli(start+hi).UTC()
	switch mode := d.byte("mode"); {
	case d.err != nil:
	case mode == modeRaw || mode == modeRawDivide:
		sc = Scale{OK: true, Divide: mode == modeRawDivide,
			Scale:  math.Float64frombits(binary.LittleEndian.Uint64(d.bytes(8))),
			Offset: math.Float64frombits(binary.LittleEndian.Uint64(d.bytes(8)))}
	case mode != modeFloat:
		d.fail("unknown mode")
	}
	return h, sc
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("short " + what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail("short data")
		return make([]byte, max(n, 8))
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > limit {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// xor reads one XOR-ed value as appendXOR wrote it.
func (d *decoder) xor() uint64 {
	h := d.byte("value")
	if d.err != nil || h == 0xFF {
		return 0
	}
	lead, trail := int(h>>4), int(h&0x0F)
	if lead+trail >= 8 {
		d.fail("bad value header")
		return 0
	}
	var b [8]byte
	copy(b[lead:8-trail], d.bytes(8-lead-trail))
	return binary.BigEndian.Uint64(b[:])
}
