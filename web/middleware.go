package web

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"mask.services/maskservice"
)

// recorder remembers the status and size of a response for the log and the metrics. It
// passes Flush and Hijack through, and Unwrap lets http.ResponseController reach the
// connection, so WebSocket upgrades and streaming work behind it.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

// WriteHeader records the first final status (101 counts: it ends the HTTP exchange).
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes of the body.
func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher when the wrapped writer can flush.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	// http.Flusher has no error to return; a failed flush shows up in the next Write.
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker when the wrapped writer can hijack.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

// quiet are the paths that machines poll; their requests are logged at debug level only.
var quiet = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// knownMethods bounds the method label of the metrics: clients may send any token.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// serve is the server's outermost handler: common headers, the CORS preflight, panic
// recovery, then the router; afterwards the request is logged and measured.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	// Deferred, so that a request whose handler aborts (http.ErrAbortHandler) is logged too.
	defer s.finish(rec, r, start)
	if !s.hostAllowed(r.Host) {
		s.setHeaders(w.Header(), r)
		s.refuseHost(rec, r)
		return
	}
	if s.setHeaders(w.Header(), r) {
		rec.WriteHeader(http.StatusNoContent)
		return
	}
	s.serveRecovered(rec, r)
}

// contentSecurityPolicy allows the page's own scripts and nothing inline: an injected script
// cannot run, and no other site may frame the pages.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// setHeaders sets the headers every answer carries, and the CORS headers for an allowed
// origin. It reports whether the request is a CORS preflight to answer with 204 alone.
func (s *Server) setHeaders(h http.Header, r *http.Request) (preflight bool) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// API answers are live data: no cache may keep them. The UI sets its own policy.
	if path := r.URL.Path; path == "/api" || strings.HasPrefix(path, "/api/") || quiet[path] {
		h.Set("Cache-Control", "no-store")
	}
	return s.setCORS(h, r)
}

// serveRecovered runs the router and turns a panic into a logged 500 JSON error.
func (s *Server) serveRecovered(w *recorder, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v) // net/http's own way to abort a response; it logs nothing
		}
		s.log.LogAttrs(r.Context(), slog.LevelError, "panic in handler",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		if w.status != 0 || w.hijacked {
			// Part of the answer is out: abort the connection so the client sees it broken.
			panic(http.ErrAbortHandler)
		}
		// Headers the handler set for its own answer must not leak into the error.
		h := w.Header()
		for k := range h {
			delete(h, k)
		}
		s.setHeaders(h, r)
		h.Set("Cache-Control", "no-store")
		s.writeJSON(w, r, http.StatusInternalServerError, newErrorBody(maskservice.EINTERNAL, "internal error"))
	}()
	s.mux.ServeHTTP(w, r)
}

// finish logs the request and observes its duration. The router has set r.Pattern on this
// very request; the endpoint label is that pattern, never the raw path, so the number of
// series stays bounded.
func (s *Server) finish(w *recorder, r *http.Request, start time.Time) {
	d := time.Since(start)
	status := w.status
	switch {
	case status == 0 && w.hijacked:
		status = http.StatusSwitchingProtocols
	case status == 0:
		status = http.StatusOK // the handler wrote nothing: net/http sends 200
	}
	endpoint := r.Pattern
	if _, path, ok := strings.Cut(endpoint, " "); ok {
		endpoint = path // the method is a label of its own
	}
	if endpoint == "" {
		endpoint = "unmatched" // answered by the router itself, e.g. a redirect to a clean path
	}
	// A WebSocket session lasts for hours and would only smear the histogram; the hub
	// measures its own.
	if !w.hijacked {
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		s.requestDuration.WithLabelValues(method, endpoint).Observe(d.Seconds())
	}
	level := slog.LevelInfo
	if quiet[r.URL.Path] {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", r.Pattern),
		slog.Int("status", status),
		slog.Int64("bytes", w.bytes),
		slog.Float64("duration_ms", float64(d)/float64(time.Millisecond)),
		slog.String("remote", r.RemoteAddr),
	)
}
