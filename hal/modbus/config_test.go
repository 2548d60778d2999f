package modbus_test

import (
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
)

// TestConfig_Validate checks each rule of a bus's settings and that the error names the
// setting as the configuration file spells it, which is how config check reports it.
func TestConfig_Validate(t *testing.T) {
	reg := hal.Register{Slave: 1, Type: hal.Uint16, Scale: 1}
	rtu := func(tweak func(*modbus.Config)) modbus.Config {
		c := modbus.Config{Name: "rs485", Driver: "modbus-rtu", Device: "/dev/ttyUSB0", Baud: 19200, DataBits: 8,
			Parity: "E", StopBits: 1, Timeout: 300 * time.Millisecond, Retries: 2, Sensors: []modbus.Sensor{{ID: "P1", Register: reg}}}
		if tweak != nil {
			tweak(&c)
		}
		return c
	}
	tests := []struct {
		name  string
		cfg   modbus.Config
		field string // "" if valid
		msg   string
	}{
		{"rtu", rtu(nil), "", ""},
		{"rtu on a usb adapter", rtu(func(c *modbus.Config) { c.Device = "usb:0403:6001:A1" }), "", ""},
		{"tcp", modbus.Config{Driver: "modbus-tcp", Device: "192.0.2.1:502", Timeout: time.Second}, "", ""},
		{"no sensors is valid here", rtu(func(c *modbus.Config) { c.Sensors = nil }), "", ""},
		{"edges", rtu(func(c *modbus.Config) {
			c.Baud, c.DataBits, c.Parity, c.StopBits = 115200, 7, "N", 2
			c.Timeout, c.Retries, c.InterRequestDelay, c.MaxGap = 10*time.Second, 10, time.Second, 100
		}), "", ""},
		{"driver", rtu(func(c *modbus.Config) { c.Driver = "sim" }), "driver", `"sim" is not one of modbus-rtu, modbus-tcp`},
		{"device missing", rtu(func(c *modbus.Config) { c.Device = "" }), "device", "missing: name the serial port"},
		{"device relative", rtu(func(c *modbus.Config) { c.Device = "ttyUSB0" }), "device", `"ttyUSB0": want an absolute path`},
		{"usb address", rtu(func(c *modbus.Config) { c.Device = "usb:0403" }), "device", `"usb:0403" is not usb:VID:PID[:SERIAL]`},
		{"tcp without a port", modbus.Config{Driver: "modbus-tcp", Device: "192.0.2.1", Timeout: time.Second}, "device", `"192.0.2.1" is not host:port with a port number`},
		{"baud", rtu(func(c *modbus.Config) { c.Baud = 0 }), "baud", "0 is not a standard rate (1200 to 115200)"},
		{"data bits", rtu(func(c *modbus.Config) { c.DataBits = 9 }), "data_bits", "9 must be 7 or 8"},
		{"parity", rtu(func(c *modbus.Config) { c.Parity = "X" }), "parity", `"X" must be N, E or O`},
		{"stop bits", rtu(func(c *modbus.Config) { c.StopBits = 0 }), "stop_bits", "0 must be 1 or 2"},
		{"timeout short", rtu(func(c *modbus.Config) { c.Timeout = 9 * time.Millisecond }), "timeout", "9ms must be between 10ms and 10s"},
		{"timeout long", rtu(func(c *modbus.Config) { c.Timeout = 11 * time.Second }), "timeout", "11s must be between 10ms and 10s"},
		{"retries", rtu(func(c *modbus.Config) { c.Retries = -1 }), "retries", "-1 must be between 0 and 10"},
		{"inter-request delay", rtu(func(c *modbus.Config) { c.InterRequestDelay = 2 * time.Second }), "inter_request_delay", "2s must be between 0 and 1s"},
		{"max gap", rtu(func(c *modbus.Config) { c.MaxGap = 101 }), "max_gap", "101 must be between 0 and 100 registers"},
		{"sensor twice", rtu(func(c *modbus.Config) { c.Sensors = append(c.Sensors, c.Sensors[0]) }), "sensors", `sensor "P1": listed twice`},
		{"bad register", rtu(func(c *modbus.Config) { c.Sensors[0].Register.Slave = 0 }), "sensors", `sensor "P1": slave 0: must be between 1 and 247`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.cfg)
			}
			if f := maskservice.ErrorField(err); f != tt.field {
				t.Errorf("field %q, want %q (%v)", f, tt.field, err)
			}
			if msg := maskservice.ErrorMessage(err); !strings.HasPrefix(msg, tt.msg) {
				t.Errorf("message %q, want it to start with %q", msg, tt.msg)
			}
		})
	}
}
