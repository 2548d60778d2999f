package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
)

// monitorCollector reads the monitor's counters at scrape time, so the poll loop never
// updates a metric itself.
type monitorCollector struct {
	m                                    *maskservice.Monitor
	readings, errors, value, status, rtt *prometheus.Desc
	rounds, dropped, quality             *prometheus.Desc
}

func newMonitorCollector(m *maskservice.Monitor) *monitorCollector {
	sensor := []string{"sensor_id"}
	return &monitorCollector{
		m:        m,
		readings: prometheus.NewDesc("sensor_readings_total", "Readings taken, good or bad.", sensor, nil),
		errors:   prometheus.NewDesc("sensor_poll_errors_total", "Reads that failed or gave a value outside the range.", sensor, nil),
		value:    prometheus.NewDesc("sensor_value", "Newest measured value in the sensor's unit; absent while the sensor gives none.", sensor, nil),
		status:   prometheus.NewDesc("sensor_status", "Newest status: 0 unknown, 1 normal, 2 warning, 3 critical.", sensor, nil),
		rtt:      prometheus.NewDesc("sensor_poll_rtt_seconds", "Round-trip time of the newest read.", sensor, nil),
		rounds:   prometheus.NewDesc("monitor_rounds_total", "Poll rounds published.", nil, nil),
		dropped:  prometheus.NewDesc("monitor_dropped_rounds_total", "Rounds a subscriber lost because its queue was full.", []string{"subscriber"}, nil),
		quality:  prometheus.NewDesc("device_data_quality_ratio", "Share of good reads over the last minute.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *monitorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.readings, c.errors, c.value, c.status, c.rtt, c.rounds, c.dropped, c.quality} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *monitorCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Stats()
	for _, ss := range st.Sensors {
		ch <- prometheus.MustNewConstMetric(c.readings, prometheus.CounterValue, float64(ss.Reads), ss.SensorID)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(ss.Errors), ss.SensorID)
		ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, ss.LastRTT.Seconds(), ss.SensorID)
	}
	if round := c.m.Current(); round != nil {
		for _, r := range round.Current {
			if r.HasValue() {
				ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, r.Value, r.SensorID)
			}
			ch <- prometheus.MustNewConstMetric(c.status, prometheus.GaugeValue, float64(r.Status), r.SensorID)
		}
	} else {
		for _, sn := range c.m.Sensors() {
			ch <- prometheus.MustNewConstMetric(c.status, prometheus.GaugeValue, float64(maskservice.StatusUnknown), sn.ID)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.rounds, prometheus.CounterValue, float64(st.Rounds))
	ch <- prometheus.MustNewConstMetric(c.quality, prometheus.GaugeValue, st.GoodShare)
	// Two subscriptions may share a name; one series per name keeps the scrape valid.
	dropped := make(map[string]uint64, len(st.Subscribers))
	for _, sub := range st.Subscribers {
		dropped[sub.Name] += sub.Dropped
	}
	for name, n := range dropped {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), name)
	}
}

// registerMetrics registers the monitor collector and the request histogram.
func (s *Server) registerMetrics() error {
	s.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route pattern (WebSocket sessions excluded).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "endpoint"})
	for _, c := range []prometheus.Collector{newMonitorCollector(s.opts.Monitor), s.requestDuration} {
		if err := s.opts.Registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// GET /metrics, for loopback clients and for anyone with the scrape token.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.metricsAllowed(r) {
		s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN,
			"metrics are served to loopback clients, or with the scrape token"))
		return
	}
	s.metrics.ServeHTTP(w, r)
}

func (s *Server) metricsAllowed(r *http.Request) bool {
	if token := s.opts.MetricsToken; token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			return true
		}
	}
	return isLoopback(r.RemoteAddr)
}
