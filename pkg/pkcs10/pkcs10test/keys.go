package pkcs10test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
	"testing"
)

// KeyFunc returns a test key, the same one on every call in a test binary.
// It fails the test when the key cannot be generated.
type KeyFunc func(testing.TB) crypto.Signer

// The test keys. RSA-1024 and P-224 are below what Parse accepts.
var (
	RSA1024 = cached(func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 1024) }) //nolint:gosec // too weak on purpose: Parse must refuse it
	RSA2048 = cached(func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	RSA4096 = cached(func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) })
	P224    = cached(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P224(), rand.Reader) })
	P256    = cached(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	P384    = cached(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) })
	P521    = cached(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) })
	Ed25519 = cached(func() (crypto.Signer, error) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating an Ed25519 key: %w", err)
		}
		return key, nil
	})
)

// cached makes a KeyFunc that generates its key once: RSA key generation is
// slow.
func cached(generate func() (crypto.Signer, error)) KeyFunc {
	once := sync.OnceValues(generate)
	return func(t testing.TB) crypto.Signer {
		t.Helper()
		key, err := once()
		if err != nil {
			t.Fatalf("generating test key: %v", err)
		}
		return key
	}
}
