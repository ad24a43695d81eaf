package records

import (
	"context"
	"fmt"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// writeRecord is the one write the records loop makes.
const writeRecord = "create NodeCertificate"

// retention is how long records outlive their certificate in these tests.
const retention = time.Hour

// validity is the validity of the certificates issued in these tests.
const validity = 24 * time.Hour

// issued returns csr carrying a certificate ca issued for it.
func issued(t *testing.T, csr *certificatesv1.CertificateSigningRequest, ca *signertest.CA) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	csr.Status.Certificate = fixtures.Issue(t, ca, csr, validity)
	return csr
}

func TestReconcile(t *testing.T) {
	ours, theirs := fixtures.CA(t, "nodetrust CA"), fixtures.CA(t, "someone else's CA")
	serving := fixtures.AsServing([]string{fixtures.NodeName}, "10.0.0.11")
	byPolicy := fixtures.ApprovedByNodetrust("serving", fixtures.ApprovalKey)
	byHand := fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "approved by hand")

	ourServing := issued(t, fixtures.CSR(t, "ours", serving, byPolicy), ours)
	theirClient := issued(t, fixtures.CSR(t, "theirs", byHand), theirs)
	broken := fixtures.CSR(t, "broken", byPolicy)
	broken.Status.Certificate = []byte("not a certificate")
	foreign := issued(t, fixtures.CSR(t, "foreign", byHand), theirs)
	foreign.Spec.SignerName = "example.com/signer"
	pending := fixtures.CSR(t, "pending-other", fixtures.WithRequester("system:node:worker-2", "system:nodes"),
		fixtures.WithCommonName("system:node:worker-2"))
	nodetrust := approvalOf(ourServing, v1alpha1.ActorNodetrust, "serving")
	external := v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: "KubectlApprove", Message: "approved by hand"}

	// Approvals someone else wrote in nodetrust's words, on a CSR nodetrust
	// did not approve: without a proof, and with the proof of another CSR.
	ourText := wire.ApprovedMessage(string(v1alpha1.KindServing), fixtures.NodeName, "serving")
	forgedText := issued(t, fixtures.CSR(t, "forged-text", serving,
		fixtures.WithCondition(certificatesv1.CertificateApproved, wire.ReasonAutoApproved, ourText)), ours)
	copiedProof := issued(t, fixtures.CSR(t, "copied-proof", serving,
		fixtures.WithCondition(certificatesv1.CertificateApproved, wire.ReasonAutoApproved, approvalOf(ourServing, "", "").Message)), ours)
	rotated := issued(t, fixtures.CSR(t, "rotated", serving, fixtures.ApprovedByNodetrust("serving", fixtures.PreviousApprovalKey)), ours)
	outsiderKey, err := attest.NewKey([]byte("a key nodetrust never held, 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey := issued(t, fixtures.CSR(t, "other-key", serving, fixtures.ApprovedByNodetrust("serving", outsiderKey)), ours)
	alreadyExists := apierrors.NewAlreadyExists(schema.GroupResource{Group: "nodetrust.io", Resource: "nodecertificates"}, "x")

	tests := map[string]struct {
		csr      *certificatesv1.CertificateSigningRequest
		objects  []client.Object
		fail     map[string]error
		later    time.Duration // how long after fixtures.Now the loop runs
		yieldFor time.Duration

		want         reconcile.Result
		wantErr      fixtures.ErrorKind
		wantWrites   []string
		wantApproval *v1alpha1.Approval // of the record written; none is when nil
		wantIssuance v1alpha1.Issuance
		wantEvents   []string
	}{
		"a certificate nodetrust approved and signed is recorded as nodetrust's": {
			csr: ourServing, wantWrites: []string{writeRecord},
			wantApproval: &nodetrust, wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents: []string{issuedEvent(t, ourServing, "nodetrust policy serving")},
		},
		"a certificate approved by hand and signed elsewhere is recorded as external": {
			csr: theirClient, wantWrites: []string{writeRecord},
			wantApproval: &external, wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorExternal},
			wantEvents: []string{issuedEvent(t, theirClient, "external")},
		},
		"nodetrust's words without its proof are recorded as an external approval": {
			csr: forgedText, wantWrites: []string{writeRecord},
			wantApproval: ptr.To(approvalOf(forgedText, v1alpha1.ActorExternal, "")),
			wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents:   []string{issuedEvent(t, forgedText, "external")},
		},
		"a proof copied from a CSR nodetrust approved is recorded as an external approval": {
			csr: copiedProof, wantWrites: []string{writeRecord},
			wantApproval: ptr.To(approvalOf(copiedProof, v1alpha1.ActorExternal, "")),
			wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents:   []string{issuedEvent(t, copiedProof, "external")},
		},
		"an approval proven with a key nodetrust never held is recorded as external": {
			csr: otherKey, wantWrites: []string{writeRecord},
			wantApproval: ptr.To(approvalOf(otherKey, v1alpha1.ActorExternal, "")),
			wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents:   []string{issuedEvent(t, otherKey, "external")},
		},
		"an approval proven with the previous key is still nodetrust's": {
			csr: rotated, wantWrites: []string{writeRecord},
			wantApproval: ptr.To(approvalOf(rotated, v1alpha1.ActorNodetrust, "serving")),
			wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents:   []string{issuedEvent(t, rotated, "nodetrust policy serving")},
		},
		"a certificate already recorded is not recorded again": {
			csr: ourServing, objects: []client.Object{recordOf(t, ourServing)},
		},
		"a record another writer created meanwhile is no error": {
			csr: ourServing, fail: map[string]error{writeRecord: alreadyExists}, wantWrites: []string{writeRecord},
		},
		"a failed record write returns the error without an Event": {
			csr: ourServing, fail: map[string]error{writeRecord: fixtures.ErrServer},
			wantErr: fixtures.Retried, wantWrites: []string{writeRecord},
		},
		"a certificate that does not parse is a terminal error": {
			csr: broken, wantErr: fixtures.Terminal,
		},
		"a certificate expired longer ago than the retention is not recorded": {
			csr: ourServing, later: validity + retention + time.Second,
		},
		"a certificate expired within the retention is recorded": {
			csr: ourServing, later: validity + retention - time.Second, wantWrites: []string{writeRecord},
			wantApproval: &nodetrust, wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents: []string{issuedEvent(t, ourServing, "nodetrust policy serving")},
		},
		"a fresh approval yields while another kubelet CSR waits for a decision": {
			csr: ourServing, objects: []client.Object{pending}, yieldFor: 30 * time.Second,
			want: reconcile.Result{RequeueAfter: recordYieldInterval},
		},
		"an approval older than the yield is recorded whatever is in flight": {
			csr: ourServing, objects: []client.Object{pending}, yieldFor: 30 * time.Second, later: time.Minute,
			wantWrites:   []string{writeRecord},
			wantApproval: &nodetrust, wantIssuance: v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: "serving-ca"},
			wantEvents: []string{issuedEvent(t, ourServing, "nodetrust policy serving")},
		},
		"a certificate of another signer is not recorded": {
			csr: foreign,
		},
		"a CSR without a certificate is not recorded": {
			csr: fixtures.CSR(t, "approved", byPolicy),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, append([]client.Object{tc.csr.DeepCopy()}, tc.objects...)...)
			reg := registry.New()
			fixtures.ReadySigner(t, reg, "serving-ca", certificatesv1.KubeletServingSignerName, fixtures.KeyPair(t, ours), validity)
			rec := events.NewFakeRecorder(10)
			r := &Reconciler{Client: c, Recorder: rec, Signers: reg, Verifier: fixtures.Verifier(t),
				Clock: clocktesting.NewFakePassiveClock(fixtures.Now.Add(tc.later)), Retention: retention, YieldFor: tc.yieldFor}

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: tc.csr.Name}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			fixtures.CheckEvents(t, rec, tc.wantEvents...)
			if tc.wantApproval != nil {
				checkRecord(t, c, tc.csr, *tc.wantApproval, tc.wantIssuance)
			}
		})
	}
}

// recordOf is the record of csr's certificate, as the loop would write it.
func recordOf(t *testing.T, csr *certificatesv1.CertificateSigningRequest) *v1alpha1.NodeCertificate {
	t.Helper()
	certs, err := signer.ParseCertificatesPEM(csr.Status.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return wire.NewRecord(csr, certs[0], fixtures.Verifier(t))
}

// approvalOf is the approval a record of csr holds: csr's Approved
// condition's reason and message, attributed to by with policy.
func approvalOf(csr *certificatesv1.CertificateSigningRequest, by v1alpha1.Actor, policy string) v1alpha1.Approval {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved {
			return v1alpha1.Approval{By: by, Policy: policy, Reason: c.Reason, Message: c.Message}
		}
	}
	return v1alpha1.Approval{By: by, Policy: policy}
}

// issuedEvent is the Event on the Node for the record of csr's
// certificate, approved by approvedBy.
func issuedEvent(t *testing.T, csr *certificatesv1.CertificateSigningRequest, approvedBy string) string {
	t.Helper()
	r := recordOf(t, csr)
	return fmt.Sprintf("Normal CertificateIssued %s certificate with serial %s, valid until %s, issued for CSR %s (approved by %s)",
		wire.KindLabel(r.Spec.Kind), r.Spec.SerialNumber, r.Spec.NotAfter.UTC().Format(time.RFC3339), csr.Name, approvedBy)
}

// checkRecord checks the record of csr's certificate: named after it,
// describing it, with the approval and issuance wanted.
func checkRecord(t *testing.T, c client.Reader, csr *certificatesv1.CertificateSigningRequest, approval v1alpha1.Approval, issuance v1alpha1.Issuance) {
	t.Helper()
	certs, err := signer.ParseCertificatesPEM(csr.Status.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	kind := v1alpha1.CertificateClient
	if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
		kind = v1alpha1.CertificateServing
	}
	got := &v1alpha1.NodeCertificate{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: wire.RecordName(kind, leaf)}, got); err != nil {
		t.Fatalf("reading the record: %v", err)
	}
	s := got.Spec
	gotApproval := s.Approval
	gotApproval.Time = nil
	switch {
	case s.NodeName != fixtures.NodeName || s.Kind != kind || s.SerialNumber != leaf.SerialNumber.Text(16) || s.CSR.Name != csr.Name:
		t.Errorf("record describes node %q, kind %s, serial %s, CSR %s", s.NodeName, s.Kind, s.SerialNumber, s.CSR.Name)
	case !s.NotAfter.Time.Equal(leaf.NotAfter):
		t.Errorf("record notAfter %s, want %s", s.NotAfter, leaf.NotAfter)
	case gotApproval != approval || s.Approval.Time == nil || !s.Approval.Time.Time.Equal(fixtures.Now):
		t.Errorf("approval = %+v, want %+v at %s", s.Approval, approval, fixtures.Now)
	case s.Issuance != issuance:
		t.Errorf("issuance = %+v, want %+v", s.Issuance, issuance)
	}
}
