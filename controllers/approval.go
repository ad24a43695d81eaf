package controllers

import (
	"context"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// Labels and annotations nodetrust puts on CSRs it leaves for a human.
const (
	// LabelReview marks a CSR waiting for manual review; its value is "required".
	LabelReview = "nodetrust.io/review"
	// AnnotationReviewReason holds the reason code a CSR was queued for review.
	AnnotationReviewReason = "nodetrust.io/review-reason"
	// AnnotationReviewMessage holds the human explanation of the review.
	AnnotationReviewMessage = "nodetrust.io/review-message"
	// AnnotationReviewPolicy names the policy that asked for the review.
	AnnotationReviewPolicy = "nodetrust.io/review-policy"
)

// Event reasons of the approval controller.
const (
	EventApproved         = "Approved"
	EventDenied           = "Denied"
	EventReviewRequired   = "ReviewRequired"
	EventNoMatchingPolicy = "NoMatchingPolicy"
	EventAwaitingNode     = "AwaitingNode"
	EventAwaitingSigner   = "AwaitingSigner"
)

// BootstrapTokenNamespace holds the bootstrap-token Secrets.
const BootstrapTokenNamespace = metav1.NamespaceSystem

// DefaultMaxPendingPerRequester bounds how many pending CSRs of one requester
// are considered; a bootstrap token shared by a pool may join this many nodes at once.
const DefaultMaxPendingPerRequester = 100

// ApprovalReconciler decides pending kubelet CSRs with the NodeCertificatePolicies
// and writes the decision through the /approval subresource.
type ApprovalReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on CSRs.
	Recorder events.EventRecorder
	// Clock is the time source of decisions and conditions.
	Clock clock.PassiveClock
	// Evaluator decides requests.
	Evaluator *policy.Evaluator
	// ClusterDomain is the cluster DNS domain, e.g. cluster.local.
	ClusterDomain string
	// MaxPendingPerRequester bounds the pending CSRs considered per requester; 0 means no bound.
	MaxPendingPerRequester int
	// Signers says which NodeCertificateSigners are ready, for policies
	// that approve and sign; nil means none is.
	Signers *SignerRegistry

	policies compiledPolicies
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,verbs=approve,resourceNames=kubernetes.io/kube-apiserver-client-kubelet;kubernetes.io/kubelet-serving
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch,namespace=kube-system
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch,namespace=default
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile decides one CSR.
func (r *ApprovalReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if isFinished(csr) {
		return reconcile.Result{}, nil
	}
	request, ok := policy.NewRequest(csr)
	if !ok {
		return reconcile.Result{}, nil
	}
	decision, err := r.decide(ctx, csr, request)
	if err != nil {
		return reconcile.Result{}, err
	}
	logDecision(ctx, csr, request, decision)
	return r.apply(ctx, csr, request, decision)
}

// decide gathers the facts from the cache and asks the policy engine.
func (r *ApprovalReconciler) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, request *policy.Request) (policy.Decision, error) {
	if d, flooded, err := r.checkFlood(ctx, csr); err != nil || flooded {
		return d, err
	}
	facts := policy.Facts{Now: r.Clock.Now()}
	if r.Signers != nil {
		facts.ReadySigners = r.Signers.ReadySigners()
	}
	var err error
	if facts.Cluster, err = r.clusterIdentity(ctx); err != nil {
		return policy.Decision{}, err
	}
	if request.NodeName != "" {
		facts.Node = &corev1.Node{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: request.NodeName}, facts.Node); apierrors.IsNotFound(err) {
			facts.Node = nil
		} else if err != nil {
			return policy.Decision{}, fmt.Errorf("reading Node %s: %w", request.NodeName, err)
		}
	}
	if request.Kind == v1alpha1.KindClientBootstrap {
		facts.BootstrapToken = &corev1.Secret{}
		key := types.NamespacedName{Namespace: BootstrapTokenNamespace, Name: policy.BootstrapTokenSecretPrefix + request.TokenID}
		if err := r.Client.Get(ctx, key, facts.BootstrapToken); apierrors.IsNotFound(err) {
			facts.BootstrapToken = nil
		} else if err != nil {
			return policy.Decision{}, fmt.Errorf("reading bootstrap token Secret: %w", err)
		}
	}
	var list v1alpha1.NodeCertificatePolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		return policy.Decision{}, fmt.Errorf("listing policies: %w", err)
	}
	return r.Evaluator.Evaluate(ctx, request, facts, r.policies.valid(list.Items))
}

// checkFlood applies flood protection among the requester's pending CSRs.
func (r *ApprovalReconciler) checkFlood(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) (policy.Decision, bool, error) {
	var siblings certificatesv1.CertificateSigningRequestList
	if err := r.Client.List(ctx, &siblings, client.MatchingFields{IndexRequester: csr.Spec.Username}, client.UnsafeDisableDeepCopy); err != nil {
		return policy.Decision{}, false, fmt.Errorf("listing the requester's CSRs: %w", err)
	}
	pending := make([]policy.PendingCSR, 0, len(siblings.Items))
	for i := range siblings.Items {
		if s := &siblings.Items[i]; !isFinished(s) {
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

// clusterIdentity reads the API server's Service IPs from the default/kubernetes Service.
func (r *ApprovalReconciler) clusterIdentity(ctx context.Context) (policy.ClusterIdentity, error) {
	return clusterIdentity(ctx, r.Client, r.ClusterDomain)
}

// apply makes the one write a decision calls for and records an Event.
func (r *ApprovalReconciler) apply(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, request *policy.Request, d policy.Decision) (reconcile.Result, error) {
	note := eventNote(d)
	switch d.Result {
	case policy.Approve, policy.Deny:
		condType, event, eventType := certificatesv1.CertificateApproved, EventApproved, corev1.EventTypeNormal
		if d.Result == policy.Deny {
			condType, event, eventType = certificatesv1.CertificateDenied, EventDenied, corev1.EventTypeWarning
		}
		updated := csr.DeepCopy()
		now := metav1.NewTime(r.Clock.Now())
		updated.Status.Conditions = append(updated.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: condType, Status: corev1.ConditionTrue, Reason: d.Reason, Message: d.Message,
			LastUpdateTime: now, LastTransitionTime: now,
		})
		// The cached resourceVersion travels with the update: a stale cache gets a conflict, never a blind write.
		if err := r.Client.SubResource("approval").Update(ctx, updated, subResourceFieldOwner(ApproverFieldManager)); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
			}
			return reconcile.Result{}, fmt.Errorf("writing the %s condition: %w", condType, err)
		}
		observeDecision(request, d, r.Clock.Now())
		r.Recorder.Eventf(csr, nil, eventType, event, "Decide", "%s", note)
	case policy.Review:
		if csr.Labels[LabelReview] == "required" && csr.Annotations[AnnotationReviewReason] == d.Reason &&
			csr.Annotations[AnnotationReviewPolicy] == d.Policy {
			return reconcile.Result{}, nil
		}
		updated := csr.DeepCopy()
		metav1.SetMetaDataLabel(&updated.ObjectMeta, LabelReview, "required")
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, AnnotationReviewReason, d.Reason)
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, AnnotationReviewMessage, d.Message)
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, AnnotationReviewPolicy, d.Policy)
		patch := client.MergeFromWithOptions(csr, client.MergeFromWithOptimisticLock{})
		if err := r.Client.Patch(ctx, updated, patch); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
			}
			return reconcile.Result{}, fmt.Errorf("marking the CSR for review: %w", err)
		}
		observeDecision(request, d, r.Clock.Now())
		r.Recorder.Eventf(csr, nil, corev1.EventTypeNormal, EventReviewRequired, "Decide", "%s", note)
	case policy.NoOpinion:
		switch d.Reason {
		case policy.ReasonNoMatchingPolicy:
			r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, EventNoMatchingPolicy, "Decide", "%s", note)
		case policy.ReasonAwaitingNode:
			r.Recorder.Eventf(csr, nil, corev1.EventTypeNormal, EventAwaitingNode, "Decide", "%s", note)
		case policy.ReasonAwaitingSigner:
			r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, EventAwaitingSigner, "Decide", "%s", note)
		}
	}
	return reconcile.Result{}, nil
}

// logDecision writes one structured line per decision, with the fields of
// the audit record; in JSON mode (the default) it is one JSON object.
func logDecision(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, request *policy.Request, d policy.Decision) {
	log.FromContext(ctx).Info("decided",
		"csr", csr.Name, "uid", csr.UID, "signerName", request.SignerName, "kind", request.Kind, "node", request.NodeName,
		"requester", request.Username, "groups", request.Groups, "bootstrapTokenID", request.TokenID,
		"decision", d.Result, "reason", d.Reason, "policy", d.Policy, "signer", d.Signer, "message", d.Message,
		"created", csr.CreationTimestamp.Time)
}

func subResourceFieldOwner(manager string) client.SubResourceUpdateOption {
	return &client.SubResourceUpdateOptions{UpdateOptions: client.UpdateOptions{FieldManager: manager}}
}

// eventNote is the Event text: the decision's reason, message and policy.
func eventNote(d policy.Decision) string {
	var b strings.Builder
	b.WriteString(d.Reason)
	if d.Message != "" {
		b.WriteString(": " + d.Message)
	}
	if d.Policy != "" {
		b.WriteString(" (policy " + d.Policy + ")")
	}
	return b.String()
}

// SetupWithManager watches kubelet CSRs, and the Nodes, bootstrap-token
// Secrets and policies their decisions depend on.
func (r *ApprovalReconciler) SetupWithManager(mgr ctrl.Manager) error {
	pendingKubeletCSR := predicate.NewPredicateFuncs(func(o client.Object) bool {
		c, ok := o.(*certificatesv1.CertificateSigningRequest)
		return ok && isKubeletSigner(c.Spec.SignerName) && !isFinished(c)
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
		// ApproveAndSign policies wait for their signer: re-decide when one
		// starts or stops signing.
		b = b.WatchesRawSource(source.Channel(r.Signers.Subscribe(), handler.EnqueueRequestsFromMapFunc(r.allPendingCSRs)))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("building the csr-approval controller: %w", err)
	}
	return nil
}

func isBootstrapTokenSecret(o client.Object) bool {
	s, ok := o.(*corev1.Secret)
	return ok && s.Namespace == BootstrapTokenNamespace && s.Type == policy.BootstrapTokenSecretType
}

func (r *ApprovalReconciler) csrsForNode(ctx context.Context, o client.Object) []reconcile.Request {
	return r.pendingCSRs(ctx, client.MatchingFields{IndexNode: o.GetName()})
}

func (r *ApprovalReconciler) csrsForToken(ctx context.Context, o client.Object) []reconcile.Request {
	id, ok := strings.CutPrefix(o.GetName(), policy.BootstrapTokenSecretPrefix)
	if !ok {
		return nil
	}
	return r.pendingCSRs(ctx, client.MatchingFields{IndexRequester: policy.BootstrapUserPrefix + id})
}

func (r *ApprovalReconciler) allPendingCSRs(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.pendingCSRs(ctx)
}

func (r *ApprovalReconciler) pendingCSRs(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	return csrRequests(ctx, r.Client, func(c *certificatesv1.CertificateSigningRequest) bool {
		return isKubeletSigner(c.Spec.SignerName) && !isFinished(c)
	}, opts...)
}
