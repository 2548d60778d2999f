package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// TestAccounts_CLIAndAPIAgree makes the same changes to two operators, one through the user
// command and one through the API of the running daemon, and checks that both paths leave
// the same audit entries (but for who acted and from where) and end the same sessions for
// the same reasons: one accounts service, one set of rules.
func TestAccounts_CLIAndAPIAgree(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SUDO_USER", "")
	t.Setenv("USER", "anna")
	const pw1, pw2 = "correct horse battery", "a new long password"

	// The console: create, reset the password of a signed-in user, disable a signed-in
	// user, enable, and enable again (no change).
	cli := func(stdin string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "--data", dir), strings.NewReader(stdin), &stdout, &stderr); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
	}
	cli(pw1+"\n", "user", "add", "cli.op", "--role", "OPERATOR", "--must-change")
	openSession(t, dir, "cli-1", "cli.op")
	cli(pw2+"\n", "user", "passwd", "cli.op")
	openSession(t, dir, "cli-2", "cli.op")
	cli("", "user", "disable", "cli.op")
	cli("", "user", "enable", "cli.op")
	cli("", "user", "enable", "cli.op")

	// The API, as the demo SUPERUSER: the same steps.
	m := NewMain()
	m.DataDir, m.Listen, m.Stderr, m.Demo, m.BcryptCost = dir, "127.0.0.1:0", io.Discard, true, 4
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.Addr().String()
	super := signInAs(t, addr, "super1", "SUPERUSER")
	api := func(method, path, body string, want int) {
		t.Helper()
		if status, raw := send(t, method, "http://"+addr+path, super, body); status != want {
			t.Fatalf("%s %s: %d %s", method, path, status, raw)
		}
	}
	api("POST", "/api/users", `{"username":"api.op","password":"`+pw1+`","role":"OPERATOR","must_change_password":true}`, 201)
	api1 := sessionOf(t, addr, "api.op", pw1)
	api("PATCH", "/api/users/api.op", `{"password":"`+pw2+`"}`, 200)
	api2 := sessionOf(t, addr, "api.op", pw2)
	api("PATCH", "/api/users/api.op", `{"active":false}`, 200)
	api("PATCH", "/api/users/api.op", `{"active":true}`, 200)
	api("PATCH", "/api/users/api.op", `{"active":true}`, 200)

	// Each path's entries about its operator, oldest first, with the name made alike.
	entries := map[string][]string{}
	if err := m.db.ScanAudit(context.Background(), maskservice.AuditFilter{}, func(e maskservice.AuditEntry) bool {
		for _, name := range []string{"cli.op", "api.op"} {
			if strings.Contains(e.Details, "user "+name) {
				line := string(e.Action) + ": " + strings.ReplaceAll(e.Details, name, "NAME")
				entries[name] = append([]string{line}, entries[name]...)
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"user_create: user NAME created as OPERATOR, must change password",
		"user_update: user NAME: password reset, need not change password",
		"user_update: user NAME: disabled",
		"user_update: user NAME: enabled",
	}
	for _, name := range []string{"cli.op", "api.op"} {
		if got := entries[name]; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: audit entries\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The same changes end the same sessions, for the same reasons.
	for _, pair := range [][2]string{{"cli-1", api1}, {"cli-2", api2}} {
		var reasons [2]string
		for i, id := range pair {
			s, err := m.db.Session(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if s.Revoked.IsZero() {
				t.Errorf("session %s is alive", id)
			}
			reasons[i] = s.RevokeReason
		}
		if reasons[0] != reasons[1] {
			t.Errorf("sessions ended for %q by the CLI, %q by the API", reasons[0], reasons[1])
		}
	}
}

// TestAccounts_CLIAuditFailure checks that the console is told when its change could not be
// recorded: the change stands, the exit code says it is not in the audit trail.
func TestAccounts_CLIAuditFailure(t *testing.T) {
	db, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := &auditWatch{AuditLog: failingAudit{}}
	accounts, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: w,
		Passwords: plainHasher{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.CreateUser(context.Background(), maskservice.ConsoleActor("anna"), maskservice.NewUser{
		Username: "jan", Password: "correct horse battery", Role: maskservice.RoleOperator}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.User(context.Background(), "jan"); err != nil {
		t.Errorf("the change did not stand: %v", err)
	}
	if err := w.check(); err == nil || !strings.Contains(err.Error(), "done, but not recorded in the audit log: disk full") {
		t.Errorf("check = %v", err)
	}
}

type failingAudit struct{ maskservice.AuditLog }

func (failingAudit) AppendAudit(context.Context, maskservice.AuditEntry) error {
	return maskservice.Errorf(maskservice.EINTERNAL, "disk full")
}

// plainHasher is a PasswordHasher for tests that need no bcrypt.
type plainHasher struct{}

func (plainHasher) Hash(p string) ([]byte, error) { return []byte("plain:" + p), nil }
func (plainHasher) Compare(h []byte, p string) error {
	if string(h) != "plain:"+p {
		return maskservice.Errorf(maskservice.EUNAUTHORIZED, "mismatch")
	}
	return nil
}

// send sends a JSON body with the token and returns the status and body.
func send(tb testing.TB, method, url, token, body string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sessionOf signs username in as an OPERATOR through the API and returns the session id.
func sessionOf(tb testing.TB, addr, username, password string) string {
	tb.Helper()
	status, raw := send(tb, "POST", "http://"+addr+"/api/auth/login", "",
		`{"username":"`+username+`","password":"`+password+`","role":"OPERATOR"}`)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		tb.Fatalf("sign in as %s: %d %s", username, status, raw)
	}
	var me struct {
		SessionID string `json:"session_id"`
	}
	getJSON(tb, "http://"+addr+"/api/auth/me", out.AccessToken, &me)
	return me.SessionID
}
