package modbus

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"go.bug.st/serial/enumerator"

	"mask.services/maskservice/hal"
)

func TestPlan(t *testing.T) {
	r := func(slave uint8, kind hal.RegisterKind, addr uint16, ty hal.DataType) Sensor {
		return Sensor{Register: hal.Register{Slave: slave, Kind: kind, Address: addr, Type: ty, Scale: 1}}
	}
	tests := []struct {
		name    string
		sensors []Sensor
		maxGap  int
		want    string // requests as slave/kind/address+quantity:members(pos)
	}{
		{"contiguous", []Sensor{r(1, hal.Holding, 0, hal.Int16), r(1, hal.Holding, 1, hal.Float32), r(1, hal.Holding, 3, hal.Int16)}, 0,
			"1/holding/0+4:0,1,2"},
		{"order of ids does not matter", []Sensor{r(1, hal.Holding, 3, hal.Int16), r(1, hal.Holding, 0, hal.Float32), r(1, hal.Holding, 2, hal.Int16)}, 0,
			"1/holding/0+4:1,2,0"},
		{"gap splits", []Sensor{r(1, hal.Holding, 0, hal.Int16), r(1, hal.Holding, 2, hal.Int16)}, 0,
			"1/holding/0+1:0 1/holding/2+1:1"},
		{"gap within max_gap", []Sensor{r(1, hal.Holding, 0, hal.Int16), r(1, hal.Holding, 2, hal.Int16)}, 1,
			"1/holding/0+3:0,1"},
		{"kinds and slaves apart", []Sensor{r(2, hal.Holding, 0, hal.Int16), r(1, hal.Input, 1, hal.Int16), r(1, hal.Holding, 1, hal.Int16)}, 0,
			"1/holding/1+1:2 1/input/1+1:1 2/holding/0+1:0"},
		{"overlap", []Sensor{r(1, hal.Holding, 0, hal.Uint32), r(1, hal.Holding, 1, hal.Int16)}, 0,
			"1/holding/0+2:0,1"},
		{"125 registers at most", []Sensor{r(1, hal.Holding, 0, hal.Int16), r(1, hal.Holding, 123, hal.Uint32), r(1, hal.Holding, 125, hal.Int16)}, 200,
			"1/holding/0+125:0,1 1/holding/125+1:2"},
		{"top of the address space", []Sensor{r(1, hal.Holding, 65534, hal.Float32)}, 0, "1/holding/65534+2:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos := make([]int, len(tt.sensors))
			for i := range pos {
				pos[i] = i
			}
			var got []string
			for _, q := range plan(tt.sensors, pos, tt.maxGap) {
				var m []string
				for _, mem := range q.members {
					m = append(m, string(rune('0'+mem.pos)))
					if want := int(tt.sensors[mem.sensor].Register.Address) - int(q.address); mem.offset != want {
						t.Errorf("member %d offset %d, want %d", mem.pos, mem.offset, want)
					}
				}
				got = append(got, strings.Join([]string{
					string(rune('0' + q.slave)), q.kind.String(),
					itoa(int(q.address)) + "+" + itoa(int(q.quantity)) + ":" + strings.Join(m, ","),
				}, "/"))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("plan = %s\nwant   %s", s, tt.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestUSBAddress(t *testing.T) {
	ports := []*enumerator.PortDetails{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "A10KZP45"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "B77"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "1A86", PID: "7523", SerialNumber: ""},
	}
	list := func() ([]*enumerator.PortDetails, error) { return ports, nil }
	tests := []struct {
		device, want, wantErr string
	}{
		{"usb:0403:6001:A10KZP45", "/dev/ttyUSB1", ""},
		{"usb:0403:6001:B77", "/dev/ttyUSB0", ""},
		{"usb:1a86:7523", "/dev/ttyACM0", ""},
		{"usb:0403:6001", "", "2 adapters match usb:0403:6001 (/dev/ttyUSB0, /dev/ttyUSB1): add the serial number"},
		{"usb:0403:6001:C1", "", "no USB serial adapter usb:0403:6001:C1 is plugged in (found /dev/ttyACM0"},
	}
	for _, tt := range tests {
		a, err := ParseUSBAddress(tt.device)
		if err != nil {
			t.Fatalf("ParseUSBAddress(%q): %v", tt.device, err)
		}
		got, err := a.resolve(list)
		if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("resolve(%s) = %q, %v; want %q, %q", tt.device, got, err, tt.want, tt.wantErr)
		}
	}
	none := func() ([]*enumerator.PortDetails, error) { return nil, nil }
	if _, err := (USBAddress{VID: "0403", PID: "6001"}).resolve(none); err == nil || !strings.Contains(err.Error(), "no USB serial ports at all") {
		t.Errorf("no ports: %v", err)
	}
	failing := func() ([]*enumerator.PortDetails, error) { return nil, errors.New("sysfs unreadable") }
	if _, err := (USBAddress{VID: "0403", PID: "6001"}).resolve(failing); err == nil || !strings.Contains(err.Error(), "sysfs unreadable") {
		t.Errorf("failing lister: %v", err)
	}
	for _, bad := range []string{"usb:", "usb:403:6001", "usb:0403", "usb:0403:600G", "usb:0403:6001:"} {
		if _, err := ParseUSBAddress(bad); err == nil {
			t.Errorf("ParseUSBAddress(%q) accepted", bad)
		}
	}
}
