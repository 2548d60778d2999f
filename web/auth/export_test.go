package auth

import "crypto/rsa"

// PrivateKeyForTest exposes the signing key so tests can forge tokens with our kid.
func PrivateKeyForTest(k *KeySet) *rsa.PrivateKey { return k.key }

// MaxVerified is how many verified tokens a Tokens remembers.
const MaxVerified = maxVerified

// VerifiedLen is how many verified tokens t remembers now.
func VerifiedLen(t *Tokens) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.verified)
}
