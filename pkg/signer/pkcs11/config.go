package pkcs11

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// DefaultReloadInterval is how often a Signer looks again for a changed key
// or certificate in the token when Config.ReloadInterval is zero.
const DefaultReloadInterval = 5 * time.Second

// DefaultMaxSessions is how many sessions a Signer opens at most when
// Config.MaxSessions is zero.
const DefaultMaxSessions = 16

// ErrCgoRequired is what New returns in a binary built without cgo
// (CGO_ENABLED=0), which cannot load a PKCS#11 module.
var ErrCgoRequired = errors.New("PKCS#11 support needs a build with cgo")

// ErrPINRefused is wrapped by the errors of a token that refused the PIN
// (wrong, locked, expired). Retrying with the same PIN can only lock it:
// callers should wait for a new PIN before building another Signer. It wraps
// signer.ErrDoNotRebuild.
var ErrPINRefused = fmt.Errorf("the token refused the PIN: %w", signer.ErrDoNotRebuild)

// ErrClosed is returned by the methods of a Signer after Close.
var ErrClosed = errors.New("the PKCS#11 signer is closed")

// Config selects a key, and its CA certificate, in a PKCS#11 token.
//
// The key is the private key object (CKO_PRIVATE_KEY) whose CKA_LABEL is
// KeyLabel and whose CKA_ID is KeyID; an empty KeyLabel or KeyID is not
// matched on, and at least one must be set. Exactly one private key may
// match, and it needs its public key object or a certificate with the same
// CKA_ID next to it. The CA certificate is the certificate object
// (CKO_CERTIFICATE) matched by the same KeyLabel and KeyID; it must be
// unique too, and must certify the key.
type Config struct {
	// ModulePath is the absolute path of the vendor's PKCS#11 module (a
	// shared library). Loading a module runs its code in this process, so it
	// comes from the manager's command line, never from an API object.
	ModulePath string
	// TokenLabel is the label of the token (CKA_LABEL of the token info)
	// that holds the key.
	TokenLabel string
	// KeyLabel is the CKA_LABEL of the key and its certificate.
	KeyLabel string
	// KeyID is the CKA_ID of the key and its certificate.
	KeyID []byte
	// PIN is the user PIN of the token. It never appears in errors or in
	// the Config's String.
	PIN string
	// Chain holds the certificates above the token's certificate, its
	// issuer first, when that certificate is an intermediate CA. They are
	// appended to every issued certificate and the top one is trusted. A
	// CA rotated to another issuer needs a new Chain, that is a new Signer.
	Chain []*x509.Certificate
	// ExtraTrusted are further CA certificates to publish as trusted, such
	// as the previous CA during a rotation.
	ExtraTrusted []*x509.Certificate
	// Clock is used to check the CA's validity and to time ReloadInterval;
	// nil means the real clock.
	Clock clock.PassiveClock
	// ReloadInterval is how long a Signer uses what it found in the token
	// before looking again for a replaced key or certificate. Zero means
	// DefaultReloadInterval. Check always looks again.
	ReloadInterval time.Duration
	// MaxSessions is how many sessions with the token the Signer opens at
	// most, one of them held for its login; it bounds how many signatures
	// run at once, and a token's own lower limit wins. Zero means
	// DefaultMaxSessions; otherwise it must be at least 2.
	MaxSessions int
}

// String describes the configuration without the PIN, for logs.
func (c Config) String() string {
	return fmt.Sprintf("PKCS#11 module %s, token %s, key %s", c.ModulePath, strconv.Quote(c.TokenLabel), c.keyDescription())
}

// GoString is String, so that %#v does not print the PIN either.
func (c Config) GoString() string { return c.String() }

// keyDescription names the key by its label and ID for errors.
func (c Config) keyDescription() string {
	switch {
	case c.KeyLabel != "" && len(c.KeyID) > 0:
		return fmt.Sprintf("label %q, ID %x", c.KeyLabel, c.KeyID)
	case c.KeyLabel != "":
		return fmt.Sprintf("label %q", c.KeyLabel)
	default:
		return fmt.Sprintf("ID %x", c.KeyID)
	}
}
