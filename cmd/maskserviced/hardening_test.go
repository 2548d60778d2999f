package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
	"mask.services/maskservice/cmd/internal/config"
)

// startHardened starts the daemon with configText and the given server time limits (zero:
// the daemon's own).
func startHardened(t *testing.T, configText string, timeouts serverTimeouts) *Main {
	t.Helper()
	m := NewMain()
	m.DataDir, m.Listen, m.Stderr, m.Demo, m.BcryptCost = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", io.Discard, true, 4
	m.timeouts = timeouts
	c, err := config.Parse("test.toml", []byte(configText))
	if err != nil {
		t.Fatal(err)
	}
	m.Config = c
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// closedWithin reports whether the server closes c within d: a read ends with EOF or a
// reset, not with the client's own deadline.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// A request body trickled in is cut off at the read time limit: the finding's 1000
// connections sending a byte every 10 s stayed open for 207 s.
func TestMain_SlowBodyIsCutOff(t *testing.T) {
	m := startHardened(t, fastConfig(""), serverTimeouts{header: time.Second, read: 2 * time.Second, write: 5 * time.Second, idle: 2 * time.Second})
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/auth/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
	start := time.Now()
	// A byte now and then keeps no connection alive past the limit.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	if !closedWithin(c, 10*time.Second) {
		t.Fatalf("a trickled body kept the connection open for %s", time.Since(start).Round(time.Second))
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("closed after %s, want about the 2 s read limit", took.Round(100*time.Millisecond))
	}
	// An idle keep-alive connection goes too.
	c2, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	if !closedWithin(c2, 15*time.Second) {
		t.Fatal("an idle keep-alive connection stayed open past the idle limit")
	}
}

// One client of the hotspot's listener may hold http.max_conns_per_client connections; the
// next is closed before its TLS handshake, and counted. The default limits of the daemon.
func TestMain_ConnectionsPerClient(t *testing.T) {
	m := startHardened(t, "[http]\ntls_listen = \"127.0.0.1:0\"\nmax_conns_per_client = 3\n"+fastConfig(""), serverTimeouts{})
	var held []net.Conn
	for i := range 3 {
		c, err := tls.Dial("tcp", m.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		defer c.Close()
		held = append(held, c)
	}
	if _, err := tls.Dial("tcp", m.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Fatal("a fourth connection of one client got through")
	}
	metrics := getText(t, baseURL(m)+"/metrics")
	if !strings.Contains(metrics, `http_connections_refused_total{listener="https"} 1`) {
		t.Errorf("the refusal is not counted:\n%s", grepLines(metrics, "http_connections_refused"))
	}
	held[0].Close()
	waitFor(t, 5*time.Second, "the freed slot", func() bool {
		c, err := tls.Dial("tcp", m.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// The panel's listener does not count its loopback clients: the kiosk is one of them.
	for i := range 5 {
		c, err := net.Dial("tcp", m.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != 200 {
			t.Fatalf("panel connection %d: %v %v", i+1, res, err)
		}
	}
}

// A sign-in on the HTTPS listener is remote even from a loopback peer (a port forward to
// it), and one on the panel's listener is local: the listener decides, not the address.
func TestMain_OriginByListener(t *testing.T) {
	m := startHardened(t, "[http]\ntls_listen = \"127.0.0.1:0\"\n"+fastConfig(""), serverTimeouts{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, tc := range []struct {
		base string
		c    *http.Client
		want maskservice.Origin
	}{
		{baseURL(m), http.DefaultClient, maskservice.OriginLocal},
		{"https://" + m.TLSAddr().String(), client, maskservice.OriginRemote},
	} {
		res, err := tc.c.Post(tc.base+"/api/auth/login", "application/json",
			strings.NewReader(`{"username":"operator1","password":"password123","role":"OPERATOR"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.base, res.StatusCode, body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil {
			t.Fatal(err)
		}
		var me struct {
			SessionID string `json:"session_id"`
		}
		getJSON(t, baseURL(m)+"/api/auth/me", tok.AccessToken, &me)
		sid := me.SessionID
		sess, err := m.db.Session(context.Background(), sid)
		if err != nil {
			t.Fatalf("session %q: %v", sid, err)
		}
		if sess.Origin != tc.want {
			t.Errorf("%s: origin %v, want %v", tc.base, sess.Origin, tc.want)
		}
	}
}

// A Host that is not the device's (DNS rebinding) reaches nothing, /metrics included; the
// device's names and addresses do.
func TestMain_HostAllowList(t *testing.T) {
	m := startHardened(t, "[http]\nallowed_hosts = [\"station-7.plant.example\"]\n"+fastConfig(""), serverTimeouts{})
	hostname, _ := os.Hostname()
	for _, tc := range []struct {
		host string
		want int
	}{
		{"rebind.evil.example", 403}, {m.Addr().String(), 200}, {"localhost:8000", 200},
		{"c20-1001.local", 200}, {"station-7.plant.example", 200}, {hostname, 200},
	} {
		req, _ := http.NewRequest(http.MethodGet, baseURL(m)+"/metrics", nil)
		req.Host = tc.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, res.StatusCode, tc.want)
		}
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// One user's token on the hotspot cannot take the LCD's live data away: its session gets
// http.max_ws_per_session sockets, the user max_ws_per_user, and beyond the others' share of
// max_ws_clients only the panel connects. The finding: one OPERATOR token opening 1100
// sockets (the default limit then) closed the LCD's with 1013.
func TestMain_WebSocketLimits(t *testing.T) {
	m := startHardened(t, "[http]\ntls_listen = \"127.0.0.1:0\"\nmax_ws_clients = 30\nmax_ws_per_session = 4\nmax_ws_per_user = 6\n"+fastConfig(""), serverTimeouts{})
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	hotspotToken := func() string {
		t.Helper()
		res, err := tlsClient.Post("https://"+m.TLSAddr().String()+"/api/auth/login", "application/json",
			strings.NewReader(`{"username":"operator1","password":"password123","role":"OPERATOR"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("sign in on the hotspot: %d %v", res.StatusCode, err)
		}
		return out.AccessToken
	}
	// open dials the live view and reports whether it delivers a frame (else it was closed
	// with 1013).
	open := func(base, token string, client *http.Client) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, base+"/api/ws/sensors?token="+token, &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			t.Fatalf("dial %s: %v", base, err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		if _, _, err := c.Read(ctx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
				t.Fatalf("closed with %d, want 1013: %v", code, err)
			}
			return false
		}
		return true
	}
	wss := "wss://" + m.TLSAddr().String()
	first := hotspotToken()
	for i := range 4 {
		if !open(wss, first, tlsClient) {
			t.Fatalf("socket %d of the session refused", i+1)
		}
	}
	if open(wss, first, tlsClient) {
		t.Fatal("a fifth socket of one session opened")
	}
	second := hotspotToken()
	for i := range 2 {
		if !open(wss, second, tlsClient) {
			t.Fatalf("socket %d of the user's second session refused", i+1)
		}
	}
	if open(wss, second, tlsClient) {
		t.Fatal("a seventh socket of one user opened")
	}
	// The LCD, signed in as the same user, still gets its live view.
	if !open("ws://"+m.Addr().String(), signIn(t, m.Addr().String()), http.DefaultClient) {
		t.Fatal("the LCD's socket was refused")
	}
}
