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

// Reconcile sets the Ready condition of one policy.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha1.NodeCertificatePolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	cond := r.readyCondition(p)
	if existing := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); existing != nil &&
		existing.Status == cond.Status && existing.Reason == cond.Reason && existing.Message == cond.Message &&
		existing.ObservedGeneration == cond.ObservedGeneration {
		return reconcile.Result{}, nil
	}
	updated := p.DeepCopy()
	meta.SetStatusCondition(&updated.Status.Conditions, cond)
	patch := client.MergeFromWithOptions(p, client.MergeFromWithOptimisticLock{})
	return writes.Result(r.Client.Status().Patch(ctx, updated, patch), "the policy status")
}

// readyCondition is the Ready condition p deserves.
func (r *Reconciler) readyCondition(p *v1alpha1.NodeCertificatePolicy) metav1.Condition {
	cond := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonPolicyValid,
		Message:            "the policy is valid and in use",
		ObservedGeneration: p.Generation,
	}
	if _, err := r.Policies.Compile(p); err != nil {
		cond.Status = metav1.ConditionFalse
		cond.Reason = v1alpha1.ReasonInvalidPolicy
		if errors.Is(err, policy.ErrNodeWritableSelector) {
			cond.Reason = v1alpha1.ReasonNodeWritableSelector
		}
		cond.Message = "the policy is ignored until fixed: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return cond
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
