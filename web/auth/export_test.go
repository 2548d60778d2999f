package auth

import (
	"context"
	"crypto/rsa"

	"golang.org/x/crypto/bcrypt"

	"mask.services/maskservice"
)

// PrivateKeyForTest exposes the signing key so tests can forge tokens with our kid.
func PrivateKeyForTest(k *KeySet) *rsa.PrivateKey { return k.key }

// CompareForBench is one bcrypt comparison.
func CompareForBench(hash []byte, password string) error {
	return bcrypt.CompareHashAndPassword(hash, []byte(password))
}

// SetPasswordCost sets a password hashed at the given cost (benchmarks at cost 12 while
// the tests' service uses cost 4).
func (s *Service) SetPasswordCost(ctx context.Context, username, password string, cost int) error {
	hash, err := HashPassword(password, cost)
	if err != nil {
		return err
	}
	_, err = s.users.UpdateUser(ctx, username, func(u *maskservice.User) error { u.PasswordHash = hash; return nil })
	return err
}
