package signer

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"

	"k8s.io/utils/clock"
)

// Source is where a reloading backend reads its CA from.
type Source interface {
	// Version cheaply identifies the material Load would read: it changes
	// whenever the material may have changed (a resourceVersion, file
	// sizes and modification times).
	Version(ctx context.Context) (string, error)
	// Load reads the material and builds a KeyPair from it.
	Load(ctx context.Context) (*KeyPair, error)
}

// Reloading is a Signer over a Source: before each use it asks the source
// for its version and reloads the KeyPair when the version changed. A load
// that fails is remembered for its version, so a broken CA is reported, not
// re-parsed, until the operator changes it.
type Reloading struct {
	src Source

	mu      sync.Mutex
	version string
	loaded  bool
	kp      *KeyPair
	err     error
}

var _ Signer = (*Reloading)(nil)

// NewReloading returns a Signer that reloads from src.
func NewReloading(src Source) *Reloading { return &Reloading{src: src} }

func (r *Reloading) current(ctx context.Context) (*KeyPair, error) {
	version, err := r.src.Version(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded || version != r.version {
		r.kp, r.err = r.src.Load(ctx)
		r.version, r.loaded = version, true
	}
	return r.kp, r.err
}

// CA implements Signer.
func (r *Reloading) CA(ctx context.Context) (*CA, error) {
	kp, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	return kp.CA(ctx)
}

// Sign implements Signer.
func (r *Reloading) Sign(ctx context.Context, tmpl *x509.Certificate) ([]byte, error) {
	kp, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	return kp.Sign(ctx, tmpl)
}

// Check implements Signer.
func (r *Reloading) Check(ctx context.Context) error {
	kp, err := r.current(ctx)
	if err != nil {
		return err
	}
	return kp.Check(ctx)
}

// LoadKeyPairPEM builds a KeyPair from PEM material: certPEM holds the
// issuing CA certificate followed by its chain, keyPEM its private key and
// trustedPEM (optional) further CA certificates to trust.
func LoadKeyPairPEM(certPEM, keyPEM, trustedPEM []byte, clk clock.PassiveClock) (*KeyPair, error) {
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	var trusted []*x509.Certificate
	if len(trustedPEM) > 0 {
		if trusted, err = ParseCertificatesPEM(trustedPEM); err != nil {
			return nil, fmt.Errorf("trusted CA certificates: %w", err)
		}
	}
	return NewKeyPair(certs, key, trusted, clk)
}
