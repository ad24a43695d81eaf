package writes

import (
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConflictRetryDelay is how long a reconciler waits after a write conflict,
// by which time its cache has usually caught up.
const ConflictRetryDelay = time.Second

// Result is the reconcile result of a write that returned err: done when
// err is nil, a requeue after ConflictRetryDelay on a conflict, and err,
// wrapped with what was written, otherwise.
func Result(err error, what string) (reconcile.Result, error) {
	switch {
	case err == nil:
		return reconcile.Result{}, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: ConflictRetryDelay}, nil
	default:
		return reconcile.Result{}, fmt.Errorf("writing %s: %w", what, err)
	}
}

// FieldOwner is the option that names manager as the field manager of a
// subresource update.
func FieldOwner(manager string) client.SubResourceUpdateOption {
	return &client.SubResourceUpdateOptions{UpdateOptions: client.UpdateOptions{FieldManager: manager}}
}
