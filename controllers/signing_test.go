package controllers_test

import (
	"context"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestServingIsApprovedAndSignedOnceItsSignerIsReady(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	const node = "signed-1"
	createNode(t, node, nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: node},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.20.0.1"})
	testenv.CreateAndWait(ctx, t, env.Client, cache, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "a-sign-serving"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:             v1alpha1.RequestSelector{NodeNamePattern: "signed-.*"},
			Serving:              &v1alpha1.ServingRules{Action: v1alpha1.ServingApproveAndSign, Signer: "serving-ca"},
			MaxExpirationSeconds: new(int32(7200)),
		},
	})

	csr := createCSR(t, servingCSR("signed-serving", node, []string{node}, net.ParseIP("10.20.0.1")),
		csrstate.NodeUserPrefix+node, csrstate.NodesGroup)
	expectEvent(t, csr.Name, wire.EventAwaitingSigner, "NodeCertificateSigner serving-ca")
	expectUntouched(t, csr.Name, time.Second)

	ca := signertest.NewCA(t, signertest.ECDSAP256, "nodetrust e2e serving CA")
	createSecretSigner(t, "serving-ca", ca)
	ncs := waitSignerReady(t, "serving-ca")
	if ncs.Status.CA == nil || ncs.Status.CA.SHA256Fingerprint != signer.Fingerprint(ca.Cert) {
		t.Fatalf("status.ca = %+v, want the fingerprint %s", ncs.Status.CA, signer.Fingerprint(ca.Cert))
	}

	waitForCondition(t, csr.Name, certificatesv1.CertificateApproved)
	leaf := waitForCertificate(t, csr.Name)
	verifyWithBundle(t, leaf, "serving-ca", x509.ExtKeyUsageServerAuth)
	switch {
	case leaf.Subject.CommonName != csrstate.NodeUserPrefix+node:
		t.Errorf("CN %q", leaf.Subject.CommonName)
	case !slices.Equal(leaf.DNSNames, []string{node}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.20.0.1")):
		t.Errorf("SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	case leaf.NotAfter.Sub(leaf.NotBefore) != 2*time.Hour+signer.Backdate:
		t.Errorf("validity %v, want the policy's 2h plus the 5m backdating", leaf.NotAfter.Sub(leaf.NotBefore))
	}
	expectEvent(t, csr.Name, wire.EventCertificateIssued, "NodeCertificateSigner serving-ca")
	checkRecordOfSignedServing(t, leaf)
}

// createSecretSigner stores ca in a kubernetes.io/tls Secret and creates a
// NodeCertificateSigner of the kubelet-serving signer over it.
func createSecretSigner(t *testing.T, name string, ca *signertest.CA) {
	t.Helper()
	ctx := context.Background()
	ensureNamespace(t, signerNamespace)
	testenv.CreateAndWait(ctx, t, env.Client, cache, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
	})
	if err := env.Client.Create(ctx, &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeCertificateSignerSpec{
			SignerName: certificatesv1.KubeletServingSignerName,
			Secret:     &v1alpha1.SecretSignerSource{Name: name},
		},
	}); err != nil {
		t.Fatal(err)
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
}

// waitSignerReady waits for the signer's Ready condition to be True for its
// current generation.
func waitSignerReady(t *testing.T, name string) *v1alpha1.NodeCertificateSigner {
	t.Helper()
	ncs := &v1alpha1.NodeCertificateSigner{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "signer "+name+" to be Ready", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, ncs); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(ncs.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == ncs.Generation, nil
	})
	return ncs
}

// waitForCertificate waits for the CSR's certificate and returns its leaf.
func waitForCertificate(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" to be issued", func(ctx context.Context) (bool, error) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		if len(csr.Status.Certificate) == 0 {
			return false, nil
		}
		certs, err := signer.ParseCertificatesPEM(csr.Status.Certificate)
		if err != nil {
			t.Fatalf("status.certificate does not parse: %v", err)
		}
		leaf = certs[0]
		return true, nil
	})
	return leaf
}

// verifyWithBundle verifies leaf against the signer's published CA bundle,
// as kube-apiserver does with --kubelet-certificate-authority.
func verifyWithBundle(t *testing.T, leaf *x509.Certificate, signerName string, usage x509.ExtKeyUsage) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: signerNamespace, Name: signerName + "-ca-bundle"}, cm); err != nil {
		t.Fatalf("reading the CA bundle: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cm.Data[wire.CABundleKey])) {
		t.Fatal("the CA bundle holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Fatalf("the issued certificate does not verify against the CA bundle: %v", err)
	}
}

// TestAHumanApprovalOfAForeignAddressIsNotSigned: nodetrust's signer checks
// an approved CSR again, whoever approved it: a human approving a serving
// CSR for an IP its Node does not report gets a Failed CSR, not a
// certificate.
func TestAHumanApprovalOfAForeignAddressIsNotSigned(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "serving-ca"}, &v1alpha1.NodeCertificateSigner{}); apierrors.IsNotFound(err) {
		createSecretSigner(t, "serving-ca", signertest.NewCA(t, signertest.ECDSAP256, "nodetrust e2e serving CA"))
	}
	waitSignerReady(t, "serving-ca")
	testenv.CreateAndWait(ctx, t, env.Client, cache, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "human-review"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:    v1alpha1.RequestSelector{NodeNamePattern: "human-[0-9]+"},
			Serving:     &v1alpha1.ServingRules{Action: v1alpha1.ServingReview},
			OnViolation: v1alpha1.ViolationReview,
		},
	})
	createNode(t, "human-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "human-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.110"})
	csr := createCSR(t, servingCSR("serve-human", "human-1", []string{"human-1"}, net.ParseIP("192.0.2.110"), net.ParseIP("198.51.100.9")),
		"system:node:human-1", csrstate.NodesGroup)
	if review := waitForReview(t, csr.Name); review.Reason != policy.ReasonSANNotOwnedByNode {
		t.Fatalf("review %+v, want SANNotOwnedByNode", review)
	}
	env.ApproveCSR(t, csr.Name)
	got := &certificatesv1.CertificateSigningRequest{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+csr.Name+" to fail", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: csr.Name}, got); err != nil {
			return false, err
		}
		_, failed := csrstate.Condition(got, certificatesv1.CertificateFailed)
		return failed || len(got.Status.Certificate) > 0, nil
	})
	cond, _ := csrstate.Condition(got, certificatesv1.CertificateFailed)
	if len(got.Status.Certificate) > 0 || cond.Reason != wire.ReasonSignerValidationFailure ||
		!strings.Contains(cond.Message, "IP SAN 198.51.100.9 is not an address") {
		t.Errorf("certificate of %d bytes, Failed %s %q; want no certificate and SignerValidationFailure naming the foreign IP",
			len(got.Status.Certificate), cond.Reason, cond.Message)
	}
}
