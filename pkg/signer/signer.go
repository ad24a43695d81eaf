package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
)

// Signer issues certificates with one CA. Implementations are safe for
// concurrent use and pick up a new CA (rotation) without a restart.
type Signer interface {
	// CA returns the CA the next call to Sign will use. Callers build the
	// template against it (see Template).
	CA(ctx context.Context) (*CA, error)
	// Sign signs tmpl, whose PublicKey is the subject's key, and returns the
	// issued certificate followed by the CA's chain, PEM-encoded. It returns
	// an error satisfying IsPermanent when this template can never be signed,
	// ErrCAChanged when tmpl was built against a CA that is no longer
	// current, and any other error when signing may succeed on retry.
	Sign(ctx context.Context, tmpl *x509.Certificate) ([]byte, error)
	// Check reports whether the signer can sign now: its CA and key load, the
	// key matches the certificate and the certificate is valid.
	Check(ctx context.Context) error
}

// CA describes the certificate authority a Signer issues with.
type CA struct {
	// Certificate is the issuing CA certificate.
	Certificate *x509.Certificate
	// Chain holds the certificates above Certificate, issuer first, that are
	// appended to every issued certificate. It is empty for a root CA.
	Chain []*x509.Certificate
	// Trusted is every CA certificate clients should trust for certificates
	// of this signer: Certificate, the top of Chain and any extra trust
	// anchors of the backend (a previous CA during rotation), without
	// duplicates.
	Trusted []*x509.Certificate
}

// ErrCAChanged is returned by Sign when the template names another CA than
// the current one, as happens when the CA rotates between CA and Sign. The
// caller rebuilds the template and retries.
var ErrCAChanged = errors.New("the CA changed while the certificate was being built")

// ErrDoNotRebuild is wrapped by the error of a backend that failed to open
// in a way that building it again with the same configuration would make
// worse (an HSM that refused a PIN locks it after a few tries). Whoever
// builds backends waits for the configuration to change before trying again.
var ErrDoNotRebuild = errors.New("do not rebuild the signer until its configuration changes")

// PermanentError means a request can never be signed by this signer: retrying
// cannot help and the CSR should be marked Failed.
type PermanentError struct {
	// Reason is a CamelCase code for conditions and Events.
	Reason string
	// Message explains the failure to a human; it holds no internal error text.
	Message string
	// Err is the underlying cause, for logs only.
	Err error
}

// Error implements error.
func (e *PermanentError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return e.Reason + ": " + e.Message
}

// Unwrap returns the underlying cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent returns a *PermanentError with the given reason and message.
func Permanent(reason, message string, err error) error {
	return &PermanentError{Reason: reason, Message: message, Err: err}
}

// IsPermanent returns the *PermanentError in err's chain, if any.
func IsPermanent(err error) (*PermanentError, bool) {
	var p *PermanentError
	ok := errors.As(err, &p)
	return p, ok
}
