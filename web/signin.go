package web

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
	"mask.services/maskservice/web/auth"
	"mask.services/maskservice/web/connlimit"
)

// maxBody bounds a JSON request body; a sign-in needs a few dozen bytes.
const maxBody = 4 << 10

// loginRequest is the body of POST /api/auth/login: a password, or on the panel a PIN.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	PIN      string `json:"pin"`
	Role     string `json:"role"`
}

// refreshRequest is the body of POST /api/auth/refresh.
type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// tokenAnswer is the answer of a sign-in and of a refresh.
type tokenAnswer struct {
	AccessToken        string                   `json:"access_token"`
	RefreshToken       string                   `json:"refresh_token"`
	TokenType          string                   `json:"token_type"`
	ExpiresIn          int64                    `json:"expires_in"` // seconds
	Username           string                   `json:"username"`
	Role               maskservice.Role         `json:"role"`
	Permissions        []maskservice.Permission `json:"permissions"`
	Color              string                   `json:"color"`
	SessionTimeout     int64                    `json:"session_timeout"` // seconds: the role's idle timeout
	MustChangePassword bool                     `json:"must_change_password"`
}

// meAnswer is the answer of GET /api/auth/me.
type meAnswer struct {
	Username       string                   `json:"username"`
	Role           maskservice.Role         `json:"role"`
	Permissions    []maskservice.Permission `json:"permissions"`
	Color          string                   `json:"color"`
	SessionTimeout int64                    `json:"session_timeout"`
	SessionID      string                   `json:"session_id"`
	TokenExpires   timestamp                `json:"token_expires"`
}

// POST /api/auth/login. Each client may try a few sign-ins, then one every few seconds, and
// so may each account from each origin; the account lockout of the accounts service works on
// top, per origin. A client is its address on the hotspot, and the panel as a whole on the
// LCD's listener: every loopback address is one host.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	origin := s.originOf(r)
	client := connlimit.ClientKey(r.RemoteAddr)
	if origin == maskservice.OriginLocal {
		client = "panel"
	}
	if ok, retry, first := s.limiter.take(client); !ok {
		if first {
			// Once per run of refusals: a client hammering the sign-in is one entry, and
			// refused requests never cost a disk write each. The body is read only for
			// the name the client tried, if it sent one.
			var req loginRequest
			_, _ = decodeBody(w, r, &req, false)
			s.audit(r, maskservice.AuditEntry{Action: maskservice.AuditLoginFailed, Username: req.Username,
				Role: auditRole(req.Role), Details: "rate limited"})
		}
		s.refuseRate(w, r, retry, "too many sign-in attempts from this address")
		return
	}
	var req loginRequest
	if _, err := decodeBody(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	role := maskservice.Role(req.Role)
	switch {
	case req.Username == "":
		s.writeError(w, r, maskservice.FieldErrorf("username", "request body: username is required"))
		return
	case req.Password == "" && req.PIN == "":
		s.writeError(w, r, maskservice.FieldErrorf("password", "request body: password is required (or, on the panel, pin)"))
		return
	case req.Role == "":
		s.writeError(w, r, maskservice.FieldErrorf("role", "request body: role is required"))
		return
	case !role.Valid():
		// Which roles exist is no secret; whether this user holds one is, and that is left to Login.
		s.writeError(w, r, maskservice.FieldErrorf("role", "request body: role %s: want %s", echo(req.Role), maskservice.RoleList()))
		return
	}
	// Guesses at one account from many addresses (rotating sources, a botnet on the plant
	// network) meet this bucket; the panel's has its own, so the hotspot cannot empty it.
	if ok, retry, first := s.accountLimiter.take(origin.String() + "\x00" + strings.ToLower(req.Username)); !ok {
		if first {
			s.audit(r, maskservice.AuditEntry{Action: maskservice.AuditLoginFailed, Username: req.Username,
				Role: auditRole(req.Role), Details: "rate limited: account"})
		}
		s.refuseRate(w, r, retry, "too many sign-in attempts for this account")
		return
	}
	// The service records the attempt in the audit log: the login, the failure, the lockout.
	res, err := s.opts.Accounts.Login(r.Context(), maskservice.LoginRequest{
		Username: req.Username, Password: req.Password, PIN: req.PIN, Role: role, Origin: origin, Remote: r.RemoteAddr,
		Source: clientIP(r.RemoteAddr),
	})
	s.countLogin(role, err)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.answerTokens(w, r, res, "")
}

// refuseRate answers 429 with the Retry-After that retry asks for.
func (s *Server) refuseRate(w http.ResponseWriter, r *http.Request, retry time.Duration, what string) {
	secs := int(math.Ceil(retry.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, maskservice.Errorf(maskservice.ELIMIT, "%s; try again in %d s", what, secs))
}

// registerLoginMetrics registers login_attempts_total.
func (s *Server) registerLoginMetrics() error {
	s.loginAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "login_attempts_total", Help: "Sign-in attempts by the role asked for and the outcome (success, failure, locked).",
	}, []string{"role", "status"})
	if err := s.opts.Registry.Register(s.loginAttempts); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}

// countLogin counts a sign-in attempt as role by the error Login answered: success,
// failure, or locked (refused for a lock, or the failure that locked). An error that is no
// verdict on the credentials (the store failed) is not counted.
func (s *Server) countLogin(role maskservice.Role, err error) {
	label := string(role)
	if !role.Valid() {
		label = "unknown"
	}
	var status string
	switch {
	case err == nil:
		status = "success"
	case maskservice.ErrorCode(err) == maskservice.ELOCKED, errors.Is(err, maskservice.ErrLockedNow):
		status = "locked"
	case maskservice.ErrorCode(err) == maskservice.EUNAUTHORIZED:
		status = "failure"
	default:
		return
	}
	s.loginAttempts.WithLabelValues(label, status).Inc()
}

// POST /api/auth/refresh, with the refresh token in the body or in its cookie. The cookie
// comes with any request the browser makes, so then the CSRF header must come too.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	empty, err := decodeBody(w, r, &req, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	token := req.RefreshToken
	switch c, cerr := r.Cookie(cookieRefresh); {
	case !empty && token == "":
		s.writeError(w, r, maskservice.FieldErrorf("refresh_token", "request body: refresh_token is required"))
		return
	case !empty:
	case cerr != nil || c.Value == "":
		s.unauthorized(w, r, maskservice.Errorf(maskservice.EUNAUTHORIZED,
			"no refresh token: send {\"refresh_token\": ...} or the %s cookie", cookieRefresh))
		return
	case !csrfOK(r):
		s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN, "missing or wrong CSRF token"))
		return
	case !s.sameSiteWrite(r):
		s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN, "a page of another origin (%s) may not refresh this session", echo(r.Header.Get("Origin"))))
		return
	default:
		token = c.Value
	}
	res, err := s.opts.Accounts.Refresh(r.Context(), token, s.originOf(r))
	if err != nil {
		if maskservice.ErrorCode(err) == maskservice.EUNAUTHORIZED {
			s.clearCookies(w, r) // the session is over: the browser may as well forget it
		}
		s.writeError(w, r, err)
		return
	}
	// The page may hold the CSRF token it read before; keep it for the session's life.
	csrf := ""
	if c, err := r.Cookie(cookieCSRF); err == nil && validCSRF(c.Value) {
		csrf = c.Value
	}
	s.answerTokens(w, r, res, csrf)
}

// POST /api/auth/logout ends the session: its access tokens stop working on their next
// request, and the accounts service records the logout and tells the hub to close its
// WebSockets.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p := PrincipalFrom(r.Context())
	if err := s.opts.Accounts.Logout(r.Context(), p.actor(r), p.SessionID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearCookies(w, r)
	// The specification's answer; a client written to it shows the message.
	s.writeJSON(w, r, http.StatusOK, map[string]string{"message": "Logged out successfully"})
}

// GET /api/auth/me
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := PrincipalFrom(r.Context())
	info, _ := p.Role.Info()
	s.writeJSON(w, r, http.StatusOK, meAnswer{
		Username: p.Username, Role: p.Role, Permissions: p.Role.EffectivePermissions(), Color: info.Color,
		SessionTimeout: int64(info.IdleTimeout / time.Second), SessionID: p.SessionID, TokenExpires: timestamp(p.TokenExpires),
	})
}

// answerTokens sets the session's cookies and answers its tokens; csrf is the CSRF token to
// keep, or "" for a new one.
func (s *Server) answerTokens(w http.ResponseWriter, r *http.Request, res *maskservice.LoginResult, csrf string) {
	now := s.now()
	role := res.Session.Role
	info, _ := role.Info()
	// The refresh token lasts as long as its session may.
	life := min(res.Session.Expires.Sub(now), maskservice.MaxSessionAge)
	if csrf == "" {
		csrf = newCSRF()
	}
	s.setCookie(w, r, cookieAccess, res.Access, "/", auth.AccessTTL, true)
	s.setCookie(w, r, cookieRefresh, res.Refresh, "/api/auth", life, true)
	// Not HttpOnly: the page reads it to echo it in the CSRF header.
	s.setCookie(w, r, cookieCSRF, csrf, "/", life, false)
	s.writeJSON(w, r, http.StatusOK, tokenAnswer{
		AccessToken: res.Access, RefreshToken: res.Refresh, TokenType: "bearer",
		ExpiresIn: max(0, int64(res.AccessExpires.Sub(now).Round(time.Second)/time.Second)),
		Username:  res.Session.Username, Role: role, Permissions: role.EffectivePermissions(), Color: info.Color,
		SessionTimeout: int64(info.IdleTimeout / time.Second), MustChangePassword: res.User.MustChangePassword,
	})
}

// clearCookies tells the browser to drop the session's cookies.
func (s *Server) clearCookies(w http.ResponseWriter, r *http.Request) {
	s.setCookie(w, r, cookieAccess, "", "/", -1, true)
	s.setCookie(w, r, cookieRefresh, "", "/api/auth", -1, true)
	s.setCookie(w, r, cookieCSRF, "", "/", -1, false)
}

// setCookie sets a SameSite=Strict cookie that lasts age (a negative age deletes it).
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, age time.Duration, httpOnly bool) {
	maxAge := -1
	if age >= 0 {
		maxAge = max(1, int(age.Round(time.Second)/time.Second))
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: httpOnly,
		Secure: s.opts.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// csrfBytes is the size of a CSRF token before encoding.
const csrfBytes = 32

func newCSRF() string {
	b := make([]byte, csrfBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// validCSRF reports whether v has the shape of a token newCSRF makes.
func validCSRF(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == csrfBytes
}

// decodeBody decodes the JSON request body into v strictly: at most maxBody bytes, declared
// as application/json, one JSON object with no unknown fields. An empty body is an error
// unless allowEmpty, when it is reported as empty. Every error is an EINVALID that says what
// is wrong.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) (empty bool, err error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return false, maskservice.Errorf(maskservice.EINVALID, "request body: larger than %d bytes", maxBody)
	case err != nil:
		return false, maskservice.Errorf(maskservice.EINVALID, "request body: cannot read it")
	case len(bytes.TrimSpace(data)) == 0 && allowEmpty:
		return true, nil
	case len(bytes.TrimSpace(data)) == 0:
		return false, maskservice.Errorf(maskservice.EINVALID, "request body: empty; want a JSON object")
	}
	// A form post from another site cannot set this type without a CORS preflight.
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return false, maskservice.Errorf(maskservice.EINVALID, "request body: Content-Type %s, want application/json", echo(ct))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, maskservice.Errorf(maskservice.EINVALID, "request body: more than one JSON value")
	}
	return false, nil
}

// jsonError turns a decoding error into a message for the client.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return maskservice.Errorf(maskservice.EINVALID, "request body: not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ) && typ.Field == "":
		return maskservice.Errorf(maskservice.EINVALID, "request body: want a JSON object, not %s", typ.Value)
	case errors.As(err, &typ):
		return maskservice.FieldErrorf(typ.Field, "request body: %s must be a %s, not %s", typ.Field, typ.Type.Kind(), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return maskservice.Errorf(maskservice.EINVALID, "request body: the JSON ends too soon")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return maskservice.Errorf(maskservice.EINVALID, "request body: unknown field %s", clip(strings.TrimPrefix(err.Error(), "json: unknown field ")))
	}
	return maskservice.Errorf(maskservice.EINVALID, "request body: %s", clip(err.Error()))
}
