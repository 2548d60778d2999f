// Package maskservice is the domain of the MASKSERVICE C20 1001 pressure-test appliance:
// sensors and their configuration, readings with status and quality, threshold
// classification with hysteresis and on-delay, and the monitor that turns transducer samples
// into judged readings and fans them out.
//
// The package depends on the standard library only. It declares the small interfaces that
// the adapters implement: hal/sim implements Source (hal/modbus will, for real transducers),
// store/ring implements RecentReadings, hal implements Host, and web consumes them through the
// interfaces that cmd/maskserviced hands it.
package maskservice
