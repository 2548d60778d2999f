package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

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
	tokens *auth.Tokens
	clock  *clock
}

// MustTokens returns the token machinery of the test key at a settable clock.
func MustTokens(tb testing.TB) *fixture {
	tb.Helper()
	c := &clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	return &fixture{tokens: auth.NewTokens(testKeys(), "maskserviced", "C20-1001", c.Now), clock: c}
}

// issued is an access token of a session of user as role.
type issued struct {
	Access  string
	Session *maskservice.Session
}

func (f *fixture) login(tb testing.TB, user string, role maskservice.Role) issued {
	tb.Helper()
	now := f.clock.Now()
	sess := &maskservice.Session{ID: "sess-" + user, Username: user, Role: role, Created: now, LastSeen: now,
		Expires: now.Add(maskservice.MaxSessionAge)}
	access, _, err := f.tokens.IssueAccess(sess)
	if err != nil {
		tb.Fatal(err)
	}
	return issued{Access: access, Session: sess}
}

func code(err error) string { return maskservice.ErrorCode(err) }

// TestParseAccess_Rejects forges every kind of bad token and checks each is refused.
func TestParseAccess_Rejects(t *testing.T) {
	f := MustTokens(t)
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
		{"refresh token as access", good.Session.ID + ".1.c2VjcmV0", "invalid token"},
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
		})
	}
	// The real one passes, and carries the role's permissions.
	c, err := f.tokens.ParseAccess(good.Access)
	if err != nil || c.Role != maskservice.RoleOperator || len(c.Permissions) != 3 || c.Subject != "operator1" {
		t.Fatalf("good token: %v %+v", err, c)
	}
}

// TestParseAccess_RemembersVerified checks the memory of verified tokens: a remembered
// token still expires, a changed byte is a new token that fails, the caller's changes do not
// reach the next caller, and the memory stays bounded.
func TestParseAccess_RemembersVerified(t *testing.T) {
	f := MustTokens(t)
	good := f.login(t, "operator1", maskservice.RoleOperator)
	first, err := f.tokens.ParseAccess(good.Access)
	if err != nil {
		t.Fatal(err)
	}
	first.Role, first.SessionID = maskservice.RoleSuperuser, "someone else's"
	again, err := f.tokens.ParseAccess(good.Access)
	if err != nil || again.Role != maskservice.RoleOperator || again.SessionID != good.Session.ID {
		t.Fatalf("remembered token: %v %+v, want the claims as issued", err, again)
	}
	parts := strings.Split(good.Access, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(
		mustDecode(t, parts[1]), `"role":"OPERATOR"`, `"role":"SUPERUSER"`, 1))) + "." + parts[2]
	if _, err := f.tokens.ParseAccess(tampered); maskservice.ErrorMessage(err) != "bad token signature" {
		t.Errorf("tampered copy of a remembered token: %v, want bad token signature", err)
	}
	f.clock.Add(auth.AccessTTL + 6*time.Second) // past exp and the leeway
	for i := range 2 {                          // from memory, then from a full check
		if _, err := f.tokens.ParseAccess(good.Access); maskservice.ErrorMessage(err) != "token expired" {
			t.Errorf("try %d after expiry: %v, want token expired", i, err)
		}
	}

	// More live tokens than the memory holds: every one still verifies, the memory stays bounded.
	var tokens []string
	for i := range auth.MaxVerified + 10 {
		tokens = append(tokens, f.login(t, "user"+strconv.Itoa(i), maskservice.RoleOperator).Access)
	}
	for round := range 2 {
		for i, tok := range tokens {
			if c, err := f.tokens.ParseAccess(tok); err != nil || c.Subject != "user"+strconv.Itoa(i) {
				t.Fatalf("round %d, token %d: %v %+v", round, i, err, c)
			}
			if n := auth.VerifiedLen(f.tokens); n > auth.MaxVerified {
				t.Fatalf("%d tokens remembered, want at most %d", n, auth.MaxVerified)
			}
		}
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

// BenchmarkParseAccess measures a token's check the first time (the RS256 signature and the
// claims' JSON) and on every later request (remembered).
func BenchmarkParseAccess(b *testing.B) {
	f := MustTokens(b)
	res := f.login(b, "operator1", maskservice.RoleOperator)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			fresh := auth.NewTokens(testKeys(), "maskserviced", "C20-1001", f.clock.Now)
			if _, err := fresh.ParseAccess(res.Access); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.tokens.ParseAccess(res.Access); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestBcrypt checks the password hasher: a hash at the asked cost, the default cost 12, the
// right password and no other.
func TestBcrypt(t *testing.T) {
	for _, tc := range []struct {
		hasher auth.Bcrypt
		cost   int
	}{{auth.Bcrypt{Cost: 4}, 4}, {auth.Bcrypt{}, auth.DefaultBcryptCost}} {
		h, err := tc.hasher.Hash("correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if cost, _ := bcrypt.Cost(h); cost != tc.cost {
			t.Errorf("cost %d, want %d", cost, tc.cost)
		}
		if err := tc.hasher.Compare(h, "correct horse"); err != nil {
			t.Errorf("right password: %v", err)
		}
		if err := tc.hasher.Compare(h, "wrong horse"); err == nil {
			t.Error("wrong password accepted")
		}
	}
	if err := (auth.Bcrypt{}).Compare([]byte("not a hash"), "x"); err == nil {
		t.Error("malformed hash accepted")
	}
}

// BenchmarkBcryptCost12 and BenchmarkLogin side by side show that a sign-in costs about one
// bcrypt comparison at cost 12 (DESIGN.md: <= 1.2x).
func BenchmarkBcryptCost12(b *testing.B) {
	hash, _ := auth.Bcrypt{Cost: 12}.Hash("correct horse")
	for b.Loop() {
		_ = auth.Bcrypt{}.Compare(hash, "correct horse")
	}
}

// BenchmarkLogin signs in through the accounts service over a real bbolt file, with the
// production hasher and tokens.
func BenchmarkLogin(b *testing.B) {
	db, err := bolt.Open(ctx, b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	f := MustTokens(b)
	accounts, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: db,
		Passwords: auth.Bcrypt{Cost: 12}, Tokens: f.tokens, Now: f.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := accounts.CreateUser(ctx, maskservice.ConsoleActor(""), maskservice.NewUser{Username: "operator1",
		Password: "correct horse", Role: maskservice.RoleOperator}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := accounts.Login(ctx, maskservice.LoginRequest{Username: "operator1", Password: "correct horse",
			Role: maskservice.RoleOperator, Origin: maskservice.OriginLocal}); err != nil {
			b.Fatal(err)
		}
	}
}
