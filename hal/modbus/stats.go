package modbus

import (
	"errors"
	"sync"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/hal"
)

// rttBounds are the upper bounds of the round-trip time histogram: a 2-register read takes
// about 5 ms at 115200 baud and 18 ms at 9600; hundreds of ms mean a struggling slave.
var rttBounds = []time.Duration{
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second,
}

// stats are a bus's counters. The bus goroutine writes them; BusDiagnostics reads them.
type stats struct {
	mu           sync.Mutex
	port         string
	connected    bool
	reconnects   uint64
	resyncs      uint64
	openFailures uint64
	lastErr      string
	lastErrAt    time.Time
	slaves       map[uint8]*slaveStats
}

type slaveStats struct {
	requests, successes, timeouts, crc, frame, port uint64
	exceptions                                      map[int]uint64
	rttCounts                                       []uint64 // per bucket, not cumulative; last is +Inf
	rttSum                                          time.Duration
}

func newStats(slaves []uint8) *stats {
	s := &stats{slaves: map[uint8]*slaveStats{}}
	for _, id := range slaves {
		s.slaves[id] = &slaveStats{exceptions: map[int]uint64{}, rttCounts: make([]uint64, len(rttBounds)+1)}
	}
	return s
}

// transaction counts one transaction's outcome; err is already classified.
func (s *stats) transaction(slave uint8, rtt time.Duration, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slaves[slave]
	sl.requests++
	var ex *hal.ExceptionError
	switch {
	case err == nil:
		sl.successes++
		i := 0
		for i < len(rttBounds) && rtt > rttBounds[i] {
			i++
		}
		sl.rttCounts[i]++
		sl.rttSum += rtt
		return
	case errors.Is(err, hal.ErrTimeout):
		sl.timeouts++
	case errors.Is(err, hal.ErrCRC):
		sl.crc++
	case errors.As(err, &ex):
		sl.exceptions[int(ex.Code)]++
	case errors.Is(err, hal.ErrFrame):
		sl.frame++
	default:
		sl.port++
	}
	s.lastErr, s.lastErrAt = err.Error(), now
}

// opened records the port's state after an attempt to open it.
func (s *stats) opened(port string, err error, reconnect bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.openFailures++
		s.lastErr, s.lastErrAt = err.Error(), now
		return
	}
	s.port, s.connected = port, true
	if reconnect {
		s.reconnects++
	}
}

func (s *stats) resynced() {
	s.mu.Lock()
	s.resyncs++
	s.mu.Unlock()
}

func (s *stats) closed() {
	s.mu.Lock()
	s.port, s.connected = "", false
	s.mu.Unlock()
}

func (s *stats) snapshot(d *maskservice.BusDiagnostics, slaveOrder []uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Port, d.Connected, d.Reconnects, d.Resyncs, d.OpenFailures = s.port, s.connected, s.reconnects, s.resyncs, s.openFailures
	d.LastError, d.LastErrorAt = s.lastErr, s.lastErrAt
	d.Slaves = make([]maskservice.SlaveDiagnostics, 0, len(slaveOrder))
	for _, id := range slaveOrder {
		sl := s.slaves[id]
		sd := maskservice.SlaveDiagnostics{
			Slave: int(id), Requests: sl.requests, Successes: sl.successes, Timeouts: sl.timeouts,
			CRCErrors: sl.crc, FrameErrors: sl.frame, PortErrors: sl.port,
			Exceptions: make(map[int]uint64, len(sl.exceptions)),
			RTT: maskservice.DurationHistogram{Bounds: append([]time.Duration(nil), rttBounds...),
				Counts: make([]uint64, len(rttBounds)), Sum: sl.rttSum},
		}
		for code, n := range sl.exceptions {
			sd.Exceptions[code] = n
		}
		var cum uint64
		for i, n := range sl.rttCounts {
			cum += n
			if i < len(rttBounds) {
				sd.RTT.Counts[i] = cum
			}
		}
		sd.RTT.Count = cum
		d.Slaves = append(d.Slaves, sd)
	}
}
