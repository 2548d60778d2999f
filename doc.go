// Package maskservice is the domain of the MASKSERVICE C20 1001 pressure-test appliance and
// its running pipeline:
//
//   - sensors and their settings in force (SensorSet, swapped atomically through
//     LiveSensors), readings with status and quality, threshold classification with
//     hysteresis and on-delay, calibration;
//   - the Monitor, which polls a Source, judges every sample and publishes one Round per poll
//     round on the EventBus;
//   - the services on the bus: the AlarmEngine (ISA-18.2 alerts, committed before they are
//     published), and, in the adapters, the RAM ring, the history log and the WebSocket hub;
//   - users, sessions, roles and permissions, and the audit trail.
//
// The package depends on the standard library only. It declares the small interfaces that
// the adapters implement: hal/modbus and hal/sim implement Source (hal.Buses joins the buses
// into one), store/bolt implements AlertStore, UserStore, SessionStore, AuditLog and
// HistoryLog, store/ring implements RecentReadings, hal implements Host; web consumes them
// through these interfaces. cmd/maskserviced builds the services and starts them.
package maskservice
