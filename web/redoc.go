package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// redocFiles holds the API reference page (/api/redoc) and what scripts/vendor-redoc.sh
// vendored for it: ReDoc's standalone bundle, gzipped, and its version.
//
//go:embed redoc/redoc.html redoc/redoc.standalone.js.gz redoc/VERSION
var redocFiles embed.FS

// redocAssets are the API reference's files, read once by New.
type redocAssets struct {
	page    []byte // redoc.html
	gz      []byte // ReDoc's standalone bundle, gzip-compressed
	size    int    // the bundle's length uncompressed, from the gzip trailer
	version string // ReDoc's version; the page asks for the bundle as /api/redoc.js?v=version
}

// redocContentSecurityPolicy is the policy of the API reference page: the server's own
// (contentSecurityPolicy), plus what ReDoc's bundle needs under it. ReDoc builds its search
// index in a Web Worker that it starts from a blob: URL; without worker-src blob: the
// browser refuses the worker (a console error) and the search box finds nothing. Its
// styled-components inject <style> elements, which style-src 'unsafe-inline' already
// allows, as it does for the docs page. Scripts stay 'self' only: nothing inline runs.
const redocContentSecurityPolicy = contentSecurityPolicy + "; worker-src blob:"

// cacheForever is the Cache-Control of an answer whose URL names its exact content.
const cacheForever = "public, max-age=31536000, immutable"

// loadRedoc reads the API reference's embedded files and checks that the bundle is gzip.
func loadRedoc() (redocAssets, error) {
	var a redocAssets
	var err error
	if a.page, err = redocFiles.ReadFile("redoc/redoc.html"); err != nil {
		return a, fmt.Errorf("read api reference page: %w", err)
	}
	if a.gz, err = redocFiles.ReadFile("redoc/redoc.standalone.js.gz"); err != nil {
		return a, fmt.Errorf("read redoc bundle: %w", err)
	}
	version, err := redocFiles.ReadFile("redoc/VERSION")
	if err != nil {
		return a, fmt.Errorf("read redoc version: %w", err)
	}
	if a.version = strings.TrimSpace(string(version)); a.version == "" {
		return a, errors.New("read redoc version: redoc/VERSION is empty")
	}
	if _, err := gzip.NewReader(bytes.NewReader(a.gz)); err != nil {
		return a, fmt.Errorf("read redoc bundle: %w", err)
	}
	// gzip ends with the input's length mod 2^32 (RFC 1952); the bundle is a few MB at most.
	a.size = int(binary.LittleEndian.Uint32(a.gz[len(a.gz)-4:]))
	return a, nil
}

// handleRedoc serves the API reference page, which ReDoc renders from /api/openapi.json.
func (s *Server) handleRedoc(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", redocContentSecurityPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(s.redoc.page)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.redoc.page)
	}
}

// handleRedocJS serves ReDoc's bundle: the gzipped bytes as they are embedded to a client
// that accepts gzip (every browser), else decompressed on the fly. The page asks for it as
// /api/redoc.js?v=VERSION, and only that URL may be cached, for good: a new ReDoc comes
// with a new URL. Any other URL stays no-store, as the rest of /api.
func (s *Server) handleRedocJS(w http.ResponseWriter, r *http.Request) {
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	var body io.Reader = bytes.NewReader(s.redoc.gz)
	size := len(s.redoc.gz)
	if !gz {
		zr, err := gzip.NewReader(body)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("decompress redoc bundle: %w", err))
			return
		}
		body, size = zr, s.redoc.size
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == s.redoc.version {
		h.Set("Cache-Control", cacheForever)
	}
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(size))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		// Most likely the client went away. Either way the body falls short of the declared
		// Content-Length, so net/http closes the connection: no client takes a cut script
		// for a whole one.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "serve redoc bundle", slog.Bool("gzip", gz), slog.Any("error", err))
	}
}

// handleRootSpec serves the OpenAPI document at /openapi.json, where FastAPI serves it and
// tools look first; it answers as /api/openapi.json does, with no-store like the rest of the
// API (setHeaders gives that to /api paths only).
func (s *Server) handleRootSpec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.handleSpec(w, r)
}

// acceptsGzip reports whether an Accept-Encoding header lets the answer be gzip-encoded:
// it names gzip or x-gzip with a q-value above 0, or else "*" with one (RFC 9110, 12.5.3).
// A missing header asks for no encoding.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(p, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			// An unreadable weight counts as 0: the client did not clearly ask for it.
			if q, ok = parseQ(strings.TrimSpace(v)); !ok {
				q = 0
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = max(gzipQ, q)
		case "*":
			starQ = max(starQ, q)
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// parseQ reads a q-value: a number from 0 to 1.
func parseQ(s string) (float64, bool) {
	q, err := strconv.ParseFloat(s, 64)
	if err != nil || q < 0 || q > 1 {
		return 0, false
	}
	return q, true
}
