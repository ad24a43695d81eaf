package signertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// KeyType names a CA key type.
type KeyType string

// The CA key types the suite knows.
const (
	ECDSAP256 KeyType = "ECDSA-P256"
	ECDSAP384 KeyType = "ECDSA-P384"
	RSA2048   KeyType = "RSA-2048"
	RSA3072   KeyType = "RSA-3072"
	Ed25519   KeyType = "Ed25519"
)

// AllKeyTypes is every key type a backend may support.
var AllKeyTypes = []KeyType{ECDSAP256, ECDSAP384, RSA2048, RSA3072, Ed25519}

// CA is a test certificate authority.
type CA struct {
	// KeyType is the CA key's type.
	KeyType KeyType
	// Cert is the issuing CA certificate and Key its private key.
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the certificates above Cert, issuer after subject: empty
	// for a root CA, the root for an intermediate.
	Chain []*x509.Certificate
	// CertPEM is Cert followed by Chain; KeyPEM is Key in PKCS#8 form.
	CertPEM []byte
	KeyPEM  []byte
}

// NewKey returns a fresh private key of type kt.
func NewKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key type %q", kt)
	}
	if err != nil {
		t.Fatalf("generating a %s key: %v", kt, err)
	}
	return key
}

// NewCA returns a self-signed root CA with a key of type kt, valid from an
// hour ago for a year.
func NewCA(t testing.TB, kt KeyType, name string) *CA {
	t.Helper()
	return NewCAAt(t, kt, name, time.Now())
}

// NewCAAt is NewCA with now as the present, for tests on a fake clock: the
// CA is valid from an hour before now for a year.
func NewCAAt(t testing.TB, kt KeyType, name string, now time.Time) *CA {
	t.Helper()
	key := NewKey(t, kt)
	cert := issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"nodetrust test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, key.Public(), nil, key)
	return newCA(t, kt, cert, key, nil)
}

// NewIntermediateCA returns a CA with a key of type kt issued by root.
func NewIntermediateCA(t testing.TB, kt KeyType, name string, root *CA) *CA {
	t.Helper()
	key := NewKey(t, kt)
	now := time.Now()
	cert := issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"nodetrust test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(180 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, key.Public(), root.Cert, root.Key)
	return newCA(t, kt, cert, key, append([]*x509.Certificate{root.Cert}, root.Chain...))
}

func newCA(t testing.TB, kt KeyType, cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) *CA {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encoding the CA key: %v", err)
	}
	return &CA{
		KeyType: kt,
		Cert:    cert,
		Key:     key,
		Chain:   chain,
		CertPEM: signer.EncodeCertificates(append([]*x509.Certificate{cert}, chain...)),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// issue signs tmpl for pub with parent and parentKey, self-signed when
// parent is nil, giving it a random serial and a subject key identifier.
func issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	if tmpl.SubjectKeyId, err = signer.SubjectKeyID(pub); err != nil {
		t.Fatalf("subject key id: %v", err)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("creating %s: %v", tmpl.Subject, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing %s: %v", tmpl.Subject, err)
	}
	return cert
}

// String describes the CA for test names.
func (c *CA) String() string {
	return fmt.Sprintf("%s CA %q", c.KeyType, c.Cert.Subject.CommonName)
}
