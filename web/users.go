package web

import (
	"net/http"
	"time"

	"mask.services/maskservice"
)

// userBody is a user as the API shows it: never the password hash.
type userBody struct {
	Username           string     `json:"username"`
	Role               string     `json:"role"`
	Active             bool       `json:"active"`
	Demo               bool       `json:"demo"`
	MustChangePassword bool       `json:"must_change_password"`
	HasPIN             bool       `json:"has_pin"` // a PIN signs in on the panel
	Created            time.Time  `json:"created"`
	LastLogin          *time.Time `json:"last_login"`
	LockedLocal        *time.Time `json:"locked_until_local"`  // the LCD's lock, if any
	LockedRemote       *time.Time `json:"locked_until_remote"` // everyone else's lock, if any

	// The specification's names. A lock and a count of failures are kept per origin (the
	// LCD's, everyone else's); locked_until is the later lock in force and
	// failed_login_attempts the count of the origin nearest its lock.
	IsActive            bool       `json:"is_active"`
	CreatedAt           time.Time  `json:"created_at"`
	LockedUntil         *time.Time `json:"locked_until"`
	FailedLoginAttempts int        `json:"failed_login_attempts"`
}

func (s *Server) userBody(u *maskservice.User) userBody {
	now := s.now()
	b := userBody{Username: u.Username, Role: string(u.Role), Active: u.Active, Demo: u.Demo,
		MustChangePassword: u.MustChangePassword, HasPIN: len(u.PINHash) > 0, Created: u.Created.UTC()}
	if !u.LastLogin.IsZero() {
		t := u.LastLogin.UTC()
		b.LastLogin = &t
	}
	b.IsActive, b.CreatedAt = b.Active, b.Created
	for origin, dst := range map[maskservice.Origin]**time.Time{maskservice.OriginLocal: &b.LockedLocal, maskservice.OriginRemote: &b.LockedRemote} {
		if u.Locked(origin, now) {
			t := u.Lockouts[origin].LockedUntil.UTC()
			*dst = &t
			if b.LockedUntil == nil || t.After(*b.LockedUntil) {
				b.LockedUntil = &t
			}
		} else {
			b.FailedLoginAttempts = max(b.FailedLoginAttempts, u.Lockouts[origin].FailedAttempts)
		}
	}
	return b
}

// handleUsers lists the users.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.opts.Accounts.Users(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]userBody, 0, len(users))
	for _, u := range users {
		out = append(out, s.userBody(u))
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Users []userBody `json:"users"`
	}{out})
}

// handleCreateUser creates a user: {username, password, role, must_change_password}. The
// accounts service checks who may create whom and records the creation.
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username           string `json:"username"`
		Password           string `json:"password"`
		Role               string `json:"role"`
		MustChangePassword bool   `json:"must_change_password"`
	}
	if _, err := decodeBody(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.opts.Accounts.CreateUser(r.Context(), PrincipalFrom(r.Context()).actor(r), maskservice.NewUser{
		Username: req.Username, Password: req.Password, Role: maskservice.Role(req.Role), MustChangePassword: req.MustChangePassword,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, s.userBody(u))
}

// handleUpdateUser changes a user: any of {role, active, password, unlock,
// must_change_password}. The accounts service checks who may change whom, ends the user's
// sessions when the change asks for it, and records the change.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role               *string `json:"role"`
		Active             *bool   `json:"active"`
		Password           *string `json:"password"`
		Unlock             bool    `json:"unlock"`
		MustChangePassword *bool   `json:"must_change_password"`
	}
	if _, err := decodeBody(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("username")
	ch := maskservice.UserChange{Active: req.Active, Password: req.Password, Unlock: req.Unlock,
		MustChangePassword: req.MustChangePassword}
	if req.Role != nil {
		role := maskservice.Role(*req.Role) // the service checks it
		ch.Role = &role
	}
	u, _, err := s.opts.Accounts.UpdateUser(r.Context(), PrincipalFrom(r.Context()).actor(r), name, ch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.userBody(u))
}
