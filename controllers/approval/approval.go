package approval

import (
	"context"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/facts"
	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/controllers/internal/metrics"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// DefaultMaxPendingPerRequester bounds how many pending CSRs of one requester
// are considered; a bootstrap token shared by a pool may join this many nodes at once.
const DefaultMaxPendingPerRequester = 100

// Reconciler decides pending kubelet CSRs with the NodeCertificatePolicies
// and writes the decision.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on CSRs.
	Recorder events.EventRecorder
	// Clock is the time source of conditions.
	Clock clock.PassiveClock
	// Facts gathers what a decision depends on.
	Facts *facts.Gatherer
	// Evaluator decides requests.
	Evaluator *policy.Evaluator
	// MaxPendingPerRequester bounds the pending CSRs considered per requester; 0 means no bound.
	MaxPendingPerRequester int
	// Signers, when set, re-queues pending CSRs when a signer starts or
	// stops signing: policies that approve and sign wait for their signer.
	Signers *registry.Registry
	// Prover proves every approval this loop writes (see
	// wire.ProvenApprovedMessage), so that records can tell nodetrust's
	// approvals from anyone else's. Required.
	Prover wire.ApprovalProver
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/status,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,verbs=approve,resourceNames=kubernetes.io/kube-apiserver-client-kubelet;kubernetes.io/kubelet-serving
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=servicecidrs,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch,namespace=kube-system
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch,namespace=default
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile decides one CSR.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if csrstate.Decided(csr) {
		return reconcile.Result{}, nil
	}
	request, ok := policy.NewRequest(csr)
	if !ok {
		return reconcile.Result{}, nil
	}
	decision, err := r.decide(ctx, csr, request)
	if err != nil {
		r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, wire.EventEvaluationError, "Decide",
			"the request could not be evaluated; nodetrust retries")
		return reconcile.Result{}, err
	}
	p := plan(csr, decision, r.Clock.Now(), r.Prover)
	if res, err := r.write(ctx, csr, p); err != nil || !res.IsZero() {
		return res, err
	}
	if p.decides() {
		logDecision(ctx, csr, request, decision)
		metrics.ObserveDecision(request, decision, r.Clock.Now())
	} else {
		log.FromContext(ctx).V(1).Info("no decision to write", "csr", csr.Name, "reason", decision.Reason, "policy", decision.Policy)
	}
	if p.event != nil {
		r.Recorder.Eventf(csr, nil, p.event.eventType, p.event.reason, "Decide", "%s", p.event.note)
	}
	return reconcile.Result{}, nil
}

// decide applies flood protection, then gathers the facts and asks the
// policy engine.
func (r *Reconciler) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, request *policy.Request) (policy.Decision, error) {
	if d, flooded, err := r.checkFlood(ctx, csr); err != nil || flooded {
		return d, err
	}
	f, err := r.Facts.Gather(ctx, request)
	if err != nil {
		return policy.Decision{}, err
	}
	d, err := r.Evaluator.Evaluate(ctx, request, f.Facts, f.Policies)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("evaluating CSR %s: %w", csr.Name, err)
	}
	return d, nil
}

// checkFlood applies flood protection among the requester's pending CSRs.
func (r *Reconciler) checkFlood(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) (policy.Decision, bool, error) {
	var siblings certificatesv1.CertificateSigningRequestList
	if err := r.Client.List(ctx, &siblings, client.MatchingFields{index.Requester: csr.Spec.Username}, client.UnsafeDisableDeepCopy); err != nil {
		return policy.Decision{}, false, fmt.Errorf("listing the requester's CSRs: %w", err)
	}
	pending := make([]policy.PendingCSR, 0, len(siblings.Items))
	for i := range siblings.Items {
		if s := &siblings.Items[i]; !csrstate.Decided(s) {
			pending = append(pending, pendingCSR(s))
		}
	}
	d, flooded := policy.CheckFlood(pendingCSR(csr), pending, r.MaxPendingPerRequester)
	return d, flooded, nil
}

func pendingCSR(c *certificatesv1.CertificateSigningRequest) policy.PendingCSR {
	return policy.PendingCSR{Name: c.Name, Created: c.CreationTimestamp.Time, SignerName: c.Spec.SignerName,
		Request: c.Spec.Request}
}

// writePlan is the one write a decision calls for, and its Event.
type writePlan struct {
	// approval is the CSR to write through /approval, with the new condition.
	approval *certificatesv1.CertificateSigningRequest
	// review is the CSR to write through /status, with the review condition.
	review *certificatesv1.CertificateSigningRequest
	// reviewLabel says the review label must be added.
	reviewLabel bool
	// event is the Event to emit once the write succeeded; nil for none.
	event *csrEvent
}

type csrEvent struct {
	eventType, reason, note string
}

// decides reports whether the plan writes the decision itself (a condition),
// which is logged and counted once; a missing review label alone is not.
func (p writePlan) decides() bool { return p.approval != nil || p.review != nil }

// plan is the write and Event decision d calls for on csr, at now. An
// approval's message carries prover's proof; the Event's note does not.
func plan(csr *certificatesv1.CertificateSigningRequest, d policy.Decision, now time.Time, prover wire.ApprovalProver) writePlan {
	note := eventNote(d)
	switch d.Result {
	case policy.Approve:
		message := wire.ProvenApprovedMessage(csr, d.Message, d.Policy, prover)
		return writePlan{approval: csrstate.WithCondition(csr, certificatesv1.CertificateApproved, d.Reason, message, now),
			event: &csrEvent{corev1.EventTypeNormal, wire.EventApproved, note}}
	case policy.Deny:
		return writePlan{approval: csrstate.WithCondition(csr, certificatesv1.CertificateDenied, d.Reason, d.Message, now),
			event: &csrEvent{corev1.EventTypeWarning, wire.EventDenied, note}}
	case policy.Review:
		// The condition is the mark, written through /status where no
		// requester can write; the label only lets kubectl select.
		message := wire.ReviewMessage(d.Message, d.Policy)
		var p writePlan
		if c, ok := csrstate.Condition(csr, wire.ConditionReviewRequired); !ok || c.Reason != d.Reason || c.Message != message {
			p.review = csrstate.WithConditionSet(csr, wire.ConditionReviewRequired, d.Reason, message, now)
			p.event = &csrEvent{corev1.EventTypeNormal, wire.EventReviewRequired, note}
		}
		p.reviewLabel = csr.Labels[wire.LabelReview] != wire.ReviewRequired
		return p
	}
	switch d.Reason {
	case policy.ReasonNoMatchingPolicy:
		return writePlan{event: &csrEvent{corev1.EventTypeWarning, wire.EventNoMatchingPolicy, note}}
	case policy.ReasonAwaitingNode:
		return writePlan{event: &csrEvent{corev1.EventTypeNormal, wire.EventAwaitingNode, note}}
	case policy.ReasonAwaitingSigner:
		return writePlan{event: &csrEvent{corev1.EventTypeWarning, wire.EventAwaitingSigner, note}}
	}
	return writePlan{}
}

// write makes the plan's writes. The cached resourceVersion travels with
// conditions: a stale cache gets a conflict, never a blind write. The
// review label is a merge patch of that label alone.
func (r *Reconciler) write(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, p writePlan) (reconcile.Result, error) {
	if p.approval != nil {
		return writes.Result(r.Client.SubResource("approval").Update(ctx, p.approval, writes.FieldOwner(wire.ApproverFieldManager)),
			"the decision")
	}
	if p.review != nil {
		res, err := writes.Result(r.Client.Status().Update(ctx, p.review, writes.FieldOwner(wire.ApproverFieldManager)), "the review condition")
		if err != nil || !res.IsZero() {
			return res, err
		}
	}
	if p.reviewLabel {
		labelled := csr.DeepCopy()
		metav1.SetMetaDataLabel(&labelled.ObjectMeta, wire.LabelReview, wire.ReviewRequired)
		return writes.Result(r.Client.Patch(ctx, labelled, client.MergeFrom(csr), client.FieldOwner(wire.ApproverFieldManager)), "the review label")
	}
	return reconcile.Result{}, nil
}

// logDecision writes one structured line per decision written, with the
// fields of the audit record; in JSON mode (the default) it is one JSON object.
func logDecision(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, request *policy.Request, d policy.Decision) {
	log.FromContext(ctx).Info("decided",
		"csr", csr.Name, "uid", csr.UID, "signerName", request.SignerName, "kind", request.Kind, "node", request.NodeName,
		"requester", request.Username, "groups", request.Groups, "bootstrapTokenID", request.TokenID,
		"decision", d.Result, "reason", d.Reason, "policy", d.Policy, "signer", d.Signer, "message", d.Message,
		"created", csr.CreationTimestamp.Time)
}

// eventNote is the Event text: the decision's reason, message and policy,
// cut to the API server's limit on notes.
func eventNote(d policy.Decision) string {
	suffix := ""
	if d.Policy != "" {
		suffix = " (policy " + d.Policy + ")"
	}
	note := d.Reason
	if d.Message != "" {
		note += ": " + d.Message
	}
	return pkcs10.Truncate(note, wire.MaxEventNoteBytes-len(suffix)) + suffix
}

// SetupWithManager watches kubelet CSRs, and the Nodes, bootstrap-token
// Secrets and policies their decisions depend on.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	pendingKubeletCSR := predicate.NewPredicateFuncs(func(o client.Object) bool {
		c, ok := o.(*certificatesv1.CertificateSigningRequest)
		return ok && csrstate.Pending(c)
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("csr-approval").
		WithOptions(controller.Options{UsePriorityQueue: ptr.To(true)}).
		Watches(&certificatesv1.CertificateSigningRequest{}, fairCSRHandler{reader: mgr.GetCache()},
			builder.WithPredicates(pendingKubeletCSR)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.csrsForNode)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.csrsForToken),
			builder.WithPredicates(predicate.NewPredicateFuncs(isBootstrapTokenSecret))).
		Watches(&v1alpha1.NodeCertificatePolicy{}, handler.EnqueueRequestsFromMapFunc(r.allPendingCSRs),
			builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	if r.Signers != nil {
		b = b.WatchesRawSource(source.Channel(r.Signers.Subscribe(), handler.EnqueueRequestsFromMapFunc(r.allPendingCSRs)))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("building the csr-approval controller: %w", err)
	}
	return nil
}

func isBootstrapTokenSecret(o client.Object) bool {
	s, ok := o.(*corev1.Secret)
	return ok && s.Namespace == facts.BootstrapTokenNamespace && s.Type == policy.BootstrapTokenSecretType
}

// csrsForNode requeues the node's own pending CSRs, and the pending serving
// CSRs of other nodes that name one of its addresses: whether they may
// depends on it.
func (r *Reconciler) csrsForNode(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := index.CSRRequests(ctx, r.Client, csrstate.Pending, client.MatchingFields{index.Node: o.GetName()})
	if node, ok := o.(*corev1.Node); ok {
		for _, key := range policy.NodeAddressesOf(node).Keys() {
			reqs = append(reqs, index.CSRRequests(ctx, r.Client, csrstate.Pending, client.MatchingFields{index.SAN: key})...)
		}
	}
	return reqs
}

func (r *Reconciler) csrsForToken(ctx context.Context, o client.Object) []reconcile.Request {
	id, ok := strings.CutPrefix(o.GetName(), policy.BootstrapTokenSecretPrefix)
	if !ok {
		return nil
	}
	return index.CSRRequests(ctx, r.Client, csrstate.Pending, client.MatchingFields{index.Requester: csrstate.BootstrapUserPrefix + id})
}

func (r *Reconciler) allPendingCSRs(ctx context.Context, _ client.Object) []reconcile.Request {
	return index.CSRRequests(ctx, r.Client, csrstate.Pending)
}
