package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/internal/wire"
)

// Limits of the query parameters.
const (
	defaultLimit     = 100
	maxLimit         = 10000
	defaultMaxPoints = 1000
	maxMaxPoints     = 10000
	defaultSpan      = time.Hour
	maxSpan          = 400 * 24 * time.Hour // the retention of the history log
)

// minTime and maxTime bound the times of a history range: RFC 3339 years have four digits.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
)

// number and timestamp encode as the WebSocket frames spell numbers and times (package wire).
type (
	number    = wire.Number
	timestamp = wire.Timestamp
)

// readingJSON is a Reading as the API spells it, with the field names of the WebSocket frame.
type readingJSON struct {
	SensorID  string              `json:"sensor_id"`
	Value     number              `json:"value"`
	RawValue  number              `json:"raw_value"`
	Unit      string              `json:"unit"`
	Status    maskservice.Status  `json:"status"`
	Quality   maskservice.Quality `json:"quality"`
	Fault     string              `json:"fault"`
	Timestamp timestamp           `json:"timestamp"`
}

func newReadingJSON(r maskservice.Reading) readingJSON {
	return readingJSON{
		SensorID: r.SensorID, Value: number(r.Value), RawValue: number(r.Raw), Unit: r.Unit,
		Status: r.Status, Quality: r.Quality, Fault: r.Fault, Timestamp: timestamp(r.Time),
	}
}

func readingsJSON(rs []maskservice.Reading) []readingJSON {
	out := make([]readingJSON, len(rs)) // never nil: an empty list encodes as [], not null
	for i, r := range rs {
		out[i] = newReadingJSON(r)
	}
	return out
}

// GET /api/sensors?limit=&sensor_id=
func (s *Server) handleSensors(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var ids []string
	if id := q.Get("sensor_id"); id != "" {
		if _, ok := s.opts.Monitor.Sensor(id); !ok {
			s.writeError(w, r, maskservice.Errorf(maskservice.ENOTFOUND, "sensor_id %s: no such sensor", echo(id)))
			return
		}
		ids = []string{id}
	} else {
		for _, sn := range s.opts.Monitor.Sensors() {
			ids = append(ids, sn.ID)
		}
	}
	var rs []maskservice.Reading
	for _, id := range ids {
		rs = s.opts.Recent.Last(id, limit, rs)
	}
	// Each sensor's readings come oldest first; a stable sort keeps the configuration order
	// among readings taken at the same instant.
	slices.SortStableFunc(rs, func(a, b maskservice.Reading) int { return b.Time.Compare(a.Time) })
	rs = rs[:min(limit, len(rs))]
	s.writeJSON(w, r, http.StatusOK, struct {
		Count    int           `json:"count"`
		Readings []readingJSON `json:"readings"`
	}{len(rs), readingsJSON(rs)})
}

// currentSensor is one sensor's entry in /api/sensors/current: its newest reading and the
// configuration a client needs to draw it.
type currentSensor struct {
	readingJSON
	Name    string    `json:"name"`
	Range   [2]number `json:"range"`
	Normal  [2]number `json:"normal"`
	Warning [2]number `json:"warning"`
	// Interval is how often the sensor is read, in seconds: the UI counts its data as
	// stopped after a few intervals without a frame.
	Interval number `json:"interval"`
}

// currentBody is the encoded answer of /api/sensors/current for one round.
type currentBody struct {
	round *maskservice.Round
	body  []byte
}

// GET /api/sensors/current. The answer changes once per poll round, so it is encoded once per
// round and the same bytes serve every request until the next one.
func (s *Server) handleCurrent(w http.ResponseWriter, r *http.Request) {
	round := s.opts.Monitor.Current()
	if round == nil {
		s.writeError(w, r, maskservice.Errorf(maskservice.EUNAVAILABLE, "no poll round has finished yet"))
		return
	}
	if c := s.current.Load(); c != nil && c.round == round {
		writeJSONBytes(w, http.StatusOK, c.body)
		return
	}
	body, err := s.encodeCurrent(round)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Two requests may race to encode the same round; either result is the same bytes.
	s.current.Store(&currentBody{round: round, body: body})
	writeJSONBytes(w, http.StatusOK, body)
}

func (s *Server) encodeCurrent(round *maskservice.Round) ([]byte, error) {
	v := struct {
		Seq       uint64                   `json:"seq"`
		Timestamp timestamp                `json:"timestamp"`
		Order     []string                 `json:"order"`
		Sensors   map[string]currentSensor `json:"sensors"`
	}{
		Seq:       round.Seq,
		Timestamp: timestamp(round.Time),
		Order:     make([]string, 0, len(round.Current)),
		Sensors:   make(map[string]currentSensor, len(round.Current)),
	}
	for _, rd := range round.Current {
		sn, _ := s.opts.Monitor.Sensor(rd.SensorID)
		v.Order = append(v.Order, rd.SensorID)
		v.Sensors[rd.SensorID] = currentSensor{
			readingJSON: newReadingJSON(rd),
			Name:        sn.Name,
			Range:       band(sn.Range),
			Normal:      band(sn.Thresholds.Normal),
			Warning:     band(sn.Thresholds.Warning),
			Interval:    number(sn.Interval.Seconds()),
		}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode current round %d: %w", round.Seq, err)
	}
	return append(body, '\n'), nil
}

func band(b maskservice.Band) [2]number { return [2]number{number(b.Low), number(b.High)} }

// historyQuery is the parsed query of a history request.
type historyQuery struct {
	start, end time.Time
	maxPoints  int
	csv        bool
}

// parseHistoryQuery reads start_time, end_time, max_points and format; an error names the
// parameter.
func parseHistoryQuery(q url.Values, now time.Time) (historyQuery, error) {
	h := historyQuery{end: now}
	var err error
	if h.maxPoints, err = intParam(q, "max_points", defaultMaxPoints, 2, maxMaxPoints); err != nil {
		return h, err
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		h.csv = true
	default:
		return h, maskservice.Errorf(maskservice.EINVALID, "format %s: want json or csv", echo(f))
	}
	if v := q.Get("end_time"); v != "" {
		if h.end, err = timeParam("end_time", v); err != nil {
			return h, err
		}
	}
	h.start = h.end.Add(-defaultSpan)
	if h.start.Before(minTime) {
		h.start = minTime
	}
	if v := q.Get("start_time"); v != "" {
		if h.start, err = timeParam("start_time", v); err != nil {
			return h, err
		}
	}
	switch {
	case h.end.Before(h.start):
		return h, maskservice.Errorf(maskservice.EINVALID, "end_time %s is before start_time %s",
			h.end.Format(time.RFC3339Nano), h.start.Format(time.RFC3339Nano))
	case h.end.Sub(h.start) > maxSpan:
		return h, maskservice.Errorf(maskservice.EINVALID, "start_time is more than %d days before end_time", maxSpan/(24*time.Hour))
	}
	return h, nil
}

// pointJSON is one point of a history answer: a reading, or when the answer is downsampled
// the summary of a bucket, with the mean as value, the worst status, quality bad if any
// reading was bad, and the bucket's min, max and count.
type pointJSON struct {
	readingJSON
	Min   *number `json:"min,omitempty"`
	Max   *number `json:"max,omitempty"`
	Count int     `json:"count,omitempty"`
}

// GET /api/sensors/{id}/history and GET /api/sensors/history?sensor_id=
//
// The readings come from the RAM ring for the last hour and from the history log before,
// merged (maskservice.ScanHistory). Downsampling happens while the log is scanned, so a
// year-long range never sits in memory; format=csv streams every reading instead.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := r.PathValue("id")
	if id == "" {
		if id = q.Get("sensor_id"); id == "" {
			s.writeError(w, r, maskservice.Errorf(maskservice.EINVALID, "sensor_id is required"))
			return
		}
	}
	sensor, ok := s.opts.Monitor.Sensor(id)
	if !ok {
		s.writeError(w, r, maskservice.Errorf(maskservice.ENOTFOUND, "sensor %s: no such sensor", echo(id)))
		return
	}
	hq, err := parseHistoryQuery(q, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if hq.csv {
		s.writeHistoryCSV(w, r, sensor, hq)
		return
	}
	b := maskservice.NewBucketer(hq.start, hq.end, hq.maxPoints)
	count := 0
	err = maskservice.ScanHistory(r.Context(), s.opts.Recent, s.opts.History, sensor, hq.start, hq.end, func(rd maskservice.Reading) bool {
		count++
		b.Add(rd)
		return true
	})
	if err != nil {
		s.writeError(w, r, historyError(err))
		return
	}
	var points []pointJSON
	var bucketSeconds *number
	if b.Aggregated() {
		w := number(b.Width().Seconds())
		bucketSeconds = &w
		for _, bk := range b.Buckets() {
			p := pointJSON{readingJSON: readingJSON{SensorID: id, Value: number(bk.Mean()), RawValue: number(math.NaN()),
				Unit: sensor.Unit, Status: bk.Status, Fault: bk.Fault, Timestamp: timestamp(bk.Start)}, Count: bk.Count}
			if bk.Bad > 0 {
				p.Quality = maskservice.QualityBad
			}
			if bk.Values > 0 {
				lo, hi := number(bk.Min), number(bk.Max)
				p.Min, p.Max = &lo, &hi
			}
			points = append(points, p)
		}
	} else {
		for _, rd := range b.Readings() {
			points = append(points, pointJSON{readingJSON: newReadingJSON(rd)})
		}
	}
	if points == nil {
		points = []pointJSON{} // an empty list encodes as [], not null
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		SensorID      string      `json:"sensor_id"`
		Unit          string      `json:"unit"`
		StartTime     timestamp   `json:"start_time"`
		EndTime       timestamp   `json:"end_time"`
		Count         int         `json:"count"`
		Downsampled   bool        `json:"downsampled"`
		BucketSeconds *number     `json:"bucket_seconds,omitempty"`
		Points        []pointJSON `json:"points"`
	}{
		SensorID: id, Unit: sensor.Unit, StartTime: timestamp(hq.start), EndTime: timestamp(hq.end),
		Count: count, Downsampled: b.Aggregated(), BucketSeconds: bucketSeconds, Points: points,
	})
}

// historyError keeps a cancelled request's error as it is and makes any other failure of the
// log an internal error with the cause in the log, not in the answer.
func historyError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return maskservice.Errorf(maskservice.EINTERNAL, "read history: %v", err)
}

// writeHistoryCSV streams every reading of the range as CSV (see streamCSV).
func (s *Server) writeHistoryCSV(w http.ResponseWriter, r *http.Request, sensor maskservice.Sensor, hq historyQuery) {
	num := func(f float64) string {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	name := fmt.Sprintf("%s-%s-%s.csv", sensor.ID, hq.start.UTC().Format("20060102T150405Z"), hq.end.UTC().Format("20060102T150405Z"))
	header := []string{"timestamp", "sensor_id", "value", "raw_value", "unit", "status", "quality", "fault"}
	s.streamCSV(w, r, name, header, "history", func(row func([]string) bool) error {
		return maskservice.ScanHistory(r.Context(), s.opts.Recent, s.opts.History, sensor, hq.start, hq.end, func(rd maskservice.Reading) bool {
			return row([]string{rd.Time.UTC().Format(wire.TimestampLayout), rd.SensorID, num(rd.Value), num(rd.Raw), rd.Unit,
				rd.Status.String(), rd.Quality.String(), rd.Fault})
		})
	})
}

// intParam reads the integer query parameter name, def when absent; outside [lo, hi] is an
// EINVALID error that names the parameter.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" && !q.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, maskservice.Errorf(maskservice.EINVALID, "%s %s: want an integer from %d to %d", name, echo(v), lo, hi)
	}
	return n, nil
}

// timeParam parses the RFC 3339 time v of the query parameter name. Its year in UTC must have
// four digits, as RFC 3339 wants, because the answer spells it back in UTC.
func timeParam(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// An unencoded "+02:00" offset arrives as " 02:00" after query decoding.
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(v, " ", "+", 1))
	}
	if err != nil || t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, maskservice.Errorf(maskservice.EINVALID,
			"%s %s: want an RFC 3339 time from year 0000 to 9999 UTC, such as 2025-01-02T15:04:05Z", name, echo(v))
	}
	return t, nil
}
