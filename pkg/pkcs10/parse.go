package pkcs10

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPEMBytes is the largest input Parse accepts. Longer input is refused
// with ReasonRequestTooLarge before any decoding. Kubelet requests are under
// 2 KiB and an RSA-8192 request is about 3.5 KiB, so 16 KiB leaves ample room.
const MaxPEMBytes = 16 << 10

// Absolute key limits. Policies may narrow them but never widen them.
const (
	csrMinRSABits     = 2048
	csrMaxRSABits     = 8192
	csrRSAExponent    = 65537
	csrEd25519Bits    = 256
	csrMaxQuotedRunes = 64
)

const csrPEMType = "CERTIFICATE REQUEST"

// csrPEMWhitespace is the whitespace allowed around the PEM block.
const csrPEMWhitespace = " \t\r\n"

var csrPEMBegin = []byte("-----BEGIN")

var (
	csrOIDCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	csrOIDOrganization     = asn1.ObjectIdentifier{2, 5, 4, 10}
	csrOIDSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	csrOIDBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	csrOIDExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
)

// csrOIDNames gives readable names to OIDs that commonly show up in requests,
// for messages only.
var csrOIDNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "postalCode",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.2.840.113549.1.9.7":       "challengePassword",
	"1.2.840.113549.1.9.14":      "extensionRequest",
	"2.5.29.14":                  "subjectKeyIdentifier",
	"2.5.29.15":                  "keyUsage",
	"2.5.29.17":                  "subjectAltName",
	"2.5.29.19":                  "basicConstraints",
	"2.5.29.30":                  "nameConstraints",
	"2.5.29.37":                  "extKeyUsage",
	"1.3.6.1.5.5.7.1.1":          "authorityInfoAccess",
	"1.3.6.1.5.5.7.1.24":         "tlsFeature",
}

// ASN.1 universal tags of the string types a subject may use.
const (
	csrTagUTF8String      = 12
	csrTagPrintableString = 19
)

// GeneralName tags (RFC 5280, section 4.2.1.6).
const (
	csrSANOtherName     = 0
	csrSANRFC822Name    = 1
	csrSANDNSName       = 2
	csrSANX400Address   = 3
	csrSANDirectoryName = 4
	csrSANEDIPartyName  = 5
	csrSANURI           = 6
	csrSANIPAddress     = 7
	csrSANRegisteredID  = 8
)

var csrSANTypeNames = map[int]string{
	csrSANOtherName:     "otherName",
	csrSANRFC822Name:    "email",
	csrSANDNSName:       "DNS",
	csrSANX400Address:   "x400Address",
	csrSANDirectoryName: "directoryName",
	csrSANEDIPartyName:  "ediPartyName",
	csrSANURI:           "URI",
	csrSANIPAddress:     "IP",
	csrSANRegisteredID:  "registeredID",
}

// KeyAlgorithm names the public key algorithm of a request.
type KeyAlgorithm string

// The key algorithms Parse accepts.
const (
	KeyAlgorithmRSA     KeyAlgorithm = "RSA"
	KeyAlgorithmECDSA   KeyAlgorithm = "ECDSA"
	KeyAlgorithmEd25519 KeyAlgorithm = "Ed25519"
)

// KeyInfo describes the public key of a request.
type KeyInfo struct {
	// Algorithm is RSA, ECDSA or Ed25519.
	Algorithm KeyAlgorithm
	// Bits is the RSA modulus length, the ECDSA curve size, or 256 for Ed25519.
	Bits int
	// Curve is "P-256", "P-384" or "P-521" for ECDSA keys and "" otherwise.
	Curve string
}

// String returns a short name of the key such as "RSA-2048", "ECDSA-P256" or
// "Ed25519". For an unknown algorithm it returns the algorithm name as is.
func (k KeyInfo) String() string {
	switch k.Algorithm {
	case KeyAlgorithmRSA:
		return fmt.Sprintf("RSA-%d", k.Bits)
	case KeyAlgorithmECDSA:
		return "ECDSA-" + strings.ReplaceAll(k.Curve, "-", "")
	default:
		return string(k.Algorithm)
	}
}

// Request is a PKCS#10 request that Parse found free of violations.
// Subject and SAN values come from the raw DER, not from the fields Go's
// parser fills in.
type Request struct {
	// CSR is the request as parsed by crypto/x509. Its signature is valid.
	CSR *x509.CertificateRequest
	// CommonName is the single, non-empty CN of the subject.
	CommonName string
	// Organizations are the O values of the subject, in order, without duplicates.
	Organizations []string
	// DNSNames are the dNSName entries of the subjectAltName extension, in order.
	DNSNames []string
	// IPAddresses are the iPAddress entries of the subjectAltName extension,
	// in order, each 4 or 16 bytes long.
	IPAddresses []net.IP
	// Key describes the public key.
	Key KeyInfo
}

// Parse decodes a PEM-encoded PKCS#10 request, verifies its signature and
// checks it against the absolute rules every kubelet request must follow:
// one PEM block of type CERTIFICATE REQUEST and nothing else, a subject made of
// single-valued CN and O attributes with exactly one CN, no attribute but
// extensionRequest, no extension but subjectAltName, only DNS and IP SANs, and
// an RSA (2048 to 8192 bits, exponent 65537), ECDSA (P-256, P-384, P-521) or
// Ed25519 key.
//
// It never panics and never returns an error: it returns either a Request
// and no violations, or nil and at least one violation, in which case the
// request must be denied. Problems at the PEM level (size, block count, type,
// surrounding data) and a CertificationRequest structure that does not parse
// stop the checks there. Otherwise every violation found is reported; when
// crypto/x509 alone refuses the request, MalformedRequest is reported after
// the violations that usually explain why. The signature is only verified
// when the key itself is within the limits.
func Parse(pemBytes []byte) (*Request, Violations) {
	der, vs := csrDecodePEM(pemBytes)
	if len(vs) > 0 {
		return nil, vs
	}
	raw, ok := csrParseRaw(der)
	if !ok {
		return nil, Violations{csrViolation(ReasonMalformedRequest,
			"the request is not a well-formed PKCS#10 certificate request")}
	}

	parsed := &Request{}
	vs = append(vs, parsed.readSubject(raw.Subject)...)
	extensions, attrViolations := csrExtensionsFromAttributes(raw.Attributes)
	vs = append(vs, attrViolations...)
	vs = append(vs, parsed.readExtensions(extensions)...)

	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		// Go's parser is stricter than the structural parse above in a few
		// places (duplicate extensions, IP SAN lengths, string encodings);
		// the violations found so far usually name the cause.
		vs = append(vs, csrViolation(ReasonMalformedRequest,
			"the request is rejected by the X.509 parser"))
		return nil, vs
	}
	parsed.CSR = csr

	key, keyViolations := csrReadKey(csr.PublicKey, raw.PublicKey.Algorithm.Algorithm)
	parsed.Key = key
	vs = append(vs, keyViolations...)
	switch {
	case len(keyViolations) > 0:
	case weakSignatureAlgorithms[csr.SignatureAlgorithm]:
		vs = append(vs, csrViolation(ReasonWeakSignature,
			"the request is signed with %s; kubelets sign with SHA-256 or better", csr.SignatureAlgorithm))
	case csr.CheckSignature() != nil:
		vs = append(vs, csrViolation(ReasonInvalidSignature,
			"the request signature does not verify with its public key"))
	}

	if len(vs) > 0 {
		return nil, vs
	}
	return parsed, nil
}

// weakSignatureAlgorithms are refused: SHA-1 and MD5 signatures prove little.
var weakSignatureAlgorithms = map[x509.SignatureAlgorithm]bool{
	x509.MD2WithRSA: true, x509.MD5WithRSA: true, x509.SHA1WithRSA: true,
	x509.DSAWithSHA1: true, x509.DSAWithSHA256: true, x509.ECDSAWithSHA1: true,
}

func csrViolation(reason, format string, args ...any) Violation {
	return Violation{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// csrDecodePEM returns the DER of the single CERTIFICATE REQUEST block in
// pemBytes, or the violations that prevent reading it.
func csrDecodePEM(pemBytes []byte) ([]byte, Violations) {
	if len(pemBytes) > MaxPEMBytes {
		return nil, Violations{csrViolation(ReasonRequestTooLarge,
			"the request is %d bytes, more than the limit of %d", len(pemBytes), MaxPEMBytes)}
	}
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, Violations{csrViolation(ReasonMalformedPEM,
			"the request does not contain a PEM block")}
	}

	var vs Violations
	if csrHasLeadingData(pemBytes, rest) {
		vs = append(vs, csrViolation(ReasonTrailingData,
			"the request has non-whitespace data before its PEM block"))
	}
	if block.Type != csrPEMType {
		vs = append(vs, csrViolation(ReasonUnexpectedPEMType,
			"the PEM block is of type %s, want %q", csrQuote(block.Type), csrPEMType))
	}
	if len(block.Headers) > 0 {
		vs = append(vs, csrViolation(ReasonUnexpectedPEMType,
			"the PEM block has %d headers, want none", len(block.Headers)))
	}
	if next, _ := pem.Decode(rest); next != nil {
		vs = append(vs, csrViolation(ReasonMultiplePEMBlocks,
			"the request has more than one PEM block"))
	} else if len(bytes.Trim(rest, csrPEMWhitespace)) > 0 {
		vs = append(vs, csrViolation(ReasonTrailingData,
			"the request has non-whitespace data after its PEM block"))
	}
	if len(vs) > 0 {
		return nil, vs
	}
	return block.Bytes, nil
}

// csrHasLeadingData reports whether anything but whitespace precedes the
// PEM block that pem.Decode found. pem.Decode silently skips such data,
// including malformed blocks, so the consumed part must start with the
// block's BEGIN line and contain no other.
func csrHasLeadingData(pemBytes, rest []byte) bool {
	consumed := pemBytes[:len(pemBytes)-len(rest)]
	consumed = bytes.TrimLeft(consumed, csrPEMWhitespace)
	return !bytes.HasPrefix(consumed, csrPEMBegin) || bytes.Count(consumed, csrPEMBegin) != 1
}

// The ASN.1 structures of RFC 2986, read without Go's interpretation.
type csrRawRequest struct {
	Info               asn1.RawValue
	SignatureAlgorithm asn1.RawValue
	Signature          asn1.BitString
}

type csrRawInfo struct {
	Version    int
	Subject    csrRawRDNSequence
	PublicKey  csrRawPublicKeyInfo
	Attributes []csrRawAttribute `asn1:"tag:0"`
}

type csrRawPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type csrRawAttribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

type csrRawRDNSequence []csrRawRDNSET

// csrRawRDNSET is a RelativeDistinguishedName; encoding/asn1 reads slice
// types whose name ends in SET as a SET OF.
type csrRawRDNSET []csrRawAttributeTypeAndValue

type csrRawAttributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// csrParseRaw reads the request structure from der. It reports false when
// der is not exactly one well-formed version 1 CertificationRequest.
func csrParseRaw(der []byte) (*csrRawInfo, bool) {
	var req csrRawRequest
	if rest, err := asn1.Unmarshal(der, &req); err != nil || len(rest) > 0 {
		return nil, false
	}
	var info csrRawInfo
	if rest, err := asn1.Unmarshal(req.Info.FullBytes, &info); err != nil || len(rest) > 0 {
		return nil, false
	}
	if info.Version != 0 {
		return nil, false
	}
	return &info, true
}

// readSubject checks the subject RDNs and records the CN and O values.
func (p *Request) readSubject(subject csrRawRDNSequence) Violations {
	var vs Violations
	commonNames := 0
	commonNameValid := false
	seenOrganizations := map[string]bool{}
	for i, rdn := range subject {
		if len(rdn) != 1 {
			vs = append(vs, csrViolation(ReasonSubjectMultiValuedRDN,
				"subject RDN #%d has %d attributes, want exactly 1", i+1, len(rdn)))
		}
		for _, atv := range rdn {
			name := csrOIDName(atv.Type)
			value, violation, ok := csrReadSubjectString(name, atv.Value)
			if !ok {
				vs = append(vs, violation)
			}
			switch {
			case atv.Type.Equal(csrOIDCommonName):
				commonNames++
				commonNameValid = ok
				p.CommonName = value
			case atv.Type.Equal(csrOIDOrganization):
				vs = append(vs, p.addOrganization(value, ok, seenOrganizations)...)
			default:
				vs = append(vs, csrViolation(ReasonSubjectUnexpectedAttribute,
					"subject attribute %s is not allowed; only CN and O are", name))
			}
		}
	}
	switch {
	case commonNames > 1:
		vs = append(vs, csrViolation(ReasonSubjectMultipleCommonNames,
			"subject has %d CNs, want exactly 1", commonNames))
	case commonNames == 0:
		vs = append(vs, csrViolation(ReasonSubjectMissingCommonName,
			"subject has no CN"))
	case commonNameValid && p.CommonName == "":
		vs = append(vs, csrViolation(ReasonSubjectMissingCommonName,
			"subject CN is empty"))
	}
	return vs
}

// addOrganization records a valid, non-empty, first-seen O value. An invalid
// value was already reported by the caller.
func (p *Request) addOrganization(value string, valid bool, seen map[string]bool) Violations {
	switch {
	case !valid:
		return nil
	case value == "":
		return Violations{csrViolation(ReasonSubjectInvalidString, "subject O is empty")}
	case seen[value]:
		return Violations{csrViolation(ReasonSubjectDuplicateRDN,
			"subject O %s appears more than once", csrQuote(value))}
	}
	seen[value] = true
	p.Organizations = append(p.Organizations, value)
	return nil
}

// csrReadSubjectString decodes a subject attribute value. It reports false,
// with a violation, unless the value is a primitive UTF8String or
// PrintableString free of control characters. An empty string is valid
// here; the caller decides whether it may be empty.
func csrReadSubjectString(name string, v asn1.RawValue) (string, Violation, bool) {
	invalid := func(format string, args ...any) (string, Violation, bool) {
		what := fmt.Sprintf("subject %s ", name)
		return "", csrViolation(ReasonSubjectInvalidString, what+format, args...), false
	}
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return invalid("is not a string")
	}
	value := string(v.Bytes)
	switch v.Tag {
	case csrTagUTF8String:
		if !utf8.ValidString(value) {
			return invalid("is not valid UTF-8")
		}
	case csrTagPrintableString:
		if !csrIsPrintableString(value) {
			return invalid("%s has characters not allowed in a PrintableString", csrQuote(value))
		}
	default:
		return invalid("is encoded with ASN.1 tag %d; only UTF8String and PrintableString are allowed", v.Tag)
	}
	if strings.ContainsFunc(value, unicode.IsControl) {
		return invalid("%s contains control characters", csrQuote(value))
	}
	return value, Violation{}, true
}

// csrIsPrintableString reports whether s uses only the PrintableString
// alphabet of X.680.
func csrIsPrintableString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// csrExtensionsFromAttributes checks the request attributes and returns the
// extensions of the extensionRequest attributes.
func csrExtensionsFromAttributes(attributes []csrRawAttribute) ([]pkix.Extension, Violations) {
	var vs Violations
	var extensions []pkix.Extension
	seenExtensionRequest := false
	for _, attr := range attributes {
		if !attr.Type.Equal(csrOIDExtensionRequest) {
			vs = append(vs, csrViolation(ReasonDisallowedAttribute,
				"attribute %s is not allowed; only extensionRequest is", csrOIDName(attr.Type)))
			continue
		}
		if seenExtensionRequest {
			vs = append(vs, csrViolation(ReasonDisallowedAttribute,
				"attribute extensionRequest appears more than once"))
		}
		seenExtensionRequest = true
		if len(attr.Values) != 1 {
			vs = append(vs, csrViolation(ReasonMalformedRequest,
				"attribute extensionRequest has %d values, want exactly 1", len(attr.Values)))
			continue
		}
		var exts []pkix.Extension
		if rest, err := asn1.Unmarshal(attr.Values[0].FullBytes, &exts); err != nil || len(rest) > 0 {
			vs = append(vs, csrViolation(ReasonMalformedRequest,
				"attribute extensionRequest does not hold a well-formed list of extensions"))
			continue
		}
		extensions = append(extensions, exts...)
	}
	return extensions, vs
}

// readExtensions checks the requested extensions and records the SANs.
func (p *Request) readExtensions(extensions []pkix.Extension) Violations {
	var vs Violations
	seenSAN := false
	for _, ext := range extensions {
		switch {
		case ext.Id.Equal(csrOIDSubjectAltName) && seenSAN:
			vs = append(vs, csrViolation(ReasonDisallowedExtension,
				"extension %s appears more than once", csrOIDName(ext.Id)))
		case ext.Id.Equal(csrOIDSubjectAltName):
			seenSAN = true
			vs = append(vs, p.readSAN(ext.Value)...)
		case ext.Id.Equal(csrOIDBasicConstraints) && csrRequestsCA(ext.Value):
			vs = append(vs, csrViolation(ReasonDisallowedExtension,
				"extension %s requests CA:true and is not allowed", csrOIDName(ext.Id)))
		default:
			vs = append(vs, csrViolation(ReasonDisallowedExtension,
				"extension %s is not allowed; only subjectAltName is", csrOIDName(ext.Id)))
		}
	}
	return vs
}

// csrRequestsCA reports whether a basicConstraints value asks for CA:true.
// A value that does not parse is treated as asking for it.
func csrRequestsCA(value []byte) bool {
	var constraints struct {
		IsCA       bool `asn1:"optional"`
		MaxPathLen int  `asn1:"optional,default:-1"`
	}
	rest, err := asn1.Unmarshal(value, &constraints)
	return err != nil || len(rest) > 0 || constraints.IsCA
}

// readSAN checks a subjectAltName value and records its DNS and IP entries.
func (p *Request) readSAN(value []byte) Violations {
	var names []asn1.RawValue
	if rest, err := asn1.Unmarshal(value, &names); err != nil || len(rest) > 0 {
		return Violations{csrViolation(ReasonMalformedSAN,
			"the subjectAltName extension is not a well-formed list of names")}
	}
	if len(names) == 0 {
		return Violations{csrViolation(ReasonMalformedSAN,
			"the subjectAltName extension holds no names")}
	}
	var vs Violations
	for _, name := range names {
		if v, ok := p.readGeneralName(name); !ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// readGeneralName checks one SAN entry and records it if it is a DNS or IP
// entry. It reports false, with a violation, if the entry is not allowed.
func (p *Request) readGeneralName(name asn1.RawValue) (Violation, bool) {
	typeName, known := csrSANTypeNames[name.Tag]
	if name.Class != asn1.ClassContextSpecific || !known {
		return csrViolation(ReasonMalformedSAN,
			"SAN entry with ASN.1 class %d tag %d is not a GeneralName", name.Class, name.Tag), false
	}
	switch name.Tag {
	case csrSANDNSName:
		if name.IsCompound {
			return csrViolation(ReasonMalformedSAN, "SAN of type DNS is not a primitive string"), false
		}
		dnsName := string(name.Bytes)
		if dnsName == "" {
			return csrViolation(ReasonMalformedSAN, "SAN of type DNS is empty"), false
		}
		if !csrIsVisibleASCII(dnsName) {
			return csrViolation(ReasonMalformedSAN,
				"SAN of type DNS (%s) has bytes other than visible ASCII", csrQuote(dnsName)), false
		}
		p.DNSNames = append(p.DNSNames, dnsName)
	case csrSANIPAddress:
		if name.IsCompound || (len(name.Bytes) != net.IPv4len && len(name.Bytes) != net.IPv6len) {
			return csrViolation(ReasonMalformedSAN,
				"SAN of type IP is %d bytes long, want 4 or 16", len(name.Bytes)), false
		}
		p.IPAddresses = append(p.IPAddresses, net.IP(bytes.Clone(name.Bytes)))
	case csrSANRFC822Name, csrSANURI:
		return csrViolation(ReasonUnsupportedSANType,
			"SAN of type %s (%s) is not allowed", typeName, csrQuote(string(name.Bytes))), false
	default:
		return csrViolation(ReasonUnsupportedSANType,
			"SAN of type %s is not allowed", typeName), false
	}
	return Violation{}, true
}

// csrIsVisibleASCII reports whether s has only bytes 0x21 to 0x7e.
func csrIsVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// csrReadKey describes the public key parsed by crypto/x509 and checks it
// against the absolute limits. algorithm is the key's OID from the raw
// SubjectPublicKeyInfo, used to name keys Go does not parse.
func csrReadKey(publicKey any, algorithm asn1.ObjectIdentifier) (KeyInfo, Violations) {
	switch key := publicKey.(type) {
	case *rsa.PublicKey:
		return csrReadRSAKey(key)
	case *ecdsa.PublicKey:
		return csrReadECDSAKey(key)
	case ed25519.PublicKey:
		return KeyInfo{Algorithm: KeyAlgorithmEd25519, Bits: csrEd25519Bits}, nil
	case nil:
		return KeyInfo{}, Violations{csrViolation(ReasonUnsupportedKey,
			"public key algorithm %s is not supported", algorithm)}
	default:
		return KeyInfo{}, Violations{csrViolation(ReasonUnsupportedKey,
			"public key of type %T (algorithm %s) is not supported; use RSA, ECDSA or Ed25519", key, algorithm)}
	}
}

func csrReadRSAKey(key *rsa.PublicKey) (KeyInfo, Violations) {
	info := KeyInfo{Algorithm: KeyAlgorithmRSA, Bits: key.N.BitLen()}
	var vs Violations
	if info.Bits < csrMinRSABits {
		vs = append(vs, csrViolation(ReasonWeakKey,
			"RSA key of %d bits is too small; the minimum is %d", info.Bits, csrMinRSABits))
	}
	if info.Bits > csrMaxRSABits {
		vs = append(vs, csrViolation(ReasonUnsupportedKey,
			"RSA key of %d bits is too large; the maximum is %d", info.Bits, csrMaxRSABits))
	}
	if key.E != csrRSAExponent {
		vs = append(vs, csrViolation(ReasonWeakKey,
			"RSA public exponent %d is not allowed; want %d", key.E, csrRSAExponent))
	}
	return info, vs
}

func csrReadECDSAKey(key *ecdsa.PublicKey) (KeyInfo, Violations) {
	switch key.Curve {
	case elliptic.P256(), elliptic.P384(), elliptic.P521():
		params := key.Params()
		return KeyInfo{Algorithm: KeyAlgorithmECDSA, Bits: params.BitSize, Curve: params.Name}, nil
	}
	name := "unknown"
	if key.Curve != nil {
		name = key.Curve.Params().Name
	}
	return KeyInfo{}, Violations{csrViolation(ReasonUnsupportedKey,
		"ECDSA curve %s is not supported; use P-256, P-384 or P-521", name)}
}

// csrOIDName formats an OID for a message, with its common name if known,
// e.g. "2.5.4.11 (OU)".
func csrOIDName(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if name, ok := csrOIDNames[s]; ok {
		return s + " (" + name + ")"
	}
	return s
}

// csrQuote quotes untrusted text for a message, escaping control characters
// and cutting it to a readable length.
func csrQuote(s string) string {
	if utf8.RuneCountInString(s) > csrMaxQuotedRunes {
		s = string([]rune(s)[:csrMaxQuotedRunes]) + "..."
	}
	return fmt.Sprintf("%q", s)
}
