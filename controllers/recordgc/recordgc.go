package recordgc

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// DefaultRetention is how long records are kept after their certificate
// expired.
const DefaultRetention = 30 * 24 * time.Hour

// Reconciler deletes NodeCertificate records a retention period
// after their certificate expired.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Clock is the time source.
	Clock clock.PassiveClock
	// Retention is how long a record outlives its certificate.
	Retention time.Duration
}

// Reconcile deletes one record when its time has come, or waits for it.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
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
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("record-gc").
		For(&v1alpha1.NodeCertificate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r); err != nil {
		return fmt.Errorf("building the record-gc controller: %w", err)
	}
	return nil
}
