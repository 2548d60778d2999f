package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// newAuth returns a sign-in service over a memStore with one user per role, at bcrypt cost
// 4 so that a sign-in takes a millisecond. Its metrics go to reg.
func newAuth(tb testing.TB, now func() time.Time, reg prometheus.Registerer) (*auth.Service, *memStore) {
	tb.Helper()
	keys, err := testKeys()
	if err != nil {
		tb.Fatal(err)
	}
	store := newMemStore()
	svc, err := auth.NewService(auth.Options{
		Users: store, Sessions: store, Tokens: auth.NewTokens(keys, "maskserviced", "test", now),
		Now: now, BcryptCost: 4, Registerer: reg,
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, role := range roles {
		if _, err := svc.CreateUser(context.Background(), userOf[role], testPassword, role, false); err != nil {
			tb.Fatal(err)
		}
	}
	return svc, store
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
