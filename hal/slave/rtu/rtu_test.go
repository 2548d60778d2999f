package rtu_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/slave/pty"
	"mask.services/maskservice/hal/slave/rtu"
)

func TestCRC(t *testing.T) {
	// The request "slave 1, read holding 0, quantity 2" is 01 03 00 00 00 02 C4 0B on the wire.
	frame := rtu.AppendReadRequest(nil, 1, rtu.FuncReadHolding, 0, 2)
	if want := []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B}; !bytes.Equal(frame, want) {
		t.Fatalf("frame % X, want % X", frame, want)
	}
	if got := rtu.CRC([]byte("123456789")); got != 0x4B37 {
		t.Errorf("CRC(123456789) = %04X, want 4B37 (CRC-16/MODBUS check value)", got)
	}
}

func TestRequestLength(t *testing.T) {
	tests := []struct {
		head    []byte
		want    int
		wantErr error
	}{
		{[]byte{1}, 0, nil},
		{[]byte{1, 3}, 8, nil},
		{[]byte{1, 4, 0}, 8, nil},
		{[]byte{1, 6}, 8, nil},
		{[]byte{1, 0x10, 0, 0, 0, 2}, 0, nil},
		{[]byte{1, 0x10, 0, 0, 0, 2, 4}, 13, nil},
		{[]byte{1, 0x0F, 0, 0, 0, 9, 2}, 11, nil},
		{[]byte{1, 0x10, 0, 0, 0, 0x7F, 0xFE}, 0, rtu.ErrTooLong},
		{[]byte{1, 0x2B}, 0, rtu.ErrUnknownFunction},
	}
	for _, tt := range tests {
		got, err := rtu.RequestLength(tt.head)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("RequestLength(% X) = %d, %v; want %d, %v", tt.head, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseRequest(t *testing.T) {
	good := rtu.AppendReadRequest(nil, 17, rtu.FuncReadInput, 0x1234, 3)
	req, err := rtu.ParseRequest(good)
	if err != nil || req != (rtu.Request{Slave: 17, Function: rtu.FuncReadInput, Address: 0x1234, Quantity: 3}) {
		t.Fatalf("ParseRequest = %+v, %v", req, err)
	}
	bad := append([]byte(nil), good...)
	bad[3] ^= 1
	long := rtu.AppendCRC(append(append([]byte(nil), good[:6]...), 0))
	unknown := rtu.AppendCRC([]byte{17, 0x2B, 0x0E, 1, 0})
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"crc", bad, rtu.ErrCRC},
		{"short", good[:3], rtu.ErrShort},
		{"one byte too many", long, nil},
		{"unknown function", unknown, rtu.ErrUnknownFunction},
		{"too long", make([]byte, 300), rtu.ErrTooLong},
	}
	for _, tt := range tests {
		_, err := rtu.ParseRequest(tt.frame)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: ParseRequest(% X) = %v, want %v", tt.name, tt.frame, err, tt.want)
		}
	}
}

// fixed serves slave 5: holding registers 0..9 hold 100+address; slave 6 exists with nothing.
type fixed struct{}

func (fixed) ReadRegisters(slave uint8, kind hal.RegisterKind, addr, qty uint16) ([]uint16, uint8, bool) {
	switch {
	case slave == 6:
		return nil, hal.ExIllegalAddress, true
	case slave != 5:
		return nil, 0, false
	case kind != hal.Holding || int(addr)+int(qty) > 10:
		return nil, hal.ExIllegalAddress, true
	}
	out := make([]uint16, qty)
	for i := range out {
		out[i] = 100 + addr + uint16(i)
	}
	return out, 0, true
}

// The slave on a real pty: each request written by a master gets the reply a Modbus device
// would give, including silence, and garbage on the line does not derail it.
func TestSlave(t *testing.T) {
	p, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	master, err := os.OpenFile(p.Name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave := rtu.NewSlave(fixed{}, rtu.SlaveOptions{Gap: 40 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- slave.Serve(ctx, p.Master) }()

	exchange := func(req []byte) []byte {
		t.Helper()
		if _, err := master.Write(req); err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 300)
		for {
			master.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := master.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				return got // the reply is complete when the line stays silent
			}
		}
	}
	read := func(slave, fn uint8, addr, qty uint16) []byte {
		return rtu.AppendReadRequest(nil, slave, fn, addr, qty)
	}
	tests := []struct {
		name string
		req  []byte
		want []byte
	}{
		{"read", read(5, 3, 2, 3), rtu.AppendReadReply(nil, 5, 3, []uint16{102, 103, 104})},
		{"request in pieces", read(5, 3, 0, 1), rtu.AppendReadReply(nil, 5, 3, []uint16{100})},
		{"unmapped register", read(5, 3, 8, 3), rtu.AppendException(nil, 5, 3, hal.ExIllegalAddress)},
		{"input table not served", read(5, 4, 0, 1), rtu.AppendException(nil, 5, 4, hal.ExIllegalAddress)},
		{"quantity 0", read(5, 3, 0, 0), rtu.AppendException(nil, 5, 3, hal.ExIllegalValue)},
		{"quantity 126", read(5, 3, 0, 126), rtu.AppendException(nil, 5, 3, hal.ExIllegalValue)},
		{"other slave on the line", read(9, 3, 0, 1), nil},
		{"broadcast", read(0, 3, 0, 1), nil},
		{"write refused", rtu.AppendCRC([]byte{5, 6, 0, 1, 0, 7}), rtu.AppendException(nil, 5, 6, hal.ExIllegalFunction)},
		{"write multiple refused", rtu.AppendCRC([]byte{5, 0x10, 0, 1, 0, 1, 2, 0, 9}), rtu.AppendException(nil, 5, 0x10, hal.ExIllegalFunction)},
		{"unknown function, delimited by silence", rtu.AppendCRC([]byte{5, 0x2B, 0x0E, 1, 0}), rtu.AppendException(nil, 5, 0x2B, hal.ExIllegalFunction)},
		{"bad crc is ignored", append(read(5, 3, 0, 1)[:6], 0, 0), nil},
		{"garbage is ignored", []byte{0xFF, 0x03, 0x11}, nil},
		{"recovers after garbage", read(5, 3, 9, 1), rtu.AppendReadReply(nil, 5, 3, []uint16{109})},
		{"two requests back to back", append(read(5, 3, 1, 1), read(5, 3, 2, 1)...),
			append(rtu.AppendReadReply(nil, 5, 3, []uint16{101}), rtu.AppendReadReply(nil, 5, 3, []uint16{102})...)},
	}
	for _, tt := range tests {
		var got []byte
		if tt.name == "request in pieces" {
			if _, err := master.Write(tt.req[:3]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // less than the gap
			got = exchange(tt.req[3:])
		} else {
			got = exchange(tt.req)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s: request % X got % X, want % X", tt.name, tt.req, got, tt.want)
		}
	}
	st := slave.Stats()
	if st.CRCErrors != 1 || st.Garbage != 1 || st.Replies != 12 {
		t.Errorf("stats %+v: want 1 CRC error, 1 garbage, 12 replies", st)
	}

	// Injected faults.
	if err := slave.SetFaults(rtu.Faults{Drop: 2}); err == nil {
		t.Error("SetFaults accepted a share of 2")
	}
	if err := slave.SetFaults(rtu.Faults{CorruptCRC: 1}); err != nil {
		t.Fatal(err)
	}
	if got := exchange(read(5, 3, 0, 1)); len(got) != 7 || bytes.Equal(got, rtu.AppendReadReply(nil, 5, 3, []uint16{100})) {
		t.Errorf("corrupt crc: got % X", got)
	}
	if err := slave.SetFaults(rtu.Faults{Short: 1}); err != nil {
		t.Fatal(err)
	}
	if got := exchange(read(5, 3, 0, 2)); !bytes.Equal(got, rtu.AppendReadReply(nil, 5, 3, []uint16{100})) {
		t.Errorf("short: got % X", got)
	}
	if err := slave.SetFaults(rtu.Faults{Exception: hal.ExDeviceFailure}); err != nil {
		t.Fatal(err)
	}
	if got := exchange(read(5, 3, 0, 2)); !bytes.Equal(got, rtu.AppendException(nil, 5, 3, 4)) {
		t.Errorf("exception: got % X", got)
	}
	if err := slave.SetFaults(rtu.Faults{Delay: 60 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := exchange(read(5, 3, 0, 1)); !bytes.Equal(got, rtu.AppendReadReply(nil, 5, 3, []uint16{100})) || time.Since(start) < 60*time.Millisecond {
		t.Errorf("delay: got % X after %v", got, time.Since(start))
	}

	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve returned %v, want context.Canceled", err)
	}
}

// FuzzParseRequest feeds arbitrary bytes to the frame decoder, as a noisy line would.
func FuzzParseRequest(f *testing.F) {
	f.Add(rtu.AppendReadRequest(nil, 1, 3, 0, 2))
	f.Add(rtu.AppendCRC([]byte{5, 0x10, 0, 1, 0, 1, 2, 0, 9}))
	f.Add([]byte{1, 0x10, 0, 0, 0, 0x7F, 0xFE})
	f.Fuzz(func(t *testing.T, frame []byte) {
		n, lerr := rtu.RequestLength(frame)
		if lerr == nil && n != 0 && (n < 8 || n > rtu.MaxFrame) {
			t.Fatalf("RequestLength(% X) = %d", frame, n)
		}
		req, err := rtu.ParseRequest(frame)
		if err != nil {
			return
		}
		// A frame that decodes is one whole frame, and encoding a read decodes to the same.
		if lerr != nil || n != len(frame) {
			t.Fatalf("ParseRequest accepted % X of length %d (RequestLength %d, %v)", frame, len(frame), n, lerr)
		}
		if req.Function == rtu.FuncReadHolding || req.Function == rtu.FuncReadInput {
			if again := rtu.AppendReadRequest(nil, req.Slave, req.Function, req.Address, req.Quantity); !bytes.Equal(again, frame) {
				t.Fatalf("re-encoded % X as % X", frame, again)
			}
		}
	})
}
