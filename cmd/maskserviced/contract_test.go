package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The contract of the specification (SPECIFICATION.md, the FastAPI backend the daemon stands
// in for) as a client written to it sees it: the endpoints of its "Key API Endpoints
// Summary" table and of its routes, and the fields of its models (TokenResponse, the JWT
// payload, SensorReading, Alert, User, the device status dict, HTTPException's errors),
// checked field by field against the real answers of the whole daemon. Fields of our own
// may stand beside the specification's; none of the specification's may go missing or
// change its JSON type.

// keyEndpoints is the specification's "Key API Endpoints Summary" table, row by row.
var keyEndpoints = []struct{ method, path, auth string }{
	{"POST", "/api/auth/login", "No"},
	{"POST", "/api/auth/refresh", "Refresh Token"},
	{"GET", "/api/sensors", "Yes"},
	{"GET", "/api/sensors/history", "Yes"},
	{"GET", "/api/alerts", "Yes"},
	{"GET", "/api/device/status", "Yes"},
	{"WebSocket", "/api/ws/sensors", "Token"},
}

// specPaths are the paths the specification defines, the key table's and those of its route
// code besides (logout, one sensor's history); the OpenAPI document must have each. A
// parameter's name does not matter to a client: {sensor_id} is our {id}.
var specPaths = []string{
	"/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/api/sensors",
	"/api/sensors/{sensor_id}/history", "/api/sensors/history", "/api/alerts",
	"/api/device/status", "/api/ws/sensors",
}

// specTitle is the title the specification's FastAPI app gives its OpenAPI document.
const specTitle = "MASKSERVICE C20 1001 Backend API"

// specField is one field a specification client reads: where it is in the answer and its JSON
// type.
//
// A path is dotted keys; "key[]" is each item of the array at key ("[]" alone: each item of
// an array answer) and "*" each value of an object, so "alerts[].id" is the id of every
// alert. An array or object walked this way must not be empty, or nothing would be checked.
//
// A type is "string", "number", "integer" (a number without a fraction), "boolean",
// "array", "object" or "datetime" (a string time.Parse(time.RFC3339) accepts), or several
// joined by "|", such as "number|null".
type specField struct{ path, typ string }

// specRow is one row of the contract: a request, the status a specification client is
// promised, and the fields of the answer.
type specRow struct {
	what   string // what the client does: the subtest's name
	method string
	path   string // with the placeholders of contractRun.expand
	as     string // whose access token is sent ("" none): a name a sign-in row kept
	body   string // the JSON request body, with placeholders
	status int
	ctype  string // the media type of the answer; "" means application/json
	fields []specField
	// same are pairs of fields that must hold the same value: the specification's name
	// and ours for one fact.
	same [][2]string
	// keep, on a sign-in or refresh row, keeps the answer's tokens under this name for the
	// rows that come after (as).
	keep string
	// check is what the types alone do not say.
	check func(t *testing.T, k *contractRun, a *specAnswer)
}

// under returns fs with each path under p ("alerts[]" gives "alerts[].id").
func under(p string, fs []specField) []specField {
	out := make([]specField, len(fs))
	for i, f := range fs {
		out[i] = specField{joinPath(p, f.path), f.typ}
	}
	return out
}

// underPairs is under for the pairs of specRow.same.
func underPairs(p string, ps [][2]string) [][2]string {
	out := make([][2]string, len(ps))
	for i, pr := range ps {
		out[i] = [2]string{joinPath(p, pr[0]), joinPath(p, pr[1])}
	}
	return out
}

// joinPath is path under p, a dotted path.
func joinPath(p, path string) string {
	if p == "" {
		return path
	}
	return p + "." + path
}

// The models of the specification, as field lists.
var (
	// tokenFields is TokenResponse, the answer of a sign-in and of a refresh.
	tokenFields = []specField{{"access_token", "string"}, {"refresh_token", "string"}, {"token_type", "string"}, {"role", "string"}}
	// claimFields is the payload of the access token, as JWTManager.create_access_token
	// makes it.
	claimFields = []specField{{"sub", "string"}, {"role", "string"}, {"permissions", "array"}, {"exp", "number"}, {"iat", "number"}, {"type", "string"}}
	// errorFields is HTTPException's {"detail": message} with our {"error": {code, message}}
	// beside it. Every error answer has them.
	errorFields = []specField{{"detail", "string"}, {"error", "object"}, {"error.code", "string"}, {"error.message", "string"}}
	// readingFields is SensorReading. The value is null when a read failed.
	readingFields = []specField{{"sensor_id", "string"}, {"value", "number|null"}, {"unit", "string"}, {"status", "string"}, {"timestamp", "datetime"}, {"device_id", "string"}}
	// pointFields is one point of a history answer.
	pointFields = []specField{{"sensor_id", "string"}, {"value", "number|null"}, {"timestamp", "datetime"}, {"device_id", "string"}}
	// historyFields is the answer of one sensor's history, without its points.
	historyFields = []specField{{"sensor_id", "string"}, {"unit", "string"}, {"points", "array"}, {"start_time", "datetime"}, {"end_time", "datetime"}}
	// alertFields is the specification's Alert, then the names of our own that clients of
	// the daemon already read.
	alertFields = []specField{
		{"id", "integer"}, {"sensor_id", "string"}, {"alert_type", "string"}, {"message", "string"},
		{"value", "number|null"}, {"threshold", "number|null"}, {"acknowledged", "boolean"},
		{"acknowledged_by", "string|null"}, {"created_at", "datetime"}, {"resolved_at", "datetime|null"},
		{"type", "string"}, {"state", "string"}, {"opened_at", "datetime"}, {"cleared_at", "datetime|null"},
		{"first_value", "number|null"}, {"first_threshold", "number|null"},
	}
	// alertSame are the specification's names of an alert beside ours for the same fact.
	alertSame = [][2]string{{"alert_type", "type"}, {"created_at", "opened_at"}, {"resolved_at", "cleared_at"}}
	// userFields is the specification's User, never its password hash.
	userFields = []specField{
		{"username", "string"}, {"role", "string"}, {"is_active", "boolean"}, {"created_at", "datetime"},
		{"last_login", "datetime|null"}, {"failed_login_attempts", "integer"}, {"locked_until", "datetime|null"},
	}
	// deviceFields is the dict of DeviceService.get_device_status.
	deviceFields = []specField{
		{"status", "string"}, {"device_id", "string"}, {"last_heartbeat", "datetime|null"},
		{"network_latency", "number"}, {"data_quality", "number"}, {"uptime", "number"}, {"memory_usage", "number|null"},
	}
	// specFields is the part of the OpenAPI document a client generator reads first.
	specFields = []specField{{"openapi", "string"}, {"info.title", "string"}, {"paths", "object"}}
)

// naiveStart and naiveEnd are times as Python's datetime.utcnow().isoformat() spells them,
// without a zone (and with microseconds when they are not zero); they mean UTC.
const (
	naiveStart      = "2026-12-01T10:00:00"
	naiveStartMicro = "2026-12-01T10:00:00.123456"
	naiveEnd        = "2026-12-01T11:00:00"
)

// loginBody is the body of a sign-in.
func loginBody(user, password, role string) string {
	return fmt.Sprintf(`{"username":%q,"password":%q,"role":%q}`, user, password, role)
}

// contract is the table the test walks, in order: the sign-ins keep the sessions the later
// rows use, the acknowledgement changes what the next alert list says, and the logout and
// the lockout come last. The placeholders are contractRun.expand's.
//
// Sign-ins count against the daemon's limit per client (10 at once): the fixture's one and
// these eight are nine.
var contract = []specRow{
	// Sign-in: TokenResponse, with the role asked for, and an access token that is a JWT.
	{what: "sign in as OPERATOR", method: "POST", path: "/api/auth/login", body: loginBody("operator1", "password123", "OPERATOR"),
		status: 200, fields: tokenFields, keep: "operator", check: checkTokens("operator1", "OPERATOR", "")},
	{what: "sign in as ADMIN", method: "POST", path: "/api/auth/login", body: loginBody("admin1", "password123", "ADMIN"),
		status: 200, fields: tokenFields, keep: "admin", check: checkTokens("admin1", "ADMIN", "")},
	{what: "sign in as SUPERUSER", method: "POST", path: "/api/auth/login", body: loginBody("super1", "password123", "SUPERUSER"),
		status: 200, fields: tokenFields, keep: "super", check: checkTokens("super1", "SUPERUSER", "")},
	{what: "sign in as SERWISANT", method: "POST", path: "/api/auth/login", body: loginBody("serwis1", "password123", "SERWISANT"),
		status: 200, fields: tokenFields, keep: "serwis", check: checkTokens("serwis1", "SERWISANT", "")},
	{what: "sign in with a wrong password", method: "POST", path: "/api/auth/login", body: loginBody("admin1", "wrong-password", "ADMIN"),
		status: 401},
	{what: "refresh", method: "POST", path: "/api/auth/refresh", body: `{"refresh_token":"{refresh:operator}"}`,
		status: 200, fields: tokenFields, keep: "operator", check: checkTokens("operator1", "OPERATOR", "operator")},
	{what: "refresh with a token that is none", method: "POST", path: "/api/auth/refresh", body: `{"refresh_token":"not-a-refresh-token"}`,
		status: 401},

	// Errors: HTTPException's detail, on each status a client handles.
	{what: "no token", method: "GET", path: "/api/sensors", status: 401},
	{what: "operator lists the users", method: "GET", path: "/api/users", as: "operator", status: 403},
	{what: "history of an unknown sensor", method: "GET", path: "/api/sensors/NOPE/history", as: "operator", status: 404},
	{what: "a path that does not exist", method: "GET", path: "/api/nope", as: "operator", status: 404},
	{what: "a method the path does not serve", method: "DELETE", path: "/api/alerts", as: "operator", status: 405},
	{what: "unparseable start_time", method: "GET", path: "/api/sensors/P1/history?start_time=garbage", as: "operator",
		status: 400, check: checkDetailNames("start_time")},
	{what: "unparseable end_time", method: "GET", path: "/api/sensors/P1/history?end_time=garbage", as: "operator",
		status: 400, check: checkDetailNames("end_time")},

	// Sensors: a list of SensorReading, the current round, history.
	{what: "recent readings", method: "GET", path: "/api/sensors", as: "operator", status: 200,
		fields: under("[]", readingFields), check: checkReadingList(0)},
	{what: "recent readings, limit 5", method: "GET", path: "/api/sensors?limit=5", as: "operator", status: 200,
		fields: under("[]", readingFields), check: checkReadingList(5)},
	{what: "current round", method: "GET", path: "/api/sensors/current", as: "operator", status: 200,
		fields: append([]specField{{"seq", "integer"}, {"timestamp", "datetime"}, {"order", "array"}, {"sensors", "object"}},
			under("sensors.*", readingFields)...), check: checkCurrentRound},
	{what: "history of P1", method: "GET", path: "/api/sensors/P1/history?start_time={from}&end_time={to}", as: "operator", status: 200,
		fields: append(slices.Clone(historyFields), under("points[]", pointFields)...), check: checkHistoryOf("P1", "", "")},
	{what: "history of P1 between naive times", method: "GET", path: "/api/sensors/P1/history?start_time=" + naiveStart + "&end_time=" + naiveEnd,
		as: "operator", status: 200, fields: historyFields, check: checkHistoryOf("P1", naiveStart, naiveEnd)},
	{what: "history of P1 from a naive time with microseconds", method: "GET", path: "/api/sensors/P1/history?start_time=" + naiveStartMicro + "&end_time=" + naiveEnd,
		as: "operator", status: 200, fields: historyFields, check: checkHistoryOf("P1", naiveStartMicro, naiveEnd)},
	{what: "history of every sensor", method: "GET", path: "/api/sensors/history", as: "operator", status: 200,
		fields: append(under("[]", historyFields), under("[].points[]", pointFields)...), check: checkEveryHistory},
	{what: "history of P1 by sensor_id", method: "GET", path: "/api/sensors/history?sensor_id=P1", as: "operator", status: 200,
		fields: append(slices.Clone(historyFields), under("points[]", pointFields)...), check: checkHistoryOf("P1", "", "")},

	// Alerts: the list, an acknowledgement, the list after it.
	{what: "alerts", method: "GET", path: "/api/alerts", as: "operator", status: 200,
		fields: append([]specField{{"alerts", "array"}, {"next_before_id", "integer|null"}}, under("alerts[]", alertFields)...),
		same:   underPairs("alerts[]", alertSame), check: checkAlertList},
	{what: "acknowledge the P1 alert", method: "POST", path: "/api/alerts/{p1}/ack", as: "operator", status: 200,
		fields: alertFields, same: alertSame, check: checkAckedAlert},
	{what: "alerts after the acknowledgement", method: "GET", path: "/api/alerts", as: "operator", status: 200,
		fields: under("alerts[]", alertFields), same: underPairs("alerts[]", alertSame), check: checkAlertListAcked},

	// The device status dict.
	{what: "device status", method: "GET", path: "/api/device/status", as: "operator", status: 200,
		fields: deviceFields, check: checkDeviceStatus},

	// The OpenAPI document where FastAPI serves it and where the app's settings put it, and
	// the two documentation pages.
	{what: "OpenAPI document", method: "GET", path: "/api/openapi.json", status: 200, fields: specFields, check: checkOpenAPIDocument},
	{what: "OpenAPI document at FastAPI's default path", method: "GET", path: "/openapi.json", status: 200, fields: specFields, check: checkOpenAPIDocument},
	{what: "Swagger UI", method: "GET", path: "/api/docs", status: 200, ctype: "text/html"},
	{what: "ReDoc", method: "GET", path: "/api/redoc", status: 200, ctype: "text/html"},

	// Logout: the message, then the token is refused.
	{what: "sign out", method: "POST", path: "/api/auth/logout", as: "serwis", status: 200,
		fields: []specField{{"message", "string"}}, check: checkLoggedOut},
	{what: "the token after sign-out", method: "GET", path: "/api/sensors", as: "serwis", status: 401},

	// Brute-force protection: three wrong passwords lock the account, and the user list
	// says until when.
	{what: "wrong password 1 of 3", method: "POST", path: "/api/auth/login", body: loginBody("operator1", "wrong-password", "OPERATOR"), status: 401},
	{what: "wrong password 2 of 3", method: "POST", path: "/api/auth/login", body: loginBody("operator1", "wrong-password", "OPERATOR"), status: 401},
	{what: "wrong password 3 of 3", method: "POST", path: "/api/auth/login", body: loginBody("operator1", "wrong-password", "OPERATOR"), status: 401},
	{what: "users after the lockout", method: "GET", path: "/api/users", as: "admin", status: 200,
		fields: append([]specField{{"users", "array"}}, under("users[]", userFields)...), check: checkLockedOut("operator1")},
}

// contractConfig puts the three sensors of the specification on the simulator at 10 Hz and
// scripts two alerts: P1 goes to its warning band at 0.25 s and on to its critical band at
// 1.3 s, where it stays (an alert that escalated from WARNING to CRITICAL); P2 goes to its
// warning band at 0.25 s and back to normal at 1.3 s (an alert that was resolved).
//
// The specification knows no panel: its "auth: Yes" means a token for every client, which
// holds beyond the LCD's panel whatever http.panel_live_view says (TestMain_PanelLiveView).
// The contract's client is on loopback, the panel, so the live view is off here.
const contractConfig = `
[http]
panel_live_view = false
[[bus]]
name = "sim"
driver = "sim"
sim_seed = 7
[[sensor]]
id = "P1"
bus = "sim"
interval = "100ms"
sim_script = [[0.0, 5.0], [0.2, 5.0], [0.25, 8.5], [1.25, 8.5], [1.3, 9.6]]
[[sensor]]
id = "P2"
bus = "sim"
interval = "100ms"
sim_script = [[0.0, 2.5], [0.2, 2.5], [0.25, 4.2], [1.25, 4.2], [1.3, 2.5]]
[[sensor]]
id = "P3"
bus = "sim"
interval = "100ms"
`

// contractRun is the daemon the contract is walked against and what the rows learnt.
type contractRun struct {
	m        *Main
	deviceID string
	order    []string  // the sensor ids in the order of /api/sensors/current
	p1, p2   uint64    // the scripted alerts
	from, to time.Time // a range that holds every reading so far
	sessions map[string]specSession
}

// specSession is what a sign-in row kept.
type specSession struct{ access, refresh string }

// TestContract walks the contract table against one daemon, then the WebSocket, then checks
// that the table covers the specification's key endpoints and that each protected one
// refuses a client without a token.
func TestContract(t *testing.T) {
	k := startContract(t)
	t.Run("REST", func(t *testing.T) {
		for _, e := range contract {
			t.Run(e.what, func(t *testing.T) { k.run(t, e) })
		}
	})
	t.Run("WebSocket", func(t *testing.T) {
		t.Run("first frame and keep-alive", func(t *testing.T) { t.Parallel(); k.wsKeepAlive(t) })
		t.Run("alert frame", func(t *testing.T) { t.Parallel(); k.wsAlertFrame(t) })
		t.Run("refused", func(t *testing.T) { t.Parallel(); k.wsRefused(t) })
	})
	t.Run("key endpoints", func(t *testing.T) {
		for _, ke := range keyEndpoints {
			covered := ke.method == "WebSocket" // not a REST row: see the WebSocket subtests
			for _, e := range contract {
				covered = covered || (e.method == ke.method && strings.Split(e.path, "?")[0] == ke.path && e.status == 200)
			}
			if !covered {
				t.Errorf("%s %s of the specification's key endpoint table has no row answering 200 in the contract", ke.method, ke.path)
			}
			if ke.auth == "Yes" {
				t.Run(ke.method+" "+ke.path+" without a token", func(t *testing.T) {
					k.run(t, specRow{method: ke.method, path: ke.path, status: 401})
				})
			}
		}
	})
}

// startContract starts the daemon on the scripted simulator and waits for both alerts to
// have happened: P1's escalated, P2's resolved.
func startContract(t *testing.T) *contractRun {
	t.Helper()
	start := time.Now()
	m := MustRunMain(t, contractConfig)
	k := &contractRun{m: m, deviceID: m.Config.DeviceID, sessions: map[string]specSession{}}
	token := signInAs(t, m.Addr().String(), "operator1", "OPERATOR")
	// Our own names, which the daemon has long had: the fixture must not depend on the
	// names under test.
	type ourAlert struct {
		ID          uint64  `json:"id"`
		Type        string  `json:"type"`
		EscalatedAt *string `json:"escalated_at"`
		ClearedAt   *string `json:"cleared_at"`
	}
	var p1, p2 struct {
		Alerts []ourAlert `json:"alerts"`
	}
	// Should the first poll come after 1.3 s, P1 would open CRITICAL at once, without an
	// escalation, and P2 would never leave normal: the wait says so by timing out.
	waitFor(t, 10*time.Second, "P1's alert to escalate to CRITICAL and P2's to be resolved", func() bool {
		getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P1", token, &p1)
		getJSON(t, baseURL(m)+"/api/alerts?sensor_id=P2", token, &p2)
		return len(p1.Alerts) == 1 && p1.Alerts[0].Type == "CRITICAL" && p1.Alerts[0].EscalatedAt != nil &&
			len(p2.Alerts) == 1 && p2.Alerts[0].ClearedAt != nil
	})
	k.p1, k.p2 = p1.Alerts[0].ID, p2.Alerts[0].ID
	var cur struct {
		Order []string `json:"order"`
	}
	getJSON(t, baseURL(m)+"/api/sensors/current", token, &cur)
	k.order = cur.Order
	k.from, k.to = start.Add(-time.Minute), time.Now().Add(time.Minute)
	return k
}

// expand fills in the placeholders: {p1} and {p2} are the alert ids, {from} and {to} a time
// range around every reading so far, {refresh:NAME} the refresh token kept under NAME.
func (k *contractRun) expand(s string) string {
	pairs := []string{
		"{p1}", strconv.FormatUint(k.p1, 10), "{p2}", strconv.FormatUint(k.p2, 10),
		"{from}", k.from.UTC().Format(time.RFC3339Nano), "{to}", k.to.UTC().Format(time.RFC3339Nano),
	}
	for name, s := range k.sessions {
		pairs = append(pairs, "{refresh:"+name+"}", s.refresh)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// specAnswer is a response as the checks see it.
type specAnswer struct {
	where   string // "GET /api/alerts": what the messages start with
	status  int
	header  http.Header
	raw     []byte
	body    any // the decoded JSON, numbers as json.Number; nil when it is not JSON
	jsonErr error
}

// errorf reports a broken promise, prefixed with the request.
func (a *specAnswer) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf("%s: %s", a.where, fmt.Sprintf(format, args...))
}

// decodeSpecJSON decodes data keeping numbers as json.Number, so that 5 and 5.0 stay apart.
func decodeSpecJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// do sends one request to the daemon.
func (k *contractRun) do(t *testing.T, method, path, token, body string) *specAnswer {
	t.Helper()
	req, err := http.NewRequest(method, baseURL(k.m)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	a := &specAnswer{where: method + " " + path, status: resp.StatusCode, header: resp.Header, raw: raw}
	a.body, a.jsonErr = decodeSpecJSON(raw)
	return a
}

// run sends the row's request and checks the answer against the row.
func (k *contractRun) run(t *testing.T, e specRow) {
	t.Helper()
	token := ""
	if e.as != "" {
		s, ok := k.sessions[e.as]
		if !ok {
			t.Fatalf("%s %s: no %s session: its sign-in row failed", e.method, e.path, e.as)
		}
		token = s.access
	}
	a := k.do(t, e.method, k.expand(e.path), token, k.expand(e.body))
	a.where = e.method + " " + e.path // the placeholders read better than their values
	if a.status != e.status {
		a.errorf(t, "status %d, want %d; body: %s", a.status, e.status, clipSpecBody(a.raw))
		return
	}
	ctype := e.ctype
	if ctype == "" {
		ctype = "application/json"
	}
	if got := a.header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
		a.errorf(t, "Content-Type %q, want %s", got, ctype)
	}
	fields := e.fields
	if e.status >= 400 {
		fields = append(slices.Clone(errorFields), fields...)
	}
	if len(fields) > 0 && a.jsonErr != nil {
		a.errorf(t, "the body is not JSON (%v): %s", a.jsonErr, clipSpecBody(a.raw))
		return
	}
	checkSpecFields(t, a, a.body, fields)
	checkSpecSame(t, a, a.body, e.same)
	if e.status >= 400 {
		checkErrorBody(t, a)
	}
	if e.check != nil {
		e.check(t, k, a)
	}
	if e.keep != "" {
		s := specSession{access: jsonString(jsonAt(a.body, "access_token")), refresh: jsonString(jsonAt(a.body, "refresh_token"))}
		if s.access != "" {
			k.sessions[e.keep] = s
		}
	}
}

// clipSpecBody is the start of a body for a message, on one line.
func clipSpecBody(b []byte) string {
	const n = 200
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// jsonNode is one value a field path reached, under its concrete path ("alerts[2].id").
type jsonNode struct {
	path    string
	v       any
	present bool
}

// resolvePath walks path through v. It returns the values reached, and the problems of shape
// that kept it from reaching some (an array where an object should be, an empty list).
func resolvePath(v any, path string) (nodes []jsonNode, problems []string) {
	type cursor struct {
		path string
		v    any
	}
	cur := []cursor{{"", v}}
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		last := i == len(segs)-1
		key, each := strings.CutSuffix(seg, "[]")
		var next []cursor
		for _, c := range cur {
			if key == "*" {
				obj, ok := c.v.(map[string]any)
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("%s: want object, got %s", pathName(c.path), jsonKind(c.v, true)))
				case len(obj) == 0:
					problems = append(problems, fmt.Sprintf("%s: empty object, so its values cannot be checked", pathName(c.path)))
				}
				keys := make([]string, 0, len(obj))
				for k := range obj {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					if last {
						nodes = append(nodes, jsonNode{joinPath(c.path, k), obj[k], true})
					} else {
						next = append(next, cursor{joinPath(c.path, k), obj[k]})
					}
				}
				continue
			}
			p, val, present := c.path, c.v, true
			if key != "" {
				obj, ok := c.v.(map[string]any)
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: want object, got %s", pathName(c.path), jsonKind(c.v, true)))
					continue
				}
				p = joinPath(c.path, key)
				val, present = obj[key]
			}
			if !each {
				if last {
					nodes = append(nodes, jsonNode{p, val, present})
				} else if !present {
					problems = append(problems, fmt.Sprintf("%s: want object, got missing", p))
				} else {
					next = append(next, cursor{p, val})
				}
				continue
			}
			arr, ok := val.([]any)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: want array, got %s", pathName(p), jsonKind(val, present)))
			case len(arr) == 0:
				problems = append(problems, fmt.Sprintf("%s: empty array, so the fields of its items cannot be checked", pathName(p)))
			}
			for j, item := range arr {
				ip := p + "[" + strconv.Itoa(j) + "]"
				if last {
					nodes = append(nodes, jsonNode{ip, item, true})
				} else {
					next = append(next, cursor{ip, item})
				}
			}
		}
		cur = next
	}
	return nodes, problems
}

// pathName is a concrete path for a message; the empty path is the whole body.
func pathName(p string) string {
	if p == "" {
		return "the body"
	}
	return p
}

// jsonAt returns the value at a plain dotted path, nil when it is missing.
func jsonAt(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

// jsonHas reports whether the plain dotted path is present in v (perhaps as null).
func jsonHas(v any, path string) bool {
	parent, last := v, path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, last = jsonAt(v, path[:i]), path[i+1:]
	}
	obj, ok := parent.(map[string]any)
	if !ok {
		return false
	}
	_, ok = obj[last]
	return ok
}

// jsonString is v if it is a string, else "".
func jsonString(v any) string {
	s, _ := v.(string)
	return s
}

// jsonNumber is v if it is a number.
func jsonNumber(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// jsonTime is v if it is a string time.Parse(time.RFC3339) accepts.
func jsonTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// jsonKind names the JSON type of v for a message.
func jsonKind(v any, present bool) string {
	switch v := v.(type) {
	case nil:
		if !present {
			return "missing"
		}
		return "null"
	case string:
		return "string"
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return "integer"
		}
		return "number " + string(v)
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// isJSONType reports whether v is of the field type typ.
func isJSONType(typ string, v any, present bool) bool {
	if !present {
		return false
	}
	for alt := range strings.SplitSeq(typ, "|") {
		var ok bool
		switch alt {
		case "null":
			ok = v == nil
		case "string":
			_, ok = v.(string)
		case "number":
			_, ok = v.(json.Number)
		case "integer":
			n, isNum := v.(json.Number)
			_, err := strconv.ParseInt(string(n), 10, 64)
			ok = isNum && err == nil
		case "boolean":
			_, ok = v.(bool)
		case "array":
			_, ok = v.([]any)
		case "object":
			_, ok = v.(map[string]any)
		case "datetime":
			_, ok = jsonTime(v)
		default:
			panic("contract: unknown field type " + alt)
		}
		if ok {
			return true
		}
	}
	return false
}

// checkSpecFields checks that every field of fs is present in v with its type.
func checkSpecFields(t *testing.T, a *specAnswer, v any, fs []specField) {
	t.Helper()
	seen := map[string]bool{} // one message per problem of shape, not one per field under it
	for _, f := range fs {
		nodes, problems := resolvePath(v, f.path)
		for _, p := range problems {
			if !seen[p] {
				seen[p] = true
				a.errorf(t, "%s", p)
			}
		}
		// The items of a list that fail alike are one message: the first, and how many.
		var kinds []string
		first, count := map[string]jsonNode{}, map[string]int{}
		for _, n := range nodes {
			if isJSONType(f.typ, n.v, n.present) {
				continue
			}
			k := jsonKind(n.v, n.present)
			if count[k] == 0 {
				kinds, first[k] = append(kinds, k), n
			}
			count[k]++
		}
		for _, k := range kinds {
			n, got := first[k], k
			if s, ok := n.v.(string); ok && strings.Contains(f.typ, "datetime") {
				got = fmt.Sprintf("string %q, which time.Parse(time.RFC3339) refuses", s)
			}
			more := ""
			if count[k] > 1 {
				more = fmt.Sprintf(" (so do %d more of the %d items)", count[k]-1, len(nodes))
			}
			a.errorf(t, "%s: want %s, got %s%s", n.path, f.typ, got, more)
		}
	}
}

// checkSpecSame checks that the two fields of each pair hold the same value wherever both are
// present (a missing one is checkSpecFields' to report).
func checkSpecSame(t *testing.T, a *specAnswer, v any, pairs [][2]string) {
	t.Helper()
	for _, p := range pairs {
		left, _ := resolvePath(v, p[0])
		right, _ := resolvePath(v, p[1])
		if len(left) != len(right) {
			continue
		}
		for i := range left {
			l, r := left[i], right[i]
			if l.present && r.present && !jsonSame(l.v, r.v) {
				a.errorf(t, "%s is %s but %s is %s: want the same", l.path, jsonText(l.v), r.path, jsonText(r.v))
			}
		}
	}
}

// jsonSame compares two JSON values as a client would: numbers by value, times by the
// instant.
func jsonSame(x, y any) bool {
	if fx, ok := jsonNumber(x); ok {
		fy, ok := jsonNumber(y)
		return ok && fx == fy
	}
	if tx, ok := jsonTime(x); ok {
		ty, ok := jsonTime(y)
		return ok && tx.Equal(ty)
	}
	return fmt.Sprint(x) == fmt.Sprint(y) && jsonKind(x, true) == jsonKind(y, true)
}

// jsonText spells a JSON value for a message.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// checkErrorBody checks the parts of an error answer that types do not say: the detail is
// the human message, and our error.message the same.
func checkErrorBody(t *testing.T, a *specAnswer) {
	t.Helper()
	detail, ok := jsonAt(a.body, "detail").(string)
	if !ok {
		return // checkSpecFields said so
	}
	if strings.TrimSpace(detail) == "" {
		a.errorf(t, "detail is empty: a client shows it to the user")
	}
	if msg, ok := jsonAt(a.body, "error.message").(string); ok && msg != detail {
		a.errorf(t, "detail %q and error.message %q differ: want one message", detail, msg)
	}
}

// checkDetailNames checks that an error's detail names the query parameter at fault.
func checkDetailNames(param string) func(*testing.T, *contractRun, *specAnswer) {
	return func(t *testing.T, _ *contractRun, a *specAnswer) {
		if d := jsonString(jsonAt(a.body, "detail")); d != "" && !strings.Contains(d, param) {
			a.errorf(t, "detail %q does not name %s", d, param)
		}
	}
}

// checkTokens checks a TokenResponse of user signed in as role: token_type bearer, the role
// asked for, and an access token whose payload has the claims of the specification's
// JWTManager. With prev, the row is a refresh of the session kept under that name, whose
// access token the new one must not be.
func checkTokens(user, role, prev string) func(*testing.T, *contractRun, *specAnswer) {
	return func(t *testing.T, k *contractRun, a *specAnswer) {
		t.Helper()
		if tt := jsonString(jsonAt(a.body, "token_type")); !strings.EqualFold(tt, "bearer") {
			a.errorf(t, "token_type %q, want bearer", tt)
		}
		if got := jsonString(jsonAt(a.body, "role")); got != role {
			a.errorf(t, "role %q, want %q, the role asked for", got, role)
		}
		access := jsonString(jsonAt(a.body, "access_token"))
		if prev != "" && access == k.sessions[prev].access {
			a.errorf(t, "access_token is the one the session had: want a new one")
		}
		parts := strings.Split(access, ".")
		if len(parts) != 3 {
			a.errorf(t, "access_token %q is not a JWT (three base64url parts)", access)
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
		if err != nil {
			a.errorf(t, "access_token payload: not base64url: %v", err)
			return
		}
		claims, err := decodeSpecJSON(raw)
		if err != nil {
			a.errorf(t, "access_token payload: not JSON: %v", err)
			return
		}
		ca := &specAnswer{where: a.where + ": access_token payload"}
		checkSpecFields(t, ca, claims, claimFields)
		if got := jsonString(jsonAt(claims, "sub")); got != user {
			ca.errorf(t, "sub %q, want %q", got, user)
		}
		if got := jsonString(jsonAt(claims, "role")); got != role {
			ca.errorf(t, "role %q, want %q", got, role)
		}
		if got := jsonString(jsonAt(claims, "type")); got != "access" {
			ca.errorf(t, "type %q, want access", got)
		}
		exp, _ := jsonNumber(jsonAt(claims, "exp"))
		iat, _ := jsonNumber(jsonAt(claims, "iat"))
		if exp <= iat {
			ca.errorf(t, "exp %v is not after iat %v", exp, iat)
		}
	}
}

// checkReadingList checks a list of SensorReading: the device's id in each, at most limit items
// (0: no limit), and X-Total-Count the length.
func checkReadingList(limit int) func(*testing.T, *contractRun, *specAnswer) {
	return func(t *testing.T, k *contractRun, a *specAnswer) {
		t.Helper()
		items, ok := a.body.([]any)
		if !ok {
			return // checkSpecFields said so
		}
		if limit > 0 && len(items) > limit {
			a.errorf(t, "%d readings, want at most %d", len(items), limit)
		}
		k.checkDeviceIDs(t, a, "[].device_id")
		tc := a.header.Get("X-Total-Count")
		if n, err := strconv.Atoi(tc); err != nil || n != len(items) {
			a.errorf(t, "header X-Total-Count %q, want the integer %d, the number of readings", tc, len(items))
		}
	}
}

// checkDeviceIDs checks that every device_id at path is the device status's.
func (k *contractRun) checkDeviceIDs(t *testing.T, a *specAnswer, path string) {
	t.Helper()
	nodes, _ := resolvePath(a.body, path)
	for _, n := range nodes {
		if s, ok := n.v.(string); ok && s != k.deviceID {
			a.errorf(t, "%s %q, want %q, the device_id of /api/device/status", n.path, s, k.deviceID)
		}
	}
}

// checkCurrentRound checks our shape of the current round: its order names each sensor of it,
// each reading under its own id, with the device's id.
func checkCurrentRound(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	sensors, _ := jsonAt(a.body, "sensors").(map[string]any)
	order, _ := jsonAt(a.body, "order").([]any)
	var ids []string
	for _, id := range order {
		ids = append(ids, jsonString(id))
	}
	keys := make([]string, 0, len(sensors))
	for id, r := range sensors {
		keys = append(keys, id)
		if got := jsonString(jsonAt(r, "sensor_id")); got != id {
			a.errorf(t, "sensors.%s.sensor_id %q, want %q", id, got, id)
		}
	}
	sort.Strings(keys)
	sorted := slices.Sorted(slices.Values(ids))
	if !slices.Equal(sorted, keys) {
		a.errorf(t, "order %v does not list the sensors %v", ids, keys)
	}
	k.checkDeviceIDs(t, a, "sensors.*.device_id")
}

// checkHistoryOf checks a history answer of sensor; with start and end (naive times, meant as
// UTC) its start_time and end_time are those instants, to the millisecond the answer spells.
func checkHistoryOf(sensor, start, end string) func(*testing.T, *contractRun, *specAnswer) {
	return func(t *testing.T, k *contractRun, a *specAnswer) {
		t.Helper()
		checkHistory(t, k, a, sensor)
		for _, p := range []struct{ name, naive string }{{"start_time", start}, {"end_time", end}} {
			if p.naive == "" {
				continue
			}
			want, err := time.Parse("2006-01-02T15:04:05.999999", p.naive)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := jsonTime(jsonAt(a.body, p.name)); ok && (got.Before(want.Add(-time.Millisecond)) || got.After(want.Add(time.Millisecond))) {
				a.errorf(t, "%s %s, want %s: a time without a zone means UTC", p.name, got.UTC().Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
		}
	}
}

// checkHistory checks that a history answer and its points are of sensor, on this device.
func checkHistory(t *testing.T, k *contractRun, a *specAnswer, sensor string) {
	t.Helper()
	if got := jsonString(jsonAt(a.body, "sensor_id")); got != sensor {
		a.errorf(t, "sensor_id %q, want %q", got, sensor)
	}
	pts, _ := resolvePath(a.body, "points[].sensor_id")
	for _, n := range pts {
		if s, ok := n.v.(string); ok && s != sensor {
			a.errorf(t, "%s %q, want %q", n.path, s, sensor)
		}
	}
	k.checkDeviceIDs(t, a, "points[].device_id")
}

// checkEveryHistory checks the history of every sensor: one object per configured sensor, in
// the order of /api/sensors/current.
func checkEveryHistory(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	items, ok := a.body.([]any)
	if !ok {
		return // checkSpecFields said so
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, jsonString(jsonAt(it, "sensor_id")))
	}
	if !slices.Equal(ids, k.order) {
		a.errorf(t, "histories of %v, want one per configured sensor, %v", ids, k.order)
	}
	for i, it := range items {
		pts, _ := resolvePath(it, "points[]")
		for _, n := range pts {
			if s := jsonString(jsonAt(n.v, "sensor_id")); s != jsonString(jsonAt(it, "sensor_id")) {
				a.errorf(t, "[%d].%s.sensor_id %q, want %q", i, n.path, s, jsonString(jsonAt(it, "sensor_id")))
			}
		}
	}
	k.checkDeviceIDs(t, a, "[].points[].device_id")
}

// specAlertByID returns the alert with id in the list, nil if it is not there.
func specAlertByID(a *specAnswer, id uint64) any {
	items, _ := jsonAt(a.body, "alerts").([]any)
	for _, it := range items {
		if n, ok := jsonAt(it, "id").(json.Number); ok && n.String() == strconv.FormatUint(id, 10) {
			return it
		}
	}
	return nil
}

// checkAckConsistent checks that acknowledged_by is null exactly while acknowledged is false.
func checkAckConsistent(t *testing.T, a *specAnswer, path string, alert any) {
	t.Helper()
	acked, ok := jsonAt(alert, "acknowledged").(bool)
	if !ok || !jsonHas(alert, "acknowledged_by") {
		return // checkSpecFields said so
	}
	by := jsonAt(alert, "acknowledged_by")
	if acked != (by != nil) {
		a.errorf(t, "%s: acknowledged %v with acknowledged_by %s: want null exactly while not acknowledged", path, acked, jsonText(by))
	}
}

// checkAlertList checks the alerts before the acknowledgement: P1's escalated one says so in
// the specification's fields, unacknowledged; P2's is resolved.
func checkAlertList(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	items, _ := jsonAt(a.body, "alerts").([]any)
	for i, it := range items {
		checkAckConsistent(t, a, fmt.Sprintf("alerts[%d]", i), it)
	}
	p1 := specAlertByID(a, k.p1)
	if p1 == nil {
		a.errorf(t, "the P1 alert %d is missing", k.p1)
	} else {
		if v, ok := jsonAt(p1, "acknowledged").(bool); ok && v {
			a.errorf(t, "P1 alert %d: acknowledged before anyone acknowledged it", k.p1)
		}
		checkEscalated(t, a, fmt.Sprintf("P1 alert %d", k.p1), p1)
	}
	p2 := specAlertByID(a, k.p2)
	if p2 == nil {
		a.errorf(t, "the P2 alert %d is missing", k.p2)
	} else if jsonHas(p2, "resolved_at") && jsonAt(p2, "resolved_at") == nil {
		a.errorf(t, "P2 alert %d: resolved_at null, but P2 is back to normal", k.p2)
	}
}

// checkEscalated checks an alert that escalated from WARNING to CRITICAL: its value and
// threshold are the escalation's, first_value and first_threshold the WARNING's first trip
// (P1 above 8 bar, its normal band's top, then above 9, its warning band's).
func checkEscalated(t *testing.T, a *specAnswer, what string, alert any) {
	t.Helper()
	if got := jsonString(jsonAt(alert, "alert_type")); jsonHas(alert, "alert_type") && got != "CRITICAL" {
		a.errorf(t, "%s: alert_type %q, want CRITICAL (it escalated)", what, got)
	}
	for _, p := range [][2]string{{"value", "escalated_value"}, {"threshold", "escalated_threshold"}} {
		if jsonHas(alert, p[0]) && !jsonSame(jsonAt(alert, p[0]), jsonAt(alert, p[1])) {
			a.errorf(t, "%s: %s %s, want %s %s: an escalated alert shows the escalation",
				what, p[0], jsonText(jsonAt(alert, p[0])), p[1], jsonText(jsonAt(alert, p[1])))
		}
	}
	if v, ok := jsonNumber(jsonAt(alert, "first_value")); jsonHas(alert, "first_value") && (!ok || v <= 8 || v > 9) {
		a.errorf(t, "%s: first_value %s, want the first trip, in P1's warning band (8, 9]", what, jsonText(jsonAt(alert, "first_value")))
	}
	if v, ok := jsonNumber(jsonAt(alert, "first_threshold")); jsonHas(alert, "first_threshold") && (!ok || v != 8) {
		a.errorf(t, "%s: first_threshold %s, want 8, the limit of the first trip", what, jsonText(jsonAt(alert, "first_threshold")))
	}
}

// checkAckedAlert checks the answer of the acknowledgement of P1's alert.
func checkAckedAlert(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	checkAckedBy(t, a, fmt.Sprintf("P1 alert %d", k.p1), a.body, "operator1")
}

// checkAlertListAcked checks that the list shows P1's alert acknowledged by the operator.
func checkAlertListAcked(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	p1 := specAlertByID(a, k.p1)
	if p1 == nil {
		a.errorf(t, "the P1 alert %d is missing", k.p1)
		return
	}
	checkAckedBy(t, a, fmt.Sprintf("P1 alert %d", k.p1), p1, "operator1")
}

// checkAckedBy checks that alert is acknowledged by user.
func checkAckedBy(t *testing.T, a *specAnswer, what string, alert any, user string) {
	t.Helper()
	if v, ok := jsonAt(alert, "acknowledged").(bool); ok && !v {
		a.errorf(t, "%s: acknowledged false after the acknowledgement", what)
	}
	if by := jsonAt(alert, "acknowledged_by"); jsonHas(alert, "acknowledged_by") && by != user {
		a.errorf(t, "%s: acknowledged_by %s, want %q", what, jsonText(by), user)
	}
}

// checkDeviceStatus checks the values of the device status dict.
func checkDeviceStatus(t *testing.T, k *contractRun, a *specAnswer) {
	t.Helper()
	if s := jsonString(jsonAt(a.body, "status")); !slices.Contains([]string{"ONLINE", "OFFLINE", "CONNECTING", "ERROR"}, s) {
		a.errorf(t, "status %q, want ONLINE, OFFLINE, CONNECTING or ERROR", s)
	}
	if id := jsonString(jsonAt(a.body, "device_id")); id != k.deviceID {
		a.errorf(t, "device_id %q, want %q, the configured one", id, k.deviceID)
	}
	if v, ok := jsonNumber(jsonAt(a.body, "data_quality")); ok && (v < 0 || v > 1) {
		a.errorf(t, "data_quality %v, want a share in [0, 1]", v)
	}
	if v, ok := jsonNumber(jsonAt(a.body, "uptime")); ok && v <= 0 {
		a.errorf(t, "uptime %v, want seconds > 0", v)
	}
	if v, ok := jsonNumber(jsonAt(a.body, "network_latency")); ok && v < 0 {
		a.errorf(t, "network_latency %v, want milliseconds >= 0", v)
	}
	mem := jsonAt(a.body, "memory_usage")
	if v, ok := jsonNumber(mem); ok && (v < 0 || v > 1) {
		a.errorf(t, "memory_usage %v, want a share in [0, 1]", v)
	}
	if runtime.GOOS == "linux" && jsonHas(a.body, "memory_usage") && mem == nil {
		a.errorf(t, "memory_usage null on Linux, where /proc/meminfo gives it")
	}
}

// checkOpenAPIDocument checks the title and that the document has every path of the
// specification, with the method it is called with.
func checkOpenAPIDocument(t *testing.T, _ *contractRun, a *specAnswer) {
	t.Helper()
	if got := jsonString(jsonAt(a.body, "info.title")); got != specTitle {
		a.errorf(t, "info.title %q, want %q", got, specTitle)
	}
	if v := jsonString(jsonAt(a.body, "openapi")); v != "" && !strings.HasPrefix(v, "3.") {
		a.errorf(t, "openapi %q, want OpenAPI 3", v)
	}
	paths, ok := jsonAt(a.body, "paths").(map[string]any)
	if !ok {
		return // checkSpecFields said so
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	documented := map[string]any{}
	for p, item := range paths {
		documented[param.ReplaceAllString(p, "{}")] = item
	}
	for _, p := range specPaths {
		if documented[param.ReplaceAllString(p, "{}")] == nil {
			a.errorf(t, "paths has no %s", p)
		}
	}
	for _, ke := range keyEndpoints {
		method := strings.ToLower(ke.method)
		if ke.method == "WebSocket" {
			method = "get" // the handshake
		}
		if item := documented[ke.path]; item != nil && jsonAt(item, method) == nil {
			a.errorf(t, "paths.%s has no %s operation", ke.path, method)
		}
	}
}

// checkLoggedOut checks the logout's message.
func checkLoggedOut(t *testing.T, _ *contractRun, a *specAnswer) {
	t.Helper()
	if m := jsonString(jsonAt(a.body, "message")); m != "Logged out successfully" {
		a.errorf(t, "message %q, want %q", m, "Logged out successfully")
	}
}

// checkLockedOut checks the user list after three wrong passwords for user: it is locked until a
// time to come.
func checkLockedOut(user string) func(*testing.T, *contractRun, *specAnswer) {
	return func(t *testing.T, _ *contractRun, a *specAnswer) {
		t.Helper()
		items, _ := jsonAt(a.body, "users").([]any)
		var u any
		for _, it := range items {
			if jsonString(jsonAt(it, "username")) == user {
				u = it
			}
		}
		if u == nil {
			a.errorf(t, "no user %s", user)
			return
		}
		if until, ok := jsonTime(jsonAt(u, "locked_until")); jsonHas(u, "locked_until") && (!ok || !until.After(time.Now())) {
			a.errorf(t, "%s: locked_until %s after 3 wrong passwords, want a time to come", user, jsonText(jsonAt(u, "locked_until")))
		}
		if n, ok := jsonNumber(jsonAt(u, "failed_login_attempts")); ok && n < 0 {
			a.errorf(t, "%s: failed_login_attempts %v, want >= 0", user, n)
		}
	}
}

// dialWS opens the sensors WebSocket with token ("" none).
func (k *contractRun) dialWS(ctx context.Context, t *testing.T, token string) *websocket.Conn {
	t.Helper()
	url := "ws://" + k.m.Addr().String() + "/api/ws/sensors"
	if token != "" {
		url += "?token=" + token
	}
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("GET /api/ws/sensors: handshake: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// session returns the kept session name, failing the test if its sign-in row failed.
func (k *contractRun) session(t *testing.T, name string) specSession {
	t.Helper()
	s, ok := k.sessions[name]
	if !ok {
		t.Fatalf("no %s session: its sign-in row failed", name)
	}
	return s
}

// wsKeepAlive checks the first frame as the specification's test reads it, then sends a
// "ping" text message every 500 ms for 3 s, as a client's keep-alive does (the
// specification's handler reads them with receive_text), and keeps getting frames.
func (k *contractRun) wsKeepAlive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := k.dialWS(ctx, t, k.session(t, "admin").access)
	where := &specAnswer{where: "GET /api/ws/sensors: first frame"}
	_, data, err := c.Read(ctx)
	if err != nil {
		where.errorf(t, "read: %v", err)
		return
	}
	first, err := decodeSpecJSON(data)
	if err != nil {
		where.errorf(t, "not JSON (%v): %s", err, clipSpecBody(data))
		return
	}
	checkSpecFields(t, where, first, []specField{{"P1", "object"}, {"P1.value", "number"}, {"P2", "object"}, {"P2.value", "number"}, {"P3", "object"}, {"P3.value", "number"}})

	// The reads go on in a goroutine of their own, so that a close shows at once.
	type read struct{ err error }
	reads := make(chan read)
	go func() {
		for {
			_, _, err := c.Read(ctx)
			select {
			case reads <- read{err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ka := &specAnswer{where: "GET /api/ws/sensors: keep-alive"}
	pings := time.NewTicker(500 * time.Millisecond)
	defer pings.Stop()
	sent, since := 0, 0 // pings sent, frames since the last one
	for sent < 6 || since == 0 {
		select {
		case <-pings.C:
			if sent == 6 {
				continue // waiting for a frame after the last ping
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
				ka.errorf(t, "send ping %d: %v", sent+1, err)
				return
			}
			sent, since = sent+1, 0
		case r := <-reads:
			if r.err != nil {
				ka.errorf(t, "the server ended the stream after the client's text message %d of 6 (\"ping\"): close status %d: %v; "+
					"a client may send text (the specification's handler reads it with receive_text) and keep getting frames",
					sent, websocket.CloseStatus(r.err), r.err)
				return
			}
			since++
		case <-ctx.Done():
			ka.errorf(t, "no frame after %d pings: %v", sent, ctx.Err())
			return
		}
	}
}

// wsAlertFrame acknowledges P2's resolved alert as the superuser and checks that the alert
// frame it causes carries the alert in the same fields as the REST answers.
func (k *contractRun) wsAlertFrame(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := k.session(t, "super")
	c := k.dialWS(ctx, t, s.access)
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("GET /api/ws/sensors: first frame: %v", err)
	}
	if a := k.do(t, "POST", "/api/alerts/"+strconv.FormatUint(k.p2, 10)+"/ack", s.access, ""); a.status != http.StatusOK {
		t.Fatalf("acknowledge P2's alert %d: %d %s", k.p2, a.status, clipSpecBody(a.raw))
	}
	where := &specAnswer{where: "GET /api/ws/sensors: alert frame"}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			where.errorf(t, "no alert frame for P2's alert %d after its acknowledgement: %v", k.p2, err)
			return
		}
		f, err := decodeSpecJSON(data)
		if err != nil {
			where.errorf(t, "not JSON (%v): %s", err, clipSpecBody(data))
			return
		}
		if jsonString(jsonAt(f, "type")) != "alert" {
			continue // a sensors frame
		}
		if id, _ := jsonAt(f, "alert.id").(json.Number); id.String() != strconv.FormatUint(k.p2, 10) {
			continue
		}
		checkSpecFields(t, where, f, under("alert", alertFields))
		checkSpecSame(t, where, f, underPairs("alert", alertSame))
		alert := jsonAt(f, "alert")
		checkAckConsistent(t, where, "alert", alert)
		checkAckedBy(t, where, fmt.Sprintf("P2 alert %d", k.p2), alert, "super1")
		if jsonHas(alert, "resolved_at") && jsonAt(alert, "resolved_at") == nil {
			where.errorf(t, "P2 alert %d: resolved_at null, but P2 is back to normal", k.p2)
		}
		return
	}
}

// wsRefused checks that a client without a valid token is closed with 4001.
func (k *contractRun) wsRefused(t *testing.T) {
	for _, tc := range []struct{ what, token string }{{"no token", ""}, {"a token that is none", "not-a-token"}} {
		t.Run(tc.what, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := k.dialWS(ctx, t, tc.token)
			_, _, err := c.Read(ctx)
			if got := websocket.CloseStatus(err); got != 4001 {
				t.Errorf("GET /api/ws/sensors with %s: close status %d (%v), want 4001", tc.what, got, err)
			}
		})
	}
}
