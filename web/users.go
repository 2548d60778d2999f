package web

import (
	"fmt"
	"net/http"
	"strings"
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
	Created            time.Time  `json:"created"`
	LastLogin          *time.Time `json:"last_login"`
	LockedLocal        *time.Time `json:"locked_until_local"`  // the LCD's lock, if any
	LockedRemote       *time.Time `json:"locked_until_remote"` // everyone else's lock, if any
}

func (s *Server) userBody(u *maskservice.User) userBody {
	now := s.now()
	b := userBody{Username: u.Username, Role: string(u.Role), Active: u.Active, Demo: u.Demo,
		MustChangePassword: u.MustChangePassword, Created: u.Created.UTC()}
	if !u.LastLogin.IsZero() {
		t := u.LastLogin.UTC()
		b.LastLogin = &t
	}
	for origin, dst := range map[maskservice.Origin]**time.Time{maskservice.OriginLocal: &b.LockedLocal, maskservice.OriginRemote: &b.LockedRemote} {
		if u.Locked(origin, now) {
			t := u.Lockouts[origin].LockedUntil.UTC()
			*dst = &t
		}
	}
	return b
}

// handleUsers lists the users.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.opts.Auth.Users(r.Context())
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

// mayManage refuses a change that touches a SUPERUSER unless the caller has
// full_system_access: manage_users must not be a way for an ADMIN to make or unmake one.
func mayManage(r *http.Request, roles ...maskservice.Role) error {
	p := PrincipalFrom(r.Context())
	for _, role := range roles {
		if role == maskservice.RoleSuperuser && (p == nil || !p.Can(maskservice.PermFullSystemAccess)) {
			return maskservice.Errorf(maskservice.EFORBIDDEN, "only a SUPERUSER may create or change a SUPERUSER")
		}
	}
	return nil
}

// handleCreateUser creates a user: {username, password, role, must_change_password}.
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
	role := maskservice.Role(req.Role)
	if !role.Valid() {
		s.writeError(w, r, maskservice.FieldErrorf("role", "role %s: want OPERATOR, ADMIN, SUPERUSER or SERWISANT", echo(req.Role)))
		return
	}
	if err := mayManage(r, role); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.opts.Auth.CreateUser(r.Context(), req.Username, req.Password, role, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Recorded as soon as the account exists, whatever happens next.
	p := PrincipalFrom(r.Context())
	s.log.Info("user created", "username", u.Username, "role", string(u.Role), "by", p.Username)
	s.audit(r, maskservice.AuditEntry{Action: maskservice.AuditUserCreate, Username: p.Username, Role: p.Role,
		Details: fmt.Sprintf("user %s created as %s", u.Username, u.Role)})
	if req.MustChangePassword {
		u, err = s.opts.Auth.UpdateUser(r.Context(), u.Username, func(u *maskservice.User) error {
			u.MustChangePassword = true
			return nil
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.audit(r, maskservice.AuditEntry{Action: maskservice.AuditUserUpdate, Username: p.Username, Role: p.Role,
			Details: fmt.Sprintf("user %s: must change password", u.Username)})
	}
	s.writeJSON(w, r, http.StatusCreated, s.userBody(u))
}

// handleUpdateUser changes a user: any of {role, active, password, unlock,
// must_change_password}. A new role, a new password or deactivation ends the user's sessions.
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
	ctx := r.Context()
	current, err := s.opts.Auth.User(ctx, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	touched := []maskservice.Role{current.Role}
	var role maskservice.Role
	if req.Role != nil {
		role = maskservice.Role(*req.Role)
		if !role.Valid() {
			s.writeError(w, r, maskservice.FieldErrorf("role", "role %s: want OPERATOR, ADMIN, SUPERUSER or SERWISANT", echo(*req.Role)))
			return
		}
		touched = append(touched, role)
	}
	if err := mayManage(r, touched...); err != nil {
		s.writeError(w, r, err)
		return
	}
	// What changed, for the audit log; recorded also when a later step fails, since the
	// steps before it have happened.
	var changes []string
	p := PrincipalFrom(ctx)
	record := func() {
		if len(changes) > 0 {
			s.audit(r, maskservice.AuditEntry{Action: maskservice.AuditUserUpdate, Username: p.Username, Role: p.Role,
				Details: "user " + name + ": " + strings.Join(changes, ", ")})
		}
	}
	if req.Password != nil {
		if err := s.opts.Auth.SetPassword(ctx, name, *req.Password); err != nil {
			s.writeError(w, r, err)
			return
		}
		changes = append(changes, "password reset")
	}
	u, err := s.opts.Auth.UpdateUser(ctx, name, func(u *maskservice.User) error {
		if req.Role != nil {
			u.Role = role
		}
		if req.Active != nil {
			u.Active = *req.Active
		}
		if req.Unlock {
			u.Unlock()
		}
		if req.MustChangePassword != nil {
			u.MustChangePassword = *req.MustChangePassword
		}
		return nil
	})
	if err != nil {
		record()
		s.writeError(w, r, err)
		return
	}
	changes = append(changes, userChanges(current, u, req.Unlock)...)
	record()
	if req.Password != nil || (req.Role != nil && role != current.Role) || (req.Active != nil && !*req.Active) {
		if _, err := s.opts.Auth.RevokeUser(ctx, name, "user changed by "+p.Username); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.log.Info("user changed", "username", name, "by", p.Username,
		"role", string(u.Role), "active", u.Active, "password", req.Password != nil, "unlock", req.Unlock)
	s.writeJSON(w, r, http.StatusOK, s.userBody(u))
}

// userChanges says in words what became of a user between before and after, for the audit
// log: "role OPERATOR→ADMIN", "disabled", "enabled", "unlocked" (when asked, whether or not
// a lock was on), "must change password" or "need not change password".
func userChanges(before, after *maskservice.User, unlocked bool) []string {
	var out []string
	if before.Role != after.Role {
		out = append(out, fmt.Sprintf("role %s→%s", before.Role, after.Role))
	}
	if before.Active != after.Active {
		out = append(out, map[bool]string{true: "enabled", false: "disabled"}[after.Active])
	}
	if unlocked {
		out = append(out, "unlocked")
	}
	if before.MustChangePassword != after.MustChangePassword {
		out = append(out, map[bool]string{true: "must change password", false: "need not change password"}[after.MustChangePassword])
	}
	return out
}
