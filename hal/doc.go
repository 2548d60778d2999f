// Package hal is the hardware abstraction of maskserviced: the sentinel errors that every
// transducer source wraps, and the host facts (uptime, memory) read from procfs.
//
// The buses themselves live in subpackages: hal/sim simulates transducers, and hal/modbus,
// still to come, will read real ones over Modbus. Both implement maskservice.Source and report
// a failed read in the sample's Err, wrapping one of the errors declared here so that callers
// can tell the conditions apart with errors.Is.
package hal
