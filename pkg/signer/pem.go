package signer

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// PEM block types.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemRSAKey      = "RSA PRIVATE KEY"
	pemECKey       = "EC PRIVATE KEY"
)

// ParseCertificatesPEM decodes every CERTIFICATE block of data, in order. It
// fails on any other block type, on data that is not PEM, and when there is
// no certificate at all.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("data after the last PEM block is not PEM")
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("unexpected PEM block %q where certificates were expected", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

// ParsePrivateKeyPEM decodes one private key in PKCS#8, PKCS#1 (RSA) or SEC 1
// (EC) form. Encrypted keys and anything after the key are refused.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(bytes.TrimSpace(data))
	if block == nil {
		return nil, errors.New("no PEM-encoded private key found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("unexpected data after the private key")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, errors.New("encrypted private keys are not supported")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemRSAKey:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemECKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q where a private key was expected", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key type %T cannot sign", key)
	}
	return s, nil
}

// EncodeCertificateDER returns der as one PEM CERTIFICATE block.
func EncodeCertificateDER(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// EncodeCertificates returns certs as concatenated PEM CERTIFICATE blocks.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var out bytes.Buffer
	for _, c := range certs {
		out.Write(EncodeCertificateDER(c.Raw))
	}
	return out.Bytes()
}

// UniqueCertificates returns certs without repeats (same DER), in order.
func UniqueCertificates(certs []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(certs))
	for _, c := range certs {
		if !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}

// Fingerprint returns the SHA-256 fingerprint of c as upper-case hex bytes
// separated by colons, the form `openssl x509 -fingerprint -sha256` prints.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}
