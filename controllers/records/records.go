package records

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/nodetrust/nodetrust/controllers/internal/metrics"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// Reconciler writes a NodeCertificate record for every kubelet
// certificate that appears in a CSR's status, whoever approved and signed
// it, and emits an Event on the Node.
//
// Who approved is read from the Approved condition: nodetrust only when the
// condition carries the proof the approval loop made with the manager's key
// for this CSR and policy (see wire.ApprovingPolicy), external otherwise,
// whatever its reason and message say. Who signed is found by checking the
// certificate's signature against the CAs of nodetrust's signers. Neither can
// be forged by a CSR's creator, nor by another approver.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on Nodes.
	Recorder events.EventRecorder
	// Signers holds nodetrust's signers, to tell their certificates from
	// other signers'. Nil means every certificate is external.
	Signers *registry.Registry
	// Verifier checks the proofs of nodetrust's approvals. Nil means every
	// approval is external.
	Verifier wire.ApprovalVerifier
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

// DefaultYield is the YieldFor the manager uses.
const DefaultYield = 30 * time.Second

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
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !csrstate.IsKubeletSigner(csr.Spec.SignerName) || !csrstate.Issued(csr) {
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
	record := wire.NewRecord(csr, certs[0], r.Verifier)
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
		if name, ok := r.Signers.IssuerOf(ctx, certs[0]); ok {
			record.Spec.Issuance = v1alpha1.Issuance{By: v1alpha1.ActorNodetrust, Signer: name}
		}
	}
	if err := r.Client.Create(ctx, record); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("creating record %s: %w", record.Name, err)
	}
	metrics.RecordCreated(record)
	log.FromContext(ctx).Info("recorded", "record", record.Name, "node", record.Spec.NodeName, "kind", record.Spec.Kind,
		"serial", record.Spec.SerialNumber, "notAfter", record.Spec.NotAfter.Time, "approvedBy", record.Spec.Approval.By,
		"policy", record.Spec.Approval.Policy, "issuedBy", record.Spec.Issuance.By)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: record.Spec.NodeName}}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	r.Recorder.Eventf(node, nil, corev1.EventTypeNormal, wire.EventCertificateIssued, "Issue",
		"%s certificate with serial %s, valid until %s, issued for CSR %s (approved by %s)",
		strings.ToLower(string(record.Spec.Kind)), record.Spec.SerialNumber,
		record.Spec.NotAfter.UTC().Format(time.RFC3339), csr.Name, approvedByText(record.Spec.Approval))
	return reconcile.Result{}, nil
}

// shouldYield reports whether recording should wait: kubelet CSRs are in
// flight (waiting for a decision or a certificate) or were created or
// decided within recordQuietFor, and the approval of this one is younger
// than YieldFor.
func (r *Reconciler) shouldYield(ctx context.Context, record *v1alpha1.NodeCertificate) (bool, error) {
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

// lastActivity reads the CSRs and returns when they last kept the approval
// path busy (see lastActivityOf).
func (r *Reconciler) lastActivity(ctx context.Context) (time.Time, error) {
	var list certificatesv1.CertificateSigningRequestList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return time.Time{}, fmt.Errorf("listing CSRs: %w", err)
	}
	return lastActivityOf(list.Items, r.Clock.Now()), nil
}

// lastActivityOf returns when kubelet CSRs last kept the approval path busy:
// now, when some wait for a decision (not a person's) or a certificate;
// otherwise the latest creation or condition update among them. Sampling
// "in flight" alone would see only the gaps, since records are written
// right after a signature.
func lastActivityOf(csrs []certificatesv1.CertificateSigningRequest, now time.Time) time.Time {
	var last time.Time
	for i := range csrs {
		c := &csrs[i]
		if !csrstate.IsKubeletSigner(c.Spec.SignerName) {
			continue
		}
		if _, inReview := wire.ReviewOf(c); csrstate.AwaitsSigning(c) || (!csrstate.Decided(c) && !inReview) {
			return now
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
	return last
}

func approvedByText(a v1alpha1.Approval) string {
	if a.By == v1alpha1.ActorNodetrust && a.Policy != "" {
		return "nodetrust policy " + a.Policy
	}
	return string(a.By)
}

// SetupWithManager watches CSRs that carry a kubelet certificate.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("certificate-records").
		Watches(&certificatesv1.CertificateSigningRequest{}, &handler.EnqueueRequestForObject{},
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				c, ok := o.(*certificatesv1.CertificateSigningRequest)
				return ok && csrstate.IsKubeletSigner(c.Spec.SignerName) && csrstate.Issued(c)
			}))).
		Complete(r); err != nil {
		return fmt.Errorf("building the certificate-records controller: %w", err)
	}
	return nil
}
