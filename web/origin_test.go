package web_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// Rotating loopback sources is one client, on any listener: every 127.x address is this
// host. Before, each address had a bucket of its own and never met the limit.
func TestServer_LoginRateLimit_LoopbackIsOneClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		from func(string) func(*http.Request)
	}{{"panel listener", fromPanel}, {"another listener", fromAddr}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureConfig{noRun: true})
			for i := range 10 {
				res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), tc.from(fmt.Sprintf("127.0.%d.%d:1234", i/250, 1+i%250)),
					jsonBody(fmt.Sprintf(`{"username":"nobody%d","password":"wrong password!","role":"ADMIN"}`, i)))
				if res.status != 401 {
					t.Fatalf("attempt %d: %d, want 401", i+1, res.status)
				}
			}
			res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), tc.from("127.9.9.9:1"),
				jsonBody(`{"username":"nobody-else","password":"wrong password!","role":"ADMIN"}`))
			wantError(t, res, 429, maskservice.ELIMIT, "too many sign-in attempts from this address")
		})
	}
}

// Guesses at one account from many hotspot addresses meet the account's own bucket; the
// panel's bucket for the same account is another, so the hotspot cannot keep the LCD's user
// from signing in.
func TestServer_LoginRateLimit_PerAccount(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	guess := func(addr, password string) response {
		return f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr(addr),
			jsonBody(fmt.Sprintf(`{"username":"admin1","password":%q,"role":"ADMIN"}`, password)))
	}
	for i := range 10 {
		// Locked after three, the account answers 423 until the bucket is empty.
		if res := guess(fmt.Sprintf("192.0.2.%d:1", 10+i), "wrong password!"); res.status != 401 && res.status != 423 {
			t.Fatalf("guess %d: %d %s", i+1, res.status, res.body)
		}
	}
	res := guess("192.0.2.99:1", "wrong password!")
	wantError(t, res, 429, maskservice.ELIMIT, "too many sign-in attempts for this account")
	if res.header.Get("Retry-After") != "6" {
		t.Errorf("Retry-After %q, want 6", res.header.Get("Retry-After"))
	}
	if !f.audit.has(maskservice.AuditLoginFailed, "admin1", "rate limited: account") {
		t.Error("the refusal is not in the audit log")
	}
	// Another account from a fresh address is not held up by this one.
	if res := f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.100:1"),
		jsonBody(`{"username":"operator1","password":"wrong password!","role":"OPERATOR"}`)); res.status != 401 {
		t.Errorf("another account: %d, want 401", res.status)
	}
	// The LCD signs the account in: its bucket and its lock are its own.
	signIn(t, f, maskservice.RoleAdmin)
}

// With the kiosk's user named (Options.PanelUID), a loopback client of the panel listener
// that is another user's process is not the panel: its wrong passwords lock the account's
// remote origin, and the LCD still signs in. The connection is a real one, and its owner is
// read from the kernel.
func TestServer_PanelIsTheKioskUser(t *testing.T) {
	me := uint32(os.Getuid())
	for _, tc := range []struct {
		name      string
		panelUID  uint32
		wantLocal bool
	}{{"the kiosk's own connection", me, true}, {"another user's process", me + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			uid := tc.panelUID
			f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.PanelUID = &uid }})
			ts := newPanelServer(t, f.handler)
			for range maskservice.MaxFailedLogins {
				res := post(t, ts, "/api/auth/login", `{"username":"serwis1","password":"wrong password!","role":"SERWISANT"}`)
				if res.StatusCode != 401 && res.StatusCode != 423 {
					t.Fatalf("guess: %d", res.StatusCode)
				}
			}
			u, err := f.store.User(context.Background(), "serwis1")
			if err != nil {
				t.Fatal(err)
			}
			now := f.clock.Now()
			local, remote := u.Locked(maskservice.OriginLocal, now), u.Locked(maskservice.OriginRemote, now)
			if local != tc.wantLocal || remote == tc.wantLocal {
				t.Fatalf("locked local %v remote %v; want local %v", local, remote, tc.wantLocal)
			}
		})
	}
}

// The Host of a request must be one of the device's: a name that some other site resolves
// to the device (DNS rebinding) reaches nothing, /metrics included.
func TestServer_HostAllowList(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) {
		o.AllowedHosts = []string{"example.com", "C20-1001.local."}
	}})
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8000", true}, {"[::1]:8000", true}, {"192.168.4.1", true}, {"[fe80::1]:443", true},
		{"localhost:8000", true}, {"LOCALHOST", true}, {"panel.localhost", true},
		{"c20-1001.local", true}, {"C20-1001.LOCAL.:443", true}, {"example.com", true},
		{"rebind.evil.example", false}, {"rebind.evil.example:8000", false}, {"127.0.0.1.nip.io", false},
		{"localhost.evil.example", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			for _, path := range []string{"/metrics", "/api/sensors/current", "/"} {
				res := f.do(t, http.MethodGet, path, fromAddr("127.0.0.1:40000"), func(r *http.Request) { r.Host = tc.host })
				if tc.ok {
					if res.status == 403 && strings.Contains(string(res.body), "not a name of this device") {
						t.Errorf("%s: refused", path)
					}
					continue
				}
				wantError(t, res, 403, maskservice.EFORBIDDEN, "not a name of this device")
			}
		})
	}
}

// A write that a cookie authenticates must come from our own page: a foreign page that got
// a valid CSRF token is still refused, by Origin or by Sec-Fetch-Site.
func TestServer_CookieWriteFromAnotherOrigin(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.CORSOrigins = []string{"https://fleet.example"} }})
	for _, tc := range []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"no browser headers (a script)", nil, true},
		{"our own page", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, true},
		{"our own page, fetch metadata only", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"an allowed CORS origin", map[string]string{"Origin": "https://fleet.example", "Sec-Fetch-Site": "cross-site"}, true},
		{"a foreign page", map[string]string{"Origin": "https://evil.example"}, false},
		{"our host over another scheme", map[string]string{"Origin": "https://example.com"}, false},
		{"a foreign page, fetch metadata only", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"a sibling site", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"an opaque page", map[string]string{"Origin": "null"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cookies := signIn(t, f, maskservice.RoleOperator)
			mods := []func(*http.Request){f.as(""), fromAddr("192.0.2.7:1"), withCookies(slices.Collect(maps.Values(cookies))...), withHeader("X-CSRF-Token", cookies["ms_csrf"].Value)}
			for k, v := range tc.headers {
				mods = append(mods, withHeader(k, v))
			}
			res := f.do(t, http.MethodPost, "/api/auth/logout", mods...)
			if tc.ok {
				if res.status != http.StatusOK {
					t.Fatalf("logout: %d %s, want 200", res.status, res.body)
				}
				return
			}
			wantError(t, res, 403, maskservice.EFORBIDDEN, "another origin")
			// The refresh with the cookie is a write too.
			res = f.do(t, http.MethodPost, "/api/auth/refresh", append(mods, jsonBody(""))...)
			wantError(t, res, 403, maskservice.EFORBIDDEN, "another origin")
		})
	}
}

// newPanelServer serves h on a real loopback listener marked as the panel's, as the daemon
// marks its plain HTTP listener.
func newPanelServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnContext = web.PanelConnContext
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// post sends body as JSON to path on ts and returns the answer, its body read and closed.
func post(t *testing.T, ts *httptest.Server, path, body string) *http.Response {
	t.Helper()
	res, err := ts.Client().Post(ts.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res
}

// has reports whether an entry of action by username with details was recorded.
func (m *memAudit) has(action maskservice.AuditAction, username, details string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.entries, func(e maskservice.AuditEntry) bool {
		return e.Action == action && e.Username == username && e.Details == details
	})
}
