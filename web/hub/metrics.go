package hub

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a client is dropped, as the reason label of websocket_dropped_clients_total.
const (
	reasonSlow  = "slow"  // its queue overflowed
	reasonPing  = "ping"  // it did not answer a ping in time
	reasonWrite = "write" // a frame write timed out
	reasonLimit = "limit" // it came over the connection limit
	// it came over the limit of its session's or its user's clients
	reasonSessionLimit = "session_limit"
	reasonUserLimit    = "user_limit"
	// its session ended (CloseSession)
	reasonSignedOut = "signed_out"
)

// metrics are the hub's Prometheus collectors. They exist even without a registerer, so the
// code that updates them has no nil checks.
type metrics struct {
	active   prometheus.Gauge
	duration prometheus.Histogram
	frames   prometheus.Counter
	dropped  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "websocket_connections_active",
			Help: "WebSocket clients connected to the sensors endpoint.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "websocket_message_duration_seconds",
			Help: "Time to write one frame to one WebSocket client.",
			// A write to a healthy client takes microseconds; the top buckets catch the slow
			// ones up to the 5 s default write timeout.
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "websocket_frames_total",
			Help: "Frames handed to the WebSocket hub for broadcast (each is encoded once for all clients).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "websocket_dropped_clients_total",
			Help: "WebSocket clients the server closed, by reason: slow (queue overflow), ping (no pong), write (write timeout), limit (over the connection limit).",
		}, []string{"reason"}),
	}
	// Every reason is present from the start, so rate() and alerts see zeros, not gaps.
	for _, r := range []string{reasonSlow, reasonPing, reasonWrite, reasonLimit, reasonSessionLimit, reasonUserLimit, reasonSignedOut} {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.active, m.duration, m.frames, m.dropped}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			// Leave the registerer as it was, so a caller may retry with another one.
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register websocket metrics: %w", err)
		}
	}
	return m, nil
}
