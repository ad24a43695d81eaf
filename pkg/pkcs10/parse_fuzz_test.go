package pkcs10

import (
	"crypto/x509/pkix"
	"net"
	"slices"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

// FuzzParse checks that Parse never panics, returns a result exactly
// when it reports no violation, and only accepts what the rules allow. The
// seeds in testdata/fuzz/FuzzParse are added automatically.
func FuzzParse(f *testing.F) {
	f.Add(csrTestPEM(f, csrTestWithDNS("worker-1.example.com"), csrTestWithIPs("10.0.0.1", "fd00::1")))
	f.Add(csrTestPEM(f, csrTestWithKey(pkcs10test.RSA2048(f)), csrTestWithDNS("worker-1")))
	f.Add(csrTestPEM(f, csrTestWithKey(pkcs10test.Ed25519(f))))
	f.Add(csrTestPEM(f, csrTestWithURIs("https://x"), csrTestWithEmails("a@example.com")))
	f.Add(csrTestPEM(f, csrTestWithExtraExtension(csrTestBasicConstraints(f, true))))
	f.Add(csrTestPEM(f, csrTestWithSubject(pkix.Name{CommonName: "a", Organization: []string{"x", "y"}, OrganizationalUnit: []string{"z"}})))
	f.Add(append(csrTestPEM(f), csrTestPEM(f)...))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})

	reasons := ReasonCodes()
	f.Fuzz(func(t *testing.T, input []byte) {
		parsed, violations := Parse(input)
		if (parsed == nil) != (len(violations) > 0) {
			t.Fatalf("parsed = %v with %d violations; want a result exactly when there is no violation", parsed, len(violations))
		}
		for _, v := range violations {
			if !slices.Contains(reasons, v.Reason) || v.Message == "" {
				t.Errorf("violation %+v has an unknown reason or no message", v)
			}
		}
		if parsed != nil {
			csrTestCheckAccepted(t, input, parsed)
		}
	})
}

// csrTestCheckAccepted checks that an accepted request has only what the
// rules allow, and that crypto/x509 reads it the same way.
func csrTestCheckAccepted(t *testing.T, input []byte, p *Request) {
	t.Helper()
	csr := p.CSR
	if len(input) > MaxPEMBytes {
		t.Errorf("accepted %d bytes, more than MaxPEMBytes", len(input))
	}
	if csr == nil {
		t.Fatal("accepted request has no CSR")
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("accepted request with a bad signature: %v", err)
	}
	if p.CommonName == "" || csr.Subject.CommonName != p.CommonName {
		t.Errorf("CommonName = %q, x509 says %q", p.CommonName, csr.Subject.CommonName)
	}
	if !slices.Equal(p.Organizations, csr.Subject.Organization) {
		t.Errorf("Organizations = %q, x509 says %q", p.Organizations, csr.Subject.Organization)
	}
	for _, atv := range csr.Subject.Names {
		if !atv.Type.Equal(csrOIDCommonName) && !atv.Type.Equal(csrOIDOrganization) {
			t.Errorf("accepted subject attribute %s", atv.Type)
		}
	}
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(csrOIDSubjectAltName) {
			t.Errorf("accepted extension %s", ext.Id)
		}
	}
	if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
		t.Errorf("accepted URI or email SANs: %v %q", csr.URIs, csr.EmailAddresses)
	}
	if !slices.Equal(p.DNSNames, csr.DNSNames) {
		t.Errorf("DNSNames = %q, x509 says %q", p.DNSNames, csr.DNSNames)
	}
	if !slices.EqualFunc(p.IPAddresses, csr.IPAddresses, net.IP.Equal) {
		t.Errorf("IPAddresses = %v, x509 says %v", p.IPAddresses, csr.IPAddresses)
	}
	switch p.Key.Algorithm {
	case KeyAlgorithmRSA:
		if p.Key.Bits < 2048 || p.Key.Bits > 8192 {
			t.Errorf("accepted %s", p.Key)
		}
	case KeyAlgorithmECDSA:
		if !slices.Contains([]string{"P-256", "P-384", "P-521"}, p.Key.Curve) {
			t.Errorf("accepted %s", p.Key)
		}
	case KeyAlgorithmEd25519:
	default:
		t.Errorf("accepted key %+v", p.Key)
	}
}
