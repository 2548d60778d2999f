package hal_test

import (
	"math"
	"slices"
	"testing"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// The 32-bit value 0x11223344 (A=0x11 … D=0x44) as each word order puts it on the wire.
func TestRegister_Decode(t *testing.T) {
	tests := []struct {
		name string
		reg  hal.Register
		regs []uint16
		want float64
	}{
		{"int16 positive", hal.Register{Type: hal.Int16}, []uint16{1234}, 1234},
		{"int16 negative", hal.Register{Type: hal.Int16}, []uint16{0xFFFF}, -1},
		{"int16 min", hal.Register{Type: hal.Int16}, []uint16{0x8000}, -32768},
		{"uint16 max", hal.Register{Type: hal.Uint16}, []uint16{0xFFFF}, 65535},
		{"uint32 ABCD", hal.Register{Type: hal.Uint32, Order: hal.ABCD}, []uint16{0x1122, 0x3344}, 0x11223344},
		{"uint32 CDAB", hal.Register{Type: hal.Uint32, Order: hal.CDAB}, []uint16{0x3344, 0x1122}, 0x11223344},
		{"uint32 BADC", hal.Register{Type: hal.Uint32, Order: hal.BADC}, []uint16{0x2211, 0x4433}, 0x11223344},
		{"uint32 DCBA", hal.Register{Type: hal.Uint32, Order: hal.DCBA}, []uint16{0x4433, 0x2211}, 0x11223344},
		{"uint32 max", hal.Register{Type: hal.Uint32}, []uint16{0xFFFF, 0xFFFF}, 4294967295},
		{"int32 -2 ABCD", hal.Register{Type: hal.Int32}, []uint16{0xFFFF, 0xFFFE}, -2},
		{"int32 -2 CDAB", hal.Register{Type: hal.Int32, Order: hal.CDAB}, []uint16{0xFFFE, 0xFFFF}, -2},
		{"int32 min DCBA", hal.Register{Type: hal.Int32, Order: hal.DCBA}, []uint16{0x0000, 0x0080}, math.MinInt32},
		// 12.5 is 0x41480000 in IEEE 754.
		{"float32 ABCD", hal.Register{Type: hal.Float32}, []uint16{0x4148, 0x0000}, 12.5},
		{"float32 CDAB", hal.Register{Type: hal.Float32, Order: hal.CDAB}, []uint16{0x0000, 0x4148}, 12.5},
		{"float32 BADC", hal.Register{Type: hal.Float32, Order: hal.BADC}, []uint16{0x4841, 0x0000}, 12.5},
		{"float32 DCBA", hal.Register{Type: hal.Float32, Order: hal.DCBA}, []uint16{0x0000, 0x4841}, 12.5},
		{"float32 negative", hal.Register{Type: hal.Float32}, []uint16{0xC148, 0x0000}, -12.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.reg.Decode(tt.regs)
			if err != nil || got != tt.want {
				t.Fatalf("Decode(%#04x) = %v, %v; want %v", tt.regs, got, err, tt.want)
			}
			// Encoding the raw number with scale 1 must give the same registers back.
			tt.reg.Scale = 1
			if enc := tt.reg.Encode(nil, tt.want); !slices.Equal(enc, tt.regs) {
				t.Errorf("Encode(%v) = %#04x, want %#04x", tt.want, enc, tt.regs)
			}
		})
	}
}

func TestRegister_DecodeWrongLength(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		r := hal.Register{Type: hal.Float32}
		if v, err := r.Decode(make([]uint16, n)); err == nil || !math.IsNaN(v) {
			t.Errorf("Decode of %d registers for a float32 = %v, %v; want NaN and an error", n, v, err)
		}
	}
}

func TestRegister_EncodeSaturatesAndRounds(t *testing.T) {
	tests := []struct {
		name  string
		reg   hal.Register
		value float64
		want  []uint16
	}{
		{"rounds to nearest step", hal.Register{Type: hal.Int16, Scale: 0.001}, 5.0004, []uint16{5000}},
		{"rounds half away from zero", hal.Register{Type: hal.Int16, Scale: 0.001}, 5.0005, []uint16{5001}},
		{"offset inverted", hal.Register{Type: hal.Uint16, Scale: 0.01, Offset: -1}, 0, []uint16{100}},
		{"int16 overload pins at max", hal.Register{Type: hal.Int16, Scale: 0.001}, 99, []uint16{32767}},
		{"uint16 below zero pins at 0", hal.Register{Type: hal.Uint16, Scale: 1}, -5, []uint16{0}},
		{"NaN integer is 0", hal.Register{Type: hal.Uint16, Scale: 1}, math.NaN(), []uint16{0}},
		{"negative scale", hal.Register{Type: hal.Int16, Scale: -0.5}, 10, []uint16{0xFFEC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reg.Encode(nil, tt.value); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%v) = %#04x, want %#04x", tt.value, got, tt.want)
			}
		})
	}
}

// Every type and order: an engineering value survives Encode, Decode and Value to within half
// a register step (the register's resolution).
func TestRegister_RoundTrip(t *testing.T) {
	values := []float64{0, 0.0005, 1.2345, 4.9999, 7.5, 10, -3.25}
	for ty := hal.Int16; ty <= hal.Float32; ty++ {
		for o := hal.ABCD; o <= hal.DCBA; o++ {
			if ty.Words() == 1 && o != hal.ABCD {
				continue
			}
			r := hal.Register{Type: ty, Order: o, Scale: 0.001, Offset: 0}
			for _, v := range values {
				if (ty == hal.Uint16 || ty == hal.Uint32) && v < 0 {
					continue
				}
				raw, err := r.Decode(r.Encode(nil, v))
				got := r.Value(raw)
				if err != nil || math.Abs(got-v) > r.Scale/2+1e-9 {
					t.Errorf("%s %s: %v -> %v (%v), want within %v", ty, o, v, got, err, r.Scale/2)
				}
			}
		}
	}
}

func TestRegister_Validate(t *testing.T) {
	good := hal.Register{Slave: 1, Type: hal.Float32, Scale: 1, Address: 65534}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	// Each error names the part at fault as a configuration file spells it: config check
	// reports it under that key.
	bad := map[string]struct {
		r     hal.Register
		field string
	}{
		"slave 0":       {hal.Register{Slave: 0, Scale: 1}, "slave"},
		"slave 248":     {hal.Register{Slave: 248, Scale: 1}, "slave"},
		"scale 0":       {hal.Register{Slave: 1}, "scale"},
		"scale NaN":     {hal.Register{Slave: 1, Scale: math.NaN()}, "scale"},
		"offset Inf":    {hal.Register{Slave: 1, Scale: 1, Offset: math.Inf(1)}, "offset"},
		"past 65535":    {hal.Register{Slave: 1, Scale: 1, Type: hal.Uint32, Address: 65535}, "address"},
		"unknown type":  {hal.Register{Slave: 1, Scale: 1, Type: 9}, "type"},
		"unknown order": {hal.Register{Slave: 1, Scale: 1, Order: 9}, "word_order"},
		"unknown kind":  {hal.Register{Slave: 1, Scale: 1, Kind: 9}, "register"},
	}
	for name, tt := range bad {
		err := tt.r.Validate()
		if err == nil {
			t.Errorf("%s: Validate(%+v) = nil, want an error", name, tt.r)
			continue
		}
		if f := maskservice.ErrorField(err); f != tt.field {
			t.Errorf("%s: error %q names field %q, want %q", name, err, f, tt.field)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, s := range []string{"int16", "uint16", "int32", "uint32", "float32"} {
		if ty, err := hal.ParseDataType(s); err != nil || ty.String() != s {
			t.Errorf("ParseDataType(%q) = %v, %v", s, ty, err)
		}
	}
	for _, s := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
		if o, err := hal.ParseWordOrder(s); err != nil || o.String() != s {
			t.Errorf("ParseWordOrder(%q) = %v, %v", s, o, err)
		}
	}
	for _, s := range []string{"holding", "input"} {
		if k, err := hal.ParseRegisterKind(s); err != nil || k.String() != s {
			t.Errorf("ParseRegisterKind(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "float", "abcd", "coil"} {
		_, e1 := hal.ParseDataType(s)
		_, e2 := hal.ParseWordOrder(s)
		_, e3 := hal.ParseRegisterKind(s)
		if e1 == nil || e2 == nil || e3 == nil {
			t.Errorf("%q parsed as a name: %v %v %v", s, e1, e2, e3)
		}
	}
}

// FuzzRegisterDecode checks that no register content makes Decode panic, and that an
// integer value re-encodes to the very same registers.
func FuzzRegisterDecode(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint16(0x1122), uint16(0x3344))
	f.Add(uint8(4), uint8(3), uint16(0x7FC0), uint16(0x0000))
	f.Fuzz(func(t *testing.T, ty, order uint8, r0, r1 uint16) {
		r := hal.Register{Type: hal.DataType(ty % 5), Order: hal.WordOrder(order % 4), Scale: 1}
		regs := []uint16{r0, r1}[:r.Words()]
		raw, err := r.Decode(regs)
		if err != nil {
			t.Fatalf("Decode(%#04x) as %s: %v", regs, r.Type, err)
		}
		if r.Type == hal.Float32 && math.IsNaN(raw) {
			return // NaN payloads need not survive float64 and back
		}
		if got := r.Encode(nil, raw); !slices.Equal(got, regs) {
			t.Fatalf("%s %s: %#04x -> %v -> %#04x", r.Type, r.Order, regs, raw, got)
		}
	})
}
