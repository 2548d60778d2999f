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

// statusOf returns the HTTP status for err's code: 500 for an error without a known code.
func statusOf(err error) int {
	if st, ok := statusOfCode[maskservice.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error answer: {"error": {"code": ..., "message": ...}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err as a JSON error. A *maskservice.Error keeps its code and message;
// anything else is an internal error, logged with its detail and answered with a generic
// message so that no internals reach the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := maskservice.ErrorCode(err)
	if _, ok := statusOfCode[code]; !ok {
		code = maskservice.EINTERNAL
	}
	if code == maskservice.EINTERNAL {
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	s.writeJSON(w, r, statusOf(err), errorBody{Error: errorDetail{
		Code:    code,
		Message: maskservice.ErrorMessage(err),
	}})
}

// writeJSON answers v encoded as JSON with the given status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug (an unencodable type) gets here; the status line is not written yet.
		s.log.LogAttrs(r.Context(), slog.LevelError, "encode response",
			slog.String("path", r.URL.Path), slog.Any("err", err))
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
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
