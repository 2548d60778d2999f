package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/web/auth"
)

var ctx = context.Background()

// clock is a settable time for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKeys is generated once: RSA generation is slow.
var testKeys = sync.OnceValue(func() *auth.KeySet {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ks, err := auth.NewKeySet(k)
	if err != nil {
		panic(err)
	}
	return ks
})

type fixture struct {
	svc    *auth.Service
	tokens *auth.Tokens
	clock  *clock
	db     *bolt.DB
	reg    *prometheus.Registry
}

// MustService returns a service over a real bbolt file with one user per role, all with the
// password "correct horse".
func MustService(tb testing.TB) *fixture {
	tb.Helper()
	db, err := bolt.Open(ctx, tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	c := &clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	tokens := auth.NewTokens(testKeys(), "maskserviced", "C20-1001", c.Now)
	reg := prometheus.NewRegistry()
	svc, err := auth.NewService(auth.Options{Users: db, Sessions: db, Tokens: tokens, Now: c.Now, BcryptCost: 4, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	for name, role := range map[string]maskservice.Role{"operator1": maskservice.RoleOperator, "admin1": maskservice.RoleAdmin,
		"super1": maskservice.RoleSuperuser, "serwis1": maskservice.RoleServiceTech} {
		if _, err := svc.CreateUser(ctx, name, "correct horse", role, false); err != nil {
			tb.Fatal(err)
		}
	}
	return &fixture{svc: svc, tokens: tokens, clock: c, db: db, reg: reg}
}

func (f *fixture) login(tb testing.TB, user string, role maskservice.Role) *auth.LoginResult {
	tb.Helper()
	res, err := f.svc.Login(ctx, auth.LoginRequest{Username: user, Password: "correct horse", Role: role, Origin: maskservice.OriginLocal, Remote: "127.0.0.1:1"})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func code(err error) string { return maskservice.ErrorCode(err) }

// TestParseAccess_Rejects forges every kind of bad token and checks each is refused.
func TestParseAccess_Rejects(t *testing.T) {
	f := MustService(t)
	good := f.login(t, "operator1", maskservice.RoleOperator)
	parts := strings.Split(good.Access, ".")
	pub, _ := x509.MarshalPKIXPublicKey(testKeys().Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	other, _ := rsa.GenerateKey(rand.Reader, 2048)

	claims := func(edit func(*auth.Claims)) *auth.Claims {
		c := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "maskserviced", Subject: "operator1",
			Audience: jwt.ClaimStrings{"C20-1001"}, IssuedAt: jwt.NewNumericDate(f.clock.Now()),
			ExpiresAt: jwt.NewNumericDate(f.clock.Now().Add(time.Minute))},
			Role: maskservice.RoleSuperuser, Type: "access", SessionID: good.Session.ID}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c *auth.Claims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kid := testKeys().KID()
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(
		mustDecode(t, parts[1]), `"role":"OPERATOR"`, `"role":"SUPERUSER"`, 1)))
	tests := []struct {
		name, token, reason string
	}{
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims(nil)), "bad token signature"},
		{"HS256 with the public key", sign(jwt.SigningMethodHS256, pubPEM, kid, claims(nil)), "bad token signature"},
		{"wrong kid", sign(jwt.SigningMethodRS256, other, "0123456789abcdef", claims(nil)), "invalid token"},
		{"no kid", sign(jwt.SigningMethodRS256, other, "", claims(nil)), "invalid token"},
		{"another key, our kid", sign(jwt.SigningMethodRS256, other, kid, claims(nil)), "bad token signature"},
		{"tampered payload", parts[0] + "." + tamperedPayload + "." + parts[2], "bad token signature"},
		{"no exp", signOurs(t, kid, claims(func(c *auth.Claims) { c.ExpiresAt = nil })), "invalid token"},
		{"expired", signOurs(t, kid, claims(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(f.clock.Now().Add(-time.Minute)) })), "token expired"},
		{"wrong issuer", signOurs(t, kid, claims(func(c *auth.Claims) { c.Issuer = "evil" })), "invalid token"},
		{"wrong audience", signOurs(t, kid, claims(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"other-device"} })), "invalid token"},
		{"issued in the future", signOurs(t, kid, claims(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(f.clock.Now().Add(time.Hour)) })), "invalid token"},
		{"refresh type", signOurs(t, kid, claims(func(c *auth.Claims) { c.Type = "refresh" })), "not an access token"},
		{"refresh token as access", good.Refresh, "invalid token"},
		{"no session", signOurs(t, kid, claims(func(c *auth.Claims) { c.SessionID = "" })), "invalid token"},
		{"garbage", "not.a.token", "invalid token"},
		{"empty", "", "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.tokens.ParseAccess(tt.token)
			if code(err) != maskservice.EUNAUTHORIZED || maskservice.ErrorMessage(err) != tt.reason {
				t.Errorf("ParseAccess = %v (%s), want %s %q", err, code(err), maskservice.EUNAUTHORIZED, tt.reason)
			}
			if _, err := f.svc.Authenticate(ctx, tt.token); code(err) != maskservice.EUNAUTHORIZED {
				t.Errorf("Authenticate = %v", err)
			}
		})
	}
	// The real one passes, and carries the role's permissions.
	c, err := f.tokens.ParseAccess(good.Access)
	if err != nil || c.Role != maskservice.RoleOperator || len(c.Permissions) != 3 || c.Subject != "operator1" {
		t.Fatalf("good token: %v %+v", err, c)
	}
}

func signOurs(t *testing.T, kid string, c *auth.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(auth.PrivateKeyForTest(testKeys()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogin_Failures checks that every wrong part answers the same error.
func TestLogin_Failures(t *testing.T) {
	f := MustService(t)
	if _, err := f.db.UpdateUser(ctx, "admin1", func(u *maskservice.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		role                 maskservice.Role
	}{
		{"wrong user", "nobody", "correct horse", maskservice.RoleOperator},
		{"wrong password", "operator1", "wrong horse!", maskservice.RoleOperator},
		{"wrong role", "operator1", "correct horse", maskservice.RoleSuperuser},
		{"unknown role", "operator1", "correct horse", "ROOT"},
		{"inactive", "admin1", "correct horse", maskservice.RoleAdmin},
	}
	var msgs []string
	for _, tt := range tests {
		_, err := f.svc.Login(ctx, auth.LoginRequest{Username: tt.user, Password: tt.password, Role: tt.role})
		if code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("%s: %v", tt.name, err)
		}
		msgs = append(msgs, maskservice.ErrorMessage(err))
	}
	for _, m := range msgs {
		if m != msgs[0] {
			t.Errorf("messages differ: %q", msgs)
		}
	}
	if got := testutil.ToFloat64(mustCounter(t, f, "OPERATOR", "failure")); got != 2 {
		t.Errorf("login_attempts_total{OPERATOR,failure} = %v, want 2", got)
	}
}

func mustCounter(t *testing.T, f *fixture, role, status string) prometheus.Collector {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "login_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["role"] == role && labels["status"] == status {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return 0 })
}

// TestLogin_Lockout: 3 failures lock for 5 minutes, per origin; the right password to a
// locked account says so; the lock ends after 5 minutes by the clock.
func TestLogin_Lockout(t *testing.T) {
	f := MustService(t)
	try := func(password string, origin maskservice.Origin) error {
		_, err := f.svc.Login(ctx, auth.LoginRequest{Username: "operator1", Password: password, Role: maskservice.RoleOperator, Origin: origin})
		return err
	}
	for range 3 {
		if code(try("wrong horse!", maskservice.OriginRemote)) != maskservice.EUNAUTHORIZED {
			t.Fatal("wrong password accepted")
		}
	}
	if err := try("correct horse", maskservice.OriginRemote); code(err) != maskservice.ELOCKED || !strings.Contains(err.Error(), "try again in 5 min") {
		t.Errorf("locked remote: %v", err)
	}
	// The LCD (loopback) is not locked by the hotspot's failures.
	if err := try("correct horse", maskservice.OriginLocal); err != nil {
		t.Errorf("local sign-in while remote is locked: %v", err)
	}
	f.clock.Add(maskservice.LockoutDuration - time.Second)
	if code(try("correct horse", maskservice.OriginRemote)) != maskservice.ELOCKED {
		t.Error("unlocked early")
	}
	f.clock.Add(time.Second)
	if err := try("correct horse", maskservice.OriginRemote); err != nil {
		t.Errorf("after 5 minutes: %v", err)
	}
}

// TestRefresh_RotationAndReuse: a refresh rotates; presenting the old token again revokes the
// session, after which the rotated token and the access token fail too.
func TestRefresh_RotationAndReuse(t *testing.T) {
	f := MustService(t)
	var revoked []string
	f.svc.OnRevoke(func(id string) { revoked = append(revoked, id) })
	first := f.login(t, "serwis1", maskservice.RoleServiceTech)
	f.clock.Add(time.Minute)
	second, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	if second.Refresh == first.Refresh || second.Session.ID != first.Session.ID || second.Session.RefreshGen != 2 {
		t.Fatalf("not rotated: %+v", second.Session)
	}
	if _, err := f.svc.Authenticate(ctx, second.Access); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("reused token: %v", err)
	}
	if len(revoked) != 1 || revoked[0] != first.Session.ID {
		t.Errorf("OnRevoke calls: %v", revoked)
	}
	if _, err := f.svc.Refresh(ctx, second.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("rotated token after reuse: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, second.Access); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("access token after reuse: %v", err)
	}
	s, _ := f.db.Session(ctx, first.Session.ID)
	if s.RevokeReason != "refresh token reused" {
		t.Errorf("stored reason %q", s.RevokeReason)
	}
	for _, bad := range []string{"", "a.b", "x.1.y", first.Session.ID + ".2.wrongsecret", first.Session.ID + ".notanumber.x"} {
		if _, err := f.svc.Refresh(ctx, bad, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("Refresh(%q) = %v", bad, err)
		}
	}
}

// TestLogout: the access token stops working at once and OnRevoke runs.
func TestLogout(t *testing.T) {
	f := MustService(t)
	var revoked []string
	f.svc.OnRevoke(func(id string) { revoked = append(revoked, id) })
	res := f.login(t, "admin1", maskservice.RoleAdmin)
	p, err := f.svc.Authenticate(ctx, res.Access)
	if err != nil || p.Username != "admin1" || !p.Can(maskservice.PermManageUsers) || p.Can(maskservice.PermConfigEdit) {
		t.Fatalf("Authenticate: %v %+v", err, p)
	}
	if err := f.svc.Logout(ctx, p.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, res.Access); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("after logout: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("refresh after logout: %v", err)
	}
	if len(revoked) != 1 || revoked[0] != p.SessionID {
		t.Errorf("OnRevoke: %v", revoked)
	}
}

// TestSession_IdleAndMaxAge: each role's idle timeout, activity keeping a session alive, and
// the 7-day hard end.
func TestSession_IdleAndMaxAge(t *testing.T) {
	f := MustService(t)
	op := f.login(t, "operator1", maskservice.RoleOperator)
	sw := f.login(t, "serwis1", maskservice.RoleServiceTech)
	// Access tokens live 15 minutes, so activity here is a refresh.
	f.clock.Add(29 * time.Minute)
	op, err := f.svc.Refresh(ctx, op.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatalf("operator idle 29 min: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, op.Access); err != nil {
		t.Fatalf("operator's new access token: %v", err)
	}
	f.clock.Add(30 * time.Minute)
	if _, err := f.svc.Refresh(ctx, op.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("operator idle 30 min still refreshes: %v", err)
	}
	res, err := f.svc.Refresh(ctx, sw.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatalf("serwisant at 59 min: %v", err)
	}
	// Stay active every 3 hours (within 240 min) until the 7 days are up.
	for f.clock.Now().Before(sw.Session.Expires.Add(-3 * time.Hour)) {
		f.clock.Add(3 * time.Hour)
		if res, err = f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); err != nil {
			t.Fatalf("at %s: %v", f.clock.Now(), err)
		}
	}
	f.clock.Add(3 * time.Hour)
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("after 7 days: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt-key.pem")
	k1, err := auth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi.Mode())
	}
	k2, err := auth.LoadOrCreateKey(path)
	if err != nil || k2.KID() != k1.KID() || len(k1.KID()) != 16 {
		t.Errorf("reload: %v kid %s vs %s", err, k2.KID(), k1.KID())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateKey(bad); err == nil || !strings.Contains(err.Error(), "not a PEM") {
		t.Errorf("garbage key: %v", err)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	f := MustService(b)
	res := f.login(b, "operator1", maskservice.RoleOperator)
	for b.Loop() {
		if _, err := f.svc.Authenticate(ctx, res.Access); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBcryptCost12 and BenchmarkLogin side by side show that a sign-in costs about one
// bcrypt comparison at cost 12 (DESIGN.md: <= 1.2x).
func BenchmarkBcryptCost12(b *testing.B) {
	hash, _ := auth.HashPassword("correct horse", 12)
	for b.Loop() {
		_ = auth.CompareForBench(hash, "correct horse")
	}
}

func BenchmarkLogin(b *testing.B) {
	f := MustService(b)
	if err := f.svc.SetPasswordCost(ctx, "operator1", "correct horse", 12); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f.login(b, "operator1", maskservice.RoleOperator)
	}
}

// TestLogin_LockedAnswersAlike checks that a locked account answers the same whatever the
// password, so guessing cannot go on through the lock, and that an odd origin value is
// treated as remote rather than crashing.
func TestLogin_LockedAnswersAlike(t *testing.T) {
	f := MustService(t)
	for range 3 {
		_, _ = f.svc.Login(ctx, auth.LoginRequest{Username: "admin1", Password: "wrong horse!", Role: maskservice.RoleAdmin, Origin: 7})
	}
	var msgs []string
	for _, pw := range []string{"wrong horse!", "correct horse"} {
		_, err := f.svc.Login(ctx, auth.LoginRequest{Username: "admin1", Password: pw, Role: maskservice.RoleAdmin, Origin: maskservice.OriginRemote})
		if code(err) != maskservice.ELOCKED {
			t.Fatalf("password %q while locked: %v", pw, err)
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] {
		t.Errorf("locked answers differ: %q", msgs)
	}
}

// TestRefresh_GuessCannotRevoke checks that a token that only names the session (an old
// generation with a made-up secret) is refused without ending the session, while a real old
// token, even two rotations back, does end it.
func TestRefresh_GuessCannotRevoke(t *testing.T) {
	f := MustService(t)
	first := f.login(t, "operator1", maskservice.RoleOperator)
	second, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.svc.Refresh(ctx, second.Refresh, maskservice.OriginLocal)
	if err != nil {
		t.Fatal(err)
	}
	id := first.Session.ID
	for _, guess := range []string{id + ".1.made-up-secret", id + ".0.x", id + ".2.also-made-up"} {
		if _, err := f.svc.Refresh(ctx, guess, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
			t.Errorf("guess %q: %v", guess, err)
		}
	}
	if _, err := f.svc.Authenticate(ctx, third.Access); err != nil {
		t.Fatalf("session ended by a guess: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, first.Refresh, maskservice.OriginRemote); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("real reuse: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, third.Access); code(err) != maskservice.EUNAUTHORIZED {
		t.Errorf("session still alive after a real reuse: %v", err)
	}
}

// TestRefresh_DisabledUser checks that a refresh for a disabled user ends the session and
// leaves nothing rotated.
func TestRefresh_DisabledUser(t *testing.T) {
	f := MustService(t)
	res := f.login(t, "serwis1", maskservice.RoleServiceTech)
	if _, err := f.db.UpdateUser(ctx, "serwis1", func(u *maskservice.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, res.Refresh, maskservice.OriginLocal); code(err) != maskservice.EUNAUTHORIZED {
		t.Fatalf("disabled user refreshed: %v", err)
	}
	s, err := f.db.Session(ctx, res.Session.ID)
	if err != nil || s.Revoked.IsZero() || s.RefreshGen != 1 {
		t.Errorf("session after refusal: %v %+v", err, s)
	}
}

// TestLogin_LockedNowSignal: only the failure that locks the account carries ErrLockedNow,
// and it answers the client exactly as every other failure does.
func TestLogin_LockedNowSignal(t *testing.T) {
	f := MustService(t)
	try := func(user, password string) error {
		_, err := f.svc.Login(ctx, auth.LoginRequest{Username: user, Password: password, Role: maskservice.RoleOperator, Origin: maskservice.OriginRemote})
		return err
	}
	tests := []struct {
		name, user, password string
		code                 string
		lockedNow            bool
	}{
		{"first failure", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"unknown user", "nobody", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"second failure", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, false},
		{"third failure locks", "operator1", "wrong horse!", maskservice.EUNAUTHORIZED, true},
		{"while locked", "operator1", "wrong horse!", maskservice.ELOCKED, false},
		{"right password while locked", "operator1", "correct horse", maskservice.ELOCKED, false},
	}
	plain := try("nobody", "x")
	for _, tt := range tests {
		err := try(tt.user, tt.password)
		if code(err) != tt.code || errors.Is(err, auth.ErrLockedNow) != tt.lockedNow {
			t.Errorf("%s: %v (code %s, locked now %v); want code %s, locked now %v",
				tt.name, err, code(err), errors.Is(err, auth.ErrLockedNow), tt.code, tt.lockedNow)
		}
		if tt.lockedNow && (err.Error() != plain.Error() || maskservice.ErrorMessage(err) != maskservice.ErrorMessage(plain)) {
			t.Errorf("%s: answers %q, any other failure %q", tt.name, maskservice.ErrorMessage(err), maskservice.ErrorMessage(plain))
		}
	}
}
