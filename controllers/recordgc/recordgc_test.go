package recordgc

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
)

// writeDelete is the one write the recordgc loop makes.
const writeDelete = "delete NodeCertificate"

// retention is how long records outlive their certificate in these tests.
const retention = time.Hour

func TestReconcile(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "nodetrust.io", Resource: "nodecertificates"}, "r")
	tests := map[string]struct {
		notAfter time.Duration // of the record's certificate, from fixtures.Now
		fail     map[string]error

		want       reconcile.Result
		wantErr    fixtures.ErrorKind
		wantWrites []string
		wantGone   bool
	}{
		"a record past notAfter plus the retention is deleted": {
			notAfter: -retention - time.Second, wantWrites: []string{writeDelete}, wantGone: true,
		},
		"a record whose retention ends now is deleted": {
			notAfter: -retention, wantWrites: []string{writeDelete}, wantGone: true,
		},
		"a record of an expired certificate still in its retention waits for the rest of it": {
			notAfter: -20 * time.Minute, want: reconcile.Result{RequeueAfter: 40 * time.Minute},
		},
		"a record of a valid certificate waits for its expiry and the retention": {
			notAfter: 2 * time.Hour, want: reconcile.Result{RequeueAfter: 2*time.Hour + retention},
		},
		"a record deleted by someone else meanwhile is no error": {
			notAfter: -2 * retention, fail: map[string]error{writeDelete: notFound}, wantWrites: []string{writeDelete},
		},
		"a failed delete returns the error": {
			notAfter: -2 * retention, fail: map[string]error{writeDelete: fixtures.ErrServer},
			wantErr: fixtures.Retried, wantWrites: []string{writeDelete},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			record := &v1alpha1.NodeCertificate{
				ObjectMeta: metav1.ObjectMeta{Name: "serving-0123", UID: "uid-record"},
				Spec:       v1alpha1.NodeCertificateSpec{NotAfter: metav1.NewTime(fixtures.Now.Add(tc.notAfter))},
			}
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, record)
			r := &Reconciler{Client: c, Clock: fixtures.Clock(), Retention: retention}

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: record.Name}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			err = c.Get(context.Background(), client.ObjectKeyFromObject(record), &v1alpha1.NodeCertificate{})
			if gone := apierrors.IsNotFound(err); gone != tc.wantGone {
				t.Errorf("record gone = %v (%v), want %v", gone, err, tc.wantGone)
			}
		})
	}
}

// TestMissingRecord checks that a record deleted before its turn is no
// error and no write.
func TestMissingRecord(t *testing.T) {
	w := &fixtures.Writes{}
	r := &Reconciler{Client: fixtures.NewClient(w), Clock: fixtures.Clock(), Retention: retention}
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "gone"}})
	fixtures.CheckResult(t, res, err, reconcile.Result{}, fixtures.NoError)
	fixtures.CheckWrites(t, w)
}
