package maskservice

import "time"

// BusDiagnostics are the counters of one field bus: what a technician looks at when readings
// go bad. They are exported in /metrics and kept for the diagnostics page.
type BusDiagnostics struct {
	Bus    string // the bus's name in the config
	Driver string // modbus-rtu, modbus-tcp
	Device string // as configured: /dev/ttyUSB0, usb:VID:PID[:SERIAL] or host:port
	// Port is the device the bus has open now (a usb: address resolved to /dev/ttyUSBn); ""
	// while the port is closed.
	Port       string
	Connected  bool   // the port is open
	Reconnects uint64 // times the port was reopened after it failed
	// Resyncs counts reopenings of an RTU port to drop a reply that came too late (after a
	// timeout or a garbled reply); many mean a timeout too short for the slaves.
	Resyncs      uint64
	OpenFailures uint64    // attempts to open the port that failed
	LastError    string    // the newest failure of any kind, "" if none yet
	LastErrorAt  time.Time // when LastError happened
	Slaves       []SlaveDiagnostics
}

// SlaveDiagnostics are the transaction counters of one slave on a bus. A transaction is one
// request and its reply; a retry is another transaction.
type SlaveDiagnostics struct {
	Slave       int
	Requests    uint64            // transactions started
	Successes   uint64            // transactions answered with data
	Timeouts    uint64            // no reply within the bus timeout
	CRCErrors   uint64            // replies with a bad checksum
	FrameErrors uint64            // replies too short, from another slave, or malformed
	PortErrors  uint64            // transactions the port itself failed (unplugged adapter)
	Exceptions  map[int]uint64    // exception replies by exception code
	RTT         DurationHistogram // round-trip time of the successful transactions
}

// DurationHistogram is a cumulative histogram of durations, as Prometheus keeps one.
type DurationHistogram struct {
	Bounds []time.Duration // upper bounds of the buckets, ascending
	Counts []uint64        // Counts[i]: observations <= Bounds[i]
	Count  uint64          // all observations
	Sum    time.Duration   // their sum
}

// BusDiagnoser reports the diagnostics of every field bus, in configuration order. It is safe
// for concurrent use. Implementations: hal/modbus.Bus (one bus), hal.Buses (all of them).
type BusDiagnoser interface {
	BusDiagnostics() []BusDiagnostics
}

// Buses is what the service screens do to the field buses, as one set: the buses behind the
// monitor's Source. Today it reports their diagnostics; later issues add raw register reads
// and writes (service mode, reading or setting a transducer's registers by hand) and the coil
// outputs of the test head, as methods here, so that web keeps one handle on the hardware and
// never imports hal. It is safe for concurrent use. Implementation: hal.Buses.
type Buses interface {
	BusDiagnoser
}
