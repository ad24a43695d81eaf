package writes

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestResult(t *testing.T) {
	csrs := schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}
	tests := map[string]struct {
		err     error
		want    reconcile.Result
		wantErr bool
	}{
		"a write that succeeded is done":                  {},
		"a conflict looks again once the cache caught up": {err: apierrors.NewConflict(csrs, "x", errors.New("stale")), want: reconcile.Result{RequeueAfter: ConflictRetryDelay}},
		"a wrapped conflict is a conflict too":            {err: errors.Join(errors.New("context"), apierrors.NewConflict(csrs, "x", errors.New("stale"))), want: reconcile.Result{RequeueAfter: ConflictRetryDelay}},
		"any other failure is returned, to be retried":    {err: apierrors.NewInternalError(errors.New("etcd")), wantErr: true},
		"a refused write is returned too, not swallowed":  {err: apierrors.NewForbidden(csrs, "x", errors.New("no")), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Result(tc.err, "the decision")
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("Result() = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, tc.err) || !strings.Contains(err.Error(), "writing the decision")) {
				t.Fatalf("error %v does not wrap %v with what was written", err, tc.err)
			}
		})
	}
}
