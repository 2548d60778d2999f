// Package slave holds the tooling that plays the transducers' side of the line: Modbus RTU
// framing and a slave (hal/slave/rtu), and pseudo-terminal pairs that stand in for a serial
// port (hal/slave/pty). The transducer simulator (cmd/transducer-sim) and the tests use it;
// the daemon never does. The Modbus master the daemon runs is hal/modbus.
package slave
