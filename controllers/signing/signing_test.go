package signing

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// writeStatus is the one write the signing loop makes.
const writeStatus = "update CertificateSigningRequest/status"

// signerMax is the maximum validity of the test signers.
const signerMax = 24 * time.Hour

// ones is a source of randomness that reads 0x01 forever, so that serial
// numbers are known in advance.
type ones struct{}

func (ones) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 1
	}
	return len(p), nil
}

// serial is the serial number every certificate issued with ones gets.
var serial = new(big.Int).SetBytes([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}).Text(16)

// refusingSigner is a signer whose Sign fails with err.
type refusingSigner struct {
	signer.Signer
	err error
}

func (s refusingSigner) Sign(context.Context, *x509.Certificate) ([]byte, error) { return nil, s.err }

// garblingSigner is a signer whose Sign returns what no one can read.
type garblingSigner struct{ signer.Signer }

func (garblingSigner) Sign(context.Context, *x509.Certificate) ([]byte, error) {
	return []byte("garbage"), nil
}

// caLessSigner is a signer whose CA cannot be read.
type caLessSigner struct{ signer.Signer }

func (caLessSigner) CA(context.Context) (*signer.CA, error) {
	return nil, errors.New("the HSM is unreachable")
}

// failure is what a test expects of a Failed condition.
type failure struct{ reason, message string }

func TestReconcile(t *testing.T) {
	ca := fixtures.CA(t, "serving CA")
	good := fixtures.KeyPair(t, ca)
	approved := fixtures.WithCondition(certificatesv1.CertificateApproved, wire.ReasonAutoApproved, "approved")
	servingCSR := fixtures.CSR(t, "serving", fixtures.AsServing([]string{fixtures.NodeName}, "10.0.0.11"), approved)
	clientCSR := fixtures.CSR(t, "client", approved)
	node := fixtures.Node(fixtures.NodeName, "10.0.0.11")
	shortPolicy := fixtures.Policy("short-serving", v1alpha1.NodeCertificatePolicySpec{
		Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingApprove}, MaxExpirationSeconds: new(int32(7200))})
	issuedEvent := func(validity time.Duration) string {
		return "Normal CertificateIssued certificate with serial " + serial + ", valid until " +
			fixtures.Now.Add(validity).Format("2006-01-02T15:04:05Z") + ", issued by NodeCertificateSigner serving-ca"
	}
	mismatch := `common name "system:node:worker-2" does not match the requester "system:node:worker-1"`
	foreignIP := `IP SAN 10.0.0.12 is not an address Node "worker-1" may claim under the policies that govern it`
	siblingIP := `IP SAN 10.0.0.12 is an address of Node "worker-2"`
	withIP := func(n *corev1.Node, ip string) *corev1.Node {
		n = n.DeepCopy()
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
		return n
	}
	stranger := `requester "alice" is neither a node nor a bootstrap token user of kubernetes.io/kube-apiserver-client-kubelet`

	tests := map[string]struct {
		csr        *certificatesv1.CertificateSigningRequest
		objects    []client.Object
		signerName string        // the signer name the ready signer signs; none is ready when empty
		backend    signer.Signer // the ready signer's backend; good when nil
		fail       map[string]error

		want         reconcile.Result
		wantErr      fixtures.ErrorKind
		wantWrites   []string
		wantValidity time.Duration // of the certificate written; none is when zero
		wantFailed   *failure
		wantEvents   []string
	}{
		"an approved serving CSR is signed by the ready signer": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			wantWrites: []string{writeStatus}, wantValidity: signerMax, wantEvents: []string{issuedEvent(signerMax)},
		},
		"an approved client CSR is signed by the ready client signer": {
			csr: clientCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			wantWrites: []string{writeStatus}, wantValidity: signerMax, wantEvents: []string{issuedEvent(signerMax)},
		},
		"the governing policy's maxExpirationSeconds caps the validity": {
			csr: servingCSR, objects: []client.Object{node, shortPolicy}, signerName: certificatesv1.KubeletServingSignerName,
			wantWrites: []string{writeStatus}, wantValidity: 2 * time.Hour, wantEvents: []string{issuedEvent(2 * time.Hour)},
		},
		"the CSR's expirationSeconds caps the validity": {
			csr:     fixtures.CSR(t, "short", fixtures.AsServing([]string{fixtures.NodeName}), approved, fixtures.WithExpirationSeconds(3600)),
			objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			wantWrites: []string{writeStatus}, wantValidity: time.Hour, wantEvents: []string{issuedEvent(time.Hour)},
		},
		"without a ready signer nothing happens": {
			csr: servingCSR, objects: []client.Object{node},
		},
		"a signer of the other signer name does not sign": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		},
		"a human-approved CSR whose common name names another node fails validation": {
			csr: fixtures.CSR(t, "other-node", fixtures.WithCommonName("system:node:worker-2"),
				fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
			signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			wantErr:    fixtures.Terminal, wantWrites: []string{writeStatus},
			wantFailed: &failure{wire.ReasonSignerValidationFailure, mismatch},
			wantEvents: []string{"Warning SigningFailed SignerValidationFailure: " + mismatch},
		},
		"a human-approved serving CSR for an IP its Node does not report fails validation": {
			csr: fixtures.CSR(t, "foreign-ip", fixtures.AsServing([]string{fixtures.NodeName}, "10.0.0.12"),
				fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
			objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			wantErr: fixtures.Terminal, wantWrites: []string{writeStatus},
			wantFailed: &failure{wire.ReasonSignerValidationFailure, foreignIP},
			wantEvents: []string{"Warning SigningFailed SignerValidationFailure: " + foreignIP},
		},
		"a human-approved serving CSR for another Node's IP fails validation": {
			csr: fixtures.CSR(t, "sibling-ip", fixtures.AsServing([]string{fixtures.NodeName}, "10.0.0.11", "10.0.0.12"),
				fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
			objects: []client.Object{withIP(node, "10.0.0.12"), fixtures.Node("worker-2", "10.0.0.12")}, signerName: certificatesv1.KubeletServingSignerName,
			wantErr: fixtures.Terminal, wantWrites: []string{writeStatus},
			wantFailed: &failure{wire.ReasonSignerValidationFailure, siblingIP},
			wantEvents: []string{"Warning SigningFailed SignerValidationFailure: " + siblingIP},
		},
		"an approved CSR from a requester that is no kubelet fails validation": {
			csr: fixtures.CSR(t, "alice", fixtures.WithRequester("alice", "system:authenticated"),
				fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
			signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			wantErr:    fixtures.Terminal, wantWrites: []string{writeStatus},
			wantFailed: &failure{wire.ReasonSignerValidationFailure, stranger},
			wantEvents: []string{"Warning SigningFailed SignerValidationFailure: " + stranger},
		},
		"a signer's permanent refusal marks the CSR Failed with its reason": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend: refusingSigner{good, signer.Permanent("KeyTooWeak", "the HSM refuses this key", errors.New("CKR_KEY_SIZE_RANGE"))},
			wantErr: fixtures.Terminal, wantWrites: []string{writeStatus},
			wantFailed: &failure{"KeyTooWeak", "the HSM refuses this key"},
			wantEvents: []string{"Warning SigningFailed KeyTooWeak: the HSM refuses this key"},
		},
		"a transient signer error is retried without a write": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend:    refusingSigner{good, errors.New("the HSM is busy")},
			wantErr:    fixtures.Retried,
			wantEvents: []string{"Warning SigningFailed NodeCertificateSigner serving-ca could not sign the certificate; retrying"},
		},
		"a signer whose CA cannot be read is retried without a write": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend:    caLessSigner{good},
			wantErr:    fixtures.Retried,
			wantEvents: []string{"Warning SigningFailed NodeCertificateSigner serving-ca could not sign the certificate; retrying"},
		},
		"a signer returning an unreadable certificate is retried without a write": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend:    garblingSigner{good},
			wantErr:    fixtures.Retried,
			wantEvents: []string{"Warning SigningFailed NodeCertificateSigner serving-ca could not sign the certificate; retrying"},
		},
		"a CA that changed while signing is retried at once": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend: refusingSigner{good, signer.ErrCAChanged},
			want:    reconcile.Result{Requeue: true}, //nolint:staticcheck // what the loop returns
		},
		"a conflict on the certificate requeues without an Event": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			fail:       map[string]error{writeStatus: fixtures.ErrConflict},
			want:       reconcile.Result{RequeueAfter: writes.ConflictRetryDelay},
			wantWrites: []string{writeStatus},
		},
		"a failed certificate write returns the error without an Event": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			fail:       map[string]error{writeStatus: fixtures.ErrServer},
			wantErr:    fixtures.Retried,
			wantWrites: []string{writeStatus},
		},
		"a conflict on the Failed condition requeues without an Event": {
			csr: servingCSR, objects: []client.Object{node}, signerName: certificatesv1.KubeletServingSignerName,
			backend:    refusingSigner{good, signer.Permanent("KeyTooWeak", "the HSM refuses this key", nil)},
			fail:       map[string]error{writeStatus: fixtures.ErrConflict},
			want:       reconcile.Result{RequeueAfter: writes.ConflictRetryDelay},
			wantWrites: []string{writeStatus},
		},
		"a CSR nobody approved is left alone": {
			csr: fixtures.CSR(t, "pending"), signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		},
		"a denied CSR is left alone": {
			csr:        fixtures.CSR(t, "denied", approved, fixtures.WithCondition(certificatesv1.CertificateDenied, "KubectlDeny", "no")),
			signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		},
		"a failed CSR is left alone": {
			csr:        fixtures.CSR(t, "failed", approved, fixtures.WithCondition(certificatesv1.CertificateFailed, "KeyTooWeak", "no")),
			signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		},
		"an approved CSR for another signer is left alone": {
			csr:        fixtures.CSR(t, "foreign", fixtures.WithSigner("example.com/signer"), approved),
			signerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, append([]client.Object{tc.csr.DeepCopy()}, tc.objects...)...)
			reg := registry.New()
			if tc.signerName != "" {
				backend := tc.backend
				if backend == nil {
					backend = good
				}
				fixtures.ReadySigner(t, reg, "serving-ca", tc.signerName, backend, signerMax)
			}
			r, rec := newReconciler(c, reg)

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: tc.csr.Name}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			fixtures.CheckEvents(t, rec, tc.wantEvents...)
			got := &certificatesv1.CertificateSigningRequest{}
			if err := c.Get(context.Background(), types.NamespacedName{Name: tc.csr.Name}, got); err != nil {
				t.Fatal(err)
			}
			checkCertificate(t, got, ca.Cert, tc.wantValidity)
			checkFailed(t, tc.csr, got, tc.wantFailed)
		})
	}
}

// TestIssuedCSRIsLeftAlone checks that a CSR that already carries a
// certificate is not signed again.
func TestIssuedCSRIsLeftAlone(t *testing.T) {
	ca := fixtures.CA(t, "serving CA")
	csr := fixtures.CSR(t, "issued", fixtures.WithCondition(certificatesv1.CertificateApproved, wire.ReasonAutoApproved, "approved"))
	csr.Status.Certificate = fixtures.Issue(t, ca, csr, time.Hour)
	w := &fixtures.Writes{}
	reg := registry.New()
	fixtures.ReadySigner(t, reg, "serving-ca", certificatesv1.KubeAPIServerClientKubeletSignerName, fixtures.KeyPair(t, ca), signerMax)
	r, rec := newReconciler(fixtures.NewClient(w, csr), reg)
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: csr.Name}})
	fixtures.CheckResult(t, res, err, reconcile.Result{}, fixtures.NoError)
	fixtures.CheckWrites(t, w)
	fixtures.CheckEvents(t, rec)
}

func newReconciler(c client.Client, reg *registry.Registry) (*Reconciler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(10)
	return &Reconciler{Client: c, Recorder: rec, Clock: fixtures.Clock(), Signers: reg, Facts: fixtures.Gatherer(c, reg), Random: ones{}}, rec
}

// checkCertificate checks that got carries a certificate for its request,
// issued by ca at the fake clock's time for validity, or none when validity
// is zero.
func checkCertificate(t *testing.T, got *certificatesv1.CertificateSigningRequest, ca *x509.Certificate, validity time.Duration) {
	t.Helper()
	if validity == 0 {
		if len(got.Status.Certificate) > 0 {
			t.Error("a certificate was written")
		}
		return
	}
	certs, err := signer.ParseCertificatesPEM(got.Status.Certificate)
	if err != nil {
		t.Fatalf("status.certificate: %v", err)
	}
	leaf := certs[0]
	switch {
	case leaf.CheckSignatureFrom(ca) != nil:
		t.Error("the certificate is not signed by the signer's CA")
	case leaf.Subject.CommonName != "system:node:"+fixtures.NodeName:
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	case leaf.SerialNumber.Text(16) != serial:
		t.Errorf("serial = %s, want %s from the injected randomness", leaf.SerialNumber.Text(16), serial)
	case !leaf.NotBefore.Equal(fixtures.Now.Add(-signer.Backdate)) || !leaf.NotAfter.Equal(fixtures.Now.Add(validity)):
		t.Errorf("valid %s to %s, want %s after %s", leaf.NotBefore, leaf.NotAfter, validity, fixtures.Now)
	}
}

// checkFailed checks that got has a Failed condition as want, added at the
// fake clock's time, or no condition besides before's when want is nil.
func checkFailed(t *testing.T, before, got *certificatesv1.CertificateSigningRequest, want *failure) {
	t.Helper()
	added := got.Status.Conditions[len(before.Status.Conditions):]
	switch {
	case want == nil && len(added) > 0:
		t.Errorf("conditions %+v added, want none", added)
	case want == nil:
	case len(added) != 1:
		t.Errorf("conditions %+v added, want one Failed", added)
	case added[0].Type != certificatesv1.CertificateFailed || added[0].Reason != want.reason || added[0].Message != want.message ||
		!added[0].LastUpdateTime.Time.Equal(fixtures.Now):
		t.Errorf("condition = %+v, want Failed %s %q", added[0], want.reason, want.message)
	}
}
