package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"mask.services/maskservice"
)

// DefaultBcryptCost is the cost of password hashes (DESIGN.md: 12).
const DefaultBcryptCost = 12

// Bcrypt is the maskservice.PasswordHasher of the daemon and the user command: bcrypt at
// Cost (0: DefaultBcryptCost). Tests lower the cost.
type Bcrypt struct {
	Cost int
}

var _ maskservice.PasswordHasher = Bcrypt{}

// Hash returns the bcrypt hash of password at the hasher's cost.
func (b Bcrypt) Hash(password string) ([]byte, error) {
	cost := b.Cost
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// Compare returns nil when password matches the bcrypt hash, and an error otherwise.
func (Bcrypt) Compare(hash []byte, password string) error {
	return bcrypt.CompareHashAndPassword(hash, []byte(password))
}
