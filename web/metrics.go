package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
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
		dropped:  prometheus.NewDesc("monitor_dropped_rounds_total", "Events (poll rounds, alert changes) a subscriber of the event bus lost because its queue was full: ring, history, alarms, websocket.", []string{"subscriber"}, nil),
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

// busCollector reads the field buses' diagnostics at scrape time.
type busCollector struct {
	d                                                        maskservice.BusDiagnoser
	requests, successes, timeouts, crc, frame, port, rtt     *prometheus.Desc
	exceptions, reconnects, resyncs, openFailures, connected *prometheus.Desc
}

func newBusCollector(d maskservice.BusDiagnoser) *busCollector {
	slave := []string{"bus", "slave"}
	bus := []string{"bus"}
	return &busCollector{
		d:            d,
		requests:     prometheus.NewDesc("bus_requests_total", "Modbus transactions started (a retry is another).", slave, nil),
		successes:    prometheus.NewDesc("bus_successes_total", "Modbus transactions answered with data.", slave, nil),
		timeouts:     prometheus.NewDesc("bus_timeouts_total", "Modbus transactions with no reply within the bus timeout.", slave, nil),
		crc:          prometheus.NewDesc("bus_crc_errors_total", "Replies with a bad checksum.", slave, nil),
		frame:        prometheus.NewDesc("bus_frame_errors_total", "Replies too short, from another slave, or malformed.", slave, nil),
		port:         prometheus.NewDesc("bus_port_errors_total", "Transactions the serial port itself failed.", slave, nil),
		exceptions:   prometheus.NewDesc("bus_exceptions_total", "Modbus exception replies, by exception code.", []string{"bus", "slave", "code"}, nil),
		rtt:          prometheus.NewDesc("bus_rtt_seconds", "Round-trip time of successful Modbus transactions.", slave, nil),
		reconnects:   prometheus.NewDesc("bus_reconnects_total", "Times the port was reopened after it failed.", bus, nil),
		resyncs:      prometheus.NewDesc("bus_resyncs_total", "Times an RTU port was reopened to drop a late reply after a timeout.", bus, nil),
		openFailures: prometheus.NewDesc("bus_open_failures_total", "Attempts to open the port that failed.", bus, nil),
		connected:    prometheus.NewDesc("bus_connected", "1 while the bus's port is open.", bus, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.successes, c.timeouts, c.crc, c.frame, c.port, c.rtt,
		c.exceptions, c.reconnects, c.resyncs, c.openFailures, c.connected} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, b := range c.d.BusDiagnostics() {
		counter(c.reconnects, b.Reconnects, b.Bus)
		counter(c.resyncs, b.Resyncs, b.Bus)
		counter(c.openFailures, b.OpenFailures, b.Bus)
		connected := 0.0
		if b.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected, b.Bus)
		for _, s := range b.Slaves {
			id := strconv.Itoa(s.Slave)
			counter(c.requests, s.Requests, b.Bus, id)
			counter(c.successes, s.Successes, b.Bus, id)
			counter(c.timeouts, s.Timeouts, b.Bus, id)
			counter(c.crc, s.CRCErrors, b.Bus, id)
			counter(c.frame, s.FrameErrors, b.Bus, id)
			counter(c.port, s.PortErrors, b.Bus, id)
			for code, n := range s.Exceptions {
				counter(c.exceptions, n, b.Bus, id, fmt.Sprintf("%02X", code))
			}
			buckets := make(map[float64]uint64, len(s.RTT.Bounds))
			for i, bound := range s.RTT.Bounds {
				buckets[bound.Seconds()] = s.RTT.Counts[i]
			}
			ch <- prometheus.MustNewConstHistogram(c.rtt, s.RTT.Count, s.RTT.Sum.Seconds(), buckets, b.Bus, id)
		}
	}
}

// alertCollector counts the alerts in the store at scrape time: there are few (a handful a
// day), so a scan per scrape is cheap, and the figures are the store's, never drifting.
type alertCollector struct {
	store         maskservice.AlertStore
	active, total *prometheus.Desc
}

func newAlertCollector(store maskservice.AlertStore) *alertCollector {
	return &alertCollector{
		store:  store,
		active: prometheus.NewDesc("alerts_active", "Alerts whose condition holds now (active, acknowledged or not).", []string{"sensor_id", "type"}, nil),
		total:  prometheus.NewDesc("alerts_total", "Alerts ever raised, by type; a warning that escalated counts once as WARNING and once as CRITICAL.", []string{"type"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.active
	ch <- c.total
}

// Collect implements prometheus.Collector.
func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ sensor, typ string }
	active := map[key]int{}
	total := map[string]int{}
	for _, t := range []maskservice.AlertType{maskservice.AlertWarning, maskservice.AlertCritical, maskservice.AlertSensorFault, maskservice.AlertDeviceFault} {
		total[string(t)] = 0
	}
	err := c.store.ScanAlerts(context.Background(), maskservice.AlertFilter{}, func(a maskservice.Alert) bool {
		// Counted by every type an alert has had, so that an escalation adds a CRITICAL
		// and never takes a WARNING away: the counter only grows.
		total[string(a.Type)]++
		if !a.EscalatedAt.IsZero() {
			total[string(maskservice.AlertWarning)]++
		}
		if a.State.Active() {
			active[key{a.SensorID, string(a.Type)}]++
		}
		return true
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.total, fmt.Errorf("read alerts: %w", err))
		return
	}
	for k, n := range active {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n), k.sensor, k.typ)
	}
	for t, n := range total {
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(n), t)
	}
}

// registerMetrics registers the monitor collector and the request histogram.
func (s *Server) registerMetrics() error {
	s.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route pattern (WebSocket sessions excluded).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "endpoint"})
	cs := []prometheus.Collector{newMonitorCollector(s.opts.Monitor), s.requestDuration}
	if s.opts.Buses != nil {
		cs = append(cs, newBusCollector(s.opts.Buses))
	}
	if s.opts.Alerts != nil {
		cs = append(cs, newAlertCollector(s.opts.Alerts))
	}
	for _, c := range cs {
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
