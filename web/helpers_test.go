package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/store/ring"
	"mask.services/maskservice/web"
	"mask.services/maskservice/web/auth"
	"mask.services/maskservice/web/hub"
)

func TestMain(m *testing.M) {
	// kin-openapi decodes only the content types it knows; the docs page is text/html.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	os.Exit(m.Run())
}

// scriptSource is a Source whose values and faults the test sets. Values move a little
// on every read so that downsampling has a minimum and a maximum to keep.
type scriptSource struct {
	mu     sync.Mutex
	values map[string]float64
	faults map[string]error
	reads  int
}

func (s *scriptSource) Read(ctx context.Context, ids []string) ([]maskservice.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]maskservice.Sample, len(ids))
	for i, id := range ids {
		s.reads++
		v := s.values[id] + float64(s.reads%7)*0.01
		out[i] = maskservice.Sample{SensorID: id, Raw: v * 1000, Value: v, RTT: 2 * time.Millisecond, Err: s.faults[id]}
	}
	return out, nil
}

// clock is real time until frozen, so that a stopped monitor does not look stalled to
// State however slowly the test runs afterwards.
type clock struct{ frozen atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time {
	if t := c.frozen.Load(); t != nil {
		return *t
	}
	return time.Now()
}

func (c *clock) Freeze() { t := time.Now(); c.frozen.Store(&t) }

// Advance moves a frozen clock on by d.
func (c *clock) Advance(d time.Duration) { t := c.Now().Add(d); c.frozen.Store(&t) }

// syncBuffer is a bytes.Buffer that the server's logger may write from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fakeHost reports fixed facts, or an error.
type fakeHost struct{ err error }

func (h fakeHost) Info() (maskservice.HostInfo, error) {
	if h.err != nil {
		return maskservice.HostInfo{}, h.err
	}
	return maskservice.HostInfo{Uptime: 90 * time.Minute, MemTotal: 1 << 30, MemAvailable: 600 << 20, ProcessRSS: 20 << 20}, nil
}

// fixtureConfig varies a fixture; the zero value polls three good sensors.
type fixtureConfig struct {
	noRun  bool             // never run the monitor: the state before the first round
	faults map[string]error // read errors per sensor
	opts   func(*web.Options)
	// hub wires a real WebSocket hub as the daemon does: Authorize is web.AuthorizeWebSocket
	// and the accounts service's OnRevoke closes the session's clients.
	hub bool
	// duringRun, if set, is called once the ring is filled, before the monitor stops.
	duringRun func(testing.TB, *fixture)
}

// fixture is a server over a real monitor and ring. The monitor has run for at least minReads
// rounds and stopped, and the clock is frozen, so every answer is stable.
type fixture struct {
	srv     *web.Server
	handler http.Handler
	mon     *maskservice.Monitor
	ring    *ring.Set
	reg     *prometheus.Registry
	logs    *syncBuffer
	clock   *clock
	spec    *spec
	// accounts is the server's accounts service, recording to audit; quiet is one over the
	// same store that records nothing, for the fixture's own sign-ins (login), which are
	// no request of a test.
	accounts *maskservice.Accounts
	quiet    *maskservice.Accounts
	tokens   *auth.Tokens
	store    *memStore
	hub      *hub.Hub
	audit    *memAudit // the server's audit log, unless fixtureConfig.opts replaces it
	// alarms is the server's alarm engine, over a real bbolt file, unless fixtureConfig.opts
	// replaces it; rearm makes an alert of P3 that needs acknowledging.
	alarms *maskservice.AlarmEngine
	// sessions holds one signed-in session per role, made when the fixture is built; do
	// sends the OPERATOR's access token unless told otherwise.
	sessions map[maskservice.Role]*maskservice.LoginResult
}

const minReads = 20

// rearm makes P3's alert active and unacknowledged (a new one, or the same one again within
// the repeat interval) and returns its id.
func (f *fixture) rearm(tb testing.TB) uint64 {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	for _, st := range []maskservice.Status{maskservice.StatusNormal, maskservice.StatusCritical} {
		changed, err := f.alarms.Process(ctx, &maskservice.Round{Readings: []maskservice.Reading{
			{SensorID: "P3", Time: now, Value: 990, Raw: 990, Unit: "mbar", Status: st}}})
		if err != nil {
			tb.Fatal(err)
		}
		if st == maskservice.StatusCritical {
			if len(changed) != 1 {
				tb.Fatalf("rearm: %+v", changed)
			}
			return changed[0].ID
		}
	}
	return 0
}

// backupBytes is what the fixture's Backup writes: the server treats the copy as opaque bytes.
var backupBytes = []byte("bbolt file of the fixture\x00\x01\x02")

func newFixture(tb testing.TB, cfg fixtureConfig) *fixture {
	tb.Helper()
	sensors := maskservice.DefaultSensors()
	ids := make([]string, len(sensors))
	for i := range sensors {
		sensors[i].Interval = 10 * time.Millisecond
		ids[i] = sensors[i].ID
	}
	src := &scriptSource{values: map[string]float64{"P1": 5, "P2": 2.5, "P3": 500}, faults: cfg.faults}
	live, err := maskservice.LiveSensorsOf(sensors)
	if err != nil {
		tb.Fatal(err)
	}
	mon, err := maskservice.NewMonitor(live, src, nil)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{mon: mon, ring: ring.NewSet(ids, 3600), reg: prometheus.NewRegistry(), logs: &syncBuffer{}, clock: &clock{}}
	mon.Now = f.clock.Now
	ta := newAuth(tb, f.clock.Now)
	f.store, f.tokens, f.quiet = ta.store, ta.tokens, ta.accounts(tb, nil, nil)
	f.sessions = make(map[maskservice.Role]*maskservice.LoginResult)
	for _, role := range roles {
		f.sessions[role] = f.login(tb, role)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.audit = &memAudit{}
	f.accounts = ta.accounts(tb, f.audit, logger)
	opts := web.Options{
		DeviceID: "C15.25.1010", Version: "test", Monitor: mon, Recent: f.ring, Host: fakeHost{},
		Registry: f.reg, Now: f.clock.Now, StartTime: time.Now().Add(-time.Minute), Accounts: f.accounts, Tokens: f.tokens,
		Logger: logger,
		// httptest.NewRequest's Host; the device's names are tested in hosts_test.go.
		AllowedHosts: []string{"example.com"},
		Backup: func(ctx context.Context, w io.Writer) (int64, error) {
			n, err := w.Write(backupBytes)
			return int64(n), err
		},
		BackupSize: func(context.Context) (int64, error) { return int64(len(backupBytes)), nil },
	}
	opts.Audit = f.audit
	alertDB, err := bolt.Open(context.Background(), tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { alertDB.Close() })
	if f.alarms, err = maskservice.NewAlarmEngine(context.Background(), alertDB, live, maskservice.AlarmOptions{Audit: f.audit}); err != nil {
		tb.Fatal(err)
	}
	opts.Alarms, opts.Alerts = f.alarms, alertDB
	if cfg.hub {
		if f.hub, err = hub.New(hub.Options{Current: mon.Current, Authorize: web.AuthorizeWebSocket}); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(f.hub.Close)
		f.accounts.OnRevoke(f.hub.CloseSession)
		opts.WebSocket = f.hub
	}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	if f.srv, err = web.New(opts); err != nil {
		tb.Fatal(err)
	}
	f.handler = f.srv.Handler()
	f.spec = loadSpec(tb)
	if !cfg.noRun {
		f.runMonitor(tb, cfg.duringRun)
	}
	f.clock.Freeze()
	return f
}

// runMonitor runs the monitor, feeding the ring, until every sensor has minReads readings.
func (f *fixture) runMonitor(tb testing.TB, duringRun func(testing.TB, *fixture)) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub := f.mon.Subscribe("ring", 1024)
	ran, fed := make(chan struct{}), make(chan struct{})
	go func() { defer close(ran); _ = f.mon.Run(ctx) }()
	go func() {
		defer close(fed)
		for round := range sub.C {
			for _, rd := range round.Readings {
				f.ring.Push(rd)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.ring.Len("P1") < minReads || f.ring.Len("P2") < minReads || f.ring.Len("P3") < minReads {
		if time.Now().After(deadline) {
			cancel()
			tb.Fatal("the monitor did not fill the ring within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if duringRun != nil {
		duringRun(tb, f)
	}
	cancel()
	<-ran // Run closes the subscription as it returns
	<-fed
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request from a non-loopback address, signed in as the fixture's OPERATOR unless
// a mod changes that, and checks the answer against the spec.
func (f *fixture) do(tb testing.TB, method, target string, mods ...func(*http.Request)) response {
	tb.Helper()
	req := httptest.NewRequest(method, target, nil)
	f.authorize(req, maskservice.RoleOperator)
	for _, m := range mods {
		m(req)
	}
	return f.send(tb, req)
}

// send serves req and checks the answer against the spec.
func (f *fixture) send(tb testing.TB, req *http.Request) response {
	tb.Helper()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	// The metrics are Prometheus text, not a schema the spec can describe.
	f.spec.check(tb, req, res, req.URL.Path == "/metrics" && res.status == http.StatusOK)
	return res
}

// authorize makes req carry the access token of the fixture's session of role.
func (f *fixture) authorize(req *http.Request, role maskservice.Role) {
	req.Header.Set("Authorization", "Bearer "+f.sessions[role].Access)
}

// as is a mod of do that signs the request in as role; "" sends it without a token.
func (f *fixture) as(role maskservice.Role) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Del("Authorization")
		if role != "" {
			f.authorize(r, role)
		}
	}
}

// login signs the user of role in through the service (not the API, which limits the rate)
// and returns a new session.
func (f *fixture) login(tb testing.TB, role maskservice.Role) *maskservice.LoginResult {
	tb.Helper()
	res, err := f.quiet.Login(context.Background(), maskservice.LoginRequest{
		Username: userOf[role], Password: testPassword, Role: role, Origin: maskservice.OriginLocal, Remote: "127.0.0.1:1",
	})
	if err != nil {
		tb.Fatalf("sign in as %s: %v", role, err)
	}
	return res
}

func (f *fixture) get(tb testing.TB, target string) response {
	tb.Helper()
	return f.do(tb, http.MethodGet, target)
}

// decode unmarshals a JSON body into a generic value.
func decode[T any](tb testing.TB, res response) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		tb.Fatalf("decode %s: %v", res.body, err)
	}
	return v
}

// wantError checks a JSON error answer: its status, code, and that the message names want.
func wantError(tb testing.TB, res response, status int, code, want string) {
	tb.Helper()
	if res.status != status {
		tb.Fatalf("status %d, want %d; body %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error  struct{ Code, Message string }
		Detail *string
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		tb.Fatalf("decode error body %s: %v", res.body, err)
	}
	// A client written to the specification (FastAPI) reads the message from detail.
	if body.Detail == nil || *body.Detail != body.Error.Message {
		tb.Errorf("detail %v, want the message %q", body.Detail, body.Error.Message)
	}
	if body.Error.Code != code {
		tb.Errorf("code %q, want %q", body.Error.Code, code)
	}
	if !strings.Contains(body.Error.Message, want) {
		tb.Errorf("message %q does not name %q", body.Error.Message, want)
	}
}

// spec is the OpenAPI document with a router that finds the operation of a request.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(tb testing.TB) *spec {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &spec{doc: doc, router: router}
}

// check validates an answer against the operation of req, including its status. A request
// that matches no operation must have been answered by a fallback: the UI outside /api, or a
// JSON 404 or 405 under /api.
func (sp *spec) check(tb testing.TB, req *http.Request, res response, skipBody bool) {
	tb.Helper()
	route, params, err := sp.router.FindRoute(req)
	if err != nil {
		var re *routers.RouteError
		if !errors.As(err, &re) {
			tb.Fatalf("find route of %s %s: %v", req.Method, req.URL, err)
		}
		if strings.HasPrefix(req.URL.Path, "/api/") && res.status != http.StatusNotFound && res.status != http.StatusMethodNotAllowed {
			tb.Errorf("%s %s: no operation in the spec, yet answered %d", req.Method, req.URL, res.status)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.status,
		Header:                 res.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: skipBody},
	}
	in.SetBodyBytes(res.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Errorf("%s %s: answer %d does not match the spec: %v\nbody: %s", req.Method, req.URL, res.status, err, res.body)
	}
}
