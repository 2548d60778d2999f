package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/internal/wire"
)

// alertJSON is an alert as the API and the WebSocket alert frames spell it (package wire,
// shared with the hub).
type alertJSON = wire.Alert

func newAlertJSON(a maskservice.Alert) alertJSON { return wire.NewAlert(a) }

// Limits of the alert list.
const (
	defaultAlertLimit = 100
	maxAlertLimit     = 1000
	maxCommentBytes   = 500
)

var alertStates = []maskservice.AlertState{maskservice.AlertActiveUnack, maskservice.AlertActiveAck,
	maskservice.AlertClearedUnack, maskservice.AlertClosed}

// GET /api/alerts?state=&sensor_id=&since=&until=&limit=&before_id= : newest first.
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	if s.alarmsOff(w, r) {
		return
	}
	q := r.URL.Query()
	var f maskservice.AlertFilter
	for st := range strings.SplitSeq(q.Get("state"), ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		state := maskservice.AlertState(strings.ToUpper(st))
		if !slices.Contains(alertStates, state) {
			s.writeError(w, r, maskservice.Errorf(maskservice.EINVALID, "state %s: want ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK or CLOSED, or several separated by commas", echo(st)))
			return
		}
		f.States = append(f.States, state)
	}
	f.SensorID = q.Get("sensor_id")
	var err error
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = timeParam(p.name, v); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	}
	limit, err := intParam(q, "limit", defaultAlertLimit, 1, maxAlertLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if v := q.Get("before_id"); v != "" {
		if f.BeforeID, err = strconv.ParseUint(v, 10, 64); err != nil || f.BeforeID == 0 {
			s.writeError(w, r, maskservice.Errorf(maskservice.EINVALID, "before_id %s: want a positive integer", echo(v)))
			return
		}
	}
	out := []alertJSON{}
	more := false
	err = s.opts.Alerts.ScanAlerts(r.Context(), f, func(a maskservice.Alert) bool {
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, newAlertJSON(a))
		return true
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var next *uint64
	if more {
		next = &out[len(out)-1].ID
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Alerts       []alertJSON `json:"alerts"`
		NextBeforeID *uint64     `json:"next_before_id"`
	}{out, next})
}

// alarmsOff answers 503 and reports true when the server has no alarm engine.
func (s *Server) alarmsOff(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Alarms == nil {
		s.writeError(w, r, maskservice.Errorf(maskservice.EUNAVAILABLE, "the alarm engine is not running"))
		return true
	}
	return false
}

// alertID reads the {id} of the path.
func alertID(r *http.Request) (uint64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, maskservice.Errorf(maskservice.EINVALID, "alert id %s: want a positive integer", echo(v))
	}
	return id, nil
}

// GET /api/alerts/{id}
func (s *Server) handleAlert(w http.ResponseWriter, r *http.Request) {
	if s.alarmsOff(w, r) {
		return
	}
	id, err := alertID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.opts.Alerts.Alert(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newAlertJSON(a))
}

// ackRequest is the body of the acknowledgements: an optional comment.
type ackRequest struct {
	Comment string `json:"comment"`
}

func readAck(w http.ResponseWriter, r *http.Request) (string, error) {
	var req ackRequest
	if _, err := decodeBody(w, r, &req, true); err != nil {
		return "", err
	}
	c := strings.TrimSpace(req.Comment)
	if len(c) > maxCommentBytes || !printableText(c) {
		return "", maskservice.FieldErrorf("comment", "comment: at most %d bytes of printable text", maxCommentBytes)
	}
	return c, nil
}

// printableText reports whether s has no control characters.
func printableText(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xFFFD })
}

// POST /api/alerts/{id}/ack {comment}: 200 with the alert; 409 when it needs no
// acknowledgement (already acknowledged, or closed).
func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) {
	if s.alarmsOff(w, r) {
		return
	}
	id, err := alertID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	comment, err := readAck(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.opts.Alarms.Ack(r.Context(), PrincipalFrom(r.Context()).actor(r), id, comment)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newAlertJSON(a))
}

// POST /api/alerts/ack-all {comment}: acknowledges every alert that needs it.
func (s *Server) handleAckAll(w http.ResponseWriter, r *http.Request) {
	if s.alarmsOff(w, r) {
		return
	}
	comment, err := readAck(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	acked, err := s.opts.Alarms.AckAll(r.Context(), PrincipalFrom(r.Context()).actor(r), comment)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]alertJSON, len(acked))
	for i, a := range acked {
		out[i] = newAlertJSON(a)
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Acknowledged []alertJSON `json:"acknowledged"`
	}{out})
}
