package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/utils/clock"
)

// ReasonInvalidTemplate is the reason of the permanent error KeyPair.Sign
// returns for a template it must not sign.
const ReasonInvalidTemplate = "InvalidTemplate"

// minCARSABits is the smallest RSA CA key nodetrust signs with.
const minCARSABits = 2048

// KeyPair is a Signer over one CA certificate and its private key. Backends
// load the certificate and obtain a crypto.Signer for the key (in memory or
// in a hardware module), then build a KeyPair and delegate to it; they
// replace the KeyPair when the CA changes.
type KeyPair struct {
	ca    *CA
	key   crypto.Signer
	clock clock.PassiveClock
	rand  io.Reader
}

var _ Signer = (*KeyPair)(nil)

// NewKeyPair checks and returns a KeyPair. certs holds the issuing CA
// certificate first, then the certificates above it, issuer after subject;
// key must be the issuing certificate's private key; extraTrusted are
// further CA certificates to publish as trusted. The issuing certificate
// must be a CA allowed to sign certificates, carry a subject key identifier
// and have an ECDSA P-256 or P-384, RSA of at least 2048 bits or Ed25519 key.
// Expiry is not checked here but by Check, so that an expired CA still
// reports its details.
func NewKeyPair(certs []*x509.Certificate, key crypto.Signer, extraTrusted []*x509.Certificate, clk clock.PassiveClock) (*KeyPair, error) {
	if len(certs) == 0 {
		return nil, errors.New("no CA certificate")
	}
	if key == nil {
		return nil, errors.New("no CA private key")
	}
	issuing := certs[0]
	if err := checkIssuingCA(issuing); err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(issuing.PublicKey) {
		return nil, fmt.Errorf("the private key does not match CA certificate %q", issuing.Subject)
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return nil, fmt.Errorf("chain certificate %q did not issue %q: %w", certs[i+1].Subject, certs[i].Subject, err)
		}
	}
	trusted := UniqueCertificates(append(append([]*x509.Certificate(nil), certs...), extraTrusted...))
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &KeyPair{
		ca:    &CA{Certificate: issuing, Chain: certs[1:], Trusted: trusted},
		key:   key,
		clock: clk,
		rand:  rand.Reader,
	}, nil
}

// checkIssuingCA checks that c may issue kubelet certificates.
func checkIssuingCA(c *x509.Certificate) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return fmt.Errorf("certificate %q is not a CA certificate", c.Subject)
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("CA certificate %q may not sign certificates (no certSign key usage)", c.Subject)
	case len(c.SubjectKeyId) == 0:
		return fmt.Errorf("CA certificate %q has no subject key identifier", c.Subject)
	}
	if err := checkCAKey(c.PublicKey); err != nil {
		return fmt.Errorf("CA certificate %q: %w", c.Subject, err)
	}
	return nil
}

func checkCAKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minCARSABits {
			return fmt.Errorf("RSA key of %d bits is too small (minimum %d)", k.N.BitLen(), minCARSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s is not supported (P-256 or P-384)", k.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("key type %T is not supported", pub)
	}
	return nil
}

// CA implements Signer.
func (k *KeyPair) CA(context.Context) (*CA, error) { return k.ca, nil }

// Check implements Signer: the CA must be within its validity period.
func (k *KeyPair) Check(context.Context) error {
	now := k.clock.Now()
	c := k.ca.Certificate
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("CA certificate %q is not valid before %s", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(c.NotAfter):
		return fmt.Errorf("CA certificate %q expired at %s", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Sign implements Signer.
func (k *KeyPair) Sign(_ context.Context, tmpl *x509.Certificate) ([]byte, error) {
	switch {
	case tmpl == nil || tmpl.PublicKey == nil:
		return nil, Permanent(ReasonInvalidTemplate, "the template has no public key", nil)
	case tmpl.IsCA:
		return nil, Permanent(ReasonInvalidTemplate, "nodetrust never issues CA certificates", nil)
	case !bytes.Equal(tmpl.AuthorityKeyId, k.ca.Certificate.SubjectKeyId):
		return nil, ErrCAChanged
	}
	der, err := x509.CreateCertificate(k.rand, tmpl, k.ca.Certificate, tmpl.PublicKey, k.key)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate: %w", err)
	}
	var out bytes.Buffer
	out.Write(EncodeCertificateDER(der))
	for _, c := range k.ca.Chain {
		out.Write(EncodeCertificateDER(c.Raw))
	}
	return out.Bytes(), nil
}
