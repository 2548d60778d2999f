package web

import (
	"log/slog"
	"net/http"
	"time"

	"mask.services/maskservice"
)

// deviceStatus is the answer of GET /api/device/status.
type deviceStatus struct {
	DeviceID      string                  `json:"device_id"`
	Status        maskservice.DeviceState `json:"status"`
	LastHeartbeat *timestamp              `json:"last_heartbeat"` // null before the first round
	PollRTTMs     float64                 `json:"poll_rtt_ms"`
	DataQuality   float64                 `json:"data_quality"`
	UptimeSeconds float64                 `json:"uptime_seconds"`
	// The host facts are left out, not zeroed, when they cannot be read: a zero would read as
	// a fact ("no memory available").
	HostUptimeSeconds *float64      `json:"host_uptime_seconds,omitempty"`
	Memory            *memoryStatus `json:"memory,omitempty"`
	Version           string        `json:"version"`
	Sensors           []sensorState `json:"sensors"`
	Rounds            uint64        `json:"rounds"`
	Overruns          uint64        `json:"overruns"`
	Storage           *storageJSON  `json:"storage,omitempty"`
	// TLSFingerprint is the HTTPS certificate's SHA-256 fingerprint, absent without HTTPS.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`

	// The specification's names: poll_rtt_ms, uptime_seconds, and the share of the device's
	// memory in use (0-1), null when the host facts cannot be read.
	NetworkLatency float64  `json:"network_latency"`
	Uptime         float64  `json:"uptime"`
	MemoryUsage    *float64 `json:"memory_usage"`
}

// storageJSON is the history log's health in the device status.
type storageJSON struct {
	Status          string     `json:"status"` // OK, DISK_FULL, ERROR
	PendingReadings int        `json:"pending_readings"`
	DroppedReadings uint64     `json:"dropped_readings"`
	DroppedRounds   uint64     `json:"dropped_rounds"`
	LastCommit      *timestamp `json:"last_commit"`
	LastError       string     `json:"last_error"`
	FileBytes       int64      `json:"file_bytes"`
	UsedBytes       int64      `json:"used_bytes"`
	MaxBytes        int64      `json:"max_bytes"`
}

type memoryStatus struct {
	TotalBytes      uint64 `json:"total_bytes"`
	AvailableBytes  uint64 `json:"available_bytes"`
	ProcessRSSBytes uint64 `json:"process_rss_bytes"`
}

type sensorState struct {
	SensorID  string              `json:"sensor_id"`
	Quality   maskservice.Quality `json:"quality"`
	Status    maskservice.Status  `json:"status"`
	Reads     uint64              `json:"reads"`
	Errors    uint64              `json:"errors"`
	LastRTTMs float64             `json:"last_rtt_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// GET /api/device/status. A failure to read the host facts leaves them out of the answer and
// is logged: the state of the transducers matters more than the memory figures.
func (s *Server) handleDeviceStatus(w http.ResponseWriter, r *http.Request) {
	m := s.opts.Monitor
	st := m.Stats()
	round := m.Current()
	now := s.now()
	ds := deviceStatus{
		DeviceID:      s.opts.DeviceID,
		Status:        m.State(),
		PollRTTMs:     ms(st.LastRTT),
		DataQuality:   st.GoodShare,
		UptimeSeconds: now.Sub(s.start).Seconds(),
		Version:       s.opts.Version,
		Sensors:       make([]sensorState, len(st.Sensors)),
		Rounds:        st.Rounds,
		Overruns:      st.Overruns,
	}
	ds.NetworkLatency, ds.Uptime = ds.PollRTTMs, ds.UptimeSeconds
	if !st.LastRound.IsZero() {
		hb := timestamp(st.LastRound)
		ds.LastHeartbeat = &hb
	}
	ds.TLSFingerprint = s.opts.TLSFingerprint
	if s.opts.Storage != nil {
		ss := s.opts.Storage()
		ds.Storage = &storageJSON{Status: ss.State, PendingReadings: ss.Pending, DroppedReadings: ss.Dropped, DroppedRounds: ss.DroppedRounds,
			LastError: ss.LastError, FileBytes: ss.FileBytes, UsedBytes: ss.UsedBytes, MaxBytes: ss.MaxBytes}
		if !ss.LastCommit.IsZero() {
			lc := timestamp(ss.LastCommit)
			ds.Storage.LastCommit = &lc
		}
	}
	for i, ss := range st.Sensors {
		state := sensorState{
			SensorID: ss.SensorID, Reads: ss.Reads, Errors: ss.Errors, LastRTTMs: ms(ss.LastRTT),
			Quality: maskservice.QualityBad, Status: maskservice.StatusUnknown,
		}
		// Stats and rounds both list the sensors in configuration order.
		if round != nil && i < len(round.Current) && round.Current[i].SensorID == ss.SensorID {
			state.Quality, state.Status = round.Current[i].Quality, round.Current[i].Status
		}
		ds.Sensors[i] = state
	}
	if s.opts.Host != nil {
		if info, err := s.opts.Host.Info(); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "read host facts", slog.Any("err", err))
		} else {
			up := info.Uptime.Seconds()
			ds.HostUptimeSeconds = &up
			ds.Memory = &memoryStatus{
				TotalBytes: info.MemTotal, AvailableBytes: info.MemAvailable, ProcessRSSBytes: info.ProcessRSS,
			}
			if info.MemTotal > 0 && info.MemAvailable <= info.MemTotal {
				used := float64(info.MemTotal-info.MemAvailable) / float64(info.MemTotal)
				ds.MemoryUsage = &used
			}
		}
	}
	s.writeJSON(w, r, http.StatusOK, ds)
}

// GET /healthz: the process is alive and serving HTTP.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// GET /readyz: Options.Ready says whether the daemon can serve.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			// The readiness message is the daemon's own, written for the operator.
			s.writeJSON(w, r, http.StatusServiceUnavailable, newErrorBody(maskservice.EUNAVAILABLE, err.Error()))
			return
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}
