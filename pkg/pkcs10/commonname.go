package pkcs10

import (
	"crypto/x509"
	"encoding/pem"
)

// CommonNameOf returns the subject CN of a PEM-encoded request without
// verifying it or applying Parse's rules, or "" when it does not parse or is
// larger than MaxPEMBytes. It is cheap enough to run over a flood of
// requests. It tells what a request claims, not that the request is
// acceptable: only Parse says that.
func CommonNameOf(pemBytes []byte) string {
	if len(pemBytes) > MaxPEMBytes {
		return ""
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return ""
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return ""
	}
	return csr.Subject.CommonName
}
