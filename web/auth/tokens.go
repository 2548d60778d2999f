package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"mask.services/maskservice"
)

// AccessTTL is how long an access token is valid.
const AccessTTL = 15 * time.Minute

// leeway tolerates small clock differences in exp, nbf and iat checks.
const leeway = 5 * time.Second

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	Role        maskservice.Role         `json:"role"`
	Permissions []maskservice.Permission `json:"permissions"`
	Type        string                   `json:"type"` // always "access"
	SessionID   string                   `json:"sid"`
}

// maxVerified bounds the tokens Tokens remembers as verified: far more than the live access
// tokens of a station (one or two per session, renewed every 15 minutes), under 1 MB.
const maxVerified = 1024

// Tokens issues and checks access tokens.
type Tokens struct {
	keys     *KeySet
	issuer   string
	audience string
	now      func() time.Time
	parser   *jwt.Parser

	// verified remembers the claims of tokens that passed every check, by the SHA-256 of
	// the token: the RS256 signature check and the claims' JSON are most of the CPU of a
	// request, and the LCD and every phone send the same token on every poll. The key
	// never changes for the life of a Tokens, so the same bytes verify the same way; expiry
	// is checked again on every use. Whether the session still lives is the caller's check
	// (Accounts.CheckSession), on every request.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]*Claims
}

// NewTokens returns the token machinery for keys; now defaults to time.Now.
func NewTokens(keys *KeySet, issuer, audience string, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{keys: keys, issuer: issuer, audience: audience, now: now,
		verified: make(map[[sha256.Size]byte]*Claims),
		// Every option pinned: golang-jwt v5 accepts a token without exp unless told otherwise,
		// and any algorithm the key type allows unless the list is given.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		)}
}

// IssueAccess signs an access token for the session.
func (t *Tokens) IssueAccess(s *maskservice.Session) (token string, expires time.Time, err error) {
	now := t.now()
	expires = now.Add(AccessTTL)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.issuer, Subject: s.Username, Audience: jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(expires), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: randomString(16),
		},
		Role: s.Role, Permissions: s.Role.EffectivePermissions(), Type: "access", SessionID: s.ID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = t.keys.kid
	token, err = tok.SignedString(t.keys.key)
	if err != nil {
		return "", time.Time{}, errors.Join(errors.New("sign access token"), err)
	}
	return token, expires, nil
}

// ParseAccess checks an access token: RS256 with our key id, our issuer and audience, not
// expired, type "access", naming a session and a user. Every failure is an *maskservice.Error
// with code EUNAUTHORIZED and a short reason. The claims returned are the caller's own; their
// slices are shared with later calls for the same token and must not be changed.
func (t *Tokens) ParseAccess(token string) (*Claims, error) {
	sum := sha256.Sum256([]byte(token))
	t.mu.Lock()
	known := t.verified[sum]
	t.mu.Unlock()
	if known != nil {
		if !t.now().Before(known.ExpiresAt.Add(leeway)) {
			t.forget(sum)
			return nil, unauthorized("token expired")
		}
		c := *known
		return &c, nil
	}
	claims, err := t.parseAccess(token)
	if err != nil {
		return nil, err
	}
	t.remember(sum, claims)
	c := *claims
	return &c, nil
}

// remember keeps claims as verified under sum. When the table is full the expired entries
// go, and if that frees nothing, all of them: the next request of each token verifies again.
func (t *Tokens) remember(sum [sha256.Size]byte, claims *Claims) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verified) >= maxVerified {
		now := t.now()
		for k, c := range t.verified {
			if !now.Before(c.ExpiresAt.Add(leeway)) {
				delete(t.verified, k)
			}
		}
		if len(t.verified) >= maxVerified {
			clear(t.verified)
		}
	}
	t.verified[sum] = claims
}

func (t *Tokens) forget(sum [sha256.Size]byte) {
	t.mu.Lock()
	delete(t.verified, sum)
	t.mu.Unlock()
}

// parseAccess is ParseAccess without the memory of verified tokens.
func (t *Tokens) parseAccess(token string) (*Claims, error) {
	var claims Claims
	_, err := t.parser.ParseWithClaims(token, &claims, func(tok *jwt.Token) (any, error) {
		if kid, _ := tok.Header["kid"].(string); kid != t.keys.kid {
			return nil, errors.New("unknown key id")
		}
		return &t.keys.key.PublicKey, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, unauthorized("bad token signature")
	case err != nil:
		return nil, unauthorized("invalid token")
	case claims.Type != "access":
		return nil, unauthorized("not an access token")
	case claims.SessionID == "" || claims.Subject == "":
		return nil, unauthorized("invalid token")
	}
	return &claims, nil
}

func unauthorized(reason string) *maskservice.Error {
	return maskservice.Errorf(maskservice.EUNAUTHORIZED, "%s", reason)
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}
