package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"mask.services/maskservice"
)

// statusOfCode maps each domain error code to the one HTTP status that answers it.
var statusOfCode = map[string]int{
	maskservice.EINVALID:      http.StatusBadRequest,
	maskservice.ENOTFOUND:     http.StatusNotFound,
	maskservice.ECONFLICT:     http.StatusConflict,
	maskservice.EFORBIDDEN:    http.StatusForbidden,
	maskservice.EUNAUTHORIZED: http.StatusUnauthorized,
	maskservice.ELOCKED:       http.StatusLocked,
	maskservice.ELIMIT:        http.StatusTooManyRequests,
	maskservice.EUNAVAILABLE:  http.StatusServiceUnavailable,
	maskservice.EINTERNAL:     http.StatusInternalServerError,
}

// errorBody is the JSON shape of every error answer:
//
//	{"error": {"code": ..., "message": ...}, "detail": message}
//
// error is ours: a stable code for programs and the message for people. detail repeats the
// message where a client written to the specification (FastAPI's HTTPException) reads it.
type errorBody struct {
	Error  errorDetail `json:"error"`
	Detail string      `json:"detail"`
}

// newErrorBody returns the error answer of code and message.
func newErrorBody(code, message string) errorBody {
	return errorBody{Error: errorDetail{Code: code, Message: message}, Detail: message}
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err as a JSON error. A *maskservice.Error keeps its code and message;
// anything else is an internal error, logged with its detail and answered with a generic
// message so that no internals reach the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := maskservice.ErrorCode(err), maskservice.ErrorMessage(err)
	status, ok := statusOfCode[code]
	if !ok {
		// A code missing from the table is a bug, and its message may not be fit for a client.
		code, status, msg = maskservice.EINTERNAL, http.StatusInternalServerError, "internal error"
	}
	if code == maskservice.EINTERNAL {
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	s.writeJSON(w, r, status, newErrorBody(code, msg))
}

// writeJSON answers v encoded as JSON with the given status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug (an unencodable type) gets here; the status line is not written yet.
		s.log.LogAttrs(r.Context(), slog.LevelError, "encode response",
			slog.String("path", r.URL.Path), slog.Any("err", err))
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"},"detail":"internal error"}`)
	}
	writeJSONBytes(w, status, append(body, '\n'))
}

// writeJSONBytes answers body, which is already encoded JSON, with the given status.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	// A write error means the client went away; there is no one left to tell.
	_, _ = w.Write(body)
}

// maxEcho bounds how much of the client's input an error message repeats: enough to recognise
// it, never the whole of a long path or query.
const maxEcho = 100

// clip cuts the client's input v to maxEcho bytes for an error message. A rune cut in two
// shows as escaped bytes when quoted, or as U+FFFD in the JSON, which is fine in a message.
func clip(v string) string {
	if len(v) > maxEcho {
		return v[:maxEcho] + "…"
	}
	return v
}

// echo quotes the client's input v for an error message, clipped.
func echo(v string) string { return strconv.Quote(clip(v)) }
