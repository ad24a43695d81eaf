//go:build !cgo

package pkcs11

import (
	"context"
	"crypto/x509"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Signer is a signer.Signer whose CA key stays in a PKCS#11 token. This
// binary was built without cgo, so no Signer can be built: New always fails
// with ErrCgoRequired.
type Signer struct{}

var _ signer.Signer = (*Signer)(nil)

// New fails with ErrCgoRequired: loading a PKCS#11 module needs cgo.
func New(Config) (*Signer, error) { return nil, ErrCgoRequired }

// CA implements signer.Signer; it fails with ErrCgoRequired.
func (*Signer) CA(context.Context) (*signer.CA, error) { return nil, ErrCgoRequired }

// Sign implements signer.Signer; it fails with ErrCgoRequired.
func (*Signer) Sign(context.Context, *x509.Certificate) ([]byte, error) { return nil, ErrCgoRequired }

// Check implements signer.Signer; it fails with ErrCgoRequired.
func (*Signer) Check(context.Context) error { return ErrCgoRequired }

// Close does nothing.
func (*Signer) Close() error { return nil }

// Supported reports whether this binary can load PKCS#11 modules: it was
// built without cgo, so it cannot.
const Supported = false
