package modbus

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
)

// The bounds of a bus's settings. They are checked by Validate, which both Open and the
// configuration check call, so a file the check accepts is one the daemon opens.
const (
	MinTimeout           = 10 * time.Millisecond // Config.Timeout
	MaxTimeout           = 10 * time.Second      // Config.Timeout
	MaxRetries           = 10                    // Config.Retries
	MaxInterRequestDelay = time.Second           // Config.InterRequestDelay
	MaxMaxGap            = 100                   // Config.MaxGap, in registers
)

// bauds are the standard serial rates a modbus-rtu bus may run at.
var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

// Validate reports a configuration Open refuses, sensors aside from their registers and ids.
// Every setting is checked as written, with no default applied: a modbus-rtu bus needs its
// device (an absolute path or usb:VID:PID[:SERIAL]), a standard baud rate (1200 to 115200), 7
// or 8 data bits, parity N, E or O and 1 or 2 stop bits; a modbus-tcp bus needs host:port with
// a port number; either needs a timeout between 10ms and 10s, 0 to 10 retries, an
// inter-request delay of 0 to 1s, a max gap of 0 to 100 registers, and sensors with distinct
// ids and valid registers (hal.Register.Validate). A Config without sensors is valid here
// (Open refuses it). Errors are *maskservice.Error with code EINVALID whose Field names the
// setting as the configuration file spells it: driver, device, baud, data_bits, parity,
// stop_bits, timeout, retries, inter_request_delay, max_gap, or sensors (the message names
// the sensor).
func (c *Config) Validate() error {
	switch c.Driver {
	case "modbus-rtu":
		if err := c.validateSerial(); err != nil {
			return err
		}
	case "modbus-tcp":
		if !hostPort(c.Device) {
			return maskservice.FieldErrorf("device", "%q is not host:port with a port number", c.Device)
		}
	default:
		return maskservice.FieldErrorf("driver", "%q is not one of modbus-rtu, modbus-tcp", c.Driver)
	}
	switch {
	case c.Retries < 0 || c.Retries > MaxRetries:
		return maskservice.FieldErrorf("retries", "%d must be between 0 and %d", c.Retries, MaxRetries)
	case c.Timeout < MinTimeout || c.Timeout > MaxTimeout:
		return maskservice.FieldErrorf("timeout", "%s must be between %s and %s", c.Timeout, MinTimeout, MaxTimeout)
	case c.InterRequestDelay < 0 || c.InterRequestDelay > MaxInterRequestDelay:
		return maskservice.FieldErrorf("inter_request_delay", "%s must be between 0 and %s", c.InterRequestDelay, MaxInterRequestDelay)
	case c.MaxGap < 0 || c.MaxGap > MaxMaxGap:
		return maskservice.FieldErrorf("max_gap", "%d must be between 0 and %d registers", c.MaxGap, MaxMaxGap)
	}
	seen := map[string]bool{}
	for _, s := range c.Sensors {
		if seen[s.ID] {
			return maskservice.FieldErrorf("sensors", "sensor %q: listed twice", s.ID)
		}
		seen[s.ID] = true
		if err := s.Register.Validate(); err != nil {
			return maskservice.FieldErrorf("sensors", "sensor %q: %v", s.ID, err)
		}
	}
	return nil
}

// validateSerial checks the device and the line settings of a modbus-rtu bus.
func (c *Config) validateSerial() error {
	switch {
	case c.Device == "":
		return maskservice.FieldErrorf("device", "missing: name the serial port (/dev/ttyUSB0) or the adapter (usb:VID:PID[:SERIAL])")
	case IsUSBAddress(c.Device):
		if _, err := ParseUSBAddress(c.Device); err != nil {
			return maskservice.FieldErrorf("device", "%v", err)
		}
	case !strings.HasPrefix(c.Device, "/"):
		return maskservice.FieldErrorf("device", "%q: want an absolute path such as /dev/ttyUSB0, or usb:VID:PID[:SERIAL]", c.Device)
	}
	switch {
	case !slices.Contains(bauds, c.Baud):
		return maskservice.FieldErrorf("baud", "%d is not a standard rate (%d to %d)", c.Baud, bauds[0], bauds[len(bauds)-1])
	case c.DataBits != 7 && c.DataBits != 8:
		return maskservice.FieldErrorf("data_bits", "%d must be 7 or 8", c.DataBits)
	case c.StopBits != 1 && c.StopBits != 2:
		return maskservice.FieldErrorf("stop_bits", "%d must be 1 or 2", c.StopBits)
	}
	if _, ok := parities[c.Parity]; !ok {
		return maskservice.FieldErrorf("parity", "%q must be N, E or O", c.Parity)
	}
	return nil
}

// hostPort reports whether s is host:port with a numeric port. The dialer would also take a
// service name, but a port that is not a number is far more likely a typo.
func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}
