package hal

import (
	"encoding/binary"
	"fmt"
	"math"

	"mask.services/maskservice"
)

// RegisterKind is the Modbus table a value is read from.
type RegisterKind uint8

// The register tables a transducer may expose.
const (
	Holding RegisterKind = iota // function 03, read holding registers
	Input                       // function 04, read input registers
)

var registerKindNames = [...]string{"holding", "input"}

// String returns "holding" or "input", as the config spells it.
func (k RegisterKind) String() string { return lookupName(registerKindNames[:], int(k), "kind") }

// DataType is how a value is laid out in one or two 16-bit registers.
type DataType uint8

// The data types of the config's "type" key.
const (
	Int16 DataType = iota
	Uint16
	Int32
	Uint32
	Float32 // IEEE 754 single precision
)

var dataTypeNames = [...]string{"int16", "uint16", "int32", "uint32", "float32"}

// String returns the type as the config spells it ("int16", ...).
func (t DataType) String() string { return lookupName(dataTypeNames[:], int(t), "type") }

// Words returns how many 16-bit registers a value of the type takes: 1 or 2.
func (t DataType) Words() int {
	if t >= Int32 {
		return 2
	}
	return 1
}

// WordOrder is the byte order of a 32-bit value over its two registers. The letters name the
// value's bytes from most to least significant (A is the most significant), in the order they
// travel on the wire: register 0 high byte, register 0 low byte, register 1 high, register 1
// low. ABCD is the Modbus convention (big-endian, high word first); CDAB swaps the words (the
// most common deviation, "little-endian word order"); BADC swaps the bytes in each word; DCBA
// reverses all four.
type WordOrder uint8

// The word orders of the config's "word_order" key.
const (
	ABCD WordOrder = iota
	CDAB
	BADC
	DCBA
)

var wordOrderNames = [...]string{"ABCD", "CDAB", "BADC", "DCBA"}

// String returns the order as the config spells it ("ABCD", ...).
func (o WordOrder) String() string { return lookupName(wordOrderNames[:], int(o), "order") }

// wirePos[o][i] is the position on the wire of the value's byte i (0 = A) in order o. Each row
// is its own inverse, so the same table serves decoding and encoding.
var wirePos = [...][4]int{
	ABCD: {0, 1, 2, 3},
	CDAB: {2, 3, 0, 1},
	BADC: {1, 0, 3, 2},
	DCBA: {3, 2, 1, 0},
}

func lookupName(names []string, i int, what string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s(%d)", what, i)
}

func parseName(names []string, s, what string) (int, error) {
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a %s (want one of %v)", s, what, names)
}

// ParseRegisterKind parses "holding" or "input".
func ParseRegisterKind(s string) (RegisterKind, error) {
	i, err := parseName(registerKindNames[:], s, "register kind")
	return RegisterKind(i), err
}

// ParseDataType parses a data type name such as "float32".
func ParseDataType(s string) (DataType, error) {
	i, err := parseName(dataTypeNames[:], s, "data type")
	return DataType(i), err
}

// ParseWordOrder parses a word order name such as "CDAB".
func ParseWordOrder(s string) (WordOrder, error) {
	i, err := parseName(wordOrderNames[:], s, "word order")
	return WordOrder(i), err
}

// Register is where and how one transducer value is held: a register map entry. It is a plain
// value; decoding and encoding are pure functions of it.
type Register struct {
	Slave   uint8 // 1..247
	Kind    RegisterKind
	Address uint16 // 0-based address of the first register
	Type    DataType
	Order   WordOrder // 32-bit types only; ignored for 16-bit ones
	Scale   float64   // value = raw * Scale + Offset; never 0
	Offset  float64
}

// Words returns how many registers the value takes.
func (r Register) Words() int { return r.Type.Words() }

// End returns the address just past the value's last register, as an int so that a value at
// the top of the address space does not wrap.
func (r Register) End() int { return int(r.Address) + r.Words() }

// Validate reports a register map entry that cannot be read: a slave id outside 1..247, a
// scale of 0 or not finite, an unknown type, kind or order, or a value past address 65535.
// Errors are *maskservice.Error with code EINVALID whose Field names the entry's part as a
// configuration file spells it: slave, register, type, word_order, scale, offset or address.
func (r Register) Validate() error {
	switch {
	case r.Slave < 1 || r.Slave > 247:
		return maskservice.FieldErrorf("slave", "slave %d: must be between 1 and 247", r.Slave)
	case int(r.Kind) >= len(registerKindNames):
		return maskservice.FieldErrorf("register", "register kind %d is unknown", r.Kind)
	case int(r.Type) >= len(dataTypeNames):
		return maskservice.FieldErrorf("type", "data type %d is unknown", r.Type)
	case int(r.Order) >= len(wordOrderNames):
		return maskservice.FieldErrorf("word_order", "word order %d is unknown", r.Order)
	case r.Scale == 0 || math.IsNaN(r.Scale) || math.IsInf(r.Scale, 0):
		return maskservice.FieldErrorf("scale", "scale %g: must be a finite number other than 0", r.Scale)
	case math.IsNaN(r.Offset) || math.IsInf(r.Offset, 0):
		return maskservice.FieldErrorf("offset", "offset %g: must be a finite number", r.Offset)
	case r.End() > 65536:
		return maskservice.FieldErrorf("address", "address %d: a %s ends past register 65535", r.Address, r.Type)
	}
	return nil
}

// Decode turns the value's registers (exactly Words() of them, as read) into the raw number
// they hold, before scale and offset. A float32 register pair may hold NaN or an infinity;
// Decode returns it as it is, and the monitor judges such a value invalid.
func (r Register) Decode(regs []uint16) (float64, error) {
	if len(regs) != r.Words() {
		return math.NaN(), fmt.Errorf("decode %s: got %d registers, want %d", r.Type, len(regs), r.Words())
	}
	switch r.Type {
	case Int16:
		return float64(int16(regs[0])), nil
	case Uint16:
		return float64(regs[0]), nil
	}
	var wire, val [4]byte
	binary.BigEndian.PutUint16(wire[0:], regs[0])
	binary.BigEndian.PutUint16(wire[2:], regs[1])
	for i, p := range wirePos[r.Order%4] {
		val[i] = wire[p]
	}
	u := binary.BigEndian.Uint32(val[:])
	switch r.Type {
	case Int32:
		return float64(int32(u)), nil
	case Uint32:
		return float64(u), nil
	case Float32:
		return float64(math.Float32frombits(u)), nil
	}
	return math.NaN(), fmt.Errorf("decode: unknown data type %d", r.Type)
}

// Value applies scale and offset to a raw number: the value in the sensor's unit. The product
// is rounded before the offset is added (the conversion keeps the compiler from fusing them
// into one multiply-add on arm64), so the value is the same bits on every architecture and the
// history log can store the raw number and recompute the value exactly.
func (r Register) Value(raw float64) float64 { return float64(raw*r.Scale) + r.Offset }

// Encode is the inverse of Decode and Value, as a transducer does it: the value in the
// sensor's unit is turned back into the raw number through the inverse of scale and offset,
// rounded to the nearest step for the integer types and saturated at the type's limits (as a
// transducer module pins an overload at full scale). It appends Words() registers to dst.
// A NaN value encodes as 0 for the integer types and as NaN for float32.
func (r Register) Encode(dst []uint16, value float64) []uint16 {
	raw := (value - r.Offset) / r.Scale
	var u uint32
	switch r.Type {
	case Int16:
		return append(dst, uint16(int16(saturate(raw, math.MinInt16, math.MaxInt16))))
	case Uint16:
		return append(dst, uint16(saturate(raw, 0, math.MaxUint16)))
	case Int32:
		u = uint32(int32(saturate(raw, math.MinInt32, math.MaxInt32)))
	case Uint32:
		u = uint32(saturate(raw, 0, math.MaxUint32))
	case Float32:
		u = math.Float32bits(float32(raw))
	default:
		return dst
	}
	var val, wire [4]byte
	binary.BigEndian.PutUint32(val[:], u)
	for i, p := range wirePos[r.Order%4] {
		wire[p] = val[i]
	}
	return append(dst, binary.BigEndian.Uint16(wire[0:]), binary.BigEndian.Uint16(wire[2:]))
}

// saturate rounds f to the nearest integer and clamps it to [lo, hi]; NaN gives 0.
func saturate(f, lo, hi float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return math.Max(lo, math.Min(hi, math.Round(f)))
}
