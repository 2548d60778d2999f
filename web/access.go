package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"mask.services/maskservice"
	"mask.services/maskservice/web/hub"
	"mask.services/maskservice/web/peer"
)

// The values of Route.Access besides the permissions.
const (
	AccessPublic   = "public"    // anyone, signed in or not
	AccessSignedIn = "signed_in" // anyone signed in, whatever the role
)

// The cookies of a browser session and the header that proves a request comes from our page.
const (
	cookieAccess  = "ms_access"  // the access token; HttpOnly
	cookieRefresh = "ms_refresh" // the refresh token; HttpOnly, sent to /api/auth only
	cookieCSRF    = "ms_csrf"    // readable by the page, which echoes it in headerCSRF
	headerCSRF    = "X-CSRF-Token"
)

// checkRoutes refuses a route table with a route whose Access is missing or unknown, with a
// route registered twice, or with a route of the panel's live view (PanelView) that the panel
// viewer's permissions do not cover, or that changes something.
func checkRoutes(routes []Route) error {
	seen := make(map[string]bool, len(routes))
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		if seen[key] {
			return fmt.Errorf("route %s: registered twice", key)
		}
		seen[key] = true
		if rt.Handler == nil {
			return fmt.Errorf("route %s: no handler", key)
		}
		switch {
		case rt.Access == "":
			return fmt.Errorf("route %s: no access rule; set Access to %q, %q or a permission", key, AccessPublic, AccessSignedIn)
		case rt.Access == AccessPublic, rt.Access == AccessSignedIn:
		case !slices.Contains(maskservice.AllPermissions(), maskservice.Permission(rt.Access)):
			return fmt.Errorf("route %s: access %q is neither %q, %q nor a permission", key, rt.Access, AccessPublic, AccessSignedIn)
		}
		if rt.PanelView && (!safeMethod(rt.Method) || !maskservice.PanelViewerCan(maskservice.Permission(rt.Access))) {
			return fmt.Errorf("route %s: in the panel's live view, but it needs %s, which the panel viewer (%v) does not have, or it changes something",
				key, rt.Access, maskservice.PanelViewerPermissions())
		}
	}
	return nil
}

// Principal is who made a request: the checked access token and its live session.
type Principal struct {
	Username     string
	Role         maskservice.Role
	SessionID    string
	Permissions  []maskservice.Permission
	TokenExpires time.Time
	// Panel is set on the WebSocket route when the client is the LCD's panel (see
	// originOf).
	Panel bool
	// Viewer marks the panel viewer: the LCD's panel while nobody is signed in on it, with
	// no user, no role, no session and only maskservice.PanelViewerPermissions.
	Viewer bool
}

// panelViewer returns the principal of an anonymous request from the panel.
func panelViewer() *Principal {
	return &Principal{Username: "panel viewer", Viewer: true, Panel: true,
		Permissions: maskservice.PanelViewerPermissions()}
}

// Can reports whether the principal has permission p.
func (p *Principal) Can(perm maskservice.Permission) bool {
	if p.Viewer {
		return maskservice.PanelViewerCan(perm)
	}
	return p.Role.Can(perm)
}

// actor is the principal as the accounts service takes it, acting from r's client address.
func (p *Principal) actor(r *http.Request) maskservice.Actor {
	return maskservice.Actor{Username: p.Username, Role: p.Role, Source: clientIP(r.RemoteAddr)}
}

// principalKey is the context key of the request's *Principal.
type principalKey struct{}

// PrincipalFrom returns who made the request, as the guard of its route checked it, or nil
// on a public route.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// authenticate checks an access token with web/auth (signature, expiry, claims), then asks
// the accounts service whether its session still counts. Every refusal is an EUNAUTHORIZED
// error; a failing store gives another error.
func (s *Server) authenticate(ctx context.Context, token string) (*Principal, error) {
	claims, err := s.opts.Tokens.ParseAccess(token)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Accounts.CheckSession(ctx, claims.SessionID, claims.Role); err != nil {
		return nil, err
	}
	return &Principal{Username: claims.Subject, Role: claims.Role, SessionID: claims.SessionID,
		Permissions: claims.Permissions, TokenExpires: claims.ExpiresAt.Time}, nil
}

// AuthorizeWebSocket is what hub.Options.Authorize should be: the server has checked the
// client before the hub runs, and this hands the hub the client's session and user, which
// its limits count and Hub.CloseSession goes by, and whether the client is the LCD's panel,
// which may take the slots kept for it. The panel viewer has neither session nor user, so
// only the total and the panel's slots bound its clients. A request that did not come
// through the server's guard is refused with 4001.
func AuthorizeWebSocket(r *http.Request) hub.Admission {
	p := PrincipalFrom(r.Context())
	if p == nil {
		return hub.Admission{Code: hub.StatusUnauthorized, Reason: "sign in first"}
	}
	if p.Viewer {
		return hub.Admission{Panel: true}
	}
	return hub.Admission{Session: p.SessionID, User: p.Username, Panel: p.Panel}
}

// viewerFor returns the panel viewer for a request without a token on route rt, or nil
// when rt is not of the panel's live view, the live view is off, or the request is not the
// panel's: then the request needs a sign-in as any other.
func (s *Server) viewerFor(rt Route, r *http.Request) *Principal {
	if !rt.PanelView || !s.opts.PanelLiveView || s.originOf(r) != maskservice.OriginLocal {
		return nil
	}
	return panelViewer()
}

// guard wraps a route's handler with the check its Access asks for.
func (s *Server) guard(rt Route) http.Handler {
	if rt.Access == AccessPublic {
		return rt.Handler
	}
	if rt.upgrade {
		return s.guardUpgrade(rt)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, byCookie := requestToken(r, false)
		if token == "" && s.serveViewer(rt, w, r) {
			return
		}
		if token == "" {
			s.unauthorized(w, r, maskservice.Errorf(maskservice.EUNAUTHORIZED,
				"sign in first: send the access token as \"Authorization: Bearer <token>\" or in the %s cookie", cookieAccess))
			return
		}
		p, err := s.authenticate(r.Context(), token)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		// A browser sends cookies with any request, a forged cross-site one too; only our
		// page can read the CSRF cookie and echo it. A bearer token proves as much by itself.
		if byCookie && !safeMethod(r.Method) {
			if !csrfOK(r) {
				s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN, "missing or wrong CSRF token"))
				return
			}
			if !s.sameSiteWrite(r) {
				s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN, "a page of another origin (%s) may not change anything here", echo(r.Header.Get("Origin"))))
				return
			}
		}
		if rt.Access != AccessSignedIn && !p.Can(maskservice.Permission(rt.Access)) {
			s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN,
				"this needs the %s permission, which the role %s does not have", rt.Access, p.Role))
			return
		}
		rt.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// serveViewer serves a request without a token as the panel viewer if it may be (see
// viewerFor), checking the viewer's permissions against the route's Access, and reports
// whether it answered. The token wins: a request with one never gets here.
func (s *Server) serveViewer(rt Route, w http.ResponseWriter, r *http.Request) bool {
	p := s.viewerFor(rt, r)
	if p == nil {
		return false
	}
	// checkRoutes refuses a PanelView route the viewer may not read; this is the second lock.
	if !p.Can(maskservice.Permission(rt.Access)) {
		s.unauthorized(w, r, maskservice.Errorf(maskservice.EUNAUTHORIZED, "sign in first: the panel's live view does not include this"))
		return true
	}
	rt.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	return true
}

// guardUpgrade is the guard of the WebSocket route. A browser's WebSocket cannot read the
// status of a refused handshake, so a refused client is upgraded and closed with 4001 (no
// valid token) or 4003 (no permission) instead. The token may also come in ?token=, since a
// browser cannot set headers on a WebSocket.
func (s *Server) guardUpgrade(rt Route) http.Handler {
	need := maskservice.Permission(rt.Access)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := requestToken(r, true)
		if token == "" {
			if p := s.viewerFor(rt, r); p != nil && p.Can(need) {
				rt.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
				return
			}
			s.refuseUpgrade(w, r, hub.StatusUnauthorized, "sign in first")
			return
		}
		p, err := s.authenticate(r.Context(), token)
		if err != nil {
			code := hub.StatusUnauthorized
			if maskservice.ErrorCode(err) != maskservice.EUNAUTHORIZED {
				s.log.LogAttrs(r.Context(), slog.LevelError, "check websocket token", slog.Any("err", err))
				code = websocket.StatusInternalError
			}
			s.refuseUpgrade(w, r, code, maskservice.ErrorMessage(err))
			return
		}
		if !p.Can(need) {
			s.refuseUpgrade(w, r, hub.StatusForbidden, "this needs the "+string(need)+" permission")
			return
		}
		p.Panel = s.originOf(r) == maskservice.OriginLocal
		rt.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// refuseUpgrade accepts the WebSocket handshake and closes the connection with code. The
// server does this itself rather than trusting the hub to, so that a hub mounted without
// Authorize still admits nobody the guard refused.
func (s *Server) refuseUpgrade(w http.ResponseWriter, r *http.Request, code websocket.StatusCode, reason string) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return // Accept has answered with an HTTP error: not a WebSocket handshake, or another origin
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "websocket client refused",
		slog.String("remote", r.RemoteAddr), slog.Int("code", int(code)), slog.String("reason", reason))
	// Close waits for the client's close frame, at most 5 s (the library's own bound).
	_ = c.Close(code, clip(reason))
}

// unauthorized answers 401 for err (or 500 when err is not about the credentials), with the
// WWW-Authenticate header that RFC 9110 asks of a 401.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if maskservice.ErrorCode(err) == maskservice.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="maskserviced"`)
	}
	s.writeError(w, r, err)
}

// requestToken returns the request's access token and whether it came from the cookie: the
// Authorization header first, then (with query set) the token parameter, then the cookie. A
// request with an Authorization header is judged on that header alone.
func requestToken(r *http.Request, query bool) (token string, byCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:]), false
		}
		return "", false
	}
	if query {
		if t := r.URL.Query().Get("token"); t != "" {
			return t, false
		}
	}
	if c, err := r.Cookie(cookieAccess); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// safeMethod reports whether method only reads.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// csrfOK reports whether the request echoes its CSRF cookie in the CSRF header.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(cookieCSRF)
	got := r.Header.Get(headerCSRF)
	return err == nil && c.Value != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

// isLoopback reports whether addr, a "host:port" as in Request.RemoteAddr, is a loopback
// address. Only the TCP peer counts: X-Forwarded-For is anyone's to write.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// panelConn marks a request's context: its connection was accepted by the panel listener.
type panelConn struct {
	conn net.Conn
	// The owner of the connection's other end never changes, so it is looked up once per
	// connection: peer.UID reads /proc/net/tcp, which grows with every open socket, and the
	// LCD polls on one kept-alive connection every second.
	once sync.Once
	uid  uint32
	err  error
}

// peerUID returns the uid of the process at the connection's other end, looked up once.
func (pc *panelConn) peerUID() (uint32, error) {
	pc.once.Do(func() { pc.uid, pc.err = peer.UID(pc.conn) })
	return pc.uid, pc.err
}

// panelConnKey is the context key of the *panelConn.
type panelConnKey struct{}

// PanelConnContext is what http.Server.ConnContext of the panel listener should be: the
// plain HTTP listener on loopback that the LCD's kiosk browser uses. Only requests on its
// connections can be the panel's (maskservice.OriginLocal); on any other listener, the
// HTTPS one of the hotspot included, every request is remote, whatever its peer address, so
// a port forward, a tunnel or a proxy on the device does not make its clients the LCD.
func PanelConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, panelConnKey{}, &panelConn{conn: c})
}

// originOf says where a request comes from. It is the panel (OriginLocal) only when the
// panel listener accepted its connection from a loopback address and, with
// Options.PanelUID set, the other end of the connection belongs to that user (the kiosk's):
// another process on the device is not the panel. Everything else is remote.
func (s *Server) originOf(r *http.Request) maskservice.Origin {
	pc, _ := r.Context().Value(panelConnKey{}).(*panelConn)
	if pc == nil || !isLoopback(r.RemoteAddr) {
		return maskservice.OriginRemote
	}
	if s.opts.PanelUID == nil {
		return maskservice.OriginLocal
	}
	uid, err := pc.peerUID()
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "the owner of a loopback connection is unknown: taken as remote",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		return maskservice.OriginRemote
	}
	if uid != *s.opts.PanelUID {
		return maskservice.OriginRemote
	}
	return maskservice.OriginLocal
}

// setCORS adds the CORS headers for an allowed Origin, and reports whether the request is a
// preflight of an allowed origin (which the caller answers with 204 alone). Other origins
// get no CORS headers, so the browser keeps the answer from them.
func (s *Server) setCORS(h http.Header, r *http.Request) (preflight bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || !s.cors[origin] {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+headerCSRF)
		h.Set("Access-Control-Max-Age", "600")
		return true
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, "+totalCountHeader)
	return false
}
