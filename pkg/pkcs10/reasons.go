package pkcs10

import "slices"

// Reason codes of the violations Parse reports. They are stable, CamelCase,
// and meant for alerting: nodetrust denies a CSR with the first one found.
const (
	// ReasonRequestTooLarge: the input is larger than MaxPEMBytes.
	ReasonRequestTooLarge = "RequestTooLarge"
	// ReasonMalformedPEM: the input holds no PEM block.
	ReasonMalformedPEM = "MalformedPEM"
	// ReasonUnexpectedPEMType: the PEM block is not of type CERTIFICATE
	// REQUEST, or has headers.
	ReasonUnexpectedPEMType = "UnexpectedPEMType"
	// ReasonMultiplePEMBlocks: the input holds more than one PEM block.
	ReasonMultiplePEMBlocks = "MultiplePEMBlocks"
	// ReasonTrailingData: non-whitespace data before or after the PEM block.
	ReasonTrailingData = "TrailingData"
	// ReasonMalformedRequest: the block is not a well-formed PKCS#10 version
	// 1 request, an extensionRequest attribute does not hold exactly one
	// well-formed value, or crypto/x509 rejects the request.
	ReasonMalformedRequest = "MalformedRequest"
	// ReasonInvalidSignature: the signature does not verify with the
	// request's own key (checked only when the key is within the limits).
	ReasonInvalidSignature = "InvalidSignature"
	// ReasonWeakSignature: the request is signed with MD2, MD5 or SHA-1, or
	// with DSA.
	ReasonWeakSignature = "WeakSignature"
	// ReasonSubjectMultiValuedRDN: a subject RDN holds more than one attribute.
	ReasonSubjectMultiValuedRDN = "SubjectMultiValuedRDN"
	// ReasonSubjectUnexpectedAttribute: a subject attribute other than CN and O.
	ReasonSubjectUnexpectedAttribute = "SubjectUnexpectedAttribute"
	// ReasonSubjectMultipleCommonNames: the subject has more than one CN.
	ReasonSubjectMultipleCommonNames = "SubjectMultipleCommonNames"
	// ReasonSubjectMissingCommonName: the subject has no CN, or an empty one.
	ReasonSubjectMissingCommonName = "SubjectMissingCommonName"
	// ReasonSubjectDuplicateRDN: the same O value appears twice.
	ReasonSubjectDuplicateRDN = "SubjectDuplicateRDN"
	// ReasonSubjectInvalidString: a subject value that is not a UTF8String or
	// PrintableString, is not valid UTF-8, has characters a PrintableString
	// forbids or control characters; or an empty O.
	ReasonSubjectInvalidString = "SubjectInvalidString"
	// ReasonDisallowedExtension: a requested extension other than
	// subjectAltName (basicConstraints included), or subjectAltName twice.
	ReasonDisallowedExtension = "DisallowedExtension"
	// ReasonDisallowedAttribute: a request attribute other than
	// extensionRequest (e.g. challengePassword), or extensionRequest twice.
	ReasonDisallowedAttribute = "DisallowedAttribute"
	// ReasonUnsupportedSANType: a SAN that is neither DNS nor IP (email, URI,
	// otherName, directoryName, ...).
	ReasonUnsupportedSANType = "UnsupportedSANType"
	// ReasonMalformedSAN: a subjectAltName that does not parse or holds no
	// names, an entry that is not a GeneralName, a DNS SAN that is empty or
	// has bytes other than visible ASCII, or an IP SAN not 4 or 16 bytes long.
	ReasonMalformedSAN = "MalformedSAN"
	// ReasonWeakKey: an RSA key under 2048 bits or with an exponent other
	// than 65537.
	ReasonWeakKey = "WeakKey"
	// ReasonUnsupportedKey: an RSA key over 8192 bits, an ECDSA curve other
	// than P-256, P-384 and P-521, or a key of another algorithm.
	ReasonUnsupportedKey = "UnsupportedKey"
)

var reasonCodes = []string{
	ReasonRequestTooLarge, ReasonMalformedPEM, ReasonUnexpectedPEMType, ReasonMultiplePEMBlocks,
	ReasonTrailingData, ReasonMalformedRequest, ReasonInvalidSignature, ReasonWeakSignature,
	ReasonSubjectMultiValuedRDN, ReasonSubjectUnexpectedAttribute, ReasonSubjectMultipleCommonNames,
	ReasonSubjectMissingCommonName, ReasonSubjectDuplicateRDN, ReasonSubjectInvalidString,
	ReasonDisallowedAttribute, ReasonDisallowedExtension, ReasonUnsupportedSANType, ReasonMalformedSAN,
	ReasonWeakKey, ReasonUnsupportedKey,
}

// ReasonCodes returns every reason code Parse can report, each once.
func ReasonCodes() []string { return slices.Clone(reasonCodes) }
