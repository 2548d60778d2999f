package auth

import "crypto/rsa"

// PrivateKeyForTest exposes the signing key so tests can forge tokens with our kid.
func PrivateKeyForTest(k *KeySet) *rsa.PrivateKey { return k.key }
