package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// TestServer_PanelLiveView walks the route table with requests that carry no token: the
// panel, with the live view on, reads exactly the routes of its live view; with it off, on
// another user's connection, or beyond the panel listener, every guarded route answers 401.
func TestServer_PanelLiveView(t *testing.T) {
	me := uint32(os.Getuid())
	other := me + 1
	for _, tc := range []struct {
		name     string
		liveView bool
		panel    bool    // served on a listener marked with PanelConnContext
		uid      *uint32 // Options.PanelUID
		wantOpen bool    // the live view's routes answer
	}{
		{"the panel", true, true, nil, true},
		{"the kiosk user's panel", true, true, &me, true},
		{"another user on the panel listener", true, true, &other, false},
		{"the live view off", false, true, nil, false},
		{"beyond the panel listener", true, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureConfig{opts: func(o *web.Options) {
				o.PanelLiveView, o.PanelUID = tc.liveView, tc.uid
			}})
			ts := httptest.NewUnstartedServer(f.handler)
			if tc.panel {
				ts.Config.ConnContext = web.PanelConnContext
			}
			ts.Start()
			t.Cleanup(ts.Close)
			for _, rt := range f.srv.Routes() {
				if rt.Access == web.AccessPublic || rt.Pattern == "/api/ws/sensors" {
					continue
				}
				path := strings.NewReplacer("{id}", "P1", "{username}", "operator1").Replace(rt.Pattern)
				req, err := http.NewRequest(rt.Method, ts.URL+path, strings.NewReader("{}"))
				must(t, err)
				res, err := ts.Client().Do(req)
				must(t, err)
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				want := http.StatusUnauthorized
				if rt.PanelView && tc.wantOpen {
					want = http.StatusOK
				}
				if res.StatusCode != want {
					t.Errorf("%s %s: %d %s, want %d", rt.Method, path, res.StatusCode, body, want)
				}
				if want == http.StatusUnauthorized && !strings.Contains(string(body), `"detail"`) {
					t.Errorf("%s %s: the 401 has no detail: %s", rt.Method, path, body)
				}
			}
		})
	}
}

// TestServer_PanelLiveView_WebSocket: the panel's socket without a token gets frames, one
// beyond the panel listener is closed with 4001, and a token still wins over the viewer.
func TestServer_PanelLiveView_WebSocket(t *testing.T) {
	f := newFixture(t, fixtureConfig{hub: true, opts: func(o *web.Options) { o.PanelLiveView = true }})
	panel := newPanelServer(t, f.handler)
	remote := httptest.NewServer(f.handler)
	t.Cleanup(remote.Close)
	for _, tc := range []struct {
		name     string
		ts       *httptest.Server
		query    string
		wantCode websocket.StatusCode // 0: a frame arrives
	}{
		{"the panel without a token", panel, "", 0},
		{"beyond the panel without a token", remote, "", 4001},
		{"the panel with a bad token", panel, "?token=bad", 4001},
		{"beyond the panel with a token", remote, "?token=" + f.sessions[maskservice.RoleOperator].Access, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(tc.ts.URL, "http")+"/api/ws/sensors"+tc.query, nil)
			must(t, err)
			defer c.CloseNow()
			_, msg, err := c.Read(ctx)
			if tc.wantCode == 0 {
				if err != nil || !strings.Contains(string(msg), `"type":"sensors"`) {
					t.Fatalf("first frame %q, %v", msg, err)
				}
				return
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.wantCode {
				t.Fatalf("read %q, %v; want close %d", msg, err, tc.wantCode)
			}
		})
	}
}

// TestServer_PanelViewerAdmission: the panel viewer's socket has no session and no user for
// the hub's limits, and takes the panel's slots.
func TestServer_PanelViewerAdmission(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) {
		o.PanelLiveView = true
		o.WebSocket = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			adm := web.AuthorizeWebSocket(r)
			if adm.Session != "" || adm.User != "" || !adm.Panel || adm.Code != 0 {
				t.Errorf("admission %+v, want the panel's without session or user", adm)
			}
			p := web.PrincipalFrom(r.Context())
			if p == nil || !p.Viewer || p.Can(maskservice.PermAckAlerts) || !p.Can(maskservice.PermViewSensors) {
				t.Errorf("principal %+v", p)
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}})
	ts := newPanelServer(t, f.handler)
	res, err := ts.Client().Get(ts.URL + "/api/ws/sensors")
	must(t, err)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: the handler did not run", res.StatusCode)
	}
}
