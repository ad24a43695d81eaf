package approval

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

// maxPenalty bounds how far a requester's CSRs sink in the queue.
const maxPenalty = 1000

// fairCSRHandler enqueues a CSR with a priority that falls with the number
// of pending CSRs its requester has. A requester flooding the API server
// thus cannot starve others: their CSRs are worked first, whatever the names.
type fairCSRHandler struct {
	reader client.Reader
}

var _ handler.EventHandler = fairCSRHandler{}

// Create enqueues the created CSR.
func (h fairCSRHandler) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

// Update enqueues the updated CSR.
func (h fairCSRHandler) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.ObjectNew, q)
}

// Delete ignores deleted CSRs: there is nothing left to decide.
func (fairCSRHandler) Delete(context.Context, event.DeleteEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// Generic enqueues the CSR.
func (h fairCSRHandler) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

func (h fairCSRHandler) enqueue(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: o.GetName()}}
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	csr, isCSR := o.(*certificatesv1.CertificateSigningRequest)
	if !ok || !isCSR {
		q.Add(req)
		return
	}
	priority := -min(h.pendingOf(ctx, csr.Spec.Username), maxPenalty)
	pq.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, req)
}

// pendingOf counts the requester's pending CSRs in the cache.
func (h fairCSRHandler) pendingOf(ctx context.Context, username string) int {
	var list certificatesv1.CertificateSigningRequestList
	if err := h.reader.List(ctx, &list, client.MatchingFields{index.Requester: username}, client.UnsafeDisableDeepCopy); err != nil {
		return 0
	}
	n := 0
	for i := range list.Items {
		if !csrstate.Decided(&list.Items[i]) {
			n++
		}
	}
	return n
}
