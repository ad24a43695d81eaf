package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/policystore"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// Reconciler sets the Ready condition of policies.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Policies compiles the policies.
	Policies *policystore.Store
}

// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatepolicies/status,verbs=get;update;patch

// Reconcile sets the conditions of one policy: Ready and, for a policy
// with serving rules, DNSNamesTiedToNode.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha1.NodeCertificatePolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	conds := r.conditions(p)
	updated := p.DeepCopy()
	changed := false
	for _, cond := range conds {
		changed = meta.SetStatusCondition(&updated.Status.Conditions, cond) || changed
	}
	if p.Spec.Serving == nil {
		changed = meta.RemoveStatusCondition(&updated.Status.Conditions, v1alpha1.ConditionDNSNamesTiedToNode) || changed
	}
	if !changed {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFromWithOptions(p, client.MergeFromWithOptimisticLock{})
	return writes.Result(r.Client.Status().Patch(ctx, updated, patch), "the policy status")
}

// conditions are the conditions p deserves.
func (r *Reconciler) conditions(p *v1alpha1.NodeCertificatePolicy) []metav1.Condition {
	ready := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonPolicyValid,
		Message:            "the policy is valid and in use",
		ObservedGeneration: p.Generation,
	}
	compiled, err := r.Policies.Compile(p)
	if err != nil {
		ready.Status = metav1.ConditionFalse
		ready.Reason = v1alpha1.ReasonInvalidPolicy
		if errors.Is(err, policy.ErrNodeWritableSelector) {
			ready.Reason = v1alpha1.ReasonNodeWritableSelector
		}
		ready.Message = "the policy is ignored until fixed: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		return []metav1.Condition{ready}
	}
	if !compiled.HasServingRules() {
		return []metav1.Condition{ready}
	}
	tied := metav1.Condition{
		Type:               v1alpha1.ConditionDNSNamesTiedToNode,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonTiedDNSNames,
		Message:            "every DNS name the serving rules allow is tied to one node",
		ObservedGeneration: p.Generation,
	}
	if untied := compiled.UntiedDNSNames(); len(untied) > 0 {
		tied.Status = metav1.ConditionFalse
		tied.Reason = v1alpha1.ReasonUntiedDNSNames
		tied.Message = pkcs10.Truncate(fmt.Sprintf("serving.allowedDNSNames %s are not tied to a node: every node this policy governs "+
			"may claim them, a sibling's name included (under *.<domain>, any node's <name>.<domain>); "+
			"prefer serving.dnsNameTemplates such as {node}.<domain>", strings.Join(untied, ", ")), pkcs10.MaxMessageBytes)
	}
	return []metav1.Condition{ready, tied}
}

// SetupWithManager watches policies.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("policy-status").
		For(&v1alpha1.NodeCertificatePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r); err != nil {
		return fmt.Errorf("building the policy-status controller: %w", err)
	}
	return nil
}
