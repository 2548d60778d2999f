// Package rtu is Modbus RTU framing from the slave's side: the CRC, finding where a request
// frame ends, decoding it, encoding replies, and a Slave that serves register reads on a
// serial line. The master side is simonvetter/modbus; that library has no RTU server, so the
// transducer simulator and the tests use this one.
//
// A frame's end is found from its length (the function code, and the byte count of the write
// functions), not from the 3.5-character silence alone: a pseudo-terminal does not enforce the
// baud rate, so bytes of a frame may arrive in any chunks. The silence is used only to
// resynchronise after garbage and to delimit requests of function codes we do not know.
package rtu

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Function codes the slave understands. Reads are answered; the write functions are
// recognised (so their frames are delimited correctly) and refused with exception 01, since
// the transducers are read-only.
const (
	FuncReadHolding     uint8 = 0x03
	FuncReadInput       uint8 = 0x04
	FuncWriteSingleCoil uint8 = 0x05
	FuncWriteSingle     uint8 = 0x06
	FuncWriteCoils      uint8 = 0x0F
	FuncWriteMultiple   uint8 = 0x10
	FuncReadCoils       uint8 = 0x01
	FuncReadDiscrete    uint8 = 0x02
)

// MaxFrame is the longest RTU frame (the serial line ADU): 256 bytes.
const MaxFrame = 256

// MaxReadQuantity is the most registers one read request may ask for.
const MaxReadQuantity = 125

// Errors of frame decoding.
var (
	// ErrCRC: the frame's checksum does not match its content.
	ErrCRC = errors.New("bad crc")
	// ErrShort: the frame is shorter than its function code requires.
	ErrShort = errors.New("short frame")
	// ErrUnknownFunction: the function code is not one whose length we know.
	ErrUnknownFunction = errors.New("unknown function code")
	// ErrTooLong: the frame would exceed MaxFrame bytes.
	ErrTooLong = errors.New("frame longer than 256 bytes")
)

// CRC returns the Modbus CRC-16 of data (polynomial 0xA001 reflected, initial 0xFFFF). On the
// wire it travels low byte first.
func CRC(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// AppendCRC appends the CRC of frame to it, low byte first.
func AppendCRC(frame []byte) []byte {
	return binary.LittleEndian.AppendUint16(frame, CRC(frame))
}

// checkCRC reports whether the last two bytes of frame are the CRC of the rest.
func checkCRC(frame []byte) bool {
	n := len(frame)
	return n >= 4 && binary.LittleEndian.Uint16(frame[n-2:]) == CRC(frame[:n-2])
}

// RequestLength tells how long the request frame that head starts is, CRC included, from its
// function code (and, for the multiple-write functions, its byte count). It returns 0 and no
// error when head is too short to tell yet, and ErrUnknownFunction when the function code is
// not one whose layout we know; then only the line's silence delimits the frame.
func RequestLength(head []byte) (int, error) {
	if len(head) < 2 {
		return 0, nil
	}
	switch head[1] {
	case FuncReadCoils, FuncReadDiscrete, FuncReadHolding, FuncReadInput,
		FuncWriteSingleCoil, FuncWriteSingle:
		return 8, nil // slave, function, address, quantity or value, crc
	case FuncWriteCoils, FuncWriteMultiple:
		if len(head) < 7 {
			return 0, nil
		}
		n := 9 + int(head[6]) // slave, function, address, quantity, byte count, data, crc
		if n > MaxFrame {
			return 0, ErrTooLong
		}
		return n, nil
	}
	return 0, ErrUnknownFunction
}

// Request is a decoded request frame.
type Request struct {
	Slave    uint8  // 0 is broadcast
	Function uint8  // function code
	Address  uint16 // first register or coil
	Quantity uint16 // registers or coils; the value for the single-write functions
}

// ParseRequest decodes one whole request frame, CRC included, as delimited by RequestLength
// (or by silence for an unknown function code, which is returned with ErrUnknownFunction
// after a CRC check so that the caller can answer exception 01).
func ParseRequest(frame []byte) (Request, error) {
	if len(frame) < 4 {
		return Request{}, fmt.Errorf("request of %d bytes: %w", len(frame), ErrShort)
	}
	if len(frame) > MaxFrame {
		return Request{}, ErrTooLong
	}
	if !checkCRC(frame) {
		return Request{}, ErrCRC
	}
	req := Request{Slave: frame[0], Function: frame[1]}
	want, err := RequestLength(frame)
	switch {
	case errors.Is(err, ErrUnknownFunction):
		return req, err
	case err != nil:
		return Request{}, err
	case want == 0 || len(frame) < want:
		return Request{}, fmt.Errorf("function %02X in %d bytes: %w", req.Function, len(frame), ErrShort)
	case len(frame) > want:
		return Request{}, fmt.Errorf("function %02X: %d bytes, want %d", req.Function, len(frame), want)
	}
	req.Address = binary.BigEndian.Uint16(frame[2:])
	req.Quantity = binary.BigEndian.Uint16(frame[4:])
	return req, nil
}

// AppendReadRequest appends the frame of a register read request (function 03 or 04).
func AppendReadRequest(dst []byte, slave, function uint8, address, quantity uint16) []byte {
	start := len(dst)
	dst = append(dst, slave, function)
	dst = binary.BigEndian.AppendUint16(dst, address)
	dst = binary.BigEndian.AppendUint16(dst, quantity)
	return binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
}

// AppendReadReply appends the reply frame to a register read: slave, function, byte count,
// the registers big-endian, CRC.
func AppendReadReply(dst []byte, slave, function uint8, regs []uint16) []byte {
	start := len(dst)
	dst = append(dst, slave, function, byte(2*len(regs)))
	for _, r := range regs {
		dst = binary.BigEndian.AppendUint16(dst, r)
	}
	return binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
}

// AppendException appends an exception reply: the function code with its high bit set, and
// the exception code.
func AppendException(dst []byte, slave, function, code uint8) []byte {
	start := len(dst)
	dst = append(dst, slave, function|0x80, code)
	return binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
}
