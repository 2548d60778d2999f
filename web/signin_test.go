package web_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
	"mask.services/maskservice/web/hub"
)

// waitTimeout bounds every wait on a WebSocket: generous, for a loaded machine under -race.
const waitTimeout = 15 * time.Second

// tokens is the answer of a sign-in or a refresh.
type tokens struct {
	AccessToken        string   `json:"access_token"`
	RefreshToken       string   `json:"refresh_token"`
	TokenType          string   `json:"token_type"`
	ExpiresIn          int      `json:"expires_in"`
	Username           string   `json:"username"`
	Role               string   `json:"role"`
	Permissions        []string `json:"permissions"`
	Color              string   `json:"color"`
	SessionTimeout     int      `json:"session_timeout"`
	MustChangePassword bool     `json:"must_change_password"`
}

// jsonBody is a mod of do that sends body as application/json.
func jsonBody(body string) func(*http.Request) {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
	}
}

// withCookies is a mod of do that sends cookies.
func withCookies(cs ...*http.Cookie) func(*http.Request) {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
}

// loginBody is a sign-in body for the user of role.
func loginBody(role maskservice.Role) string {
	return fmt.Sprintf(`{"username":%q,"password":%q,"role":%q}`, userOf[role], testPassword, role)
}

// cookiesOf returns the cookies an answer sets, by name.
func cookiesOf(res response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// signIn signs the user of role in through the API, from the panel so that the rate limit
// of the test's remote address is left alone.
func signIn(tb testing.TB, f *fixture, role maskservice.Role, mods ...func(*http.Request)) (tokens, map[string]*http.Cookie) {
	tb.Helper()
	mods = append([]func(*http.Request){f.as(""), fromPanel("127.0.0.1:50000"), jsonBody(loginBody(role))}, mods...)
	res := f.do(tb, http.MethodPost, "/api/auth/login", mods...)
	if res.status != http.StatusOK {
		tb.Fatalf("sign in as %s: %d %s", role, res.status, res.body)
	}
	return decode[tokens](tb, res), cookiesOf(res)
}

// wsURL is the WebSocket URL of the route on ts.
func wsURL(ts *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/ws/sensors" + query
}

// dialWS connects to url with header; the connection is closed at the end of the test.
func dialWS(tb testing.TB, url string, header http.Header) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// readMessage reads the next message from c.
func readMessage(tb testing.TB, c *websocket.Conn) ([]byte, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, b, err := c.Read(ctx)
	return b, err
}

// wantSensorsFrame reads a frame from c and checks that it is a sensors frame holding P1.
func wantSensorsFrame(tb testing.TB, c *websocket.Conn) {
	tb.Helper()
	b, err := readMessage(tb, c)
	if err != nil {
		tb.Fatalf("read the first frame: %v", err)
	}
	var frame map[string]json.RawMessage
	if err := json.Unmarshal(b, &frame); err != nil {
		tb.Fatalf("decode frame %s: %v", b, err)
	}
	if string(frame["type"]) != `"sensors"` || frame["P1"] == nil {
		tb.Fatalf("first frame %s, want a sensors frame with P1", b)
	}
}

// wsCloseCode reads from c until the server closes it and returns the close code.
func wsCloseCode(tb testing.TB, c *websocket.Conn) websocket.StatusCode {
	tb.Helper()
	for {
		if _, err := readMessage(tb, c); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// TestServer_AccessMatrix walks every route of the table as anonymous and as each role, and
// checks the answer against what the route's Access and the permission table allow. The
// requests are well formed, so an allowed one must succeed. The WebSocket tells refusals
// with close codes after the upgrade.
func TestServer_AccessMatrix(t *testing.T) {
	f := newFixture(t, fixtureConfig{hub: true})
	ts := httptest.NewServer(f.handler)
	t.Cleanup(ts.Close)
	for _, rt := range f.srv.Routes() {
		for _, role := range append([]maskservice.Role{""}, roles...) {
			who := string(role)
			if who == "" {
				who = "anonymous"
			}
			t.Run(rt.Method+" "+rt.Pattern+" as "+who, func(t *testing.T) {
				// A session of its own: a logout must not end the other cases' sessions.
				var access string
				if role != "" {
					access = f.login(t, role).Access
				}
				allowed := role != "" && (rt.Access == web.AccessSignedIn || role.Can(maskservice.Permission(rt.Access)))
				if rt.Access == web.AccessPublic {
					allowed = true
				}
				if rt.Pattern == "/api/ws/sensors" {
					c := dialWS(t, wsURL(ts, "?token="+access), nil)
					switch {
					case allowed:
						wantSensorsFrame(t, c)
					case role == "":
						if code := wsCloseCode(t, c); code != hub.StatusUnauthorized {
							t.Errorf("closed with %d, want 4001", code)
						}
					default:
						if code := wsCloseCode(t, c); code != hub.StatusForbidden {
							t.Errorf("closed with %d, want 4003", code)
						}
					}
					return
				}
				mods := []func(*http.Request){f.as("")}
				if access != "" {
					mods = append(mods, withHeader("Authorization", "Bearer "+access))
				}
				mods = append(mods, sampleRequest(t, f, rt)...)
				target := strings.ReplaceAll(rt.Pattern, "{id}", "P1")
				if strings.HasPrefix(rt.Pattern, "/api/alerts/{id}") {
					target = strings.ReplaceAll(rt.Pattern, "{id}", strconv.FormatUint(f.rearm(t), 10))
				}
				if strings.HasSuffix(rt.Pattern, "/pin") && role != "" {
					target = strings.ReplaceAll(target, "{username}", userOf[role]) // each their own, with proof
				}
				target = strings.ReplaceAll(target, "{username}", userOf[maskservice.RoleOperator])
				if rt.Pattern == "/api/sensors/history" {
					target += "?sensor_id=P1"
				}
				res := f.do(t, rt.Method, target, mods...)
				switch {
				case allowed && (res.status < 200 || res.status > 299):
					t.Errorf("status %d, want success: %s", res.status, res.body)
				case !allowed && role == "":
					wantError(t, res, http.StatusUnauthorized, maskservice.EUNAUTHORIZED, "sign in")
				case !allowed:
					wantError(t, res, http.StatusForbidden, maskservice.EFORBIDDEN, rt.Access)
				}
			})
		}
	}
}

// sampleRequest returns the mods that make a request to rt well formed.
func sampleRequest(tb testing.TB, f *fixture, rt web.Route) []func(*http.Request) {
	switch rt.Pattern {
	case "/api/auth/login":
		return []func(*http.Request){jsonBody(loginBody(maskservice.RoleOperator))}
	case "/api/auth/refresh":
		return []func(*http.Request){jsonBody(`{"refresh_token":"` + f.login(tb, maskservice.RoleAdmin).Refresh + `"}`)}
	case "/metrics":
		return []func(*http.Request){fromAddr("127.0.0.1:40000")}
	case "/api/users":
		if rt.Method == http.MethodPost {
			newUserSeq++
			return []func(*http.Request){jsonBody(fmt.Sprintf(`{"username":"new%d","password":"a long password","role":"OPERATOR"}`, newUserSeq))}
		}
	case "/api/users/{username}":
		return []func(*http.Request){jsonBody(`{"unlock":true}`)}
	case "/api/users/{username}/pin":
		if rt.Method == http.MethodPut {
			return []func(*http.Request){jsonBody(`{"pin":"2580","current_password":"` + testPassword + `"}`)}
		}
		return []func(*http.Request){jsonBody(`{"current_password":"` + testPassword + `"}`)}
	case "/api/auth/recent":
		return []func(*http.Request){fromPanel("127.0.0.1:40000")} // answered only to the panel
	}
	return nil
}

// newUserSeq makes the users the matrix creates unique.
var newUserSeq int

// TestServer_Guard checks the guard on permissions that no route of today's table needs:
// a role without the permission gets 403 naming it, or 4003 on a WebSocket.
func TestServer_Guard(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := web.PrincipalFrom(r.Context())
		if p == nil {
			t.Error("no principal in the context of a guarded route")
			return
		}
		_, _ = io.WriteString(w, p.Username)
	})
	users := web.Route{Method: "GET", Pattern: "/api/users", Handler: ok, Access: string(maskservice.PermManageUsers)}
	for _, tc := range []struct {
		role   maskservice.Role
		status int
	}{
		{maskservice.RoleOperator, 403}, {maskservice.RoleAdmin, 200}, {maskservice.RoleSuperuser, 200}, {maskservice.RoleServiceTech, 403}, {"", 401},
	} {
		t.Run("manage_users as "+string(tc.role), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/users", nil)
			if tc.role != "" {
				f.authorize(req, tc.role)
			}
			rec := httptest.NewRecorder()
			f.srv.Guard(users, false).ServeHTTP(rec, req)
			res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			switch tc.status {
			case 200:
				if res.status != 200 || string(res.body) != userOf[tc.role] {
					t.Errorf("status %d body %q, want 200 and the user", res.status, res.body)
				}
			case 401:
				wantError(t, res, 401, maskservice.EUNAUTHORIZED, "sign in")
				if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate %q", got)
				}
			case 403:
				wantError(t, res, 403, maskservice.EFORBIDDEN, "manage_users")
			}
		})
	}
	t.Run("websocket without the permission", func(t *testing.T) {
		calibration := web.Route{Method: "GET", Pattern: "/x", Handler: ok, Access: string(maskservice.PermCalibration)}
		ts := httptest.NewServer(f.srv.Guard(calibration, true))
		t.Cleanup(ts.Close)
		url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/x?token="
		if code := wsCloseCode(t, dialWS(t, url+f.sessions[maskservice.RoleAdmin].Access, nil)); code != hub.StatusForbidden {
			t.Errorf("ADMIN without calibration: closed with %d, want 4003", code)
		}
		if code := wsCloseCode(t, dialWS(t, url+"not-a-token", nil)); code != hub.StatusUnauthorized {
			t.Errorf("bad token: closed with %d, want 4001", code)
		}
	})
}

func TestCheckRoutes(t *testing.T) {
	h := http.NotFoundHandler()
	for _, tc := range []struct {
		name   string
		access string
		want   string // what the error names; "" for none
	}{
		{"public", web.AccessPublic, ""},
		{"signed in", web.AccessSignedIn, ""},
		{"a permission", string(maskservice.PermConfigEdit), ""},
		{"no access", "", "no access rule"},
		{"unknown permission", "view_everything", "view_everything"},
		{"role instead of permission", "ADMIN", "ADMIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := web.CheckRoutes([]web.Route{{Method: "GET", Pattern: "/api/x", Handler: h, Access: tc.access}})
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	for _, rt := range []web.Route{
		{Method: "GET", Pattern: "/api/x", Handler: h, Access: string(maskservice.PermAckAlerts), PanelView: true},
		{Method: "GET", Pattern: "/api/x", Handler: h, Access: web.AccessSignedIn, PanelView: true},
		{Method: "POST", Pattern: "/api/x", Handler: h, Access: string(maskservice.PermViewAlerts), PanelView: true},
	} {
		if err := web.CheckRoutes([]web.Route{rt}); err == nil || !strings.Contains(err.Error(), "panel viewer") {
			t.Errorf("%s with access %s in the panel's live view: %v", rt.Method, rt.Access, err)
		}
	}
	dup := web.Route{Method: "GET", Pattern: "/api/x", Handler: h, Access: web.AccessPublic}
	if err := web.CheckRoutes([]web.Route{dup, dup}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a route registered twice: %v", err)
	}
}

func TestServer_Login(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for _, role := range roles {
		t.Run(string(role), func(t *testing.T) {
			got, cookies := signIn(t, f, role)
			info, _ := role.Info()
			var perms []string
			for _, p := range role.EffectivePermissions() {
				perms = append(perms, string(p))
			}
			if got.AccessToken == "" || got.RefreshToken == "" || got.TokenType != "bearer" || got.ExpiresIn != 900 {
				t.Errorf("tokens %+v", got)
			}
			if got.Username != userOf[role] || got.Role != string(role) || got.Color != info.Color ||
				got.SessionTimeout != int(info.IdleTimeout/time.Second) || !slices.Equal(got.Permissions, perms) || got.MustChangePassword {
				t.Errorf("answer %+v", got)
			}
			if c := cookies["ms_access"]; c == nil || c.Value != got.AccessToken {
				t.Errorf("ms_access cookie %v, want the access token", c)
			}
			if c := cookies["ms_refresh"]; c == nil || c.Value != got.RefreshToken {
				t.Errorf("ms_refresh cookie %v, want the refresh token", c)
			}
			// The token works.
			res := f.do(t, http.MethodGet, "/api/auth/me", withHeader("Authorization", "Bearer "+got.AccessToken))
			me := decode[struct {
				Username, Role, Color, SessionID, TokenExpires string
				Permissions                                    []string
				SessionTimeout                                 int `json:"session_timeout"`
			}](t, res)
			if res.status != 200 || me.Username != userOf[role] || me.Role != string(role) || !slices.Equal(me.Permissions, perms) ||
				me.SessionTimeout != got.SessionTimeout || me.Color != info.Color {
				t.Errorf("me: %d %s", res.status, res.body)
			}
		})
	}
	t.Run("wrong password, user and role answer alike", func(t *testing.T) {
		var bodies []string
		for i, body := range []string{
			`{"username":"operator1","password":"wrong password!","role":"OPERATOR"}`,
			`{"username":"nobody","password":"` + testPassword + `","role":"OPERATOR"}`,
			`{"username":"operator1","password":"` + testPassword + `","role":"ADMIN"}`,
		} {
			res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr(fmt.Sprintf("192.0.2.%d:1234", 100+i)), jsonBody(body))
			wantError(t, res, 401, maskservice.EUNAUTHORIZED, "wrong username, password or role")
			if len(cookiesOf(res)) != 0 {
				t.Errorf("a failed sign-in sets cookies: %v", res.header["Set-Cookie"])
			}
			bodies = append(bodies, string(res.body))
		}
		if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
			t.Errorf("the failures differ:\n%s", strings.Join(bodies, "\n"))
		}
	})
	t.Run("locked", func(t *testing.T) {
		wrong := jsonBody(`{"username":"serwis1","password":"wrong password!","role":"SERWISANT"}`)
		for range maskservice.MaxFailedLogins {
			f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.120:1"), wrong)
		}
		res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.121:1"), jsonBody(loginBody(maskservice.RoleServiceTech)))
		wantError(t, res, http.StatusLocked, maskservice.ELOCKED, "locked")
		// The LCD counts apart: the hotspot cannot lock the user out of it.
		signIn(t, f, maskservice.RoleServiceTech)
	})
	t.Run("metrics count the attempts", func(t *testing.T) {
		if n := gauge(t, f, "login_attempts_total", "status", "success"); n < float64(len(roles)) {
			t.Errorf("login_attempts_total{status=success} = %g", n)
		}
	})
}

func TestServer_LoginCookies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool // Options.SecureCookies
		tls    bool // the request came over TLS
	}{
		{"plain http", false, false},
		{"secure cookies", true, false},
		{"over tls", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.SecureCookies = tc.secure }})
			_, cookies := signIn(t, f, maskservice.RoleAdmin, func(r *http.Request) {
				if tc.tls {
					r.TLS = &tls.ConnectionState{HandshakeComplete: true}
				}
			})
			want := map[string]struct {
				path     string
				httpOnly bool
				maxAge   int
			}{
				"ms_access":  {"/", true, 900},
				"ms_refresh": {"/api/auth", true, int(maskservice.MaxSessionAge / time.Second)},
				"ms_csrf":    {"/", false, int(maskservice.MaxSessionAge / time.Second)},
			}
			for name, w := range want {
				c := cookies[name]
				if c == nil {
					t.Errorf("no %s cookie", name)
					continue
				}
				if c.Path != w.path || c.HttpOnly != w.httpOnly || c.MaxAge != w.maxAge || c.SameSite != http.SameSiteStrictMode ||
					c.Secure != (tc.secure || tc.tls) || c.Value == "" {
					t.Errorf("%s: %s", name, c.String())
				}
			}
		})
	}
}

func TestServer_LoginBadBodies(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for i, tc := range []struct {
		name string
		mods []func(*http.Request)
		want string // what the message names
	}{
		{"empty", nil, "empty"},
		{"not json", []func(*http.Request){jsonBody(`username=operator1`)}, "not valid JSON"},
		{"truncated", []func(*http.Request){jsonBody(`{"username":"operator1"`)}, "ends too soon"},
		{"unknown field", []func(*http.Request){jsonBody(`{"username":"operator1","password":"x","role":"OPERATOR","admin":true}`)}, `"admin"`},
		{"two values", []func(*http.Request){jsonBody(`{"username":"a"} {"username":"b"}`)}, "more than one JSON value"},
		{"an array", []func(*http.Request){jsonBody(`[1,2]`)}, "want a JSON object"},
		{"wrong type", []func(*http.Request){jsonBody(`{"username":5,"password":"x","role":"OPERATOR"}`)}, "username must be a string"},
		{"missing username", []func(*http.Request){jsonBody(`{"password":"x","role":"OPERATOR"}`)}, "username is required"},
		{"missing password", []func(*http.Request){jsonBody(`{"username":"operator1","role":"OPERATOR"}`)}, "password is required"},
		{"missing role", []func(*http.Request){jsonBody(`{"username":"operator1","password":"x"}`)}, "role is required"},
		{"unknown role", []func(*http.Request){jsonBody(`{"username":"operator1","password":"x","role":"ROOT"}`)}, `"ROOT"`},
		{"too big", []func(*http.Request){jsonBody(`{"username":"` + strings.Repeat("a", 5000) + `"}`)}, "4096 bytes"},
		{"form post", []func(*http.Request){jsonBody(`{}`), withHeader("Content-Type", "application/x-www-form-urlencoded")}, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An address per case, so that the rate limit stays out of it.
			mods := append([]func(*http.Request){f.as(""), fromAddr(fmt.Sprintf("192.0.2.%d:1234", 10+i))}, tc.mods...)
			wantError(t, f.do(t, http.MethodPost, "/api/auth/login", mods...), 400, maskservice.EINVALID, tc.want)
		})
	}
}

// TestServer_LoginOrigin checks that a sign-in is local only when the panel listener
// accepted it from a loopback peer, whatever the headers say: a loopback peer on another
// listener (a port forward or proxy to the HTTPS one) is remote.
func TestServer_LoginOrigin(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for _, tc := range []struct {
		name string
		from func(string) func(*http.Request)
		addr string
		mods []func(*http.Request)
		want maskservice.Origin
	}{
		{"panel, ipv4 loopback", fromPanel, "127.0.0.1:5000", nil, maskservice.OriginLocal},
		{"panel, ipv6 loopback", fromPanel, "[::1]:5000", nil, maskservice.OriginLocal},
		{"panel listener, a peer beyond loopback", fromPanel, "192.0.2.3:1234", nil, maskservice.OriginRemote},
		{"another listener, loopback peer", fromAddr, "127.0.0.1:5001", nil, maskservice.OriginRemote},
		{"hotspot", fromAddr, "192.0.2.1:1234", nil, maskservice.OriginRemote},
		{"hotspot claiming loopback", fromAddr, "192.0.2.2:1234", []func(*http.Request){
			withHeader("X-Forwarded-For", "127.0.0.1"), withHeader("X-Real-IP", "127.0.0.1"), withHeader("Forwarded", "for=127.0.0.1"),
		}, maskservice.OriginRemote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mods := append([]func(*http.Request){f.as(""), tc.from(tc.addr), jsonBody(loginBody(maskservice.RoleOperator))}, tc.mods...)
			res := f.do(t, http.MethodPost, "/api/auth/login", mods...)
			got := decode[tokens](t, res)
			me := decode[struct {
				SessionID string `json:"session_id"`
			}](t, f.do(t, http.MethodGet, "/api/auth/me", withHeader("Authorization", "Bearer "+got.AccessToken)))
			sess, err := f.store.Session(context.Background(), me.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			if sess.Origin != tc.want || sess.Remote != tc.addr {
				t.Errorf("session origin %v remote %q, want %v %q", sess.Origin, sess.Remote, tc.want, tc.addr)
			}
		})
	}
}

func TestServer_LoginRateLimit(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	n := 0
	attempt := func(addr string) response {
		t.Helper()
		n++ // a name of its own each time, so that no name locks and the limit alone answers
		return f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr(addr),
			jsonBody(fmt.Sprintf(`{"username":"nobody%d","password":"wrong password!","role":"ADMIN"}`, n)))
	}
	for i := range 10 {
		if res := attempt("192.0.2.50:1234"); res.status != 401 {
			t.Fatalf("attempt %d: %d, want 401", i+1, res.status)
		}
	}
	res := attempt("192.0.2.50:4321") // another port of the same address
	wantError(t, res, 429, maskservice.ELIMIT, "too many sign-in attempts")
	if got := res.header.Get("Retry-After"); got != "6" {
		t.Errorf("Retry-After %q, want 6", got)
	}
	if res := attempt("192.0.2.51:1234"); res.status != 401 {
		t.Errorf("another address: %d, want 401", res.status)
	}
	f.clock.Advance(6 * time.Second)
	if res := attempt("192.0.2.50:1234"); res.status != 401 {
		t.Errorf("6 s later: %d, want 401 (one attempt refilled)", res.status)
	}
	wantError(t, attempt("192.0.2.50:1234"), 429, maskservice.ELIMIT, "try again")
}

func TestServer_LoginLimiterBounds(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	exhaust := func(addr string) {
		t.Helper()
		for range 10 {
			f.srv.TakeLogin(addr)
		}
		if f.srv.TakeLogin(addr) {
			t.Fatalf("%s: an 11th attempt allowed at once", addr)
		}
	}
	t.Run("ipv6 by /64", func(t *testing.T) {
		exhaust("[2001:db8:1:2::1]:1000")
		if f.srv.TakeLogin("[2001:db8:1:2:ffff::7]:1000") {
			t.Error("another address of the same /64 was allowed")
		}
		if !f.srv.TakeLogin("[2001:db8:1:3::1]:1000") {
			t.Error("an address of another /64 was refused")
		}
	})
	t.Run("the least recently seen is forgotten", func(t *testing.T) {
		g := newFixture(t, fixtureConfig{noRun: true})
		fill := func(from, n int) {
			for i := from; i < from+n; i++ {
				g.srv.TakeLogin(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255))
			}
		}
		const oldest = "198.51.100.1:1"
		for range 11 {
			g.srv.TakeLogin(oldest)
		}
		fill(0, 9999)
		if g.srv.LimitedClients() != 10000 || g.srv.TakeLogin(oldest) {
			t.Fatalf("%d remembered; the oldest must still be limited while there is room", g.srv.LimitedClients())
		}
		// Asking moved it to the front; fill the rest so that it is the oldest again.
		fill(9999, 9999)
		fill(20000, 1) // one past the bound: the oldest goes
		if n := g.srv.LimitedClients(); n != 10000 {
			t.Errorf("%d addresses remembered, want 10000", n)
		}
		if !g.srv.TakeLogin(oldest) {
			t.Error("the least recently seen address is still limited")
		}
		recent := "198.51.100.2:1"
		exhaust := func(addr string) {
			t.Helper()
			for range 10 {
				g.srv.TakeLogin(addr)
			}
		}
		exhaust(recent)
		fill(30000, 1) // evicts the oldest filler, not the recent one
		if g.srv.TakeLogin(recent) {
			t.Error("a recently seen address was forgotten")
		}
	})
}

// TestServer_CSRF checks that a request authenticated by cookie that changes something needs
// the CSRF header, and that one with a bearer token does not.
func TestServer_CSRF(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	_, cookies := signIn(t, f, maskservice.RoleOperator)
	access, csrf := cookies["ms_access"], cookies["ms_csrf"]
	cookieOnly := []func(*http.Request){f.as(""), withCookies(access, csrf)}

	if res := f.do(t, http.MethodGet, "/api/sensors/current", cookieOnly...); res.status != 200 {
		t.Errorf("GET by cookie without the header: %d, want 200", res.status)
	}
	wantError(t, f.do(t, http.MethodPost, "/api/auth/logout", cookieOnly...), 403, maskservice.EFORBIDDEN, "missing or wrong CSRF token")
	wantError(t, f.do(t, http.MethodPost, "/api/auth/logout", append(cookieOnly, withHeader("X-CSRF-Token", csrf.Value+"x"))...),
		403, maskservice.EFORBIDDEN, "CSRF")
	// The header alone, without the cookie to match, proves nothing.
	wantError(t, f.do(t, http.MethodPost, "/api/auth/logout", f.as(""), withCookies(access), withHeader("X-CSRF-Token", csrf.Value)),
		403, maskservice.EFORBIDDEN, "CSRF")
	res := f.do(t, http.MethodPost, "/api/auth/logout", append(cookieOnly, withHeader("X-CSRF-Token", csrf.Value))...)
	if res.status != 200 || string(res.body) != `{"message":"Logged out successfully"}`+"\n" {
		t.Fatalf("logout by cookie with the header: %d %s, want 200 and the specification's message", res.status, res.body)
	}
	for name, c := range cookiesOf(res) {
		if c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("logout leaves cookie %s: %s", name, c.String())
		}
	}
	wantError(t, f.do(t, http.MethodGet, "/api/sensors/current", cookieOnly...), 401, maskservice.EUNAUTHORIZED, "session")

	// A bearer token needs no CSRF header, cookies or not.
	bearer, _ := signIn(t, f, maskservice.RoleAdmin)
	if res := f.do(t, http.MethodPost, "/api/auth/logout", withHeader("Authorization", "Bearer "+bearer.AccessToken), withCookies(csrf)); res.status != 200 {
		t.Errorf("logout by bearer token: %d %s", res.status, res.body)
	}
}

func TestServer_Refresh(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	t.Run("body", func(t *testing.T) {
		first, _ := signIn(t, f, maskservice.RoleAdmin)
		res := f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"refresh_token":"`+first.RefreshToken+`"}`))
		got := decode[tokens](t, res)
		if res.status != 200 || got.RefreshToken == first.RefreshToken || got.AccessToken == "" || got.Role != "ADMIN" || got.Username != "admin1" {
			t.Fatalf("refresh: %d %+v", res.status, got)
		}
		if c := cookiesOf(res)["ms_refresh"]; c == nil || c.Value != got.RefreshToken {
			t.Errorf("ms_refresh cookie %v, want the rotated token", c)
		}
		// The used token again: the session is revoked, the rotated token too.
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"refresh_token":"`+first.RefreshToken+`"}`)),
			401, maskservice.EUNAUTHORIZED, "already used")
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"refresh_token":"`+got.RefreshToken+`"}`)),
			401, maskservice.EUNAUTHORIZED, "")
		wantError(t, f.do(t, http.MethodGet, "/api/auth/me", withHeader("Authorization", "Bearer "+got.AccessToken)),
			401, maskservice.EUNAUTHORIZED, "session")
	})
	t.Run("cookie", func(t *testing.T) {
		_, cookies := signIn(t, f, maskservice.RoleOperator)
		refresh, csrf := cookies["ms_refresh"], cookies["ms_csrf"]
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), withCookies(refresh, csrf)), 403, maskservice.EFORBIDDEN, "CSRF")
		res := f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), withCookies(refresh, csrf), withHeader("X-CSRF-Token", csrf.Value))
		if res.status != 200 {
			t.Fatalf("refresh by cookie: %d %s", res.status, res.body)
		}
		got := cookiesOf(res)
		if got["ms_refresh"] == nil || got["ms_refresh"].Value == refresh.Value || got["ms_access"] == nil {
			t.Errorf("cookies after refresh: %v", res.header["Set-Cookie"])
		}
		if c := got["ms_csrf"]; c == nil || c.Value != csrf.Value {
			t.Errorf("ms_csrf after refresh %v, want the session's token kept", c)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as("")), 401, maskservice.EUNAUTHORIZED, "no refresh token")
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{}`)), 400, maskservice.EINVALID, "refresh_token is required")
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"refresh_token":"x.1.y"}`)), 401, maskservice.EUNAUTHORIZED, "refresh token")
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"token":"x"}`)), 400, maskservice.EINVALID, `"token"`)
		// An access token is no refresh token.
		wantError(t, f.do(t, http.MethodPost, "/api/auth/refresh", f.as(""), jsonBody(`{"refresh_token":"`+f.sessions[maskservice.RoleOperator].Access+`"}`)),
			401, maskservice.EUNAUTHORIZED, "")
	})
}

func TestServer_Unauthorized(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	for _, tc := range []struct {
		name string
		mod  func(*http.Request)
		want string
	}{
		{"no token", f.as(""), "sign in first"},
		{"garbage token", withHeader("Authorization", "Bearer nope"), "invalid token"},
		{"basic auth", withHeader("Authorization", "Basic b3BlcmF0b3IxOng="), "sign in first"},
		{"refresh token as access token", withHeader("Authorization", "Bearer "+f.sessions[maskservice.RoleAdmin].Refresh), "invalid token"},
		{"token in the query", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "token=" + f.sessions[maskservice.RoleAdmin].Access
		}, "sign in first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, http.MethodGet, "/api/sensors", tc.mod)
			wantError(t, res, 401, maskservice.EUNAUTHORIZED, tc.want)
			if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="maskserviced"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	t.Run("lower-case scheme", func(t *testing.T) {
		if res := f.do(t, http.MethodGet, "/api/sensors", withHeader("Authorization", "bearer "+f.sessions[maskservice.RoleAdmin].Access)); res.status != 200 {
			t.Errorf("status %d", res.status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		g := newFixture(t, fixtureConfig{noRun: true})
		g.clock.Advance(16 * time.Minute)
		wantError(t, g.get(t, "/api/device/status"), 401, maskservice.EUNAUTHORIZED, "expired")
	})
}

// TestServer_WebSocketAuth checks the seed's flow end to end over a real connection: the
// access token in ?token= or in the cookie opens the live stream, whose first frame holds
// P1; without a valid token it closes with 4001; logout closes it with 4001.
func TestServer_WebSocketAuth(t *testing.T) {
	f := newFixture(t, fixtureConfig{hub: true})
	ts := httptest.NewServer(f.handler)
	t.Cleanup(ts.Close)
	login, _ := signIn(t, f, maskservice.RoleOperator)

	t.Run("token in the query", func(t *testing.T) {
		wantSensorsFrame(t, dialWS(t, wsURL(ts, "?token="+login.AccessToken), nil))
	})
	t.Run("cookie", func(t *testing.T) {
		h := http.Header{"Cookie": {"ms_access=" + login.AccessToken}}
		wantSensorsFrame(t, dialWS(t, wsURL(ts, ""), h))
	})
	for name, query := range map[string]string{"no token": "", "bad token": "?token=abc.def.ghi", "refresh token": "?token=" + login.RefreshToken} {
		t.Run(name, func(t *testing.T) {
			if code := wsCloseCode(t, dialWS(t, wsURL(ts, query), nil)); code != hub.StatusUnauthorized {
				t.Errorf("closed with %d, want 4001", code)
			}
		})
	}
	t.Run("logout closes the session's sockets", func(t *testing.T) {
		mine, _ := signIn(t, f, maskservice.RoleServiceTech)
		other := dialWS(t, wsURL(ts, "?token="+login.AccessToken), nil)
		wantSensorsFrame(t, other)
		c := dialWS(t, wsURL(ts, "?token="+mine.AccessToken), nil)
		wantSensorsFrame(t, c)
		if res := f.do(t, http.MethodPost, "/api/auth/logout", withHeader("Authorization", "Bearer "+mine.AccessToken)); res.status != 200 {
			t.Fatalf("logout: %d %s", res.status, res.body)
		}
		if code := wsCloseCode(t, c); code != hub.StatusUnauthorized {
			t.Errorf("closed with %d, want 4001", code)
		}
		if code := wsCloseCode(t, dialWS(t, wsURL(ts, "?token="+mine.AccessToken), nil)); code != hub.StatusUnauthorized {
			t.Errorf("the ended session's token reconnects: closed with %d, want 4001", code)
		}
		// Another session's socket stays open: a ping gets its pong.
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		go func() { _, _, _ = other.Read(ctx) }() // pongs reach Ping through a reader
		if err := other.Ping(ctx); err != nil {
			t.Errorf("the other session's socket: %v", err)
		}
	})
	if logs := f.logs.String(); !strings.Contains(logs, "websocket client refused") {
		t.Errorf("refusals are not logged:\n%.2000s", logs)
	}
}

func TestServer_SecurityHeaders(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for _, tc := range []struct {
		name string
		do   func() response
	}{
		{"api", func() response { return f.get(t, "/api/device/status") }},
		{"401", func() response { return f.do(t, http.MethodGet, "/api/sensors", f.as("")) }},
		{"404", func() response { return f.get(t, "/api/nope") }},
		{"docs", func() response { return f.get(t, "/api/docs") }},
		{"ui", func() response { return f.get(t, "/") }},
		{"login", func() response {
			return f.do(t, http.MethodPost, "/api/auth/login", fromAddr("127.0.0.1:1"), jsonBody(loginBody(maskservice.RoleOperator)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.do()
			for header, want := range map[string]string{
				"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
					"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := res.header.Get(header); got != want {
					t.Errorf("%s %q, want %q", header, got, want)
				}
			}
		})
	}
	t.Run("docs page runs no inline script", func(t *testing.T) {
		page := string(f.get(t, "/api/docs").body)
		if !strings.Contains(page, `<script src="/api/docs.js"`) || strings.Count(page, "<script") != 1 || strings.Contains(page, "onclick=") {
			t.Errorf("the docs page must load its one script from /api/docs.js, with no inline script")
		}
		js := f.get(t, "/api/docs.js")
		if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(string(js.body), "/api/openapi.json") {
			t.Errorf("GET /api/docs.js: %d %q", js.status, js.header.Get("Content-Type"))
		}
	})
}

func TestServer_CORS(t *testing.T) {
	const allowed = "https://ui.example:8443"
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.CORSOrigins = []string{allowed} }})
	t.Run("allowed origin", func(t *testing.T) {
		res := f.do(t, http.MethodGet, "/api/device/status", withHeader("Origin", allowed))
		if res.header.Get("Access-Control-Allow-Origin") != allowed || res.header.Get("Access-Control-Allow-Credentials") != "true" ||
			!slices.Contains(res.header.Values("Vary"), "Origin") {
			t.Errorf("headers %v", res.header)
		}
	})
	t.Run("other origins", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://ui.example", "http://ui.example:8443", "null"} {
			res := f.do(t, http.MethodGet, "/api/device/status", withHeader("Origin", origin))
			for k := range res.header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("origin %s got %s", origin, k)
				}
			}
		}
	})
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/api/auth/logout", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, x-csrf-token")
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	t.Run("preflight", func(t *testing.T) {
		rec := preflight(allowed)
		h := rec.Header()
		if rec.Code != 204 || h.Get("Access-Control-Allow-Origin") != allowed || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight: %d %v", rec.Code, h)
		}
		for _, want := range []string{"Authorization", "Content-Type", "X-CSRF-Token"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
			}
		}
	})
	t.Run("preflight of another origin", func(t *testing.T) {
		rec := preflight("https://evil.example")
		if rec.Code == 204 || rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight: %d %v", rec.Code, rec.Header())
		}
	})
}

// TestServer_RetryAfterIsSeconds guards the format of Retry-After: whole seconds, at least 1.
func TestServer_RetryAfterIsSeconds(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for range 10 {
		f.srv.TakeLogin("192.0.2.77:1")
	}
	f.clock.Advance(5900 * time.Millisecond) // 0.1 s short of one attempt
	res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.77:1"), jsonBody(loginBody(maskservice.RoleOperator)))
	if n, err := strconv.Atoi(res.header.Get("Retry-After")); res.status != 429 || err != nil || n != 1 {
		t.Errorf("status %d Retry-After %q, want 429 and 1", res.status, res.header.Get("Retry-After"))
	}
}
