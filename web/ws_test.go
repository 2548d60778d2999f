package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// TestServer_WebSocketUpgrade checks that the logging and metrics wrapper keeps the upgrade
// working: the hub must be able to hijack the connection through it.
func TestServer_WebSocketUpgrade(t *testing.T) {
	hub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the response writer hides http.Flusher")
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		if err := c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"sensors","seq":1}`)); err != nil {
			t.Errorf("write: %v", err)
			return
		}
		// Wait for the client's close so that the session ends cleanly.
		_, _, _ = c.Read(r.Context())
	})
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.WebSocket = hub }})
	ts := httptest.NewServer(f.handler)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/ws/sensors?token="+f.sessions[maskservice.RoleOperator].Access, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != `{"type":"sensors","seq":1}` {
		t.Fatalf("first frame %q, %v", msg, err)
	}
	must(t, c.Close(websocket.StatusNormalClosure, "done"))
	f.spec.check(t, httptest.NewRequest(http.MethodGet, "/api/ws/sensors", nil),
		response{status: res.StatusCode, header: res.Header}, true)

	// The request is logged when the session ends, which is just after the close.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.logs.String(), `"route":"GET /api/ws/sensors","status":101`) {
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade is not logged with status 101:\n%s", f.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServer_WebSocketMissing checks the answer while no hub is wired.
func TestServer_WebSocketMissing(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	wantError(t, f.get(t, "/api/ws/sensors"), 503, "unavailable", "hub")
	// Refusals are told after an upgrade; a request that is no handshake gets no 401.
	if res := f.do(t, http.MethodGet, "/api/ws/sensors", f.as("")); res.status != http.StatusUpgradeRequired {
		t.Errorf("anonymous GET without an upgrade: %d, want 426", res.status)
	}
}
