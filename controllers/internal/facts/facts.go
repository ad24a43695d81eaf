package facts

import (
	"context"
	"fmt"
	"net"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/controllers/internal/policystore"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// BootstrapTokenNamespace holds the bootstrap-token Secrets.
const BootstrapTokenNamespace = metav1.NamespaceSystem

// Gatherer reads facts from a cache.
type Gatherer struct {
	// Reader is the manager's cache.
	Reader client.Reader
	// Clock is the time of decisions.
	Clock clock.PassiveClock
	// ClusterDomain is the cluster DNS domain, e.g. cluster.local.
	ClusterDomain string
	// Policies compiles the policies.
	Policies *policystore.Store
	// Signers says which signers are ready; nil means none is.
	Signers *registry.Registry
}

// Facts are what a decision about one request depends on.
type Facts struct {
	policy.Facts
	// Policies are the valid policies.
	Policies []*policy.Compiled
}

// Gather reads the facts for request. An error means the cache could not
// be read, never that a fact is missing: a missing Node or token Secret is
// nil in the result.
func (g *Gatherer) Gather(ctx context.Context, request *policy.Request) (Facts, error) {
	f := Facts{Facts: policy.Facts{Now: g.Clock.Now()}}
	if g.Signers != nil {
		f.ReadySigners = g.Signers.ReadySigners()
	}
	var err error
	if f.Cluster, err = g.clusterIdentity(ctx); err != nil {
		return Facts{}, err
	}
	if request.NodeName != "" {
		if f.Node, err = getOrNil(ctx, g.Reader, types.NamespacedName{Name: request.NodeName}, &corev1.Node{}); err != nil {
			return Facts{}, err
		}
	}
	if request.Kind == v1alpha1.KindServing {
		if f.OtherNodeAddresses, err = g.otherNodeAddresses(ctx, request); err != nil {
			return Facts{}, err
		}
	}
	if request.Kind == v1alpha1.KindClientBootstrap {
		key := types.NamespacedName{Namespace: BootstrapTokenNamespace, Name: policy.BootstrapTokenSecretPrefix + request.TokenID}
		if f.BootstrapToken, err = getOrNil(ctx, g.Reader, key, &corev1.Secret{}); err != nil {
			return Facts{}, err
		}
		if f.PriorBootstrapApprovals, err = g.priorBootstrapApprovals(ctx, request); err != nil {
			return Facts{}, err
		}
	}
	var list v1alpha1.NodeCertificatePolicyList
	if err := g.Reader.List(ctx, &list); err != nil {
		return Facts{}, fmt.Errorf("listing policies: %w", err)
	}
	f.Policies = g.Policies.Valid(list.Items)
	return f, nil
}

// otherNodeAddresses maps each SAN key of request to the other Nodes that
// report that address, looked up in the cache's address index.
func (g *Gatherer) otherNodeAddresses(ctx context.Context, request *policy.Request) (map[string][]string, error) {
	out := map[string][]string{}
	for _, key := range policy.SANKeys(request.CSR) {
		var nodes corev1.NodeList
		if err := g.Reader.List(ctx, &nodes, client.MatchingFields{index.NodeAddress: key}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing the Nodes with address %s: %w", key, err)
		}
		for i := range nodes.Items {
			if name := nodes.Items[i].Name; name != request.NodeName {
				out[key] = append(out[key], name)
			}
		}
		slices.Sort(out[key])
	}
	return out, nil
}

// priorBootstrapApprovals returns the other approved bootstrap requests for
// request's node name, from the CSRs in the cache.
func (g *Gatherer) priorBootstrapApprovals(ctx context.Context, request *policy.Request) ([]policy.PriorApproval, error) {
	if request.NodeName == "" {
		return nil, nil
	}
	var list certificatesv1.CertificateSigningRequestList
	if err := g.Reader.List(ctx, &list, client.MatchingFields{index.Node: request.NodeName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the CSRs for node %s: %w", request.NodeName, err)
	}
	var out []policy.PriorApproval
	for i := range list.Items {
		c := &list.Items[i]
		kind, _ := csrstate.Kind(c)
		approved, ok := csrstate.Condition(c, certificatesv1.CertificateApproved)
		if c.Name == request.Name || kind != v1alpha1.KindClientBootstrap || !ok {
			continue
		}
		at := approved.LastUpdateTime.Time
		if at.IsZero() {
			at = c.CreationTimestamp.Time
		}
		out = append(out, policy.PriorApproval{CSR: c.Name, Requester: c.Spec.Username, Approved: at})
	}
	return out, nil
}

// getOrNil reads key into obj, and returns nil when it does not exist.
func getOrNil[T client.Object](ctx context.Context, reader client.Reader, key types.NamespacedName, obj T) (T, error) {
	var none T
	if err := reader.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return none, nil
	} else if err != nil {
		return none, fmt.Errorf("reading %s: %w", key, err)
	}
	return obj, nil
}

// clusterIdentity reads the API server's Service IPs from the
// default/kubernetes Service.
func (g *Gatherer) clusterIdentity(ctx context.Context) (policy.ClusterIdentity, error) {
	id := policy.ClusterIdentity{Domain: g.ClusterDomain}
	svc, err := getOrNil(ctx, g.Reader, types.NamespacedName{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}, &corev1.Service{})
	switch {
	case err != nil:
		return id, err
	case svc == nil:
		return id, nil
	}
	ips := svc.Spec.ClusterIPs // includes spec.clusterIP; older objects may set only the latter
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if parsed := net.ParseIP(ip); parsed != nil {
			id.ServiceIPs = append(id.ServiceIPs, parsed)
		}
	}
	return id, nil
}
