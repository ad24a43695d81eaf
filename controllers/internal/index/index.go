package index

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// Field indexes in the cache, on CertificateSigningRequests, Nodes and records.
const (
	// Requester indexes kubelet CSRs by spec.username.
	Requester = "nodetrust.io/requester"
	// Node indexes kubelet CSRs by the node they are for.
	Node = "nodetrust.io/node"
	// SAN indexes serving CSRs by the keys of their SANs (policy.SANKeys).
	SAN = "nodetrust.io/san"
	// NodeAddress indexes Nodes by the keys of their name and the addresses
	// they report (policy.NodeAddresses.Keys).
	NodeAddress = "nodetrust.io/address"
	// RecordNode indexes NodeCertificate records by spec.nodeName.
	RecordNode = "nodetrust.io/record-node"
)

// Add registers the field indexes with indexer.
func Add(ctx context.Context, indexer client.FieldIndexer) error {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := indexer.IndexField(ctx, csr, Requester, RequesterOf); err != nil {
		return fmt.Errorf("indexing CSRs by requester: %w", err)
	}
	if err := indexer.IndexField(ctx, csr, Node, NodeOf); err != nil {
		return fmt.Errorf("indexing CSRs by node: %w", err)
	}
	if err := indexer.IndexField(ctx, csr, SAN, SANsOf); err != nil {
		return fmt.Errorf("indexing CSRs by SAN: %w", err)
	}
	if err := indexer.IndexField(ctx, &corev1.Node{}, NodeAddress, AddressesOf); err != nil {
		return fmt.Errorf("indexing Nodes by address: %w", err)
	}
	if err := indexer.IndexField(ctx, &v1alpha1.NodeCertificate{}, RecordNode, RecordNodeOf); err != nil {
		return fmt.Errorf("indexing records by node: %w", err)
	}
	return nil
}

// RecordNodeOf is the RecordNode index value of a NodeCertificate record.
func RecordNodeOf(o client.Object) []string {
	r, ok := o.(*v1alpha1.NodeCertificate)
	if !ok || r.Spec.NodeName == "" {
		return nil
	}
	return []string{r.Spec.NodeName}
}

// SANsOf is the SAN index value of a pending serving CSR: the keys of its
// SANs. Decided CSRs are not indexed: nothing re-decides them.
func SANsOf(o client.Object) []string {
	c, ok := o.(*certificatesv1.CertificateSigningRequest)
	if !ok || c.Spec.SignerName != certificatesv1.KubeletServingSignerName || csrstate.Decided(c) {
		return nil
	}
	parsed, _ := pkcs10.Parse(c.Spec.Request)
	return policy.SANKeys(parsed)
}

// AddressesOf is the NodeAddress index value of a Node.
func AddressesOf(o client.Object) []string {
	n, ok := o.(*corev1.Node)
	if !ok {
		return nil
	}
	return policy.NodeAddressesOf(n).Keys()
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
