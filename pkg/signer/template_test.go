package signer_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

var templateNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// templateCA is a CA valid from a year before templateNow to a year after.
func templateCA(t *testing.T) *x509.Certificate {
	t.Helper()
	ca := signertest.NewCA(t, signertest.ECDSAP256, "template CA")
	c := *ca.Cert
	c.NotBefore = templateNow.AddDate(-1, 0, 0)
	c.NotAfter = templateNow.AddDate(1, 0, 0)
	return &c
}

func servingRequest(key crypto.PublicKey) signer.Request {
	return signer.Request{
		SignerName:    certificatesv1.KubeletServingSignerName,
		CommonName:    "system:node:worker-1",
		Organizations: []string{"system:nodes"},
		DNSNames:      []string{"worker-1.example.com"},
		IPAddresses:   []net.IP{net.ParseIP("10.0.0.1").To4()},
		PublicKey:     key,
	}
}

func TestTemplate(t *testing.T) {
	ca := templateCA(t)
	ecKey := signertest.NewKey(t, signertest.ECDSAP256).Public()
	rsaKey := signertest.NewKey(t, signertest.RSA2048).Public()
	edKey := signertest.NewKey(t, signertest.Ed25519).Public()
	day, year := 24*time.Hour, 365*24*time.Hour

	tests := []struct {
		name      string
		req       signer.Request
		ca        func(c *x509.Certificate)
		limits    signer.Limits
		notBefore time.Time
		notAfter  time.Time
		usage     x509.KeyUsage
		eku       x509.ExtKeyUsage
	}{
		{name: "a serving certificate lasts the signer's maximum when nothing else limits it",
			req: servingRequest(ecKey), limits: signer.Limits{SignerMax: year},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(year),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "the policy's maximum wins when it is the smallest",
			req: servingRequest(ecKey), limits: signer.Limits{SignerMax: year, PolicyMax: 30 * day},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(30 * day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "expirationSeconds wins when it is the smallest",
			req:       func() signer.Request { r := servingRequest(ecKey); r.ExpirationSeconds = ptr(int32(3600)); return r }(),
			limits:    signer.Limits{SignerMax: year, PolicyMax: 30 * day},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(time.Hour),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "the signer's maximum wins over a longer expirationSeconds",
			req: func() signer.Request {
				r := servingRequest(ecKey)
				r.ExpirationSeconds = ptr(int32(400 * 86400))
				return r
			}(),
			limits:    signer.Limits{SignerMax: 90 * day},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(90 * day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "a validity below ten minutes is raised to ten minutes",
			req:       func() signer.Request { r := servingRequest(ecKey); r.ExpirationSeconds = ptr(int32(60)); return r }(),
			limits:    signer.Limits{SignerMax: year, PolicyMax: time.Minute},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(signer.MinValidity),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "the certificate never outlives the CA",
			req: servingRequest(ecKey), limits: signer.Limits{SignerMax: 5 * year},
			notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.AddDate(1, 0, 0),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "NotBefore is not earlier than a young CA's NotBefore",
			req: servingRequest(ecKey), limits: signer.Limits{SignerMax: day},
			ca:        func(c *x509.Certificate) { c.NotBefore = templateNow.Add(-time.Minute) },
			notBefore: templateNow.Add(-time.Minute), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "an RSA key that asked for key encipherment gets it",
			req:    func() signer.Request { r := servingRequest(rsaKey); r.KeyEncipherment = true; return r }(),
			limits: signer.Limits{SignerMax: day}, notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, eku: x509.ExtKeyUsageServerAuth},
		{name: "an RSA key that did not ask for key encipherment does not get it",
			req:    servingRequest(rsaKey),
			limits: signer.Limits{SignerMax: day}, notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "an ECDSA key never gets key encipherment",
			req:    func() signer.Request { r := servingRequest(ecKey); r.KeyEncipherment = true; return r }(),
			limits: signer.Limits{SignerMax: day}, notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "an Ed25519 key is accepted",
			req:    servingRequest(edKey),
			limits: signer.Limits{SignerMax: day}, notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageServerAuth},
		{name: "a client certificate gets client auth and no SANs",
			req: signer.Request{SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, CommonName: "system:node:worker-1",
				Organizations: []string{"system:nodes"}, PublicKey: ecKey},
			limits: signer.Limits{SignerMax: day}, notBefore: templateNow.Add(-signer.Backdate), notAfter: templateNow.Add(day),
			usage: x509.KeyUsageDigitalSignature, eku: x509.ExtKeyUsageClientAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *ca
			if tc.ca != nil {
				tc.ca(&c)
			}
			got, err := signer.Template(tc.req, &c, tc.limits, templateNow, rand.Reader)
			if err != nil {
				t.Fatalf("Template: %v", err)
			}
			ski, _ := signer.SubjectKeyID(tc.req.PublicKey)
			switch {
			case !got.NotBefore.Equal(tc.notBefore):
				t.Errorf("NotBefore %v, want %v", got.NotBefore, tc.notBefore)
			case !got.NotAfter.Equal(tc.notAfter):
				t.Errorf("NotAfter %v, want %v", got.NotAfter, tc.notAfter)
			case got.KeyUsage != tc.usage:
				t.Errorf("KeyUsage %v, want %v", got.KeyUsage, tc.usage)
			case !slices.Equal(got.ExtKeyUsage, []x509.ExtKeyUsage{tc.eku}) || len(got.UnknownExtKeyUsage) > 0:
				t.Errorf("ExtKeyUsage %v, want [%v]", got.ExtKeyUsage, tc.eku)
			case got.IsCA || !got.BasicConstraintsValid:
				t.Error("the template is a CA or lacks basic constraints")
			case got.Subject.CommonName != tc.req.CommonName || !slices.Equal(got.Subject.Organization, tc.req.Organizations):
				t.Errorf("subject %v", got.Subject)
			case len(got.Subject.OrganizationalUnit)+len(got.Subject.Country)+len(got.Subject.ExtraNames) > 0:
				t.Errorf("subject carries more than CN and O: %v", got.Subject)
			case !slices.Equal(got.DNSNames, tc.req.DNSNames) || !slices.EqualFunc(got.IPAddresses, tc.req.IPAddresses, net.IP.Equal):
				t.Errorf("SANs %v %v", got.DNSNames, got.IPAddresses)
			case len(got.EmailAddresses)+len(got.URIs)+len(got.ExtraExtensions)+len(got.Extensions) > 0:
				t.Error("the template carries more than DNS and IP SANs")
			case !bytes.Equal(got.SubjectKeyId, ski) || len(ski) != 20:
				t.Errorf("SubjectKeyId %x, want %x", got.SubjectKeyId, ski)
			case !bytes.Equal(got.AuthorityKeyId, c.SubjectKeyId):
				t.Errorf("AuthorityKeyId %x, want %x", got.AuthorityKeyId, c.SubjectKeyId)
			case got.SerialNumber.Sign() <= 0 || got.SerialNumber.BitLen() > 128:
				t.Errorf("serial %v is not a positive 128-bit number", got.SerialNumber)
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	ca := templateCA(t)
	ecKey := signertest.NewKey(t, signertest.ECDSAP256).Public()
	tests := []struct {
		name      string
		req       signer.Request
		ca        func(c *x509.Certificate)
		permanent string
		is        error
	}{
		{name: "another signer name is refused permanently",
			req: func() signer.Request {
				r := servingRequest(ecKey)
				r.SignerName = "kubernetes.io/kube-apiserver-client"
				return r
			}(),
			permanent: signer.ReasonUnsupportedSigner},
		{name: "an unsupported key type is refused permanently",
			req:       func() signer.Request { r := servingRequest(ecKey); r.PublicKey = "not a key"; return r }(),
			permanent: signer.ReasonUnsupportedPublicKey},
		{name: "a request without a common name is refused permanently",
			req:       func() signer.Request { r := servingRequest(ecKey); r.CommonName = ""; return r }(),
			permanent: signer.ReasonInvalidRequest},
		{name: "a request carrying the CA's own public key is refused permanently",
			req:       func() signer.Request { return servingRequest(ca.PublicKey) }(),
			permanent: signer.ReasonCAKeyReused},
		{name: "a CA that expires within ten minutes issues nothing",
			req: servingRequest(ecKey),
			ca:  func(c *x509.Certificate) { c.NotAfter = templateNow.Add(9 * time.Minute) },
			is:  signer.ErrCAExpiresTooSoon},
		{name: "an expired CA issues nothing",
			req: servingRequest(ecKey),
			ca:  func(c *x509.Certificate) { c.NotAfter = templateNow.Add(-time.Hour) },
			is:  signer.ErrCAExpiresTooSoon},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *ca
			if tc.ca != nil {
				tc.ca(&c)
			}
			_, err := signer.Template(tc.req, &c, signer.Limits{SignerMax: time.Hour}, templateNow, rand.Reader)
			if err == nil {
				t.Fatal("Template succeeded")
			}
			p, permanent := signer.IsPermanent(err)
			switch {
			case tc.permanent != "" && (!permanent || p.Reason != tc.permanent):
				t.Fatalf("error %v, want permanent %s", err, tc.permanent)
			case tc.is != nil && (permanent || !errors.Is(err, tc.is)):
				t.Fatalf("error %v, want transient %v", err, tc.is)
			}
		})
	}
	t.Run("a failing random source is a transient error", func(t *testing.T) {
		_, err := signer.Template(servingRequest(ecKey), ca, signer.Limits{SignerMax: time.Hour}, templateNow, iotest.ErrReader(errors.New("no entropy")))
		if _, permanent := signer.IsPermanent(err); err == nil || permanent {
			t.Fatalf("error %v, want a transient error", err)
		}
	})
	t.Run("serials differ between templates", func(t *testing.T) {
		a, _ := signer.Template(servingRequest(ecKey), ca, signer.Limits{SignerMax: time.Hour}, templateNow, rand.Reader)
		b, _ := signer.Template(servingRequest(ecKey), ca, signer.Limits{SignerMax: time.Hour}, templateNow, rand.Reader)
		if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
			t.Fatal("two templates share a serial")
		}
	})
}

func TestRefuseCAKeys(t *testing.T) {
	root := signertest.NewCA(t, signertest.ECDSAP256, "root")
	issuing := signertest.NewIntermediateCA(t, signertest.ECDSAP256, "issuing", root)
	previous := signertest.NewCA(t, signertest.ECDSAP256, "previous")
	ca := &signer.CA{Certificate: issuing.Cert, Chain: []*x509.Certificate{root.Cert},
		Trusted: []*x509.Certificate{root.Cert, previous.Cert}}
	tests := map[string]struct {
		key     crypto.PublicKey
		refused bool
	}{
		"a fresh key is not refused":                          {key: signertest.NewKey(t, signertest.ECDSAP256).Public()},
		"the issuing CA's key is refused":                     {key: issuing.Cert.PublicKey, refused: true},
		"the key of the root above it is refused":             {key: root.Cert.PublicKey, refused: true},
		"the key of a previous CA still trusted is refused":   {key: previous.Cert.PublicKey, refused: true},
		"a key of a type without Equal is left to the signer": {key: "not a key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := signer.RefuseCAKeys(tc.key, ca)
			p, permanent := signer.IsPermanent(err)
			switch {
			case tc.refused && (!permanent || p.Reason != signer.ReasonCAKeyReused):
				t.Fatalf("error %v, want permanent %s", err, signer.ReasonCAKeyReused)
			case !tc.refused && err != nil:
				t.Fatalf("error %v, want none", err)
			}
		})
	}
}
