package hal

import "errors"

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

	// ErrDisconnected is returned when the bus itself is gone: the serial adapter was
	// unplugged or cannot be opened, or the TCP gateway is unreachable. Every sensor on the
	// bus fails with it until the bus is reopened.
	ErrDisconnected = errors.New("bus disconnected")

	// ErrClosed is returned by a Source's Read after the source has been closed.
	ErrClosed = errors.New("source closed")
)
