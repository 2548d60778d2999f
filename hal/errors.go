package hal

import (
	"errors"
	"fmt"

	"mask.services/maskservice"
)

// Hardware conditions. A Source wraps one of these in a failed sample's Err, with context that
// names the sensor (for example "read P1 (slave 2, reg 0x0000): no response from transducer"),
// except ErrClosed, which Read itself returns. Test for them with errors.Is, never by comparing
// messages.
var (
	// ErrTimeout is returned when a transducer does not answer within the bus timeout, after
	// the configured retries: a dead or unpowered transducer, a wrong slave address, or a
	// broken A/B pair on an otherwise working bus.
	ErrTimeout = errors.New("no response from transducer")

	// ErrCRC is returned when a reply arrives but its checksum is wrong: electrical noise,
	// a missing termination resistor, or two slaves answering at once.
	ErrCRC = errors.New("bad frame checksum")

	// ErrException is returned when the slave answers with a Modbus exception instead of
	// data (for example illegal data address: the register map does not match the device).
	// The wrapping error names the exception code.
	ErrException = errors.New("slave answered with a modbus exception")

	// ErrFrame is returned when a reply arrives but is not a valid answer to the request: too
	// short, from another slave, or with a function code or byte count that does not fit.
	// Usually two masters on one bus, a baud rate or parity mismatch, or a failing adapter.
	ErrFrame = errors.New("malformed reply frame")

	// ErrDisconnected is returned when the bus itself is gone: the serial adapter was
	// unplugged or cannot be opened, or the TCP gateway is unreachable. Every sensor on the
	// bus fails with it until the bus is reopened.
	ErrDisconnected = maskservice.ErrDisconnected

	// ErrClosed is returned by a Source's Read after the source has been closed.
	ErrClosed = errors.New("source closed")
)

// ExceptionError is a Modbus exception answered by a slave. It matches ErrException with
// errors.Is, and names the code and its meaning.
type ExceptionError struct {
	Code uint8 // the exception code: 1 illegal function, 2 illegal data address, ...
}

// The exception codes of the Modbus application protocol (section 7).
const (
	ExIllegalFunction   uint8 = 0x01
	ExIllegalAddress    uint8 = 0x02
	ExIllegalValue      uint8 = 0x03
	ExDeviceFailure     uint8 = 0x04
	ExAcknowledge       uint8 = 0x05
	ExDeviceBusy        uint8 = 0x06
	ExMemoryParity      uint8 = 0x08
	ExGatewayPath       uint8 = 0x0A
	ExGatewayNoResponse uint8 = 0x0B
)

var exceptionNames = map[uint8]string{
	ExIllegalFunction:   "illegal function",
	ExIllegalAddress:    "illegal data address",
	ExIllegalValue:      "illegal data value",
	ExDeviceFailure:     "server device failure",
	ExAcknowledge:       "acknowledge",
	ExDeviceBusy:        "server device busy",
	ExMemoryParity:      "memory parity error",
	ExGatewayPath:       "gateway path unavailable",
	ExGatewayNoResponse: "gateway target failed to respond",
}

// ExceptionName returns the meaning of a Modbus exception code, such as "illegal data address".
func ExceptionName(code uint8) string {
	if n, ok := exceptionNames[code]; ok {
		return n
	}
	return "unknown exception"
}

// Error implements error: "modbus exception 02 (illegal data address)".
func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %02X (%s)", e.Code, ExceptionName(e.Code))
}

// Is reports whether target is ErrException.
func (e *ExceptionError) Is(target error) bool { return target == ErrException }
