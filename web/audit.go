package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/internal/wire"
)

// The bounds of GET /api/audit's limit.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// auditTimeout bounds one append to the audit log. The append outlives the request's
// context, so a client that hangs up right after signing in does not erase the record.
const auditTimeout = 10 * time.Second

// audit records e in the audit log, with the time and the client's address filled in, and
// the username cut to the log's bound (a failed sign-in records the name as given). A failure
// to record is logged and does not fail the request: the action has happened already.
func (s *Server) audit(r *http.Request, e maskservice.AuditEntry) {
	if s.opts.Audit == nil {
		return
	}
	e.Time = s.now()
	e.Source = maskservice.AuditClip(clientIP(r.RemoteAddr), maskservice.AuditMaxSource)
	e.Username = maskservice.AuditClip(e.Username, maskservice.AuditMaxUsername)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	defer cancel()
	if err := s.opts.Audit.AppendAudit(ctx, e); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "append audit entry",
			slog.String("action", string(e.Action)), slog.String("username", e.Username),
			slog.String("source", e.Source), slog.Any("err", err))
	}
}

// clientIP returns the host part of remoteAddr ("192.0.2.1" of "192.0.2.1:1234"): the TCP
// peer, as the sign-in limiter and the lockout origin see it.
func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// auditRole returns role as the audit log takes it: "" unless it is one of the four.
func auditRole(role string) maskservice.Role {
	if r := maskservice.Role(role); r.Valid() {
		return r
	}
	return ""
}

// auditEntryJSON is an audit entry as the API spells it.
type auditEntryJSON struct {
	Seq      uint64                  `json:"seq"`
	Time     timestamp               `json:"time"`
	Action   maskservice.AuditAction `json:"action"`
	Username string                  `json:"username"`
	Role     maskservice.Role        `json:"role"` // "" when none
	Source   string                  `json:"source"`
	Details  string                  `json:"details"`
}

// auditQuery is the parsed query of GET /api/audit.
type auditQuery struct {
	filter maskservice.AuditFilter
	limit  int
	csv    bool
}

// parseAuditQuery reads since, until, username, action, limit, before_seq and format; an
// error names the parameter.
func parseAuditQuery(q url.Values) (auditQuery, error) {
	aq := auditQuery{}
	var err error
	if aq.limit, err = intParam(q, "limit", defaultAuditLimit, 1, maxAuditLimit); err != nil {
		return aq, err
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		aq.csv = true
	default:
		return aq, maskservice.FieldErrorf("format", "format %s: want json or csv", echo(f))
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.filter.Since}, {"until", &aq.filter.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = timeParam(p.name, v); err != nil {
				return aq, err
			}
		}
	}
	if f := aq.filter; !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return aq, maskservice.FieldErrorf("until", "until %s is before since %s",
			f.Until.Format(time.RFC3339Nano), f.Since.Format(time.RFC3339Nano))
	}
	aq.filter.Username = q.Get("username")
	if v := q.Get("action"); v != "" {
		a := maskservice.AuditAction(v)
		if !a.Valid() {
			names := make([]string, 0, len(maskservice.AuditActions()))
			for _, a := range maskservice.AuditActions() {
				names = append(names, string(a))
			}
			return aq, maskservice.FieldErrorf("action", "action %s: want one of %s", echo(v), strings.Join(names, ", "))
		}
		aq.filter.Action = a
	}
	if v := q.Get("before_seq"); v != "" || q.Has("before_seq") {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return aq, maskservice.FieldErrorf("before_seq", "before_seq %s: want a positive integer, the next_before_seq of the page before", echo(v))
		}
		aq.filter.BeforeSeq = n
	}
	return aq, nil
}

// GET /api/audit: the audit trail, newest first, a page of limit entries at a time (the next
// page with before_seq), or with format=csv every matching entry as a download.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	if s.opts.Audit == nil {
		s.writeError(w, r, maskservice.Errorf(maskservice.EUNAVAILABLE, "this server keeps no audit log"))
		return
	}
	aq, err := parseAuditQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if aq.csv {
		s.writeAuditCSV(w, r, aq.filter)
		return
	}
	entries := make([]auditEntryJSON, 0, min(aq.limit, 64))
	more := false
	err = s.opts.Audit.ScanAudit(r.Context(), aq.filter, func(e maskservice.AuditEntry) bool {
		if len(entries) == aq.limit {
			more = true
			return false
		}
		entries = append(entries, auditEntryJSON{Seq: e.Seq, Time: timestamp(e.Time), Action: e.Action,
			Username: e.Username, Role: e.Role, Source: e.Source, Details: e.Details})
		return true
	})
	if err != nil {
		s.writeError(w, r, auditError(err))
		return
	}
	var next *uint64
	if more {
		seq := entries[len(entries)-1].Seq
		next = &seq
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Entries       []auditEntryJSON `json:"entries"`
		NextBeforeSeq *uint64          `json:"next_before_seq"`
	}{entries, next})
}

// auditError keeps a cancelled request's error as it is and makes any other failure of the
// log an internal error: writeError logs the cause and answers only "internal error".
func auditError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("read audit log: %w", err)
}

// auditCSVHeader is the header row of the CSV download.
var auditCSVHeader = []string{"seq", "time", "action", "username", "role", "source", "details"}

// writeAuditCSV streams every entry that matches f as CSV (see streamCSV).
func (s *Server) writeAuditCSV(w http.ResponseWriter, r *http.Request, f maskservice.AuditFilter) {
	name := "audit-" + s.now().UTC().Format("20060102T150405Z") + ".csv"
	s.streamCSV(w, r, name, auditCSVHeader, "audit", func(row func([]string) bool) error {
		return s.opts.Audit.ScanAudit(r.Context(), f, func(e maskservice.AuditEntry) bool {
			return row([]string{strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(wire.TimestampLayout), string(e.Action),
				csvText(e.Username), string(e.Role), csvText(e.Source), csvText(e.Details)})
		})
	})
}

// csvText guards a free-text cell of the CSV (a username typed at a failed sign-in, say)
// against spreadsheet formula injection: a cell that a spreadsheet would read as a formula
// gets a leading apostrophe, which spreadsheets show as text.
func csvText(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
