package modbus_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
)

// BenchmarkBus_PTY3Registers is one poll of three int16 transducers in contiguous registers
// (one request of 3 registers) over a pty, against our RTU slave in the same process. It
// reports polls/s and the CPU time of both ends per poll (getrusage of the process).
func BenchmarkBus_PTY3Registers(b *testing.B) {
	im := newImage()
	var sensors []modbus.Sensor
	for i, id := range []string{"P1", "P2", "P3"} {
		reg := hal.Register{Slave: 1, Address: uint16(i), Type: hal.Int16, Scale: 0.001}
		im.put(reg, float64(i+1))
		sensors = append(sensors, modbus.Sensor{ID: id, Register: reg})
	}
	l := newLine(b, im)
	bus := openBus(b, l, sensors, func(c *modbus.Config) { c.Baud = 115200 })
	ids := []string{"P1", "P2", "P3"}
	ctx := context.Background()
	if s, err := bus.Read(ctx, ids); err != nil || s[0].Err != nil {
		b.Fatalf("first read: %v %v", err, s)
	}
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		s, err := bus.Read(ctx, ids)
		if err != nil || s[2].Err != nil {
			b.Fatalf("read: %v %v", err, s[2].Err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/time.Since(start).Seconds(), "polls/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/n/1e3, "cpu-µs/poll")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
