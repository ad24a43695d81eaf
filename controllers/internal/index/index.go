package index

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

// Field indexes on CertificateSigningRequests in the cache.
const (
	// Requester indexes kubelet CSRs by spec.username.
	Requester = "nodetrust.io/requester"
	// Node indexes kubelet CSRs by the node they are for.
	Node = "nodetrust.io/node"
)

// Add registers the CSR field indexes with indexer.
func Add(ctx context.Context, indexer client.FieldIndexer) error {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := indexer.IndexField(ctx, csr, Requester, RequesterOf); err != nil {
		return fmt.Errorf("indexing CSRs by requester: %w", err)
	}
	if err := indexer.IndexField(ctx, csr, Node, NodeOf); err != nil {
		return fmt.Errorf("indexing CSRs by node: %w", err)
	}
	return nil
}

// RequesterOf is the Requester index value of a kubelet CSR; fake clients in
// tests index by it too.
func RequesterOf(o client.Object) []string {
	c, ok := o.(*certificatesv1.CertificateSigningRequest)
	if !ok || !csrstate.IsKubeletSigner(c.Spec.SignerName) {
		return nil
	}
	return []string{c.Spec.Username}
}

// NodeOf is the Node index value of a kubelet CSR.
func NodeOf(o client.Object) []string {
	c, ok := o.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	if node := csrstate.NodeOf(c); node != "" {
		return []string{node}
	}
	return nil
}

// CSRRequests lists the CSRs in reader that match and returns requests for
// them, for the map functions that re-queue CSRs when something they depend
// on changes. A failed listing is logged and requeues nothing.
func CSRRequests(ctx context.Context, reader client.Reader, match func(*certificatesv1.CertificateSigningRequest) bool,
	opts ...client.ListOption) []reconcile.Request {
	var list certificatesv1.CertificateSigningRequestList
	if err := reader.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		log.FromContext(ctx).Error(err, "listing CSRs to requeue")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return out
}
