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

// readingJSON is a Reading as the API spells it, with the field names of the WebSocket frame
// and the device_id of the specification's SensorReading.
type readingJSON struct {
	SensorID  string              `json:"sensor_id"`
	Value     number              `json:"value"`
	RawValue  number              `json:"raw_value"`
	Unit      string              `json:"unit"`
	Status    maskservice.Status  `json:"status"`
	Quality   maskservice.Quality `json:"quality"`
	Fault     string              `json:"fault"`
	Timestamp timestamp           `json:"timestamp"`
	DeviceID  string              `json:"device_id"`
}

// readingJSON returns r as the API spells it.
func (s *Server) readingJSON(r maskservice.Reading) readingJSON {
	return readingJSON{
		SensorID: r.SensorID, Value: number(r.Value), RawValue: number(r.Raw), Unit: r.Unit,
		Status: r.Status, Quality: r.Quality, Fault: r.Fault, Timestamp: timestamp(r.Time), DeviceID: s.opts.DeviceID,
	}
}

// GET /api/sensors?limit=&sensor_id=: the newest readings, newest first, as a JSON array (the
// specification's List[SensorData]); X-Total-Count tells how many.
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
	out := make([]readingJSON, len(rs)) // never nil: an empty list encodes as [], not null
	for i, rd := range rs {
		out[i] = s.readingJSON(rd)
	}
	w.Header().Set(totalCountHeader, strconv.Itoa(len(out)))
	s.writeJSON(w, r, http.StatusOK, out)
}

// totalCountHeader carries the length of a list answer, which the specification fixes as a
// bare JSON array with no room for a count.
const totalCountHeader = "X-Total-Count"

// currentSensor is one sensor's entry in /api/sensors/current: its newest reading and the
// configuration a client needs to draw it.
type currentSensor struct {
	readingJSON
	Name    string    `json:"name"`
	Names   namesJSON `json:"names"` // the name in each language of the UI
	Range   [2]number `json:"range"`
	Normal  [2]number `json:"normal"`
	Warning [2]number `json:"warning"`
	// Interval is how often the sensor is read, in seconds: the UI counts its data as
	// stopped after a few intervals without a frame.
	Interval number `json:"interval"`
}

// namesJSON is a sensor's name in each language of the UI, keyed by language code.
type namesJSON struct {
	PL string `json:"pl"`
	EN string `json:"en"`
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
			readingJSON: s.readingJSON(rd),
			Name:        sn.Name,
			Names:       namesJSON{PL: sn.Names.PL, EN: sn.Names.EN},
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

// historyJSON is the answer of a history request for one sensor.
type historyJSON struct {
	SensorID      string      `json:"sensor_id"`
	Unit          string      `json:"unit"`
	StartTime     timestamp   `json:"start_time"`
	EndTime       timestamp   `json:"end_time"`
	Count         int         `json:"count"`
	Downsampled   bool        `json:"downsampled"`
	BucketSeconds *number     `json:"bucket_seconds,omitempty"`
	Points        []pointJSON `json:"points"`
}

// GET /api/sensors/{id}/history and GET /api/sensors/history?sensor_id=: one sensor's
// history. GET /api/sensors/history without sensor_id: every sensor's, as a JSON array in
// configuration order, each element as one sensor's answer (max_points applies to each).
//
// The readings come from the RAM ring for the last hour and from the history log before,
// merged (maskservice.ScanHistory). Downsampling happens while the log is scanned, so a
// year-long range never sits in memory; format=csv streams every reading instead.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := r.PathValue("id")
	if id == "" {
		id = q.Get("sensor_id")
	}
	sensors := s.opts.Monitor.Sensors()
	if id != "" {
		sensor, ok := s.opts.Monitor.Sensor(id)
		if !ok {
			s.writeError(w, r, maskservice.Errorf(maskservice.ENOTFOUND, "sensor %s: no such sensor", echo(id)))
			return
		}
		sensors = []maskservice.Sensor{sensor}
	}
	hq, err := parseHistoryQuery(q, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if hq.csv {
		s.writeHistoryCSV(w, r, sensors, hq)
		return
	}
	out := make([]historyJSON, 0, len(sensors))
	for _, sn := range sensors {
		h, err := s.history(r.Context(), sn, hq)
		if err != nil {
			s.writeError(w, r, historyError(err))
			return
		}
		out = append(out, h)
	}
	if id == "" {
		w.Header().Set(totalCountHeader, strconv.Itoa(len(out)))
		s.writeJSON(w, r, http.StatusOK, out)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out[0])
}

// history reads sensor's history over hq, downsampled to hq.maxPoints.
func (s *Server) history(ctx context.Context, sensor maskservice.Sensor, hq historyQuery) (historyJSON, error) {
	b := maskservice.NewBucketer(hq.start, hq.end, hq.maxPoints)
	count := 0
	err := maskservice.ScanHistory(ctx, s.opts.Recent, s.opts.History, sensor, hq.start, hq.end, func(rd maskservice.Reading) bool {
		count++
		b.Add(rd)
		return true
	})
	if err != nil {
		return historyJSON{}, err
	}
	h := historyJSON{SensorID: sensor.ID, Unit: sensor.Unit, StartTime: timestamp(hq.start), EndTime: timestamp(hq.end),
		Count: count, Downsampled: b.Aggregated(), Points: []pointJSON{}} // an empty list encodes as [], not null
	if !b.Aggregated() {
		for _, rd := range b.Readings() {
			h.Points = append(h.Points, pointJSON{readingJSON: s.readingJSON(rd)})
		}
		return h, nil
	}
	width := number(b.Width().Seconds())
	h.BucketSeconds = &width
	for _, bk := range b.Buckets() {
		p := pointJSON{readingJSON: readingJSON{SensorID: sensor.ID, Value: number(bk.Mean()), RawValue: number(math.NaN()),
			Unit: sensor.Unit, Status: bk.Status, Fault: bk.Fault, Timestamp: timestamp(bk.Start), DeviceID: s.opts.DeviceID}, Count: bk.Count}
		if bk.Bad > 0 {
			p.Quality = maskservice.QualityBad
		}
		if bk.Values > 0 {
			lo, hi := number(bk.Min), number(bk.Max)
			p.Min, p.Max = &lo, &hi
		}
		h.Points = append(h.Points, p)
	}
	return h, nil
}

// historyError keeps a cancelled request's error as it is and makes any other failure of the
// log an internal error with the cause in the log, not in the answer.
func historyError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return maskservice.Errorf(maskservice.EINTERNAL, "read history: %v", err)
}

// writeHistoryCSV streams every reading of the range as CSV (see streamCSV), sensor after
// sensor.
func (s *Server) writeHistoryCSV(w http.ResponseWriter, r *http.Request, sensors []maskservice.Sensor, hq historyQuery) {
	num := func(f float64) string {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	what := "sensors"
	if len(sensors) == 1 {
		what = sensors[0].ID
	}
	name := fmt.Sprintf("%s-%s-%s.csv", what, hq.start.UTC().Format("20060102T150405Z"), hq.end.UTC().Format("20060102T150405Z"))
	header := []string{"timestamp", "sensor_id", "value", "raw_value", "unit", "status", "quality", "fault"}
	s.streamCSV(w, r, name, header, "history", func(row func([]string) bool) error {
		for _, sensor := range sensors {
			more := true
			err := maskservice.ScanHistory(r.Context(), s.opts.Recent, s.opts.History, sensor, hq.start, hq.end, func(rd maskservice.Reading) bool {
				more = row([]string{rd.Time.UTC().Format(wire.TimestampLayout), rd.SensorID, num(rd.Value), num(rd.Raw), rd.Unit,
					rd.Status.String(), rd.Quality.String(), rd.Fault})
				return more
			})
			if err != nil || !more {
				return err
			}
		}
		return nil
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

// timeLayouts are the spellings a time parameter may take: RFC 3339 with its zone; the same
// without a zone, read as UTC (what Python's datetime.utcnow().isoformat() gives, and the
// specification's times are UTC); either with a space for the T; or a date alone, its
// midnight UTC. Go's parser takes a fraction of a second after the seconds of any of them.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", time.DateOnly}

// timeParam parses the time v of the query parameter name (timeLayouts). Its year in UTC must
// have four digits, as RFC 3339 wants, because the answer spells it back in UTC.
func timeParam(name, v string) (time.Time, error) {
	t, ok := parseTime(v)
	if !ok {
		// An unencoded "+02:00" offset arrives as " 02:00" after query decoding.
		if i := strings.LastIndexByte(v, ' '); i >= 0 {
			t, ok = parseTime(v[:i] + "+" + v[i+1:])
		}
	}
	if !ok || t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, maskservice.Errorf(maskservice.EINVALID,
			"%s %s: want an RFC 3339 time from year 0000 to 9999 UTC, such as 2025-01-02T15:04:05Z (without a zone it is UTC)", name, echo(v))
	}
	return t, nil
}

// parseTime parses v in the first of timeLayouts that fits.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
