package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Field managers nodetrust writes CSRs with.
const (
	ApproverFieldManager = "nodetrust-approver"
	SignerFieldManager   = "nodetrust-signer"
)

// Labels of NodeCertificate records, for selecting them.
const (
	// LabelNode is the record's node name, when it fits in a label value.
	LabelNode = "nodetrust.io/node"
	// LabelKind is "client" or "serving".
	LabelKind = "nodetrust.io/kind"
)

// EventNodeCertificateIssued is the reason of the Event emitted on a Node
// for every certificate issued for it.
const EventNodeCertificateIssued = "CertificateIssued"

// DefaultRecordRetention is how long records are kept after their
// certificate expired.
const DefaultRecordRetention = 30 * 24 * time.Hour

// RecordReconciler writes a NodeCertificate record for every kubelet
// certificate that appears in a CSR's status, whoever approved and signed
// it, and emits an Event on the Node.
//
// Who approved is read from the Approved condition, which only approvers can
// write (see policy.ApprovingPolicy); who signed is found by checking the
// certificate's signature against the CAs of nodetrust's signers. Neither can
// be forged by a CSR's creator.
type RecordReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on Nodes.
	Recorder events.EventRecorder
	// Signers holds nodetrust's signers, to tell their certificates from
	// other signers'. Nil means every certificate is external.
	Signers *SignerRegistry
	// Clock and Retention skip certificates whose record the garbage
	// collector would delete at once (expired longer than Retention ago).
	Clock     clock.PassiveClock
	Retention time.Duration
	// YieldFor is how long recording a certificate may wait while kubelet
	// CSRs are waiting for a decision or a certificate: approvals and
	// signatures go first, records follow once the API server is quiet or
	// this long after the approval. Zero records at once.
	YieldFor time.Duration

	busyMu     sync.Mutex
	checkedAt  time.Time // when the CSRs were last looked at
	lastBusyAt time.Time // when CSRs were last seen in flight
}

// DefaultRecordYield is the YieldFor the manager uses.
const DefaultRecordYield = 30 * time.Second

// recordYieldInterval is how often a yielding record looks again.
const recordYieldInterval = time.Second

// recordQuietFor is how long kubelet CSRs must have been quiet before a
// record is written. API timestamps have a resolution of one second, hence
// two.
const recordQuietFor = 2 * time.Second

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificates,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile records the certificate of one CSR.
func (r *RecordReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !isKubeletSigner(csr.Spec.SignerName) || len(csr.Status.Certificate) == 0 {
		return reconcile.Result{}, nil
	}
	certs, err := signer.ParseCertificatesPEM(csr.Status.Certificate)
	if err != nil {
		// Nothing to record, and retrying cannot help: the certificate never changes.
		return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("CSR %s carries a certificate that does not parse: %w", csr.Name, err))
	}
	if r.Clock != nil && r.Clock.Now().After(certs[0].NotAfter.Add(r.Retention)) {
		return reconcile.Result{}, nil
	}
	record := newRecord(csr, certs[0])
	if err := r.Client.Get(ctx, types.NamespacedName{Name: record.Name}, &v1alpha1.NodeCertificate{}); err == nil {
		return reconcile.Result{}, nil
	} else if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("reading record %s: %w", record.Name, err)
	}
	if yield, err := r.shouldYield(ctx, record); err != nil {
		return reconcile.Result{}, err
	} else if yield {
		return reconcile.Result{RequeueAfter: recordYieldInterval}, nil
	}
	if r.Signers != nil {
		if name, ok := r.Signers.issuerOf(ctx, certs[0]); ok {
			record.Spec.Issuance = v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: name}
		}
	}
	if err := r.Client.Create(ctx, record); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("creating record %s: %w", record.Name, err)
	}
	recordsCreated.WithLabelValues(kindLabel(record.Spec.Kind), string(record.Spec.Approval.By), string(record.Spec.Issuance.By)).Inc()
	log.FromContext(ctx).Info("recorded", "record", record.Name, "node", record.Spec.NodeName, "kind", record.Spec.Kind,
		"serial", record.Spec.SerialNumber, "notAfter", record.Spec.NotAfter.Time, "approvedBy", record.Spec.Approval.By,
		"policy", record.Spec.Approval.Policy, "issuedBy", record.Spec.Issuance.By)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: record.Spec.NodeName}}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	r.Recorder.Eventf(node, nil, corev1.EventTypeNormal, EventNodeCertificateIssued, "Issue",
		"%s certificate with serial %s, valid until %s, issued for CSR %s (approved by %s)",
		strings.ToLower(string(record.Spec.Kind)), record.Spec.SerialNumber,
		record.Spec.NotAfter.UTC().Format(time.RFC3339), csr.Name, approvedByText(record.Spec.Approval))
	return reconcile.Result{}, nil
}

// shouldYield reports whether recording should wait: kubelet CSRs are in
// flight (waiting for a decision or a certificate) or were created or
// decided within recordQuietFor, and the approval of this one is younger
// than YieldFor.
func (r *RecordReconciler) shouldYield(ctx context.Context, record *v1alpha1.NodeCertificate) (bool, error) {
	if r.YieldFor <= 0 || r.Clock == nil || record.Spec.Approval.Time == nil ||
		r.Clock.Since(record.Spec.Approval.Time.Time) >= r.YieldFor {
		return false, nil
	}
	// One look at the CSRs serves every record for a while: a backlog of
	// records must not cost a listing each.
	r.busyMu.Lock()
	defer r.busyMu.Unlock()
	if r.Clock.Since(r.checkedAt) >= recordYieldInterval/4 {
		last, err := r.lastActivity(ctx)
		if err != nil {
			return false, err
		}
		r.checkedAt, r.lastBusyAt = r.Clock.Now(), last
	}
	return r.Clock.Since(r.lastBusyAt) < recordQuietFor, nil
}

// lastActivity returns when kubelet CSRs last kept the approval path busy:
// now, when some wait for a decision or a certificate; otherwise the latest
// creation or condition update among them. Sampling "in flight" alone would
// see only the gaps, since records are written right after a signature.
func (r *RecordReconciler) lastActivity(ctx context.Context) (time.Time, error) {
	var list certificatesv1.CertificateSigningRequestList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return time.Time{}, fmt.Errorf("listing CSRs: %w", err)
	}
	var last time.Time
	for i := range list.Items {
		c := &list.Items[i]
		if !isKubeletSigner(c.Spec.SignerName) {
			continue
		}
		if awaitsSigning(c) || (!isFinished(c) && c.Labels[LabelReview] != "required") {
			return r.Clock.Now(), nil
		}
		if t := c.CreationTimestamp.Time; t.After(last) {
			last = t
		}
		for _, cond := range c.Status.Conditions {
			if t := cond.LastUpdateTime.Time; t.After(last) {
				last = t
			}
		}
	}
	return last, nil
}

func approvedByText(a v1alpha1.Approval) string {
	if a.By == v1alpha1.ActorNodetrust && a.Policy != "" {
		return "nodetrust policy " + a.Policy
	}
	return string(a.By)
}

// RecordName is the name of the record of leaf: its kind and the first 160
// bits of its SHA-256 fingerprint, so that a certificate is recorded once.
func RecordName(kind v1alpha1.CertificateKind, leaf *x509.Certificate) string {
	fp := strings.ToLower(strings.ReplaceAll(signer.Fingerprint(leaf), ":", ""))
	return kindLabel(kind) + "-" + fp[:40]
}

func kindLabel(kind v1alpha1.CertificateKind) string { return strings.ToLower(string(kind)) }

// newRecord describes leaf, issued for csr.
func newRecord(csr *certificatesv1.CertificateSigningRequest, leaf *x509.Certificate) *v1alpha1.NodeCertificate {
	kind := v1alpha1.CertificateClient
	if csr.Spec.SignerName == policy.KubeletServingSignerName {
		kind = v1alpha1.CertificateServing
	}
	node := strings.TrimPrefix(leaf.Subject.CommonName, policy.NodeUserPrefix)
	ips := make([]string, 0, len(leaf.IPAddresses))
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	record := &v1alpha1.NodeCertificate{
		ObjectMeta: metav1.ObjectMeta{
			Name:   RecordName(kind, leaf),
			Labels: map[string]string{LabelKind: kindLabel(kind)},
		},
		Spec: v1alpha1.NodeCertificateSpec{
			NodeName:          node,
			Kind:              kind,
			SignerName:        csr.Spec.SignerName,
			SerialNumber:      leaf.SerialNumber.Text(16),
			SHA256Fingerprint: signer.Fingerprint(leaf),
			Subject:           leaf.Subject.String(),
			Issuer:            leaf.Issuer.String(),
			DNSNames:          leaf.DNSNames,
			IPAddresses:       ips,
			NotBefore:         metav1.NewTime(leaf.NotBefore),
			NotAfter:          metav1.NewTime(leaf.NotAfter),
			CSR:               v1alpha1.CSRReference{Name: csr.Name, UID: string(csr.UID), CreationTimestamp: csr.CreationTimestamp},
			Requester: v1alpha1.Requester{
				Username: csr.Spec.Username,
				Groups:   csr.Spec.Groups,
			},
			Approval: approvalOf(csr),
			Issuance: v1alpha1.Issuance{By: v1alpha1.ActorExternal},
		},
	}
	if len(validation.IsValidLabelValue(node)) == 0 {
		record.Labels[LabelNode] = node
	}
	if id, ok := strings.CutPrefix(csr.Spec.Username, policy.BootstrapUserPrefix); ok {
		record.Spec.Requester.BootstrapTokenID = id
	}
	return record
}

// approvalOf reads who approved csr.
func approvalOf(csr *certificatesv1.CertificateSigningRequest) v1alpha1.Approval {
	a := v1alpha1.Approval{By: v1alpha1.ActorExternal}
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			a.Reason, a.Message = c.Reason, c.Message
			if !c.LastUpdateTime.IsZero() {
				a.Time = c.LastUpdateTime.DeepCopy()
			}
		}
	}
	if name, ok := policy.ApprovingPolicy(a.Reason, a.Message); ok {
		a.By, a.Policy = v1alpha1.ActorNodetrust, name
	}
	return a
}

// SetupWithManager watches CSRs that carry a kubelet certificate.
func (r *RecordReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("certificate-records").
		Watches(&certificatesv1.CertificateSigningRequest{}, &handler.EnqueueRequestForObject{},
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				c, ok := o.(*certificatesv1.CertificateSigningRequest)
				return ok && isKubeletSigner(c.Spec.SignerName) && len(c.Status.Certificate) > 0
			}))).
		Complete(r); err != nil {
		return fmt.Errorf("building the certificate-records controller: %w", err)
	}
	return nil
}

// RecordGCReconciler deletes NodeCertificate records a retention period
// after their certificate expired.
type RecordGCReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Clock is the time source.
	Clock clock.PassiveClock
	// Retention is how long a record outlives its certificate.
	Retention time.Duration
}

// Reconcile deletes one record when its time has come, or waits for it.
func (r *RecordGCReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	record := &v1alpha1.NodeCertificate{}
	if err := r.Client.Get(ctx, req.NamespacedName, record); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	deadline := record.Spec.NotAfter.Add(r.Retention)
	if wait := deadline.Sub(r.Clock.Now()); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if err := r.Client.Delete(ctx, record, client.Preconditions{UID: &record.UID}); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("deleting record %s: %w", record.Name, err)
	}
	log.FromContext(ctx).Info("deleted an expired record", "record", record.Name, "notAfter", record.Spec.NotAfter.Time)
	return reconcile.Result{}, nil
}

// SetupWithManager watches records.
func (r *RecordGCReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("record-gc").
		For(&v1alpha1.NodeCertificate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r); err != nil {
		return fmt.Errorf("building the record-gc controller: %w", err)
	}
	return nil
}
