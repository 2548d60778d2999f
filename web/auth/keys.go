// Package auth is sign-in for maskserviced: the RSA key that signs access tokens, the tokens
// themselves (RS256 JWTs through golang-jwt), and the Service that checks passwords, counts
// failures, keeps sessions and rotates refresh tokens. It knows nothing of HTTP; web wires it.
package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// keyBits is the size of a generated signing key.
const keyBits = 2048

// KeySet is the private key that signs access tokens, with its key id (kid).
type KeySet struct {
	key *rsa.PrivateKey
	kid string
}

// KID returns the key id that every token names in its header: the first 16 hex digits of the
// SHA-256 of the public key (DER), so a new key never matches an old token.
func (k *KeySet) KID() string { return k.kid }

// Public returns the public half of the key.
func (k *KeySet) Public() *rsa.PublicKey { return &k.key.PublicKey }

// NewKeySet wraps an existing key.
func NewKeySet(key *rsa.PrivateKey) (*KeySet, error) {
	if key.N.BitLen() < keyBits {
		return nil, fmt.Errorf("signing key has %d bits, want at least %d", key.N.BitLen(), keyBits)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &KeySet{key: key, kid: hex.EncodeToString(sum[:8])}, nil
}

// LoadOrCreateKey reads the PEM (PKCS #8) RSA key at path, or generates one there at first
// start. The file is created 0600 by writing a temporary file, syncing it and renaming it, so
// a power cut leaves either no key or a whole one. An existing file that group or others can
// read is refused: whoever reads it can sign in as anyone.
func LoadOrCreateKey(path string) (*KeySet, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKey(path)
	case err != nil:
		return nil, fmt.Errorf("signing key: %w", err)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("signing key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s: not a PEM \"PRIVATE KEY\" (PKCS #8)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not an RSA key", path)
	}
	return NewKeySet(key)
}

func createKey(path string) (*KeySet, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".jwt-key-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err == nil {
		err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err == nil {
			err = syncDir(dir)
		}
		if err != nil {
			return nil, fmt.Errorf("write signing key %s: %w", path, err)
		}
	} else {
		_ = tmp.Close()
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	return NewKeySet(key)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
