package controllers

import (
	"context"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// Field indexes on CertificateSigningRequests in the cache.
const (
	// IndexRequester indexes kubelet CSRs by spec.username.
	IndexRequester = "nodetrust.io/requester"
	// IndexNode indexes kubelet CSRs by the node they are for.
	IndexNode = "nodetrust.io/node"
)

// AddIndexes registers the CSR field indexes the reconcilers use.
func AddIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := indexer.IndexField(ctx, csr, IndexRequester, requesterOf); err != nil {
		return fmt.Errorf("indexing CSRs by requester: %w", err)
	}
	if err := indexer.IndexField(ctx, csr, IndexNode, nodeOf); err != nil {
		return fmt.Errorf("indexing CSRs by node: %w", err)
	}
	return nil
}

// requesterOf is the IndexRequester value of a kubelet CSR.
func requesterOf(o client.Object) []string {
	c, ok := o.(*certificatesv1.CertificateSigningRequest)
	if !ok || !isKubeletSigner(c.Spec.SignerName) {
		return nil
	}
	return []string{c.Spec.Username}
}

// nodeOf is the IndexNode value of a kubelet CSR.
func nodeOf(o client.Object) []string {
	c, ok := o.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	if node := nodeNameOf(c); node != "" {
		return []string{node}
	}
	return nil
}

// nodeNameOf returns the node a kubelet CSR is for, or "".
func nodeNameOf(c *certificatesv1.CertificateSigningRequest) string {
	kind, ok := policy.Classify(c)
	if !ok {
		return ""
	}
	if kind == v1alpha1.KindClientBootstrap {
		node, _ := strings.CutPrefix(pkcs10.CommonNameOf(c.Spec.Request), policy.NodeUserPrefix)
		return node
	}
	return strings.TrimPrefix(c.Spec.Username, policy.NodeUserPrefix)
}

func isKubeletSigner(name string) bool {
	return name == policy.KubeletClientSignerName || name == policy.KubeletServingSignerName
}
