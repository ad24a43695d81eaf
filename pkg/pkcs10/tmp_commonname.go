package pkcs10

import (
	"crypto/x509"
	"encoding/pem"
)

// CommonNameOf is a placeholder until the parser moves here.
func CommonNameOf(pemBytes []byte) string {
	if len(pemBytes) > 16<<10 {
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
