package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
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

// Tokens issues and checks access tokens.
type Tokens struct {
	keys     *KeySet
	issuer   string
	audience string
	now      func() time.Time
	parser   *jwt.Parser
}

// NewTokens returns the token machinery for keys; now defaults to time.Now.
func NewTokens(keys *KeySet, issuer, audience string, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{keys: keys, issuer: issuer, audience: audience, now: now,
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
// with code EUNAUTHORIZED and a short reason.
func (t *Tokens) ParseAccess(token string) (*Claims, error) {
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
