package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/auth"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery"

// roles are the four roles, in the specification's order; userOf names each one's user.
var (
	roles  = []maskservice.Role{maskservice.RoleOperator, maskservice.RoleAdmin, maskservice.RoleSuperuser, maskservice.RoleServiceTech}
	userOf = map[maskservice.Role]string{
		maskservice.RoleOperator: "operator1", maskservice.RoleAdmin: "admin1",
		maskservice.RoleSuperuser: "super1", maskservice.RoleServiceTech: "serwis1",
	}
)

// testKeys is made once: generating an RSA key takes a while under the race detector.
var testKeys = sync.OnceValues(func() (*auth.KeySet, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return auth.NewKeySet(k)
})

// testAuth is the sign-in machinery of a test server: users and sessions in a memStore,
// access tokens from the test key, passwords hashed at bcrypt cost 4 so that a sign-in takes
// a millisecond.
type testAuth struct {
	store  *memStore
	tokens *auth.Tokens
	now    func() time.Time
}

// newAuth returns a testAuth with one user per role, stored directly, so that making them
// records nothing.
func newAuth(tb testing.TB, now func() time.Time) *testAuth {
	tb.Helper()
	keys, err := testKeys()
	if err != nil {
		tb.Fatal(err)
	}
	ta := &testAuth{store: newMemStore(), tokens: auth.NewTokens(keys, "maskserviced", "test", now), now: now}
	hash, err := testHasher.Hash(testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	for _, role := range roles {
		if err := ta.store.CreateUser(context.Background(), &maskservice.User{Username: userOf[role], PasswordHash: hash,
			Role: role, Active: true, Created: now().UTC()}); err != nil {
			tb.Fatal(err)
		}
	}
	return ta
}

// testHasher hashes at the lowest cost bcrypt allows.
var testHasher = auth.Bcrypt{Cost: 4}

// accounts returns an accounts service over the testAuth's store and tokens that records to
// audit (nil: nothing) and logs to log (nil: nowhere).
func (ta *testAuth) accounts(tb testing.TB, audit maskservice.AuditLog, log *slog.Logger) *maskservice.Accounts {
	tb.Helper()
	a, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: ta.store, Sessions: ta.store, Passwords: testHasher,
		Tokens: ta.tokens, Audit: audit, Now: ta.now, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// memStore keeps users and sessions in memory: the UserStore and SessionStore of the web
// tests, which must not depend on store/. It hands out copies, as a database would. It does
// not guard the last SUPERUSER; store/bolt's own tests cover that.
type memStore struct {
	mu       sync.Mutex
	users    map[string]maskservice.User
	sessions map[string]maskservice.Session
}

func newMemStore() *memStore {
	return &memStore{users: map[string]maskservice.User{}, sessions: map[string]maskservice.Session{}}
}

func copyUser(u maskservice.User) *maskservice.User {
	u.PasswordHash = slices.Clone(u.PasswordHash)
	return &u
}

func copySession(s maskservice.Session) *maskservice.Session {
	s.RefreshHash = slices.Clone(s.RefreshHash)
	return &s
}

func (m *memStore) User(ctx context.Context, username string) (*maskservice.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[username]
	if !ok {
		return nil, maskservice.Errorf(maskservice.ENOTFOUND, "user %q: no such user", username) // as store/bolt says it
	}
	return copyUser(u), nil
}

func (m *memStore) Users(ctx context.Context) ([]*maskservice.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*maskservice.User
	for _, u := range m.users {
		out = append(out, copyUser(u))
	}
	slices.SortFunc(out, func(a, b *maskservice.User) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

func (m *memStore) CreateUser(ctx context.Context, u *maskservice.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.Username]; ok {
		return maskservice.Errorf(maskservice.ECONFLICT, "user %q exists", u.Username)
	}
	m.users[u.Username] = *copyUser(*u)
	return nil
}

func (m *memStore) UpdateUser(ctx context.Context, username string, fn func(*maskservice.User) error) (*maskservice.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[username]
	if !ok {
		return nil, maskservice.Errorf(maskservice.ENOTFOUND, "user %q: no such user", username) // as store/bolt says it
	}
	c := copyUser(u)
	if err := fn(c); err != nil {
		return nil, err
	}
	m.users[username] = *copyUser(*c)
	return c, nil
}

func (m *memStore) CreateSession(ctx context.Context, s *maskservice.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return maskservice.Errorf(maskservice.ECONFLICT, "session exists")
	}
	m.sessions[s.ID] = *copySession(*s)
	return nil
}

func (m *memStore) Session(ctx context.Context, id string) (*maskservice.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, maskservice.Errorf(maskservice.ENOTFOUND, "no session")
	}
	return copySession(s), nil
}

func (m *memStore) Sessions(ctx context.Context, username string) ([]*maskservice.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*maskservice.Session
	for _, s := range m.sessions {
		if username == "" || s.Username == username {
			out = append(out, copySession(s))
		}
	}
	return out, nil
}

func (m *memStore) UpdateSession(ctx context.Context, id string, fn func(*maskservice.Session) error) (*maskservice.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, maskservice.Errorf(maskservice.ENOTFOUND, "no session")
	}
	c := copySession(s)
	if err := fn(c); err != nil {
		return nil, err
	}
	m.sessions[id] = *copySession(*c)
	return c, nil
}

func (m *memStore) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, s := range m.sessions {
		end := s.Expires
		if !s.Revoked.IsZero() {
			end = s.Revoked
		}
		if end.Before(t) {
			delete(m.sessions, id)
			n++
		}
	}
	return n, nil
}
