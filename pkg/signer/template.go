package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
)

// Validity bounds every issued certificate obeys.
const (
	// Backdate is how far NotBefore lies before the signing time, so that
	// clocks a little behind the signer's accept the certificate at once.
	Backdate = 5 * time.Minute
	// MinValidity is the shortest validity nodetrust issues, whatever the
	// request asks for. It matches the API's minimum expirationSeconds.
	MinValidity = 10 * time.Minute
	// serialBits is the size of the random serial number.
	serialBits = 128
)

// Reasons of the permanent errors Template returns.
const (
	ReasonUnsupportedSigner    = "UnsupportedSigner"
	ReasonUnsupportedPublicKey = "UnsupportedPublicKey"
	ReasonInvalidRequest       = "InvalidRequest"
	// ReasonCAKeyReused: the request carries the issuing CA's own public key.
	ReasonCAKeyReused = "CAKeyReused"
)

// ErrCAExpiresTooSoon means the CA's own validity ends less than MinValidity
// from now, so no certificate can be issued until the CA is rotated.
var ErrCAExpiresTooSoon = errors.New("the CA certificate expires too soon to issue any certificate")

// Request is what Template needs from a validated CSR. Only these fields
// reach the certificate: nothing else of the request, and none of its
// extensions, is copied.
type Request struct {
	// SignerName is the CSR's spec.signerName.
	SignerName string
	// CommonName and Organizations form the subject.
	CommonName    string
	Organizations []string
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string
	IPAddresses []net.IP
	// PublicKey is the subject's key: *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	PublicKey crypto.PublicKey
	// KeyEncipherment is true when the CSR's usages include "key
	// encipherment". It is honoured for RSA keys only.
	KeyEncipherment bool
	// ExpirationSeconds is the CSR's spec.expirationSeconds, nil when unset.
	ExpirationSeconds *int32
}

// Limits caps the validity of an issued certificate.
type Limits struct {
	// SignerMax is the signer's maximum validity. It must be positive.
	SignerMax time.Duration
	// PolicyMax is the governing policy's maximum; zero means no limit.
	PolicyMax time.Duration
}

// Template builds the certificate template for req, issued by ca at now.
//
// The subject is CommonName and Organizations; the SANs are the DNS names
// and IP addresses; the serial is a random 128-bit number read from random;
// NotBefore is now less Backdate (not before the CA's NotBefore); NotAfter is
// now plus the smallest of SignerMax, PolicyMax and ExpirationSeconds, at
// least MinValidity and never after the CA's NotAfter. Key usage is digital
// signature (plus key encipherment for RSA keys that asked for it) and the
// extended key usage is server auth for kubelet-serving and client auth for
// kube-apiserver-client-kubelet. The certificate is not a CA and carries the
// subject key identifier of its key and the authority key identifier of ca.
//
// A request Template can never build gives an error satisfying IsPermanent;
// ErrCAExpiresTooSoon and errors reading random are transient.
func Template(req Request, ca *x509.Certificate, limits Limits, now time.Time, random io.Reader) (*x509.Certificate, error) {
	var eku x509.ExtKeyUsage
	switch req.SignerName {
	case certificatesv1.KubeletServingSignerName:
		eku = x509.ExtKeyUsageServerAuth
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		eku = x509.ExtKeyUsageClientAuth
	default:
		return nil, Permanent(ReasonUnsupportedSigner,
			fmt.Sprintf("signer name %q is not one nodetrust signs for", req.SignerName), nil)
	}
	if req.CommonName == "" {
		return nil, Permanent(ReasonInvalidRequest, "the request has no common name", nil)
	}
	if limits.SignerMax <= 0 {
		return nil, fmt.Errorf("signer maximum validity %v is not positive", limits.SignerMax)
	}
	usage, err := keyUsage(req, ca)
	if err != nil {
		return nil, err
	}
	ski, err := SubjectKeyID(req.PublicKey)
	if err != nil {
		return nil, Permanent(ReasonUnsupportedPublicKey, "the public key cannot be encoded", err)
	}

	validity := limits.SignerMax
	if limits.PolicyMax > 0 {
		validity = min(validity, limits.PolicyMax)
	}
	if req.ExpirationSeconds != nil {
		validity = min(validity, time.Duration(*req.ExpirationSeconds)*time.Second)
	}
	validity = max(validity, MinValidity)
	if ca.NotAfter.Sub(now) < MinValidity {
		return nil, ErrCAExpiresTooSoon
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	notBefore := now.Add(-Backdate)
	if notBefore.Before(ca.NotBefore) {
		notBefore = ca.NotBefore
	}

	serial, err := randomSerial(random)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   req.CommonName,
			Organization: slices.Clone(req.Organizations),
		},
		DNSNames:              slices.Clone(req.DNSNames),
		IPAddresses:           cloneIPs(req.IPAddresses),
		PublicKey:             req.PublicKey,
		NotBefore:             notBefore.UTC().Truncate(time.Second),
		NotAfter:              notAfter.UTC().Truncate(time.Second),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		AuthorityKeyId:        slices.Clone(ca.SubjectKeyId),
	}, nil
}

// randomSerial returns a positive serial number of serialBits random bits.
func randomSerial(random io.Reader) (*big.Int, error) {
	buf := make([]byte, serialBits/8)
	for range 8 {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("reading a random serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(buf); n.Sign() > 0 {
			return n, nil
		}
	}
	return nil, errors.New("the random source returned only zero serial numbers")
}

func cloneIPs(ips []net.IP) []net.IP {
	if ips == nil {
		return nil
	}
	out := make([]net.IP, len(ips))
	for i, ip := range ips {
		out[i] = slices.Clone(ip)
	}
	return out
}

// SubjectKeyID returns the key identifier of pub: the leftmost 160 bits of
// the SHA-256 hash of its subjectPublicKey bit string (RFC 7093, method 1).
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding the public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// keyUsage is the key usage of a certificate for req's key: digital
// signature, and key encipherment for an RSA key that asked for it. Key
// types nodetrust does not issue for, and the issuing CA's own key (a leaf
// with it could pass for the CA), are refused permanently.
func keyUsage(req Request, ca *x509.Certificate) (x509.KeyUsage, error) {
	usage := x509.KeyUsageDigitalSignature
	switch req.PublicKey.(type) {
	case *rsa.PublicKey:
		if req.KeyEncipherment {
			usage |= x509.KeyUsageKeyEncipherment
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return 0, Permanent(ReasonUnsupportedPublicKey,
			fmt.Sprintf("public key type %T is not supported", req.PublicKey), nil)
	}
	if err := refuseCAKey(req.PublicKey, ca); err != nil {
		return 0, err
	}
	return usage, nil
}

// RefuseCAKeys returns a permanent ReasonCAKeyReused error when pub is the
// public key of any certificate ca holds: the issuing CA, the chain above
// it and every certificate it trusts (a previous CA during rotation). A
// leaf with such a key could pass for that CA.
func RefuseCAKeys(pub crypto.PublicKey, ca *CA) error {
	certs := append([]*x509.Certificate{ca.Certificate}, ca.Chain...)
	for _, c := range append(certs, ca.Trusted...) {
		if err := refuseCAKey(pub, c); err != nil {
			return err
		}
	}
	return nil
}

func refuseCAKey(pub crypto.PublicKey, ca *x509.Certificate) error {
	if ca == nil {
		return nil
	}
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(ca.PublicKey) {
		return Permanent(ReasonCAKeyReused, "the request carries the public key of a CA of this signer", nil)
	}
	return nil
}
