package web

import (
	"net/http"

	"mask.services/maskservice"
)

// recentUserBody is one tile of the panel's sign-in screen.
type recentUserBody struct {
	Username string           `json:"username"`
	Role     maskservice.Role `json:"role"`
}

// handleRecentUsers answers GET /api/auth/recent: the users who last signed in on the panel,
// most recent first, as a JSON array. Only the panel is told (who works at the device is no
// one else's business); anyone else gets 403. The UI takes a 200 as "I am the panel".
func (s *Server) handleRecentUsers(w http.ResponseWriter, r *http.Request) {
	if s.originOf(r) != maskservice.OriginLocal {
		s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN, "the recent users are shown only on the device's own panel"))
		return
	}
	users, err := s.opts.Accounts.RecentPanelUsers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]recentUserBody, 0, len(users))
	for _, u := range users {
		out = append(out, recentUserBody{Username: u.Username, Role: u.Role})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// pinRequest is the body of PUT /api/users/{username}/pin, and the optional one of DELETE.
type pinRequest struct {
	PIN             string `json:"pin"`
	CurrentPassword string `json:"current_password"`
	CurrentPIN      string `json:"current_pin"`
}

// handleSetPIN sets a user's PIN: {pin, current_password | current_pin}. The accounts service
// checks who may (the user with their current password or PIN, or a manager of users) and
// records the change.
func (s *Server) handleSetPIN(w http.ResponseWriter, r *http.Request) {
	var req pinRequest
	if _, err := decodeBody(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.PIN == "" {
		s.writeError(w, r, maskservice.FieldErrorf("pin", "request body: pin is required (DELETE clears a PIN)"))
		return
	}
	s.changePIN(w, r, req)
}

// handleClearPIN clears a user's PIN; a user clearing their own sends
// {current_password | current_pin}.
func (s *Server) handleClearPIN(w http.ResponseWriter, r *http.Request) {
	var req pinRequest
	if _, err := decodeBody(w, r, &req, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.PIN != "" {
		s.writeError(w, r, maskservice.FieldErrorf("pin", "request body: DELETE clears the PIN and takes no pin; PUT sets one"))
		return
	}
	s.changePIN(w, r, req)
}

// changePIN hands the change to the accounts service and answers the user.
func (s *Server) changePIN(w http.ResponseWriter, r *http.Request, req pinRequest) {
	u, err := s.opts.Accounts.SetPIN(r.Context(), PrincipalFrom(r.Context()).actor(r), r.PathValue("username"), maskservice.PINChange{
		PIN: req.PIN, CurrentPassword: req.CurrentPassword, CurrentPIN: req.CurrentPIN, Origin: s.originOf(r),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.userBody(u))
}
