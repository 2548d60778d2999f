package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// memAudit is an AuditLog over a slice, with the contract of store/bolt's: sequences from
// 1, newest first in (time, seq) order, every filter. It is safe for concurrent use.
type memAudit struct {
	mu      sync.Mutex
	entries []maskservice.AuditEntry // in append order
	fail    error                    // returned by AppendAudit and ScanAudit when set
}

var _ maskservice.AuditLog = (*memAudit)(nil)

func (m *memAudit) AppendAudit(ctx context.Context, e maskservice.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.fail != nil:
		return m.fail
	case e.Action == "" || e.Time.IsZero() || len(e.Username) > maskservice.AuditMaxUsername || len(e.Source) > maskservice.AuditMaxSource:
		return maskservice.Errorf(maskservice.EINVALID, "audit entry %+v: invalid", e)
	}
	e.Seq = uint64(len(m.entries) + 1)
	e.Time = e.Time.UTC()
	e.Details = maskservice.AuditClip(e.Details, maskservice.AuditMaxDetails)
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) ScanAudit(ctx context.Context, f maskservice.AuditFilter, fn func(maskservice.AuditEntry) bool) error {
	m.mu.Lock()
	if m.fail != nil {
		m.mu.Unlock()
		return m.fail
	}
	es := slices.Clone(m.entries)
	m.mu.Unlock()
	slices.SortStableFunc(es, func(a, b maskservice.AuditEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.Seq) - int(a.Seq)
	})
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case !f.Since.IsZero() && e.Time.Before(f.Since),
			!f.Until.IsZero() && !e.Time.Before(f.Until),
			f.Username != "" && e.Username != f.Username,
			f.Action != "" && e.Action != f.Action,
			f.BeforeSeq != 0 && e.Seq >= f.BeforeSeq:
			continue
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// all returns the entries in append order.
func (m *memAudit) all() []maskservice.AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entries)
}

// since returns the entries appended after the first n.
func (m *memAudit) since(n int) []maskservice.AuditEntry { return m.all()[n:] }

// auditWant is what a recorded entry must hold; Details is matched as a substring.
type auditWant struct {
	action   maskservice.AuditAction
	username string
	role     maskservice.Role
	source   string
	details  string
}

// wantAudit checks that got are exactly the entries of want, in order, at the fixture's now.
func wantAudit(tb testing.TB, f *fixture, got []maskservice.AuditEntry, want ...auditWant) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d audit entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Action != w.action || g.Username != w.username || g.Role != w.role || g.Source != w.source ||
			!strings.Contains(g.Details, w.details) || !g.Time.Equal(f.clock.Now()) {
			tb.Errorf("entry %d: %+v\nwant %+v at %v", i, g, w, f.clock.Now())
		}
	}
}

// TestServer_AuditRecords: every recorded action leaves its entry, with who, the role and the
// client's address.
func TestServer_AuditRecords(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	const remote = "192.0.2.1" // the address of httptest.NewRequest, which do sends from
	login := func(user, password, role string, mods ...func(*http.Request)) response {
		body := fmt.Sprintf(`{"username":%q,"password":%q,"role":%q}`, user, password, role)
		return f.do(t, http.MethodPost, "/api/auth/login", append([]func(*http.Request){f.as(""), jsonBody(body)}, mods...)...)
	}
	op, admin := userOf[maskservice.RoleOperator], userOf[maskservice.RoleAdmin]
	steps := []struct {
		name   string
		do     func() response
		status int
		want   []auditWant
	}{
		{"sign-in", func() response { return login(op, testPassword, "OPERATOR") }, 200,
			[]auditWant{{maskservice.AuditLogin, op, maskservice.RoleOperator, remote, ""}}},
		{"sign-in from the LCD", func() response { return login(op, testPassword, "OPERATOR", fromAddr("127.0.0.1:50000")) }, 200,
			[]auditWant{{maskservice.AuditLogin, op, maskservice.RoleOperator, "127.0.0.1", ""}}},
		{"sign-in over IPv6", func() response { return login(op, testPassword, "OPERATOR", fromAddr("[2001:db8::7]:443")) }, 200,
			[]auditWant{{maskservice.AuditLogin, op, maskservice.RoleOperator, "2001:db8::7", ""}}},
		{"unknown user", func() response { return login("nobody", "wrong password!", "ADMIN") }, 401,
			[]auditWant{{maskservice.AuditLoginFailed, "nobody", maskservice.RoleAdmin, remote, "wrong password, unknown user"}}},
		{"wrong role", func() response { return login(op, testPassword, "ADMIN") }, 401,
			[]auditWant{{maskservice.AuditLoginFailed, op, maskservice.RoleAdmin, remote, "wrong password, unknown user"}}},
		{"long name given", func() response { return login(strings.Repeat("ą", 50), "wrong password!", "ADMIN") }, 401,
			[]auditWant{{maskservice.AuditLoginFailed, strings.Repeat("ą", 30) + "…", maskservice.RoleAdmin, remote, ""}}},
		{"bad body: no attempt", func() response { return login(admin, "", "ADMIN") }, 400, nil},
		{"failure 1 of 3", func() response { return login(admin, "wrong password!", "ADMIN") }, 401,
			[]auditWant{{maskservice.AuditLoginFailed, admin, maskservice.RoleAdmin, remote, "wrong password"}}},
		{"failure 2 of 3", func() response { return login(admin, "wrong password!", "ADMIN") }, 401,
			[]auditWant{{maskservice.AuditLoginFailed, admin, maskservice.RoleAdmin, remote, "wrong password"}}},
		{"failure 3 of 3 locks", func() response { return login(admin, "wrong password!", "ADMIN") }, 401,
			[]auditWant{
				{maskservice.AuditLoginFailed, admin, maskservice.RoleAdmin, remote, "wrong password"},
				{maskservice.AuditLockout, admin, maskservice.RoleAdmin, remote, "locked for 5 min after 3 failed sign-ins; sign-ins from addresses other than the LCD"},
			}},
		{"locked", func() response { return login(admin, testPassword, "ADMIN") }, 423,
			[]auditWant{{maskservice.AuditLoginFailed, admin, maskservice.RoleAdmin, remote, "account locked"}}},
		{"logout", func() response {
			return f.do(t, http.MethodPost, "/api/auth/logout", f.as(""), withHeader("Authorization", "Bearer "+f.login(t, maskservice.RoleServiceTech).Access))
		}, 200, []auditWant{{maskservice.AuditLogout, userOf[maskservice.RoleServiceTech], maskservice.RoleServiceTech, remote, ""}}},
		{"create a user", func() response {
			return f.do(t, http.MethodPost, "/api/users", f.as(maskservice.RoleSuperuser),
				jsonBody(`{"username":"ewa","password":"a long password","role":"OPERATOR","must_change_password":true}`))
		}, 201, []auditWant{{maskservice.AuditUserCreate, userOf[maskservice.RoleSuperuser], maskservice.RoleSuperuser, remote,
			"user ewa created as OPERATOR, must change password"}}},
		{"promote and unlock", func() response {
			return f.do(t, http.MethodPatch, "/api/users/ewa", f.as(maskservice.RoleSuperuser), jsonBody(`{"role":"ADMIN","unlock":true}`))
		}, 200, []auditWant{{maskservice.AuditUserUpdate, userOf[maskservice.RoleSuperuser], maskservice.RoleSuperuser, remote,
			"user ewa: role OPERATOR→ADMIN, unlocked"}}},
		{"disable", func() response {
			return f.do(t, http.MethodPatch, "/api/users/ewa", f.as(maskservice.RoleSuperuser), jsonBody(`{"active":false}`))
		}, 200, []auditWant{{maskservice.AuditUserUpdate, userOf[maskservice.RoleSuperuser], maskservice.RoleSuperuser, remote, "user ewa: disabled"}}},
		{"reset a password", func() response {
			return f.do(t, http.MethodPatch, "/api/users/ewa", f.as(maskservice.RoleSuperuser), jsonBody(`{"password":"another long one","active":true}`))
		}, 200, []auditWant{{maskservice.AuditUserUpdate, userOf[maskservice.RoleSuperuser], maskservice.RoleSuperuser, remote,
			"user ewa: password reset, enabled, need not change password"}}},
		{"no change, no entry", func() response {
			return f.do(t, http.MethodPatch, "/api/users/ewa", f.as(maskservice.RoleSuperuser), jsonBody(`{"role":"ADMIN"}`))
		}, 200, nil},
		{"a refused change, no entry", func() response {
			return f.do(t, http.MethodPatch, "/api/users/ewa", f.as(maskservice.RoleAdmin), jsonBody(`{"role":"SUPERUSER"}`))
		}, 403, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n := len(f.audit.all())
			if res := st.do(); res.status != st.status {
				t.Fatalf("status %d, want %d: %s", res.status, st.status, res.body)
			}
			wantAudit(t, f, f.audit.since(n), st.want...)
		})
	}
}

// TestServer_AuditRateLimited: a client past the sign-in rate limit is one entry per run of
// refusals, not one per request.
func TestServer_AuditRateLimited(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	attemptAs := func(name string) response {
		return f.do(t, http.MethodPost, "/api/auth/login", f.as(""), fromAddr("192.0.2.50:1234"),
			jsonBody(`{"username":"`+name+`","password":"wrong password!","role":"ADMIN"}`))
	}
	attempt := func() response { return attemptAs("nobody") }
	// Ten names, so that the limit is reached before any name has failed three times (a
	// made-up name locks as an account does).
	for i := range 10 {
		attemptAs(fmt.Sprintf("nobody%d", i))
	}
	n := len(f.audit.all())
	for range 5 {
		if res := attempt(); res.status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", res.status)
		}
	}
	wantAudit(t, f, f.audit.since(n), auditWant{maskservice.AuditLoginFailed, "nobody", maskservice.RoleAdmin, "192.0.2.50", "rate limited"})
	// One attempt comes back after 6 s; refused again after it, the client is a new run.
	f.clock.Advance(6 * time.Second)
	n = len(f.audit.all())
	attempt()
	attempt()
	attempt()
	wantAudit(t, f, f.audit.since(n),
		auditWant{maskservice.AuditLoginFailed, "nobody", maskservice.RoleAdmin, "192.0.2.50", "wrong password"},
		auditWant{maskservice.AuditLoginFailed, "nobody", maskservice.RoleAdmin, "192.0.2.50", "rate limited"})
}

// TestServer_AuditFailureDoesNotFailRequest: a log that cannot append is logged at error
// level, and the sign-in still succeeds.
func TestServer_AuditFailureDoesNotFailRequest(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	f.audit.mu.Lock()
	f.audit.fail = errors.New("disk full")
	f.audit.mu.Unlock()
	if _, _ = signIn(t, f, maskservice.RoleOperator); !strings.Contains(f.logs.String(), `"msg":"append audit entry"`) ||
		!strings.Contains(f.logs.String(), "disk full") || !strings.Contains(f.logs.String(), `"level":"ERROR"`) {
		t.Errorf("the failed append is not in the error log:\n%s", f.logs.String())
	}
}

// auditList is the answer of GET /api/audit.
type auditList struct {
	Entries []struct {
		Seq      uint64 `json:"seq"`
		Time     string `json:"time"`
		Action   string `json:"action"`
		Username string `json:"username"`
		Role     string `json:"role"`
		Source   string `json:"source"`
		Details  string `json:"details"`
	} `json:"entries"`
	NextBeforeSeq *uint64 `json:"next_before_seq"`
}

func (l auditList) seqs() []uint64 {
	out := []uint64{}
	for _, e := range l.Entries {
		out = append(out, e.Seq)
	}
	return out
}

// fillAudit appends n entries straight to the fixture's log, one a minute from base: seq
// i+1 is user<i%3>, action login for even i and logout for odd.
func fillAudit(tb testing.TB, f *fixture, base time.Time, n int) {
	tb.Helper()
	for i := range n {
		action := maskservice.AuditLogin
		if i%2 == 1 {
			action = maskservice.AuditLogout
		}
		if err := f.audit.AppendAudit(context.Background(), maskservice.AuditEntry{Time: base.Add(time.Duration(i) * time.Minute),
			Action: action, Username: fmt.Sprintf("user%d", i%3), Role: maskservice.RoleOperator, Source: "192.0.2.9",
			Details: fmt.Sprintf("entry %d", i)}); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestServer_AuditQuery(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fillAudit(t, f, base, 10) // seqs 1..10 at base+0..9 min
	admin := f.as(maskservice.RoleAdmin)
	at := func(min int) string {
		return url.QueryEscape(base.Add(time.Duration(min) * time.Minute).Format(time.RFC3339))
	}
	tests := []struct {
		name  string
		query string
		want  []uint64
		next  uint64 // 0: null
	}{
		{"all", "", []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 0},
		{"limit", "?limit=3", []uint64{10, 9, 8}, 8},
		{"next page", "?limit=3&before_seq=8", []uint64{7, 6, 5}, 5},
		{"last page", "?limit=4&before_seq=5", []uint64{4, 3, 2, 1}, 0},
		{"exactly the rest", "?limit=2&before_seq=3", []uint64{2, 1}, 0},
		{"since", "?since=" + at(7), []uint64{10, 9, 8}, 0},
		{"until", "?until=" + at(2), []uint64{2, 1}, 0},
		{"since and until, with an offset", "?since=" + url.QueryEscape(base.Add(3*time.Minute).In(time.FixedZone("CET", 3600)).Format(time.RFC3339)) + "&until=" + at(5), []uint64{5, 4}, 0},
		{"username", "?username=user1", []uint64{8, 5, 2}, 0},
		{"action", "?action=logout&limit=2", []uint64{10, 8}, 8},
		{"everything", "?username=user0&action=login&since=" + at(1) + "&before_seq=10", []uint64{7}, 0},
		{"nothing", "?username=nobody", []uint64{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.do(t, http.MethodGet, "/api/audit"+tt.query, admin)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			l := decode[auditList](t, res)
			if !slices.Equal(l.seqs(), tt.want) {
				t.Errorf("seqs %v, want %v", l.seqs(), tt.want)
			}
			switch {
			case tt.next == 0 && l.NextBeforeSeq != nil:
				t.Errorf("next_before_seq %d, want null", *l.NextBeforeSeq)
			case tt.next != 0 && (l.NextBeforeSeq == nil || *l.NextBeforeSeq != tt.next):
				t.Errorf("next_before_seq %v, want %d", l.NextBeforeSeq, tt.next)
			}
		})
	}
	// One entry in full, as the API spells it.
	l := decode[auditList](t, f.do(t, http.MethodGet, "/api/audit?limit=1", admin))
	e := l.Entries[0]
	if e.Seq != 10 || e.Time != "2026-03-01T12:09:00.000Z" || e.Action != "logout" || e.Username != "user0" ||
		e.Role != "OPERATOR" || e.Source != "192.0.2.9" || e.Details != "entry 9" {
		t.Errorf("entry %+v", e)
	}
	// The default limit is 100.
	fillAudit(t, f, base.Add(time.Hour), 150)
	if l := decode[auditList](t, f.do(t, http.MethodGet, "/api/audit", admin)); len(l.Entries) != 100 || l.NextBeforeSeq == nil || *l.NextBeforeSeq != 61 {
		t.Errorf("default page: %d entries, next %v; want 100 and 61", len(l.Entries), l.NextBeforeSeq)
	}
}

func TestServer_AuditQueryErrors(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	tests := []struct {
		name   string
		query  string
		as     maskservice.Role
		status int
		code   string
		want   string
	}{
		{"operator", "", maskservice.RoleOperator, 403, maskservice.EFORBIDDEN, "manage_users"},
		{"service technician", "", maskservice.RoleServiceTech, 403, maskservice.EFORBIDDEN, "manage_users"},
		{"anonymous", "", "", 401, maskservice.EUNAUTHORIZED, "sign in"},
		{"unknown action", "?action=reboot", maskservice.RoleAdmin, 400, maskservice.EINVALID, `action "reboot": want one of login, login_failed`},
		{"bad since", "?since=yesterday", maskservice.RoleAdmin, 400, maskservice.EINVALID, `since "yesterday"`},
		{"bad until", "?until=2026-13-01T00:00:00Z", maskservice.RoleAdmin, 400, maskservice.EINVALID, "until"},
		{"until before since", "?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", maskservice.RoleAdmin, 400, maskservice.EINVALID, "before since"},
		{"limit 0", "?limit=0", maskservice.RoleAdmin, 400, maskservice.EINVALID, "limit"},
		{"limit too big", "?limit=1001", maskservice.RoleAdmin, 400, maskservice.EINVALID, "from 1 to 1000"},
		{"before_seq 0", "?before_seq=0", maskservice.RoleAdmin, 400, maskservice.EINVALID, "before_seq"},
		{"before_seq not a number", "?before_seq=-3", maskservice.RoleAdmin, 400, maskservice.EINVALID, "before_seq"},
		{"format", "?format=xml", maskservice.RoleAdmin, 400, maskservice.EINVALID, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.do(t, http.MethodGet, "/api/audit"+tt.query, f.as(tt.as)), tt.status, tt.code, tt.want)
		})
	}
	t.Run("no audit log", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.Audit = nil }})
		wantError(t, f.do(t, http.MethodGet, "/api/audit", f.as(maskservice.RoleAdmin)), 503, maskservice.EUNAVAILABLE, "no audit log")
		signIn(t, f, maskservice.RoleAdmin) // and recording is a no-op
	})
	t.Run("log fails", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true})
		f.audit.mu.Lock()
		f.audit.fail = errors.New("damaged page")
		f.audit.mu.Unlock()
		wantError(t, f.do(t, http.MethodGet, "/api/audit", f.as(maskservice.RoleAdmin)), 500, maskservice.EINTERNAL, "internal error")
		if !strings.Contains(f.logs.String(), "read audit log: damaged page") {
			t.Errorf("the cause is not in the log:\n%s", f.logs.String())
		}
	})
}

func TestServer_AuditCSV(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fillAudit(t, f, base, 1500) // more than a page, and more than limit allows
	if err := f.audit.AppendAudit(context.Background(), maskservice.AuditEntry{Time: base.Add(48 * time.Hour),
		Action: maskservice.AuditLoginFailed, Username: "=HYPERLINK(\"x\")", Source: "192.0.2.66", Details: "a, \"quoted\"\nline"}); err != nil {
		t.Fatal(err)
	}
	res := f.do(t, http.MethodGet, "/api/audit?format=csv&limit=5", f.as(maskservice.RoleSuperuser))
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := res.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="audit-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+1501 {
		t.Fatalf("%d rows, want the header and 1501", len(rows))
	}
	if got := strings.Join(rows[0], ","); got != "seq,time,action,username,role,source,details" {
		t.Errorf("header %q", got)
	}
	want := []string{"1501", "2026-03-03T12:00:00.000Z", "login_failed", "'=HYPERLINK(\"x\")", "", "192.0.2.66", "a, \"quoted\"\nline"}
	if !slices.Equal(rows[1], want) {
		t.Errorf("first row %q, want %q", rows[1], want)
	}
	if last := rows[len(rows)-1]; last[0] != "1" || last[1] != "2026-03-01T12:00:00.000Z" || last[2] != "login" || last[3] != "user0" || last[4] != "OPERATOR" {
		t.Errorf("last row %q", last)
	}
	// Filters apply to the download too.
	res = f.do(t, http.MethodGet, "/api/audit?format=csv&username=user1&action=login&until="+url.QueryEscape(base.Add(10*time.Minute).Format(time.RFC3339)), f.as(maskservice.RoleAdmin))
	rows, err = csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	// user1 is i%3 == 1 and login is i even: i = 4 (seq 5) within the first ten minutes.
	if err != nil || len(rows) != 2 || rows[1][0] != "5" {
		t.Errorf("filtered download: %q, %v", rows, err)
	}
}

// TestServer_AuditCSVAborts: a scan that fails once the 200 is out breaks the connection, so
// the client never takes a cut file for a whole one, and the failure is logged.
func TestServer_AuditCSVAborts(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	f.audit.mu.Lock()
	f.audit.fail = errors.New("damaged page")
	f.audit.mu.Unlock()
	ts := httptest.NewServer(f.handler)
	t.Cleanup(ts.Close)
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/api/audit?format=csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.authorize(req, maskservice.RoleAdmin)
	// The 200 may still sit in the server's buffer when the connection breaks: then the
	// client sees no answer at all, else a body cut short.
	if res, err := ts.Client().Do(req); err == nil {
		_, err = io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err == nil {
			t.Errorf("status %d and a download that ended cleanly; want a broken connection", res.StatusCode)
		}
	}
	if !strings.Contains(f.logs.String(), "audit CSV cut short") {
		t.Errorf("the failure is not logged:\n%s", f.logs.String())
	}
}
