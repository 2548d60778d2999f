package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"mask.services/maskservice"
)

// TestServer_Users walks /api/users as an ADMIN and a SUPERUSER: who may do what, what each
// mistake answers, and that a changed user's sessions end.
func TestServer_Users(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	admin, super := f.as(maskservice.RoleAdmin), f.as(maskservice.RoleSuperuser)
	op := userOf[maskservice.RoleOperator]

	list := decode[struct {
		Users []map[string]any `json:"users"`
	}](t, f.do(t, "GET", "/api/users", admin))
	if len(list.Users) != len(roles) {
		t.Fatalf("%d users listed, want %d", len(list.Users), len(roles))
	}
	for _, u := range list.Users {
		for k := range u {
			if strings.Contains(k, "hash") || strings.Contains(k, "password_") && k != "must_change_password" {
				t.Errorf("user field %q leaks the password", k)
			}
		}
	}

	steps := []struct {
		name   string
		as     func(*http.Request)
		method string
		target string
		body   string
		status int
		want   string // in the error message, for a failure
	}{
		{"admin creates an operator", admin, "POST", "/api/users", `{"username":"ewa","password":"a long password","role":"OPERATOR","must_change_password":true}`, 201, ""},
		{"duplicate", admin, "POST", "/api/users", `{"username":"ewa","password":"a long password","role":"OPERATOR"}`, 409, "exists"},
		{"short password", admin, "POST", "/api/users", `{"username":"jan","password":"short","role":"OPERATOR"}`, 400, "at least 10 characters"},
		{"bad role", admin, "POST", "/api/users", `{"username":"jan","password":"a long password","role":"ROOT"}`, 400, "role"},
		{"unknown field", admin, "POST", "/api/users", `{"username":"jan","password":"a long password","role":"OPERATOR","admin":true}`, 400, "admin"},
		{"admin cannot create a superuser", admin, "POST", "/api/users", `{"username":"boss","password":"a long password","role":"SUPERUSER"}`, 403, "only a SUPERUSER"},
		{"admin cannot promote", admin, "PATCH", "/api/users/ewa", `{"role":"SUPERUSER"}`, 403, "only a SUPERUSER"},
		{"admin cannot touch a superuser", admin, "PATCH", "/api/users/" + userOf[maskservice.RoleSuperuser], `{"active":false}`, 403, "only a SUPERUSER"},
		{"superuser creates a superuser", super, "POST", "/api/users", `{"username":"boss","password":"a long password","role":"SUPERUSER"}`, 201, ""},
		{"unknown user", admin, "PATCH", "/api/users/nobody", `{"unlock":true}`, 404, "no such user"},
		{"empty body", admin, "PATCH", "/api/users/ewa", ``, 400, "empty"},
		{"unlock", admin, "PATCH", "/api/users/" + op, `{"unlock":true}`, 200, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := f.do(t, st.method, st.target, st.as, jsonBody(st.body))
			if st.status >= 400 {
				code := map[int]string{400: maskservice.EINVALID, 403: maskservice.EFORBIDDEN, 404: maskservice.ENOTFOUND, 409: maskservice.ECONFLICT}[st.status]
				wantError(t, res, st.status, code, st.want)
				return
			}
			if res.status != st.status {
				t.Fatalf("status %d, want %d: %s", res.status, st.status, res.body)
			}
		})
	}

	// A new password ends the operator's session at once, and the new password signs in.
	old := f.sessions[maskservice.RoleOperator]
	if res := f.do(t, "PATCH", "/api/users/"+op, admin, jsonBody(`{"password":"a brand new password"}`)); res.status != 200 {
		t.Fatalf("password reset: %d %s", res.status, res.body)
	}
	if err := f.accounts.CheckSession(context.Background(), old.Session.ID, old.Session.Role); maskservice.ErrorCode(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("old session after a password reset: %v", err)
	}
	if _, err := f.accounts.Login(context.Background(), maskservice.LoginRequest{Username: op, Password: "a brand new password", Role: maskservice.RoleOperator}); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
	// Deactivated: no more sign-ins.
	if res := f.do(t, "PATCH", "/api/users/"+op, admin, jsonBody(`{"active":false}`)); res.status != 200 {
		t.Fatalf("deactivate: %d %s", res.status, res.body)
	}
	if _, err := f.accounts.Login(context.Background(), maskservice.LoginRequest{Username: op, Password: "a brand new password", Role: maskservice.RoleOperator}); maskservice.ErrorCode(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("a deactivated user signed in: %v", err)
	}
	// The specification's names beside ours: three failures from one origin lock it there.
	for range maskservice.MaxFailedLogins - 1 {
		_, _ = f.accounts.Login(context.Background(), maskservice.LoginRequest{Username: op, Password: "wrong password!", Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
	}
	if res := f.do(t, "PATCH", "/api/users/"+op, admin, jsonBody(`{"active":true}`)); res.status != 200 {
		t.Fatalf("reactivate: %d %s", res.status, res.body)
	}
	u := userNamed(t, f, admin, op)
	if u["is_active"] != true || u["is_active"] != u["active"] || u["created_at"] != u["created"] || u["locked_until"] != nil ||
		u["failed_login_attempts"] != float64(maskservice.MaxFailedLogins-1) {
		t.Errorf("before the lock: is_active %v (active %v) created_at %v (created %v) locked_until %v failed_login_attempts %v",
			u["is_active"], u["active"], u["created_at"], u["created"], u["locked_until"], u["failed_login_attempts"])
	}
	_, _ = f.accounts.Login(context.Background(), maskservice.LoginRequest{Username: op, Password: "wrong password!", Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
	u = userNamed(t, f, admin, op)
	if u["locked_until"] == nil || u["locked_until"] != u["locked_until_remote"] || u["locked_until_local"] != nil ||
		u["failed_login_attempts"] != 1.0 { // the LCD's count: the deactivated user's attempt above, from the zero Origin

		t.Errorf("locked: locked_until %v (remote %v, local %v) failed_login_attempts %v",
			u["locked_until"], u["locked_until_remote"], u["locked_until_local"], u["failed_login_attempts"])
	}

	// An operator may not manage users at all.
	wantError(t, f.do(t, "GET", "/api/users", f.as(maskservice.RoleServiceTech)), 403, maskservice.EFORBIDDEN, "manage_users")
}

// userNamed returns the user called name from GET /api/users.
func userNamed(t *testing.T, f *fixture, as func(*http.Request), name string) map[string]any {
	t.Helper()
	list := decode[struct {
		Users []map[string]any `json:"users"`
	}](t, f.do(t, "GET", "/api/users", as))
	for _, u := range list.Users {
		if u["username"] == name {
			return u
		}
	}
	t.Fatalf("no user %s listed", name)
	return nil
}
