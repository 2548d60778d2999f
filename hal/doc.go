// Package hal is the hardware abstraction of maskserviced: register maps and their pure
// decoding (Register), the sentinel errors that every transducer source wraps, the host
// facts (uptime, memory) read from procfs, and the set of buses behind the monitor's one
// Source (Buses), built from buses already opened.
//
// The buses themselves live in subpackages: hal/modbus reads real transducers over Modbus RTU
// (or TCP), hal/sim simulates them. Both implement maskservice.Source and report a failed read
// in the sample's Err, wrapping one of the errors declared here so that callers can tell the
// conditions apart with errors.Is.
//
// hal/slave is apart from the master: it plays the transducers' side of the line (hal/slave/rtu
// frames Modbus RTU as a slave, hal/slave/pty opens pseudo-terminal pairs) for the transducer
// simulator (cmd/transducer-sim) and the tests, and the daemon never uses it.
package hal
