package web

import "net/http"

// WriteError lets the external tests drive writeError with errors no route produces yet.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}
