package pkcs10

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

var (
	csrTestOIDKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
	csrTestOIDExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	csrTestOIDChallenge   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}
)

// csrTestSpec is what csrTestDER builds a request from.
type csrTestSpec struct {
	key      crypto.Signer
	template x509.CertificateRequest
	err      error
}

// csrTestOption changes the request csrTestDER builds.
type csrTestOption func(*csrTestSpec)

func csrTestWithKey(key crypto.Signer) csrTestOption {
	return func(s *csrTestSpec) { s.key = key }
}

func csrTestWithSubject(name pkix.Name) csrTestOption {
	return func(s *csrTestSpec) { s.template.Subject = name }
}

// csrTestWithRawSubject sets the subject DER verbatim; values may be
// asn1.RawValue to choose their encoding.
func csrTestWithRawSubject(rdns pkix.RDNSequence) csrTestOption {
	return func(s *csrTestSpec) {
		s.template.RawSubject, s.err = asn1.Marshal(rdns)
	}
}

func csrTestWithDNS(names ...string) csrTestOption {
	return func(s *csrTestSpec) { s.template.DNSNames = append(s.template.DNSNames, names...) }
}

func csrTestWithIPs(ips ...string) csrTestOption {
	return func(s *csrTestSpec) {
		for _, ip := range ips {
			s.template.IPAddresses = append(s.template.IPAddresses, net.ParseIP(ip))
		}
	}
}

func csrTestWithURIs(uris ...string) csrTestOption {
	return func(s *csrTestSpec) {
		for _, raw := range uris {
			u, err := url.Parse(raw)
			if err != nil {
				s.err = err
				return
			}
			s.template.URIs = append(s.template.URIs, u)
		}
	}
}

func csrTestWithEmails(emails ...string) csrTestOption {
	return func(s *csrTestSpec) { s.template.EmailAddresses = append(s.template.EmailAddresses, emails...) }
}

func csrTestWithExtraExtension(ext pkix.Extension) csrTestOption {
	return func(s *csrTestSpec) { s.template.ExtraExtensions = append(s.template.ExtraExtensions, ext) }
}

// csrTestWithRawSAN adds a subjectAltName extension holding exactly names.
func csrTestWithRawSAN(names ...asn1.RawValue) csrTestOption {
	return func(s *csrTestSpec) {
		value, err := asn1.Marshal(names)
		if err != nil {
			s.err = err
			return
		}
		csrTestWithExtraExtension(pkix.Extension{Id: csrOIDSubjectAltName, Value: value})(s)
	}
}

// csrTestKubeletSubject is O=system:nodes, CN=system:node:worker-1.
func csrTestKubeletSubject() pkix.Name {
	return pkix.Name{CommonName: "system:node:worker-1", Organization: []string{"system:nodes"}}
}

// csrTestDER builds a signed request: by default a P-256 key, the kubelet
// subject and no SANs.
func csrTestDER(t testing.TB, opts ...csrTestOption) []byte {
	t.Helper()
	spec := csrTestSpec{key: pkcs10test.P256(t)}
	spec.template.Subject = csrTestKubeletSubject()
	for _, opt := range opts {
		opt(&spec)
	}
	if spec.err != nil {
		t.Fatalf("building test request: %v", spec.err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &spec.template, spec.key)
	if err != nil {
		t.Fatalf("creating test request: %v", err)
	}
	return der
}

// csrTestPEM is csrTestDER, PEM-encoded.
func csrTestPEM(t testing.TB, opts ...csrTestOption) []byte {
	t.Helper()
	return csrTestEncode(csrTestDER(t, opts...))
}

func csrTestEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func csrTestMarshal(t testing.TB, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatalf("marshalling %T: %v", v, err)
	}
	return der
}

// csrTestGeneralName is a primitive SAN entry with the given tag.
func csrTestGeneralName(tag int, value []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: value}
}

// csrTestString is a subject value with an explicit ASN.1 string tag.
func csrTestString(tag int, value string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)}
}

func csrTestATV(oid asn1.ObjectIdentifier, value any) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: value}
}

// csrTestRDNs is a subject with one attribute per RDN.
func csrTestRDNs(atvs ...pkix.AttributeTypeAndValue) pkix.RDNSequence {
	var rdns pkix.RDNSequence
	for _, atv := range atvs {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{atv})
	}
	return rdns
}

// csrTestRequest and csrTestInfo mirror RFC 2986 for rebuilding requests.
type csrTestRequest struct {
	Info               asn1.RawValue
	SignatureAlgorithm asn1.RawValue
	Signature          asn1.BitString
}

type csrTestInfo struct {
	Version    int
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Attributes []asn1.RawValue `asn1:"tag:0"`
}

// csrTestRebuild decodes a request made by csrTestDER, lets mutate change its
// CertificationRequestInfo and signs the result again with signer, which
// must be of the same kind as the original key.
func csrTestRebuild(t testing.TB, der []byte, signer crypto.Signer, mutate func(*csrTestInfo)) []byte {
	t.Helper()
	var req csrTestRequest
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		t.Fatalf("decoding test request: %v", err)
	}
	var info csrTestInfo
	if _, err := asn1.Unmarshal(req.Info.FullBytes, &info); err != nil {
		t.Fatalf("decoding test request info: %v", err)
	}
	mutate(&info)
	tbs := csrTestMarshal(t, info)
	req.Info = asn1.RawValue{FullBytes: tbs}
	signature, err := csrTestSign(signer, tbs)
	if err != nil {
		t.Fatalf("signing test request: %v", err)
	}
	req.Signature = asn1.BitString{Bytes: signature, BitLength: 8 * len(signature)}
	return csrTestMarshal(t, req)
}

// csrTestSignSHA1 re-signs der, which key signed, with SHA-1: a signature
// that verifies but that crypto/x509 no longer makes.
func csrTestSignSHA1(t testing.TB, der []byte, key crypto.Signer) []byte {
	t.Helper()
	var req csrTestRequest
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		t.Fatalf("decoding test request: %v", err)
	}
	oid := asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1} // ecdsa-with-SHA1
	algorithm := []any{oid}
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		algorithm = []any{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, asn1.NullRawValue} // sha1WithRSAEncryption
	}
	req.SignatureAlgorithm = asn1.RawValue{FullBytes: csrTestMarshal(t, algorithm)}
	digest := sha1.Sum(req.Info.FullBytes)
	signature, err := key.Sign(rand.Reader, digest[:], crypto.SHA1)
	if err != nil {
		t.Fatalf("signing with SHA-1: %v", err)
	}
	req.Signature = asn1.BitString{Bytes: signature, BitLength: 8 * len(signature)}
	return csrTestMarshal(t, req)
}

// csrTestSign signs tbs the way x509.CreateCertificateRequest does by default.
func csrTestSign(signer crypto.Signer, tbs []byte) ([]byte, error) {
	switch key := signer.Public().(type) {
	case ed25519.PublicKey:
		return signer.Sign(rand.Reader, tbs, crypto.Hash(0))
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P384():
			digest := sha512.Sum384(tbs)
			return signer.Sign(rand.Reader, digest[:], crypto.SHA384)
		case elliptic.P521():
			digest := sha512.Sum512(tbs)
			return signer.Sign(rand.Reader, digest[:], crypto.SHA512)
		}
	}
	digest := sha256.Sum256(tbs)
	return signer.Sign(rand.Reader, digest[:], crypto.SHA256)
}

// csrTestWithPublicKey replaces the SubjectPublicKeyInfo of a P-256 request.
func csrTestWithPublicKey(t testing.TB, spki []byte) []byte {
	t.Helper()
	return csrTestEncode(csrTestRebuild(t, csrTestDER(t), pkcs10test.P256(t), func(info *csrTestInfo) {
		info.PublicKey = asn1.RawValue{FullBytes: spki}
	}))
}

// csrTestRSASPKI is an RSA SubjectPublicKeyInfo with a fake modulus of
// exactly bits bits; nobody holds its private key.
func csrTestRSASPKI(t testing.TB, bits, exponent int) []byte {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Or(n, big.NewInt(1))
	spki, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: exponent})
	if err != nil {
		t.Fatalf("marshalling RSA key: %v", err)
	}
	return spki
}

// csrTestDSASPKI is a DSA SubjectPublicKeyInfo with toy parameters.
func csrTestDSASPKI(t testing.TB) []byte {
	t.Helper()
	params := csrTestMarshal(t, struct{ P, Q, G *big.Int }{big.NewInt(23), big.NewInt(11), big.NewInt(4)})
	y := csrTestMarshal(t, big.NewInt(9))
	return csrTestMarshal(t, struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		Algorithm: pkix.AlgorithmIdentifier{
			Algorithm:  asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1},
			Parameters: asn1.RawValue{FullBytes: params},
		},
		PublicKey: asn1.BitString{Bytes: y, BitLength: 8 * len(y)},
	})
}

// csrTestX25519SPKI is an X25519 SubjectPublicKeyInfo, a key-agreement key
// that crypto/x509 does not parse in requests.
func csrTestX25519SPKI(t testing.TB) []byte {
	t.Helper()
	key := bytes.Repeat([]byte{9}, 32)
	return csrTestMarshal(t, struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 101, 110}},
		PublicKey: asn1.BitString{Bytes: key, BitLength: 256},
	})
}

// csrTestAttribute is a PKCS#10 attribute with one value.
func csrTestAttribute(t testing.TB, oid asn1.ObjectIdentifier, value any) asn1.RawValue {
	t.Helper()
	return asn1.RawValue{FullBytes: csrTestMarshal(t, struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}{oid, []asn1.RawValue{{FullBytes: csrTestMarshal(t, value)}}})}
}

// csrTestFlipSignature corrupts the last signature byte of a request.
func csrTestFlipSignature(t testing.TB, der []byte) []byte {
	t.Helper()
	var req csrTestRequest
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		t.Fatalf("decoding test request: %v", err)
	}
	req.Signature.Bytes = bytes.Clone(req.Signature.Bytes)
	req.Signature.Bytes[len(req.Signature.Bytes)-1] ^= 0x01
	return csrTestMarshal(t, req)
}

// csrTestPadTo appends newlines to p until it is n bytes long.
func csrTestPadTo(p []byte, n int) []byte {
	return append(bytes.Clone(p), bytes.Repeat([]byte("\n"), n-len(p))...)
}

func csrTestBasicConstraints(t testing.TB, isCA bool) pkix.Extension {
	t.Helper()
	value := csrTestMarshal(t, struct {
		IsCA bool `asn1:"optional"`
	}{isCA})
	return pkix.Extension{Id: csrOIDBasicConstraints, Critical: true, Value: value}
}

// csrTestCheckKubelet asserts the default kubelet subject and the SANs of
// csrTestWithDNS("worker-1.example.com") and csrTestWithIPs("10.0.0.1", "fd00::1").
func csrTestCheckKubelet(want KeyInfo) func(*testing.T, *Request) {
	return func(t *testing.T, p *Request) {
		t.Helper()
		if p.CommonName != "system:node:worker-1" {
			t.Errorf("CommonName = %q, want system:node:worker-1", p.CommonName)
		}
		if !slices.Equal(p.Organizations, []string{"system:nodes"}) {
			t.Errorf("Organizations = %q, want [system:nodes]", p.Organizations)
		}
		if !slices.Equal(p.DNSNames, []string{"worker-1.example.com"}) {
			t.Errorf("DNSNames = %q, want [worker-1.example.com]", p.DNSNames)
		}
		wantIPs := []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("fd00::1")}
		if !slices.EqualFunc(p.IPAddresses, wantIPs, net.IP.Equal) {
			t.Errorf("IPAddresses = %v, want %v", p.IPAddresses, wantIPs)
		}
		if p.Key != want {
			t.Errorf("Key = %+v, want %+v", p.Key, want)
		}
		if p.CSR == nil {
			t.Errorf("CSR is nil")
		}
	}
}

func TestParse(t *testing.T) {
	kubeletSANs := []csrTestOption{
		csrTestWithDNS("worker-1.example.com"),
		csrTestWithIPs("10.0.0.1", "fd00::1"),
	}
	withSANs := func(opts ...csrTestOption) []csrTestOption {
		return append(slices.Clone(kubeletSANs), opts...)
	}

	tests := map[string]struct {
		pem func(t *testing.T) []byte
		// want is the set of reasons reported; empty means the request is accepted.
		want []string
		// wantMessage, if set, must appear in the joined violation messages.
		wantMessage string
		// check, if set, inspects an accepted request.
		check func(t *testing.T, p *Request)
	}{
		"an RSA-2048 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.RSA2048(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmRSA, Bits: 2048}),
		},
		"an RSA-4096 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.RSA4096(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmRSA, Bits: 4096}),
		},
		"an ECDSA P-256 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.P256(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmECDSA, Bits: 256, Curve: "P-256"}),
		},
		"an ECDSA P-384 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.P384(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmECDSA, Bits: 384, Curve: "P-384"}),
		},
		"an ECDSA P-521 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.P521(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmECDSA, Bits: 521, Curve: "P-521"}),
		},
		"an Ed25519 kubelet request with DNS and IP SANs is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, withSANs(csrTestWithKey(pkcs10test.Ed25519(t)))...)
			},
			check: csrTestCheckKubelet(KeyInfo{Algorithm: KeyAlgorithmEd25519, Bits: 256}),
		},
		"a client request without SANs or organization is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithSubject(pkix.Name{CommonName: "system:node:worker-1"}))
			},
			check: func(t *testing.T, p *Request) {
				if p.CommonName != "system:node:worker-1" || len(p.Organizations) != 0 || len(p.DNSNames) != 0 || len(p.IPAddresses) != 0 {
					t.Errorf("got %+v, want only a CN", p)
				}
			},
		},
		"a request with two organizations in separate RDNs keeps them in order": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDOrganization, "b"),
					csrTestATV(csrOIDOrganization, "a"),
					csrTestATV(csrOIDCommonName, "n"),
				)))
			},
			check: func(t *testing.T, p *Request) {
				if !slices.Equal(p.Organizations, []string{"b", "a"}) {
					t.Errorf("Organizations = %q, want [b a]", p.Organizations)
				}
			},
		},
		"a request surrounded by whitespace and padded to exactly MaxPEMBytes is accepted": {
			pem: func(t *testing.T) []byte {
				return csrTestPadTo(append([]byte("\t \r\n"), csrTestPEM(t)...), MaxPEMBytes)
			},
		},
		"a request with CRLF line endings is accepted": {
			pem: func(t *testing.T) []byte {
				return bytes.ReplaceAll(csrTestPEM(t), []byte("\n"), []byte("\r\n"))
			},
		},
		"a request one byte over MaxPEMBytes is denied as RequestTooLarge": {
			pem: func(t *testing.T) []byte {
				return csrTestPadTo(csrTestPEM(t), MaxPEMBytes+1)
			},
			want:        []string{"RequestTooLarge"},
			wantMessage: "16385 bytes",
		},
		"empty input is denied as MalformedPEM": {
			pem:  func(*testing.T) []byte { return nil },
			want: []string{"MalformedPEM"},
		},
		"raw DER instead of PEM is denied as MalformedPEM": {
			pem:  func(t *testing.T) []byte { return csrTestDER(t) },
			want: []string{"MalformedPEM"},
		},
		"a CERTIFICATE block is denied as UnexpectedPEMType": {
			pem: func(t *testing.T) []byte {
				return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: csrTestDER(t)})
			},
			want:        []string{"UnexpectedPEMType"},
			wantMessage: `"CERTIFICATE"`,
		},
		"a NEW CERTIFICATE REQUEST block is denied as UnexpectedPEMType": {
			pem: func(t *testing.T) []byte {
				return pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: csrTestDER(t)})
			},
			want: []string{"UnexpectedPEMType"},
		},
		"a PEM block with headers is denied as UnexpectedPEMType": {
			pem: func(t *testing.T) []byte {
				return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: map[string]string{"Comment": "x"}, Bytes: csrTestDER(t)})
			},
			want:        []string{"UnexpectedPEMType"},
			wantMessage: "headers",
		},
		"two PEM blocks are denied as MultiplePEMBlocks": {
			pem: func(t *testing.T) []byte {
				return append(csrTestPEM(t), csrTestPEM(t)...)
			},
			want: []string{"MultiplePEMBlocks"},
		},
		"text after the PEM block is denied as TrailingData": {
			pem: func(t *testing.T) []byte {
				return append(csrTestPEM(t), "junk\n"...)
			},
			want:        []string{"TrailingData"},
			wantMessage: "after",
		},
		"text before the PEM block is denied as TrailingData": {
			pem: func(t *testing.T) []byte {
				return append([]byte("junk\n"), csrTestPEM(t)...)
			},
			want:        []string{"TrailingData"},
			wantMessage: "before",
		},
		"a broken PEM block before a valid one is denied as TrailingData": {
			pem: func(t *testing.T) []byte {
				return append([]byte("-----BEGIN CERTIFICATE REQUEST-----\n!!!\n"), csrTestPEM(t)...)
			},
			want: []string{"TrailingData"},
		},
		"a PEM block that is not DER is denied as MalformedRequest": {
			pem:  func(*testing.T) []byte { return csrTestEncode([]byte("not a request")) },
			want: []string{"MalformedRequest"},
		},
		"a request with bytes after its DER is denied as MalformedRequest": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(append(csrTestDER(t), 0x00, 0x00))
			},
			want: []string{"MalformedRequest"},
		},
		"a request with version 2 is denied as MalformedRequest": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestRebuild(t, csrTestDER(t), pkcs10test.P256(t), func(info *csrTestInfo) {
					info.Version = 1
				}))
			},
			want: []string{"MalformedRequest"},
		},
		"a request with a flipped signature byte is denied as InvalidSignature": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestFlipSignature(t, csrTestDER(t, csrTestWithKey(pkcs10test.RSA2048(t)))))
			},
			want: []string{"InvalidSignature"},
		},
		"a request signed by another key is denied as InvalidSignature": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestRebuild(t, csrTestDER(t), pkcs10test.P256(t), func(info *csrTestInfo) {
					other, err := x509.MarshalPKIXPublicKey(pkcs10test.P384(t).Public())
					if err != nil {
						t.Fatal(err)
					}
					info.PublicKey = asn1.RawValue{FullBytes: other}
				}))
			},
			want: []string{"InvalidSignature"},
		},
		"a request signed with SHA-1 and RSA is denied as WeakSignature": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestSignSHA1(t, csrTestDER(t, csrTestWithKey(pkcs10test.RSA2048(t))), pkcs10test.RSA2048(t)))
			},
			want: []string{"WeakSignature"},
		},
		"a request signed with SHA-1 and ECDSA is denied as WeakSignature": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestSignSHA1(t, csrTestDER(t), pkcs10test.P256(t)))
			},
			want: []string{"WeakSignature"},
		},
		"a multi-valued RDN is denied as SubjectMultiValuedRDN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(pkix.RDNSequence{{
					csrTestATV(csrOIDOrganization, "system:nodes"),
					csrTestATV(csrOIDCommonName, "system:node:worker-1"),
				}}))
			},
			want:        []string{"SubjectMultiValuedRDN"},
			wantMessage: "RDN #1 has 2 attributes",
		},
		"an OU attribute is denied as SubjectUnexpectedAttribute": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithSubject(pkix.Name{CommonName: "system:node:worker-1", OrganizationalUnit: []string{"x"}}))
			},
			want:        []string{"SubjectUnexpectedAttribute"},
			wantMessage: "2.5.4.11 (OU)",
		},
		"an emailAddress attribute is denied as SubjectUnexpectedAttribute": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, "system:node:worker-1"),
					csrTestATV(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, csrTestString(22, "a@b.c")),
				)))
			},
			// The IA5String value is also not an allowed string type.
			want:        []string{"SubjectUnexpectedAttribute", "SubjectInvalidString"},
			wantMessage: "emailAddress",
		},
		"two CNs are denied as SubjectMultipleCommonNames": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, "system:node:worker-1"),
					csrTestATV(csrOIDCommonName, "system:node:worker-2"),
				)))
			},
			want: []string{"SubjectMultipleCommonNames"},
		},
		"a subject without CN is denied as SubjectMissingCommonName": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithSubject(pkix.Name{Organization: []string{"system:nodes"}}))
			},
			want: []string{"SubjectMissingCommonName"},
		},
		"an empty CN is denied as SubjectMissingCommonName": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(csrTestATV(csrOIDCommonName, ""))))
			},
			want:        []string{"SubjectMissingCommonName"},
			wantMessage: "CN is empty",
		},
		"the same O twice is denied as SubjectDuplicateRDN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, "n"),
					csrTestATV(csrOIDOrganization, "system:nodes"),
					csrTestATV(csrOIDOrganization, "system:nodes"),
				)))
			},
			want:        []string{"SubjectDuplicateRDN"},
			wantMessage: `O "system:nodes" appears more than once`,
		},
		"two organizations set through pkix.Name share one RDN and are denied as SubjectMultiValuedRDN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithSubject(pkix.Name{CommonName: "n", Organization: []string{"a", "b"}}))
			},
			want: []string{"SubjectMultiValuedRDN"},
		},
		"a CN with a NUL byte is denied as SubjectInvalidString": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, csrTestString(csrTagUTF8String, "system:node:a\x00.evil")),
				)))
			},
			want:        []string{"SubjectInvalidString"},
			wantMessage: `"system:node:a\x00.evil" contains control characters`,
		},
		"a CN encoded as BMPString is denied as SubjectInvalidString": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, csrTestString(30, "\x00n")),
				)))
			},
			want:        []string{"SubjectInvalidString"},
			wantMessage: "tag 30",
		},
		"a PrintableString CN with an underscore is denied as SubjectInvalidString": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, csrTestString(csrTagPrintableString, "system_node")),
				)))
			},
			// crypto/x509 refuses the string as well.
			want: []string{"SubjectInvalidString", "MalformedRequest"},
		},
		"an O that is not valid UTF-8 is denied as SubjectInvalidString": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSubject(csrTestRDNs(
					csrTestATV(csrOIDCommonName, "n"),
					csrTestATV(csrOIDOrganization, csrTestString(csrTagUTF8String, "\xff")),
				)))
			},
			// crypto/x509 refuses the string as well.
			want: []string{"SubjectInvalidString", "MalformedRequest"},
		},
		"basicConstraints with CA:true is denied as DisallowedExtension": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithExtraExtension(csrTestBasicConstraints(t, true)))
			},
			want:        []string{"DisallowedExtension"},
			wantMessage: "2.5.29.19 (basicConstraints) requests CA:true",
		},
		"basicConstraints with CA:false is denied as DisallowedExtension": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithExtraExtension(csrTestBasicConstraints(t, false)))
			},
			want:        []string{"DisallowedExtension"},
			wantMessage: "2.5.29.19 (basicConstraints) is not allowed",
		},
		"a keyUsage extension is denied as DisallowedExtension": {
			pem: func(t *testing.T) []byte {
				value := csrTestMarshal(t, asn1.BitString{Bytes: []byte{0x80}, BitLength: 1})
				return csrTestPEM(t, csrTestWithExtraExtension(pkix.Extension{Id: csrTestOIDKeyUsage, Value: value}))
			},
			want:        []string{"DisallowedExtension"},
			wantMessage: "2.5.29.15 (keyUsage)",
		},
		"an extKeyUsage extension is denied as DisallowedExtension": {
			pem: func(t *testing.T) []byte {
				value := csrTestMarshal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}})
				return csrTestPEM(t, csrTestWithExtraExtension(pkix.Extension{Id: csrTestOIDExtKeyUsage, Value: value}))
			},
			want:        []string{"DisallowedExtension"},
			wantMessage: "2.5.29.37 (extKeyUsage)",
		},
		"an unknown extension is denied as DisallowedExtension naming its OID": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithExtraExtension(pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{0x05, 0x00}}))
			},
			want:        []string{"DisallowedExtension"},
			wantMessage: "extension 1.2.3.4 is not allowed",
		},
		"a duplicated subjectAltName extension is denied as DisallowedExtension": {
			pem: func(t *testing.T) []byte {
				dns := csrTestGeneralName(csrSANDNSName, []byte("a.example.com"))
				return csrTestPEM(t, csrTestWithRawSAN(dns), csrTestWithRawSAN(dns))
			},
			// crypto/x509 refuses duplicate extensions as well.
			want:        []string{"DisallowedExtension", "MalformedRequest"},
			wantMessage: "2.5.29.17 (subjectAltName) appears more than once",
		},
		"a challengePassword attribute is denied as DisallowedAttribute": {
			pem: func(t *testing.T) []byte {
				return csrTestEncode(csrTestRebuild(t, csrTestDER(t), pkcs10test.P256(t), func(info *csrTestInfo) {
					info.Attributes = append(info.Attributes, csrTestAttribute(t, csrTestOIDChallenge, "secret"))
				}))
			},
			want:        []string{"DisallowedAttribute"},
			wantMessage: "1.2.840.113549.1.9.7 (challengePassword)",
		},
		"two extensionRequest attributes are denied as DisallowedAttribute": {
			pem: func(t *testing.T) []byte {
				der := csrTestDER(t, csrTestWithDNS("a.example.com"))
				return csrTestEncode(csrTestRebuild(t, der, pkcs10test.P256(t), func(info *csrTestInfo) {
					info.Attributes = append(info.Attributes, info.Attributes[0])
				}))
			},
			// Both carry a subjectAltName, which crypto/x509 refuses too.
			want: []string{"DisallowedAttribute", "DisallowedExtension", "MalformedRequest"},
		},
		"a URI SAN is denied as UnsupportedSANType": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithDNS("a.example.com"), csrTestWithURIs("https://x"))
			},
			want:        []string{"UnsupportedSANType"},
			wantMessage: `SAN of type URI ("https://x") is not allowed`,
		},
		"an email SAN is denied as UnsupportedSANType": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithEmails("admin@example.com"))
			},
			want:        []string{"UnsupportedSANType"},
			wantMessage: `SAN of type email ("admin@example.com") is not allowed`,
		},
		"an otherName SAN is denied as UnsupportedSANType": {
			pem: func(t *testing.T) []byte {
				// otherName is constructed: [0] { type-id, [0] EXPLICIT value }.
				inner := csrTestMarshal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3})
				value := csrTestMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: csrTestMarshal(t, "upn@example.com")})
				name := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: csrSANOtherName, IsCompound: true, Bytes: append(inner, value...)}
				return csrTestPEM(t, csrTestWithRawSAN(name))
			},
			want:        []string{"UnsupportedSANType"},
			wantMessage: "SAN of type otherName is not allowed",
		},
		"a directoryName SAN is denied as UnsupportedSANType": {
			pem: func(t *testing.T) []byte {
				dn := csrTestMarshal(t, csrTestRDNs(csrTestATV(csrOIDCommonName, "admin")))
				name := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: csrSANDirectoryName, IsCompound: true, Bytes: dn}
				return csrTestPEM(t, csrTestWithRawSAN(name))
			},
			want:        []string{"UnsupportedSANType"},
			wantMessage: "SAN of type directoryName is not allowed",
		},
		"a registeredID SAN is denied as UnsupportedSANType": {
			pem: func(t *testing.T) []byte {
				oid := csrTestMarshal(t, asn1.ObjectIdentifier{1, 2, 3})
				var raw asn1.RawValue
				if _, err := asn1.Unmarshal(oid, &raw); err != nil {
					t.Fatal(err)
				}
				return csrTestPEM(t, csrTestWithRawSAN(csrTestGeneralName(csrSANRegisteredID, raw.Bytes)))
			},
			want:        []string{"UnsupportedSANType"},
			wantMessage: "SAN of type registeredID is not allowed",
		},
		"an empty DNS SAN is denied as MalformedSAN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSAN(csrTestGeneralName(csrSANDNSName, nil)))
			},
			want:        []string{"MalformedSAN"},
			wantMessage: "SAN of type DNS is empty",
		},
		"a DNS SAN with a NUL byte is denied as MalformedSAN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSAN(csrTestGeneralName(csrSANDNSName, []byte("good.example.com\x00.evil.com"))))
			},
			want:        []string{"MalformedSAN"},
			wantMessage: `"good.example.com\x00.evil.com"`,
		},
		"an IP SAN of 5 bytes is denied as MalformedSAN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSAN(csrTestGeneralName(csrSANIPAddress, []byte{10, 0, 0, 1, 0})))
			},
			// crypto/x509 refuses the length as well.
			want:        []string{"MalformedSAN", "MalformedRequest"},
			wantMessage: "SAN of type IP is 5 bytes long, want 4 or 16",
		},
		"a subjectAltName with no names is denied as MalformedSAN": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithRawSAN())
			},
			want: []string{"MalformedSAN"},
		},
		"an RSA-1024 key is denied as WeakKey": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithKey(pkcs10test.RSA1024(t)))
			},
			want:        []string{"WeakKey"},
			wantMessage: "RSA key of 1024 bits is too small",
		},
		"an RSA-8192 key passes the key limits and only fails its signature": {
			pem:  func(t *testing.T) []byte { return csrTestWithPublicKey(t, csrTestRSASPKI(t, 8192, 65537)) },
			want: []string{"InvalidSignature"},
		},
		"an RSA-8200 key is denied as UnsupportedKey": {
			pem:         func(t *testing.T) []byte { return csrTestWithPublicKey(t, csrTestRSASPKI(t, 8200, 65537)) },
			want:        []string{"UnsupportedKey"},
			wantMessage: "RSA key of 8200 bits is too large",
		},
		"an RSA key with exponent 3 is denied as WeakKey": {
			pem:         func(t *testing.T) []byte { return csrTestWithPublicKey(t, csrTestRSASPKI(t, 2048, 3)) },
			want:        []string{"WeakKey"},
			wantMessage: "exponent 3",
		},
		"an ECDSA P-224 key is denied as UnsupportedKey": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t, csrTestWithKey(pkcs10test.P224(t)))
			},
			want:        []string{"UnsupportedKey"},
			wantMessage: "ECDSA curve P-224 is not supported",
		},
		"a DSA key is denied as UnsupportedKey": {
			pem:         func(t *testing.T) []byte { return csrTestWithPublicKey(t, csrTestDSASPKI(t)) },
			want:        []string{"UnsupportedKey"},
			wantMessage: "1.2.840.10040.4.1",
		},
		"an X25519 key is denied as UnsupportedKey": {
			pem:         func(t *testing.T) []byte { return csrTestWithPublicKey(t, csrTestX25519SPKI(t)) },
			want:        []string{"UnsupportedKey"},
			wantMessage: "public key algorithm 1.3.101.110 is not supported",
		},
		"a request breaking several rules reports every violation": {
			pem: func(t *testing.T) []byte {
				return csrTestPEM(t,
					csrTestWithSubject(pkix.Name{OrganizationalUnit: []string{"x"}}),
					csrTestWithURIs("spiffe://cluster/ns/x"),
					csrTestWithExtraExtension(csrTestBasicConstraints(t, true)),
					csrTestWithKey(pkcs10test.RSA1024(t)),
				)
			},
			want: []string{"SubjectUnexpectedAttribute", "SubjectMissingCommonName", "UnsupportedSANType", "DisallowedExtension", "WeakKey"},
		},
	}

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			parsed, violations := Parse(tc.pem(t))
			csrTestAssertReasons(t, violations, tc.want)
			if (parsed == nil) == (len(violations) == 0) {
				t.Errorf("parsed = %v with %d violations; want a result exactly when there is no violation", parsed, len(violations))
			}
			if tc.wantMessage != "" && !strings.Contains(violations.Message(), tc.wantMessage) {
				t.Errorf("message %q does not contain %q", violations.Message(), tc.wantMessage)
			}
			if tc.check != nil && parsed != nil {
				tc.check(t, parsed)
			}
		})
	}
}

// csrTestAssertReasons checks that the set of reasons in got is want and
// that every violation has a message.
func csrTestAssertReasons(t *testing.T, got Violations, want []string) {
	t.Helper()
	var reasons []string
	for _, v := range got {
		if v.Reason == "" || v.Message == "" {
			t.Errorf("violation %+v lacks a reason or a message", v)
		}
		reasons = append(reasons, v.Reason)
	}
	slices.Sort(reasons)
	reasons = slices.Compact(reasons)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(reasons, want) {
		t.Errorf("reasons = %q, want %q (violations: %s)", reasons, want, got.Message())
	}
}

func TestKeyInfoString(t *testing.T) {
	tests := map[KeyInfo]string{
		{Algorithm: KeyAlgorithmRSA, Bits: 2048}:                  "RSA-2048",
		{Algorithm: KeyAlgorithmECDSA, Bits: 256, Curve: "P-256"}: "ECDSA-P256",
		{Algorithm: KeyAlgorithmECDSA, Bits: 521, Curve: "P-521"}: "ECDSA-P521",
		{Algorithm: KeyAlgorithmEd25519, Bits: 256}:               "Ed25519",
		{}: "",
	}
	for key, want := range tests {
		if got := key.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", key, got, want)
		}
	}
}
