package web

import (
	"net/http"

	"mask.services/maskservice/web/connlimit"
)

// WriteError lets the external tests drive writeError with errors no route produces yet.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}

// CheckRoutes is checkRoutes, for the tests of route tables that New never builds.
func CheckRoutes(routes []Route) error { return checkRoutes(routes) }

// Guard returns rt's handler behind the guard its Access asks for; upgrade marks it a
// WebSocket route. The tests reach permissions that no route of today's table needs.
func (s *Server) Guard(rt Route, upgrade bool) http.Handler {
	rt.upgrade = upgrade
	return s.guard(rt)
}

// TakeLogin spends one sign-in attempt of the client at remoteAddr and reports whether it
// was allowed.
func (s *Server) TakeLogin(remoteAddr string) bool {
	ok, _, _ := s.limiter.take(connlimit.ClientKey(remoteAddr))
	return ok
}

// LimitedClients returns the number of client addresses the sign-in limiter remembers.
func (s *Server) LimitedClients() int { return s.limiter.len() }
