// Package web is the HTTP server of maskserviced: the route table, the REST handlers of the
// sensors and the device, JSON errors, request logging and metrics, the OpenAPI spec with its
// offline docs page, /metrics, and the embedded operator UI with its SPA fallback.
//
// web reads the domain through the interfaces and the Monitor that cmd/maskserviced hands it
// in Options; it never imports hal or store, and the WebSocket hub (web/hub) arrives as a
// plain http.Handler.
//
// Every route of the table names what it needs (Route.Access): "public", "signed_in" or one
// permission. One guard, applied from the table, checks the access token (a bearer header or
// the ms_access cookie) and its session through web/auth, answers 401 or 403, and asks a
// request authenticated by cookie that changes something for the CSRF header. The sign-in
// routes under /api/auth hand out the tokens and the cookies.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mask.services/maskservice"
	"mask.services/maskservice/web/auth"
	"mask.services/maskservice/web/cors"
	"mask.services/maskservice/web/ui"
)

// assets holds the hand-written OpenAPI spec and the docs page that reads it, with its script.
//
//go:embed openapi.json docs.html docs.js
var assets embed.FS

// Options are what the server needs from the rest of the daemon. Monitor, Recent, Accounts
// and Tokens are required; every other field has a usable zero value.
type Options struct {
	DeviceID string // reported by /api/device/status
	Version  string // reported by /api/device/status

	// Monitor gives the sensors, the newest round, the counters and the device state.
	Monitor *maskservice.Monitor
	// Buses gives the field buses' diagnostics for /metrics; nil leaves them out.
	Buses maskservice.Buses
	// History is the durable log of readings, answering history queries beyond the ring;
	// nil leaves history to the ring (the last hour).
	History maskservice.HistoryLog
	// Storage reports the health of the history log for the device status; nil leaves it
	// out.
	Storage func() maskservice.StorageStatus
	// Alarms acknowledges alerts and Alerts lists them; nil Alarms answers the alert routes
	// with 503.
	Alarms *maskservice.AlarmEngine
	Alerts maskservice.AlertStore
	// TLSFingerprint is the SHA-256 fingerprint of the hotspot's HTTPS certificate, shown in
	// the device status so that the LCD can display it; "" without HTTPS.
	TLSFingerprint string
	// Recent holds the readings of the last hour (the RAM ring).
	Recent maskservice.RecentReadings
	// Host gives memory and uptime facts; nil leaves them out of the device status.
	Host maskservice.Host
	// Accounts signs users in, keeps their sessions and changes users; it records those
	// changes in the audit log itself.
	Accounts *maskservice.Accounts
	// Tokens checks the access token of every request before Accounts checks its session.
	Tokens *auth.Tokens
	// Audit answers GET /api/audit and receives the entries the server records itself
	// (sign-ins refused by the rate limit, acknowledgements); nil records nothing, and the
	// route answers 503. The daemon passes its *bolt.DB, as it does to Accounts.
	Audit maskservice.AuditLog
	// WebSocket serves GET /api/ws/sensors (the hub); nil answers 503. The server checks the
	// client's token before the handler runs and closes a refused client with 4001 or 4003
	// itself; the handler gets the admitted client's Principal in the request context. A hub
	// learns the client's session through hub.Options.Authorize = AuthorizeWebSocket, which
	// Hub.CloseSession needs to close the sockets of a session that ended.
	WebSocket http.Handler
	// Registry receives the server's collectors and is what /metrics serves; nil uses a
	// registry of the server's own.
	Registry *prometheus.Registry
	// Logger receives the request log and errors; nil discards them.
	Logger *slog.Logger
	// Ready reports whether the daemon can serve; a nil func, or a nil error, means ready.
	Ready func() error
	// UIDir, when set, serves the UI from this directory instead of the embedded build, so a
	// developer sees a fresh `vite build` without rebuilding the daemon.
	UIDir string
	// MetricsToken, when set, lets any client that sends "Authorization: Bearer <token>" read
	// /metrics; without it only loopback clients may.
	MetricsToken string
	// CORSOrigins are the origins ("https://host:port", exactly as a browser sends them) that
	// may call the API from another origin, with credentials. Empty: same origin only.
	CORSOrigins []string
	// PanelUID, when set, is the user whose processes are the LCD's panel: a sign-in on the
	// panel listener (see PanelConnContext) counts as local only when the other end of its
	// connection is that user's (the kiosk's), so another local process cannot lock the
	// panel's accounts or use its rate limit. Nil: every loopback client of the panel
	// listener is the panel (a developer's machine).
	PanelUID *uint32
	// PanelLiveView lets the panel (see PanelConnContext and PanelUID) read the routes of its
	// live view (Route.PanelView) without a sign-in, as the panel viewer with
	// maskservice.PanelViewerPermissions, so that the LCD shows the values and the alarms
	// while nobody is signed in. Off: every route but the public ones needs a sign-in, on the
	// panel as beyond it. A client beyond the panel needs one either way.
	PanelLiveView bool
	// AllowedHosts are the names, besides "localhost" and any IP address, that a request's
	// Host may carry: the device's own names. A page of another name that resolves to the
	// device (DNS rebinding) is refused. Empty: only addresses and localhost.
	AllowedHosts []string
	// SecureCookies marks the sign-in cookies Secure. Set it for TLS listeners; answers to a
	// request that came over TLS are marked Secure anyway. Leave it off for the plain HTTP
	// loopback listener of the LCD, or the browser would drop the cookies.
	SecureCookies bool
	// Backup writes a consistent copy of the database to w for GET /api/backup and returns
	// its length; BackupSize tells that length beforehand, for the Content-Length. If either
	// is nil, the route answers 503. The daemon passes (*bolt.DB).WriteBackup and BackupSize.
	Backup     func(ctx context.Context, w io.Writer) (int64, error)
	BackupSize func(ctx context.Context) (int64, error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// StartTime is when the process started, for the uptime; zero means when New was called.
	StartTime time.Time
}

// Route is one entry of the route table: a method and a path pattern of the standard library
// router (with {name} wildcards, as the OpenAPI spec spells paths), its handler, a summary,
// and the access it needs.
type Route struct {
	Method  string
	Pattern string
	Handler http.Handler
	Summary string
	// Access is AccessPublic, AccessSignedIn or the name of the one maskservice.Permission the
	// route needs. New refuses a route without a valid one, so no route is open by mistake.
	Access string
	// PanelView marks a route of the panel's live view: with Options.PanelLiveView the
	// panel may read it without a token, as the panel viewer, whose permissions the guard
	// still checks against Access.
	PanelView bool

	// upgrade marks the WebSocket route: a refused client is upgraded and closed with 4001
	// or 4003 instead of getting a 401 or 403, which a browser's WebSocket cannot read.
	upgrade bool
}

// Server is the HTTP server's handler tree. Create it with New; it is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	start   time.Time
	routes  []Route
	mux     *http.ServeMux
	spec    []byte // the OpenAPI document, served as it is
	docs    []byte // the docs page
	ui      fs.FS
	metrics http.Handler // promhttp over Options.Registry

	redoc redocAssets // the API reference page and ReDoc's bundle

	docsJS         []byte // the docs page's script
	cors           map[string]bool
	limiter        *limiter        // sign-in attempts per client
	accountLimiter *limiter        // sign-in attempts per account and origin
	hosts          map[string]bool // the names of the device besides its addresses (AllowedHosts)

	loginAttempts *prometheus.CounterVec // login_attempts_total{role,status}

	requestDuration *prometheus.HistogramVec
	current         atomic.Pointer[currentBody] // /api/sensors/current of the newest round, encoded once
}

// New returns a server over opts. It registers the server's collectors on opts.Registry, so
// it fails if they are registered there already.
func New(opts Options) (*Server, error) {
	if opts.Monitor == nil {
		return nil, errors.New("new web server: monitor is nil")
	}
	if opts.Recent == nil {
		return nil, errors.New("new web server: recent readings are nil")
	}
	if opts.Accounts == nil || opts.Tokens == nil {
		return nil, errors.New("new web server: accounts service or auth tokens are nil")
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, start: opts.StartTime}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.start.IsZero() {
		s.start = s.now()
	}
	if s.opts.Registry == nil {
		s.opts.Registry = prometheus.NewRegistry()
	}
	var err error
	if s.spec, err = assets.ReadFile("openapi.json"); err != nil {
		return nil, fmt.Errorf("new web server: read spec: %w", err)
	}
	if s.docs, err = assets.ReadFile("docs.html"); err != nil {
		return nil, fmt.Errorf("new web server: read docs page: %w", err)
	}
	if s.docsJS, err = assets.ReadFile("docs.js"); err != nil {
		return nil, fmt.Errorf("new web server: read docs script: %w", err)
	}
	if s.redoc, err = loadRedoc(); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	if s.cors, err = cors.ParseOrigins(opts.CORSOrigins); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	s.limiter = newLimiter(loginBurst, loginEvery, maxLimited, s.now)
	s.accountLimiter = newLimiter(loginBurst, loginEvery, maxLimited, s.now)
	if s.hosts, err = parseHosts(opts.AllowedHosts); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	s.ui = ui.FS()
	if opts.UIDir != "" {
		s.ui = os.DirFS(opts.UIDir)
	}
	// Without index.html every UI path would fail; say so now rather than on the first visit.
	if _, err := fs.Stat(s.ui, "index.html"); err != nil {
		return nil, fmt.Errorf("new web server: ui: %w", err)
	}
	if err := s.registerMetrics(); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	if err := s.registerLoginMetrics(); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	s.metrics = promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	s.routes = s.routeTable()
	if err := checkRoutes(s.routes); err != nil {
		return nil, fmt.Errorf("new web server: %w", err)
	}
	s.mux = s.newMux()
	return s, nil
}

// routeTable is the one list of the server's routes. newMux adds only fallbacks to it: a
// JSON 405 for a known path with another method, a JSON 404 under /api/, and the UI.
func (s *Server) routeTable() []Route {
	ws := s.opts.WebSocket
	if ws == nil {
		ws = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, maskservice.Errorf(maskservice.EUNAVAILABLE, "the websocket hub is not running"))
		})
	}
	h := func(f http.HandlerFunc) http.Handler { return f }
	const (
		public     = AccessPublic
		signedIn   = AccessSignedIn
		view       = string(maskservice.PermViewSensors)
		viewAlerts = string(maskservice.PermViewAlerts)
		ackAlerts  = string(maskservice.PermAckAlerts)
		users      = string(maskservice.PermManageUsers)
		full       = string(maskservice.PermFullSystemAccess)
	)
	return []Route{
		{Method: "POST", Pattern: "/api/auth/login", Handler: h(s.handleLogin), Summary: "Sign in", Access: public},
		{Method: "POST", Pattern: "/api/auth/refresh", Handler: h(s.handleRefresh), Summary: "Trade a refresh token for new tokens", Access: public},
		{Method: "POST", Pattern: "/api/auth/logout", Handler: h(s.handleLogout), Summary: "Sign out: end the session", Access: signedIn},
		{Method: "GET", Pattern: "/api/auth/me", Handler: h(s.handleMe), Summary: "Who is signed in", Access: signedIn},
		// The panel's PIN sign-in: recent answers only the panel; a user sets their own PIN.
		{Method: "GET", Pattern: "/api/auth/recent", Handler: h(s.handleRecentUsers), Summary: "The users who last signed in on the panel", Access: public},
		{Method: "PUT", Pattern: "/api/users/{username}/pin", Handler: h(s.handleSetPIN), Summary: "Set a user's PIN for the panel", Access: signedIn},
		{Method: "DELETE", Pattern: "/api/users/{username}/pin", Handler: h(s.handleClearPIN), Summary: "Clear a user's PIN", Access: signedIn},
		{Method: "GET", Pattern: "/api/users", Handler: h(s.handleUsers), Summary: "The users", Access: users},
		{Method: "POST", Pattern: "/api/users", Handler: h(s.handleCreateUser), Summary: "Create a user", Access: users},
		{Method: "PATCH", Pattern: "/api/users/{username}", Handler: h(s.handleUpdateUser), Summary: "Change a user's role, state or password, or unlock it", Access: users},
		{Method: "GET", Pattern: "/api/audit", Handler: h(s.handleAudit), Summary: "The audit trail, newest first", Access: users},
		{Method: "GET", Pattern: "/api/sensors", Handler: h(s.handleSensors), Summary: "Recent readings, newest first", Access: view},
		{Method: "GET", Pattern: "/api/sensors/current", Handler: h(s.handleCurrent), Summary: "The newest reading of every sensor", Access: view, PanelView: true},
		{Method: "GET", Pattern: "/api/sensors/{id}/history", Handler: h(s.handleHistory), Summary: "Readings of one sensor over a time range", Access: view, PanelView: true},
		{Method: "GET", Pattern: "/api/sensors/history", Handler: h(s.handleHistory), Summary: "Readings of one sensor, or of every sensor, over a time range", Access: view},
		{Method: "GET", Pattern: "/api/device/status", Handler: h(s.handleDeviceStatus), Summary: "State and health of the device", Access: view, PanelView: true},
		{Method: "GET", Pattern: "/api/alerts", Handler: h(s.handleAlerts), Summary: "Alerts, newest first", Access: viewAlerts, PanelView: true},
		{Method: "GET", Pattern: "/api/alerts/{id}", Handler: h(s.handleAlert), Summary: "One alert", Access: viewAlerts},
		{Method: "POST", Pattern: "/api/alerts/{id}/ack", Handler: h(s.handleAck), Summary: "Acknowledge an alert", Access: ackAlerts},
		{Method: "POST", Pattern: "/api/alerts/ack-all", Handler: h(s.handleAckAll), Summary: "Acknowledge every alert that needs it", Access: ackAlerts},
		{Method: "GET", Pattern: "/api/backup", Handler: h(s.handleBackup), Summary: "Download a consistent copy of the database", Access: full},
		{Method: "GET", Pattern: "/api/ws/sensors", Handler: ws, Summary: "Live sensor frames over a WebSocket", Access: view, PanelView: true, upgrade: true},
		{Method: "GET", Pattern: "/api/openapi.json", Handler: h(s.handleSpec), Summary: "This OpenAPI document", Access: public},
		{Method: "GET", Pattern: "/api/docs", Handler: h(s.handleDocs), Summary: "Interactive API documentation", Access: public},
		{Method: "GET", Pattern: "/api/docs.js", Handler: h(s.handleDocsJS), Summary: "The script of the documentation page", Access: public},
		{Method: "GET", Pattern: "/api/redoc", Handler: h(s.handleRedoc), Summary: "API reference (ReDoc)", Access: public},
		{Method: "GET", Pattern: "/api/redoc.js", Handler: h(s.handleRedocJS), Summary: "The script of the API reference page", Access: public},
		{Method: "GET", Pattern: "/openapi.json", Handler: h(s.handleRootSpec), Summary: "This OpenAPI document, at FastAPI's default path", Access: public},
		{Method: "GET", Pattern: "/healthz", Handler: h(s.handleHealthz), Summary: "Liveness: the process answers", Access: public},
		{Method: "GET", Pattern: "/readyz", Handler: h(s.handleReadyz), Summary: "Readiness: the daemon can serve", Access: public},
		// Public for the sign-in guard: /metrics has its own rule, loopback or the scrape token.
		{Method: "GET", Pattern: "/metrics", Handler: h(s.handleMetrics), Summary: "Prometheus metrics", Access: public},
	}
}

// Routes returns the route table. Tests walk it against the OpenAPI spec.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// Handler returns the server's handler: the routes with request logging, metrics, common
// headers and panic recovery around them.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// newMux builds the router from the route table and the fallbacks.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	allowed := make(map[string][]string)
	for _, rt := range s.routes {
		mux.Handle(rt.Method+" "+rt.Pattern, s.guard(rt))
		allowed[rt.Pattern] = append(allowed[rt.Pattern], rt.Method)
	}
	// The router's own 405 is plain text; a method-less pattern for each path answers in JSON.
	// 405 for the other methods, each registered with its method: a pattern without one
	// would conflict with a wildcard sibling (POST /api/alerts/ack-all and GET
	// /api/alerts/{id}). Methods outside this list get the 404 of /api/.
	for pattern, methods := range allowed {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			served := slices.Contains(methods, m) || (m == http.MethodHead && slices.Contains(methods, http.MethodGet))
			if !served {
				mux.Handle(m+" "+pattern, s.methodNotAllowed(methods))
			}
		}
	}
	// "/api" too, or the router would redirect it to "/api/".
	mux.Handle("/api", http.HandlerFunc(s.handleNotFound))
	mux.Handle("/api/", http.HandlerFunc(s.handleNotFound))
	// Method-less, because "GET /" would conflict with the method-less patterns above.
	mux.Handle("/", http.HandlerFunc(s.handleUI))
	return mux
}

// methodNotAllowed answers a known path asked with a method it does not serve.
func (s *Server) methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	if slices.Contains(methods, http.MethodGet) {
		allow += ", " + http.MethodHead // the router serves HEAD wherever it serves GET
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.writeJSON(w, r, http.StatusMethodNotAllowed, newErrorBody(maskservice.EINVALID,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", clip(r.Method), clip(r.URL.Path), allow)))
	})
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, maskservice.Errorf(maskservice.ENOTFOUND, "no route for %s %s", clip(r.Method), clip(r.URL.Path)))
}

func (s *Server) handleSpec(w http.ResponseWriter, r *http.Request) {
	writeJSONBytes(w, http.StatusOK, s.spec)
}

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(s.docs)
}

// handleDocsJS serves the docs page's script: the Content-Security-Policy allows no inline
// script, so the page loads it from here.
func (s *Server) handleDocsJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(s.docsJS)
}

// handleUI serves the UI's files, and index.html for any other path so that the UI's own
// router can handle deep links (the SPA fallback). Paths under /api never get here.
func (s *Server) handleUI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed([]string{http.MethodGet}).ServeHTTP(w, r)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if fi, err := fs.Stat(s.ui, name); name == "" || err != nil || fi.IsDir() {
		// A missing build file is a 404, not the page: a page of the previous build, open
		// across an upgrade, asks for its old chunks, and must learn they are gone (it then
		// reloads) rather than run index.html as a script.
		if strings.HasPrefix(name, "assets/") {
			s.writeError(w, r, maskservice.Errorf(maskservice.ENOTFOUND, "no UI file %s: the UI was rebuilt; reload the page", clip(r.URL.Path)))
			return
		}
		name = "index.html"
	}
	// Vite names the files under assets/ by their content hash, so they never change;
	// index.html must be revalidated to pick up a new build.
	if strings.HasPrefix(name, "assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	f, err := s.ui.Open(name)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("open ui file %s: %w", name, err))
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		s.writeError(w, r, fmt.Errorf("ui file %s cannot seek", name))
		return
	}
	// ServeContent sets the Content-Type from the name and answers Range requests.
	http.ServeContent(w, r, name, time.Time{}, rs)
}
