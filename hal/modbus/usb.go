package modbus

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.bug.st/serial/enumerator"
)

// USBAddress names a USB serial adapter by what it is rather than where the kernel put it:
// a renumbered /dev/ttyUSBn (another adapter plugged first, a re-plug) does not break the
// config.
type USBAddress struct {
	VID, PID string // four hex digits each, upper case
	Serial   string // the adapter's serial number; "" matches any, if only one adapter matches
}

var usbAddress = regexp.MustCompile(`^usb:([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})(?::(.+))?$`)

// IsUSBAddress reports whether device is written as a USB address ("usb:...").
func IsUSBAddress(device string) bool { return strings.HasPrefix(device, "usb:") }

// ParseUSBAddress parses "usb:VID:PID" or "usb:VID:PID:SERIAL", such as "usb:0403:6001:A10KZP45".
func ParseUSBAddress(device string) (USBAddress, error) {
	m := usbAddress.FindStringSubmatch(device)
	if m == nil {
		return USBAddress{}, fmt.Errorf("%q is not usb:VID:PID[:SERIAL] with 4-digit hex ids (such as usb:0403:6001)", device)
	}
	return USBAddress{VID: strings.ToUpper(m[1]), PID: strings.ToUpper(m[2]), Serial: m[3]}, nil
}

// String returns the address as the config writes it.
func (a USBAddress) String() string {
	s := "usb:" + a.VID + ":" + a.PID
	if a.Serial != "" {
		s += ":" + a.Serial
	}
	return s
}

// portLister lists the serial ports with their USB details; enumerator.GetDetailedPortsList
// on the device, a fixed list in tests.
type portLister func() ([]*enumerator.PortDetails, error)

// resolve finds the device file of the adapter. It fails, naming what it found, when no
// adapter or more than one matches.
func (a USBAddress) resolve(list portLister) (string, error) {
	ports, err := list()
	if err != nil {
		return "", fmt.Errorf("list serial ports: %w", err)
	}
	var match, seen []string
	for _, p := range ports {
		if !p.IsUSB {
			continue
		}
		seen = append(seen, fmt.Sprintf("%s (usb:%s:%s:%s)", p.Name, strings.ToUpper(p.VID), strings.ToUpper(p.PID), p.SerialNumber))
		if strings.EqualFold(p.VID, a.VID) && strings.EqualFold(p.PID, a.PID) && (a.Serial == "" || p.SerialNumber == a.Serial) {
			match = append(match, p.Name)
		}
	}
	slices.Sort(seen)
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		if len(seen) == 0 {
			return "", fmt.Errorf("no USB serial adapter %s is plugged in (no USB serial ports at all)", a)
		}
		return "", fmt.Errorf("no USB serial adapter %s is plugged in (found %s)", a, strings.Join(seen, ", "))
	}
	slices.Sort(match)
	return "", fmt.Errorf("%d adapters match %s (%s): add the serial number to tell them apart (found %s)",
		len(match), a, strings.Join(match, ", "), strings.Join(seen, ", "))
}
