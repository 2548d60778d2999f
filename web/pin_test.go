package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"mask.services/maskservice"
)

// givePIN sets the PIN of the user of role from the console, outside any request.
func givePIN(tb testing.TB, f *fixture, role maskservice.Role, pin string) {
	tb.Helper()
	if _, err := f.accounts.SetPIN(context.Background(), maskservice.ConsoleActor(""), userOf[role], maskservice.PINChange{PIN: pin}); err != nil {
		tb.Fatal(err)
	}
}

// pinLogin is the body of a PIN sign-in of the OPERATOR.
func pinLogin(pin string) string {
	return fmt.Sprintf(`{"username":%q,"pin":%q,"role":"OPERATOR"}`, userOf[maskservice.RoleOperator], pin)
}

// TestServer_LoginPIN checks the PIN sign-in: on the panel only, exactly one of password and
// pin, and a wrong PIN answers like a wrong password.
func TestServer_LoginPIN(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	givePIN(t, f, maskservice.RoleOperator, "2580")
	for i, tc := range []struct {
		name   string
		from   func(string) func(*http.Request)
		body   string
		status int
		code   string
		want   string
	}{
		{"PIN on the panel", fromPanel, pinLogin("2580"), 200, "", ""},
		{"PIN from the hotspot", fromAddr, pinLogin("2580"), 403, maskservice.EFORBIDDEN, "only on the device's own panel"},
		{"PIN from loopback on another listener", fromAddr, pinLogin("2580"), 403, maskservice.EFORBIDDEN, "sign in with the password"},
		{"password and PIN", fromPanel, `{"username":"operator1","password":"x","pin":"2580","role":"OPERATOR"}`, 400, maskservice.EINVALID, "not both"},
		{"neither", fromPanel, `{"username":"operator1","role":"OPERATOR"}`, 400, maskservice.EINVALID, "password is required (or, on the panel, pin)"},
		{"wrong PIN", fromPanel, pinLogin("2581"), 401, maskservice.EUNAUTHORIZED, "wrong username, PIN or role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), tc.from(fmt.Sprintf("127.0.0.%d:1234", 10+i)), jsonBody(tc.body))
			if tc.status != 200 {
				wantError(t, res, tc.status, tc.code, tc.want)
				return
			}
			if got := decode[tokens](t, res); res.status != 200 || got.AccessToken == "" {
				t.Fatalf("status %d, body %s", res.status, res.body)
			}
		})
	}
	if !f.audit.has(maskservice.AuditLoginFailed, "operator1", "PIN refused: a PIN signs in only on the panel") || !f.audit.has(maskservice.AuditLogin, "operator1", "with PIN") {
		t.Error("the PIN sign-ins are not in the audit log")
	}
}

// TestServer_RecentUsers checks that the panel, and only the panel, is told who last signed
// in there, as a JSON array.
func TestServer_RecentUsers(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	recent := func(from func(*http.Request)) response {
		return f.do(t, http.MethodGet, "/api/auth/recent", f.as(""), from)
	}
	if res := recent(fromPanel("127.0.0.1:1")); res.status != 200 || string(res.body) != "[]\n" {
		t.Fatalf("before any sign-in: %d %s; want 200 []", res.status, res.body)
	}
	givePIN(t, f, maskservice.RoleOperator, "2580")
	if res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromPanel("127.0.0.1:2"), jsonBody(pinLogin("2580"))); res.status != 200 {
		t.Fatalf("PIN sign-in: %d %s", res.status, res.body)
	}
	if res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.7:1"), jsonBody(loginBody(maskservice.RoleAdmin))); res.status != 200 {
		t.Fatalf("hotspot sign-in: %d %s", res.status, res.body)
	}
	got := decode[[]struct{ Username, Role string }](t, recent(fromPanel("127.0.0.1:3")))
	if len(got) != 1 || got[0].Username != "operator1" || got[0].Role != "OPERATOR" {
		t.Errorf("recent = %+v, want operator1 OPERATOR alone (the hotspot's sign-in is not the panel's)", got)
	}
	for _, from := range []func(*http.Request){fromAddr("192.0.2.7:1"), fromAddr("127.0.0.1:4"), f.as(maskservice.RoleSuperuser)} {
		wantError(t, recent(from), 403, maskservice.EFORBIDDEN, "only on the device's own panel")
	}
}

// TestServer_PIN checks PUT and DELETE /api/users/{username}/pin: who may, what a user must
// prove for their own, and the answers.
func TestServer_PIN(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	proof := `"current_password":"` + testPassword + `"`
	for _, tc := range []struct {
		name, method, user string
		as                 maskservice.Role
		body               string
		status             int
		code, want         string
		hasPIN             bool
	}{
		{"own, with the password", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"2580",` + proof + `}`, 200, "", "", true},
		{"own, without proof", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"2580"}`, 400, maskservice.EINVALID, "current password or PIN", false},
		{"own, wrong password", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"2580","current_password":"wrong"}`, 403, maskservice.EFORBIDDEN, "is wrong", false},
		{"own, with the PIN", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"1470","current_pin":"2580"}`, 200, "", "", true},
		{"a straight run", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"4321",` + proof + `}`, 400, maskservice.EINVALID, "straight run", false},
		{"no pin", "PUT", "operator1", maskservice.RoleOperator, `{` + proof + `}`, 400, maskservice.EINVALID, "pin is required", false},
		{"another's, as an OPERATOR", "PUT", "serwis1", maskservice.RoleOperator, `{"pin":"2580"}`, 403, maskservice.EFORBIDDEN, "manage_users", false},
		{"an OPERATOR's, as an ADMIN", "PUT", "serwis1", maskservice.RoleAdmin, `{"pin":"3690"}`, 200, "", "", true},
		{"a SUPERUSER's, as an ADMIN", "PUT", "super1", maskservice.RoleAdmin, `{"pin":"3690"}`, 403, maskservice.EFORBIDDEN, "SUPERUSER", false},
		{"no such user", "PUT", "nobody", maskservice.RoleAdmin, `{"pin":"3690"}`, 404, maskservice.ENOTFOUND, "nobody", false},
		{"clear with a pin", "DELETE", "serwis1", maskservice.RoleAdmin, `{"pin":"3690"}`, 400, maskservice.EINVALID, "takes no pin", false},
		{"clear, as an ADMIN, no body", "DELETE", "serwis1", maskservice.RoleAdmin, ``, 200, "", "", false},
		// A PIN proves who you are only on the panel (the cases with current_pin come from it).
		{"own, with the PIN from the hotspot", "PUT", "operator1", maskservice.RoleOperator, `{"pin":"3690","current_pin":"1470"}`, 403, maskservice.EFORBIDDEN, "only on the device's own panel", false},
		{"clear own, with the PIN", "DELETE", "operator1", maskservice.RoleOperator, `{"current_pin":"1470"}`, 200, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mods := []func(*http.Request){f.as(tc.as)}
			if strings.Contains(tc.body, "current_pin") && !strings.Contains(tc.name, "hotspot") {
				mods = append(mods, fromPanel("127.0.0.1:40000"))
			}
			if tc.body != "" {
				mods = append(mods, jsonBody(tc.body))
			}
			res := f.do(t, tc.method, "/api/users/"+tc.user+"/pin", mods...)
			if tc.status != 200 {
				wantError(t, res, tc.status, tc.code, tc.want)
				return
			}
			if got := decode[struct {
				Username string `json:"username"`
				HasPIN   bool   `json:"has_pin"`
			}](t, res); res.status != 200 || got.Username != tc.user || got.HasPIN != tc.hasPIN {
				t.Errorf("status %d, %+v; want 200 %s has_pin %v", res.status, got, tc.user, tc.hasPIN)
			}
		})
	}
	if !f.audit.has(maskservice.AuditUserUpdate, "admin1", "user serwis1: PIN cleared") {
		t.Error("the clear is not in the audit log")
	}
}
