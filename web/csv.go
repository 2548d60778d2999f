package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"time"
)

// downloadWriteTimeout bounds each write of a download (a CSV flush, a piece of a backup):
// the server's own write timeout covers a whole answer, which a long download outlasts, so
// a download extends it as long as the client keeps reading, and a client that stopped
// reading is dropped this long after.
const downloadWriteTimeout = 30 * time.Second

// csvFlushRows is how many rows a CSV download buffers between flushes.
const csvFlushRows = 1024

// streamCSV sends a CSV download named filename: the header row, then the rows that scan
// passes to its row func (which reports whether the client still takes them), flushed as
// they go, so that a year of readings never sits in memory. A client that stops reading
// must get each flush through within downloadWriteTimeout. The status is sent before the scan, so
// a failure during it is logged (what names the download) and aborts the connection: the
// client sees a broken download, never a complete-looking file that is not.
func (s *Server) streamCSV(w http.ResponseWriter, r *http.Request, filename string, header []string, what string,
	scan func(row func([]string) bool) error) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, filename))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(downloadWriteTimeout))
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	rows := 0
	err := scan(func(fields []string) bool {
		_ = cw.Write(fields)
		if rows++; rows%csvFlushRows == 0 {
			cw.Flush()
			_ = rc.SetWriteDeadline(time.Now().Add(downloadWriteTimeout))
			return cw.Error() == nil
		}
		return true
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		s.log.Warn(what+" CSV cut short", "file", filename, "rows", rows, "err", err)
		// The status is out: only a broken connection tells the client the file is not whole.
		panic(http.ErrAbortHandler)
	}
}
