package web

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
)

// handleBackup streams a consistent copy of the database (GET /api/backup) as a download
// named after the device and the time. The copy is taken in one read transaction while the
// daemon goes on writing; Options.BackupSize gives the Content-Length beforehand.
//
// The size is read in a transaction of its own, and a write between the two may grow the
// file. The body is therefore written through exactWriter, which holds back the last byte
// until the copy turns out exactly as long as announced; if it does not, the connection is
// aborted, so the client sees a broken download, never a complete-looking file that is cut
// short or has lost its end.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if s.opts.Backup == nil || s.opts.BackupSize == nil {
		s.writeError(w, r, maskservice.Errorf(maskservice.EUNAVAILABLE, "backups are not available in this daemon"))
		return
	}
	size, err := s.opts.BackupSize(r.Context())
	if err != nil {
		s.writeError(w, r, fmt.Errorf("backup size: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+s.backupName()+`"`)
	if r.Method == http.MethodHead {
		return
	}
	ew := &exactWriter{w: &progressWriter{w: w, rc: http.NewResponseController(w), now: time.Now}, size: size}
	n, err := s.opts.Backup(r.Context(), ew)
	if err == nil {
		err = ew.finish(n)
	}
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "backup download failed",
			slog.String("remote", r.RemoteAddr), slog.Int64("announced", size), slog.Int64("sent", ew.sent), slog.Any("err", err))
		// Headers are out: only a broken connection can still tell the client.
		panic(http.ErrAbortHandler)
	}
}

// backupName is the download's file name: maskservice-<device id>-<UTC time>.db, with any
// character of the device id that is not safe in a file name replaced by "_".
func (s *Server) backupName() string {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s.opts.DeviceID)
	if id == "" {
		id = "device"
	}
	return "maskservice-" + id + "-" + s.now().UTC().Format("20060102T150405Z") + ".db"
}

// progressWriter extends the answer's write deadline by downloadWriteTimeout before each
// write: a download goes on as long as the client reads, and stops soon after it does not.
type progressWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	now func() time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	// Without a deadline to set (a test's recorder), the server's own limits apply.
	_ = p.rc.SetWriteDeadline(p.now().Add(downloadWriteTimeout))
	return p.w.Write(b)
}

// errBackupSize reports a copy whose length differs from the announced Content-Length.
var errBackupSize = errors.New("the database changed size between announcing the backup and writing it")

// exactWriter passes at most size bytes on to w and keeps the last one back until finish
// confirms that exactly size bytes came, so that a client never receives a whole body of
// the announced length unless it is the whole copy.
type exactWriter struct {
	w    io.Writer
	size int64
	sent int64 // passed on to w
	held []byte
}

func (e *exactWriter) Write(p []byte) (int, error) {
	if e.sent+int64(len(e.held))+int64(len(p)) > e.size {
		return 0, errBackupSize
	}
	n := len(p)
	if e.sent+int64(len(p)) == e.size {
		// p holds the last byte: keep it back.
		e.held = append(e.held, p[len(p)-1])
		p = p[:len(p)-1]
	}
	if len(p) > 0 {
		m, err := e.w.Write(p)
		e.sent += int64(m)
		if err != nil {
			return m, err
		}
	}
	return n, nil
}

// finish sends the held-back byte if the copy, n bytes long, is exactly as announced.
func (e *exactWriter) finish(n int64) error {
	if n != e.size || e.sent+int64(len(e.held)) != e.size {
		return fmt.Errorf("%w: announced %d bytes, wrote %d", errBackupSize, e.size, n)
	}
	if len(e.held) == 0 {
		return nil
	}
	m, err := e.w.Write(e.held)
	e.sent += int64(m)
	return err
}
