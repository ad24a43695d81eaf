package signertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Backend is the harness a backend gives the suite.
type Backend struct {
	// KeyTypes are the CA key types the backend supports; the suite runs
	// once per type.
	KeyTypes []KeyType
	// Chains is true when the backend can sign with an intermediate CA and
	// append the chain above it.
	Chains bool
	// New returns a signer for ca. It may register cleanups with t.
	New func(t *testing.T, ca *CA) signer.Signer
	// Rotate replaces the CA behind s with ca, as an operator would (a new
	// Secret, new files, a new key in the module). s must pick it up without
	// being rebuilt, within RotationTimeout.
	Rotate func(t *testing.T, s signer.Signer, ca *CA)
	// Break makes the CA behind s unusable, as an operator mistake would (a
	// key that does not match the certificate, a deleted key). Nil skips
	// the failure case.
	Break func(t *testing.T, s signer.Signer, ca *CA)
}

// RotationTimeout is how long the suite waits for a backend to pick up a
// rotated or broken CA.
const RotationTimeout = 10 * time.Second

// subjectKeyTypes are the kubelet key types every backend must sign for.
var subjectKeyTypes = []KeyType{ECDSAP256, ECDSAP384, RSA2048, Ed25519}

// Run runs the conformance suite against b.
func Run(t *testing.T, b Backend) {
	for _, kt := range b.KeyTypes {
		t.Run(string(kt), func(t *testing.T) { runKeyType(t, b, kt) })
	}
	if b.Chains {
		t.Run("an intermediate CA appends its chain", func(t *testing.T) { runChain(t, b) })
	}
}

// runKeyType runs the cases of one CA key type.
func runKeyType(t *testing.T, b Backend, kt KeyType) {
	runBasics(t, b, kt)
	if b.Rotate != nil {
		t.Run("a rotated CA is picked up live and stale templates are refused", func(t *testing.T) {
			oldCA := NewCA(t, kt, "nodetrust conformance old "+string(kt))
			newCA := NewCA(t, kt, "nodetrust conformance new "+string(kt))
			s := b.New(t, oldCA)
			stale := template(t, oldCA.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName)
			b.Rotate(t, s, newCA)
			eventually(t, "the new CA to be current", func() bool {
				c, err := s.CA(context.Background())
				return err == nil && c.Certificate.Equal(newCA.Cert)
			})
			if _, err := s.Sign(context.Background(), stale); !errors.Is(err, signer.ErrCAChanged) {
				t.Fatalf("Sign with a template for the old CA: got %v, want ErrCAChanged", err)
			}
			checkIssue(t, s, newCA, ECDSAP256, certificatesv1.KubeletServingSignerName)
		})
	}
	if b.Break != nil {
		t.Run("a broken CA fails Check and signs nothing", func(t *testing.T) {
			ca := NewCA(t, kt, "nodetrust conformance broken "+string(kt))
			s := b.New(t, ca)
			tmpl := template(t, ca.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName)
			b.Break(t, s, ca)
			eventually(t, "Check to fail", func() bool { return s.Check(context.Background()) != nil })
			if pemData, err := s.Sign(context.Background(), tmpl); err == nil {
				t.Fatalf("a broken signer signed:\n%s", pemData)
			}
		})
	}
}

// runBasics runs the cases every backend passes without operator action.
func runBasics(t *testing.T, b Backend, kt KeyType) {
	t.Run("a serving certificate is issued as the template says and verifies against the trusted CAs", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance "+string(kt))
		s := b.New(t, ca)
		for _, skt := range subjectKeyTypes {
			checkIssue(t, s, ca, skt, certificatesv1.KubeletServingSignerName)
		}
	})
	t.Run("a client certificate has client auth only", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance client "+string(kt))
		checkIssue(t, b.New(t, ca), ca, ECDSAP256, certificatesv1.KubeAPIServerClientKubeletSignerName)
	})
	t.Run("CA reports the provisioned certificate and Check passes", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance ca "+string(kt))
		s := b.New(t, ca)
		got := mustCA(t, s)
		if !got.Certificate.Equal(ca.Cert) {
			t.Fatalf("CA certificate is %q, want %q", got.Certificate.Subject, ca.Cert.Subject)
		}
		if !slices.ContainsFunc(got.Trusted, ca.Cert.Equal) {
			t.Fatalf("trusted CAs do not include the issuing CA")
		}
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("a template built for another CA is refused with ErrCAChanged", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance stale "+string(kt))
		other := NewCA(t, kt, "nodetrust conformance other "+string(kt))
		s := b.New(t, ca)
		tmpl := template(t, other.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName)
		if _, err := s.Sign(context.Background(), tmpl); !errors.Is(err, signer.ErrCAChanged) {
			t.Fatalf("Sign with a stale template: got %v, want ErrCAChanged", err)
		}
	})
	t.Run("a CA template is refused permanently", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance isca "+string(kt))
		s := b.New(t, ca)
		tmpl := template(t, ca.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName)
		tmpl.IsCA = true
		if _, err := s.Sign(context.Background(), tmpl); err == nil {
			t.Fatal("a CA template was signed")
		} else if _, ok := signer.IsPermanent(err); !ok {
			t.Fatalf("error %v is not permanent", err)
		}
	})
	t.Run("concurrent signing gives distinct valid certificates", func(t *testing.T) {
		ca := NewCA(t, kt, "nodetrust conformance concurrent "+string(kt))
		s := b.New(t, ca)
		checkConcurrent(t, s, ca)
	})
}

// runChain checks a backend over an intermediate CA.
func runChain(t *testing.T, b Backend) {
	root := NewCA(t, b.KeyTypes[0], "nodetrust conformance root")
	inter := NewIntermediateCA(t, b.KeyTypes[0], "nodetrust conformance intermediate", root)
	s := b.New(t, inter)
	got := mustCA(t, s)
	if len(got.Chain) != 1 || !got.Chain[0].Equal(root.Cert) {
		t.Fatalf("chain = %d certificates, want the root", len(got.Chain))
	}
	if !slices.ContainsFunc(got.Trusted, root.Cert.Equal) {
		t.Fatal("the root is not trusted")
	}
	certs := sign(t, s, template(t, inter.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName))
	if len(certs) != 2 || !certs[1].Equal(root.Cert) {
		t.Fatalf("issued %d certificates, want the leaf and the root", len(certs))
	}
	verify(t, certs[0], []*x509.Certificate{root.Cert}, []*x509.Certificate{inter.Cert}, x509.ExtKeyUsageServerAuth)
}

// template builds a template with signer.Template for a fresh subject key.
func template(t *testing.T, ca *x509.Certificate, subject KeyType, signerName string) *x509.Certificate {
	t.Helper()
	req := signer.Request{
		SignerName:    signerName,
		CommonName:    "system:node:conformance-node",
		Organizations: []string{"system:nodes"},
		PublicKey:     NewKey(t, subject).Public(),
	}
	if signerName == certificatesv1.KubeletServingSignerName {
		req.DNSNames = []string{"conformance-node.example.com"}
		req.IPAddresses = []net.IP{net.ParseIP("10.0.0.7").To4(), net.ParseIP("fd00::7")}
	}
	tmpl, err := signer.Template(req, ca, signer.Limits{SignerMax: 24 * time.Hour}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatalf("Template: %v", err)
	}
	return tmpl
}

func mustCA(t *testing.T, s signer.Signer) *signer.CA {
	t.Helper()
	c, err := s.CA(context.Background())
	if err != nil {
		t.Fatalf("CA: %v", err)
	}
	return c
}

func sign(t *testing.T, s signer.Signer, tmpl *x509.Certificate) []*x509.Certificate {
	t.Helper()
	out, err := s.Sign(context.Background(), tmpl)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	certs, err := signer.ParseCertificatesPEM(out)
	if err != nil {
		t.Fatalf("the issued PEM does not parse: %v", err)
	}
	return certs
}

// checkIssue signs a template for a subject key of type skt and checks that
// the certificate is exactly what the template says and verifies.
func checkIssue(t *testing.T, s signer.Signer, ca *CA, skt KeyType, signerName string) {
	t.Helper()
	tmpl := template(t, mustCA(t, s).Certificate, skt, signerName)
	certs := sign(t, s, tmpl)
	if len(certs) != 1+len(ca.Chain) {
		t.Fatalf("issued %d certificates, want %d", len(certs), 1+len(ca.Chain))
	}
	leaf := certs[0]
	eku := x509.ExtKeyUsageServerAuth
	if signerName == certificatesv1.KubeAPIServerClientKubeletSignerName {
		eku = x509.ExtKeyUsageClientAuth
	}
	if msg := leafMismatch(leaf, tmpl, ca, eku); msg != "" {
		t.Error(msg)
	}
	roots := mustCA(t, s).Trusted
	verify(t, leaf, roots, nil, eku)
}

// leafMismatch describes the first way leaf differs from tmpl, or is "".
func leafMismatch(leaf, tmpl *x509.Certificate, ca *CA, eku x509.ExtKeyUsage) string {
	switch {
	case leaf.SerialNumber.Cmp(tmpl.SerialNumber) != 0:
		return fmt.Sprintf("serial %v, want %v", leaf.SerialNumber, tmpl.SerialNumber)
	case leaf.Subject.String() != tmpl.Subject.String():
		return fmt.Sprintf("subject %q, want %q", leaf.Subject, tmpl.Subject)
	case !slices.Equal(leaf.DNSNames, tmpl.DNSNames):
		return fmt.Sprintf("DNS names %q, want %q", leaf.DNSNames, tmpl.DNSNames)
	case !slices.EqualFunc(leaf.IPAddresses, tmpl.IPAddresses, net.IP.Equal):
		return fmt.Sprintf("IP addresses %v, want %v", leaf.IPAddresses, tmpl.IPAddresses)
	case !leaf.NotBefore.Equal(tmpl.NotBefore) || !leaf.NotAfter.Equal(tmpl.NotAfter):
		return fmt.Sprintf("validity %v–%v, want %v–%v", leaf.NotBefore, leaf.NotAfter, tmpl.NotBefore, tmpl.NotAfter)
	case leaf.KeyUsage != tmpl.KeyUsage:
		return fmt.Sprintf("key usage %v, want %v", leaf.KeyUsage, tmpl.KeyUsage)
	case !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{eku}):
		return fmt.Sprintf("extended key usage %v, want [%v]", leaf.ExtKeyUsage, eku)
	case leaf.IsCA || !leaf.BasicConstraintsValid:
		return fmt.Sprintf("IsCA %v BasicConstraintsValid %v, want a non-CA certificate", leaf.IsCA, leaf.BasicConstraintsValid)
	case !bytes.Equal(leaf.SubjectKeyId, tmpl.SubjectKeyId):
		return fmt.Sprintf("subject key id %x, want %x", leaf.SubjectKeyId, tmpl.SubjectKeyId)
	case !bytes.Equal(leaf.AuthorityKeyId, ca.Cert.SubjectKeyId):
		return fmt.Sprintf("authority key id %x, want the CA's %x", leaf.AuthorityKeyId, ca.Cert.SubjectKeyId)
	case !publicKeyEqual(leaf, tmpl):
		return "the certificate's key is not the request's"
	}
	return ""
}

func publicKeyEqual(leaf, tmpl *x509.Certificate) bool {
	k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(tmpl.PublicKey)
}

func verify(t *testing.T, leaf *x509.Certificate, roots, intermediates []*x509.Certificate, eku x509.ExtKeyUsage) {
	t.Helper()
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{eku},
	}
	for _, c := range roots {
		opts.Roots.AddCert(c)
	}
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("the issued certificate does not verify: %v", err)
	}
}

func checkConcurrent(t *testing.T, s signer.Signer, ca *CA) {
	t.Helper()
	const workers, each = 4, 5
	var (
		mu      sync.Mutex
		serials = map[string]bool{}
		wg      sync.WaitGroup
		errs    = make(chan error, workers*each)
	)
	tmpls := make([]*x509.Certificate, workers*each)
	for i := range tmpls {
		tmpls[i] = template(t, ca.Cert, ECDSAP256, certificatesv1.KubeletServingSignerName)
	}
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				out, err := s.Sign(context.Background(), tmpls[w*each+i])
				if err != nil {
					errs <- err
					continue
				}
				certs, err := signer.ParseCertificatesPEM(out)
				if err != nil {
					errs <- err
					continue
				}
				if err := certs[0].CheckSignatureFrom(ca.Cert); err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				serials[certs[0].SerialNumber.String()] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Sign: %v", err)
	}
	if len(serials) != workers*each {
		t.Errorf("%d distinct serials from %d signatures", len(serials), workers*each)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(RotationTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", RotationTimeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
