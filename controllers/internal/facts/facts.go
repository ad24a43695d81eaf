package facts

import (
	"context"
	"fmt"
	"net"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/controllers/internal/policystore"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
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
	// ServiceRanges are the Service IP ranges to assume when the cluster
	// has no ServiceCIDR objects (or does not serve the API), from the
	// --service-cluster-ip-range flag. Optional.
	ServiceRanges []*net.IPNet
	// Verifier checks that an approval is nodetrust's (see
	// wire.ApprovalOf); nil means none is.
	Verifier wire.ApprovalVerifier
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
	if f.Cluster, err = g.clusterIdentity(ctx, request.Kind == v1alpha1.KindServing); err != nil {
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
		if f.KnownAddresses, err = g.knownAddresses(ctx, request); err != nil {
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
// default/kubernetes Service and, for serving requests, the in-cluster IP
// ranges: the ServiceCIDRs (or g.ServiceRanges when there are none) and
// every Node's spec.podCIDRs, which kube-controller-manager assigns.
func (g *Gatherer) clusterIdentity(ctx context.Context, serving bool) (policy.ClusterIdentity, error) {
	id := policy.ClusterIdentity{Domain: g.ClusterDomain}
	if serving {
		var err error
		if id.InClusterRanges, err = g.inClusterRanges(ctx); err != nil {
			return id, err
		}
	}
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

// inClusterRanges reads the Service and Pod IP ranges of the cluster.
func (g *Gatherer) inClusterRanges(ctx context.Context) ([]policy.InClusterRange, error) {
	var out []policy.InClusterRange
	var cidrs networkingv1.ServiceCIDRList
	err := g.Reader.List(ctx, &cidrs, client.UnsafeDisableDeepCopy)
	if err != nil && !meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("listing ServiceCIDRs: %w", err)
	}
	for i := range cidrs.Items {
		out = appendRanges(out, cidrs.Items[i].Spec.CIDRs, fmt.Sprintf("ServiceCIDR %q", cidrs.Items[i].Name))
	}
	if len(out) == 0 {
		for _, r := range g.ServiceRanges {
			out = append(out, policy.InClusterRange{CIDR: r, Source: "--service-cluster-ip-range"})
		}
	}
	var nodes corev1.NodeList
	if err := g.Reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing Nodes: %w", err)
	}
	for i := range nodes.Items {
		out = appendRanges(out, nodes.Items[i].Spec.PodCIDRs, fmt.Sprintf("the podCIDRs of Node %q", nodes.Items[i].Name))
	}
	return out, nil
}

// appendRanges appends the CIDRs that parse, read from source.
func appendRanges(out []policy.InClusterRange, cidrs []string, source string) []policy.InClusterRange {
	for _, c := range cidrs {
		if _, n, err := net.ParseCIDR(c); err == nil {
			out = append(out, policy.InClusterRange{CIDR: n, Source: source})
		}
	}
	return out
}

// knownAddresses returns the SANs of the serving certificate nodetrust
// last issued or approved for request's node: from its records (written by
// nodetrust only) and from the serving CSRs nodetrust approved that are
// still in the cache. Nil when there is none.
func (g *Gatherer) knownAddresses(ctx context.Context, request *policy.Request) (*policy.KnownAddresses, error) {
	var known *policy.KnownAddresses
	keep := func(k *policy.KnownAddresses) {
		if known == nil || k.At.After(known.At) {
			known = k
		}
	}
	var records v1alpha1.NodeCertificateList
	if err := g.Reader.List(ctx, &records, client.MatchingFields{index.RecordNode: request.NodeName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the records of node %s: %w", request.NodeName, err)
	}
	for i := range records.Items {
		s := &records.Items[i].Spec
		if s.Kind != v1alpha1.CertificateServing || (s.Approval.By != v1alpha1.ActorNodetrust && s.Issuance.By != v1alpha1.ActorNodetrust) {
			continue
		}
		at := s.NotBefore.Time
		if s.Approval.Time != nil {
			at = s.Approval.Time.Time
		}
		keep(&policy.KnownAddresses{Keys: recordKeys(s), Source: fmt.Sprintf("NodeCertificate %q", records.Items[i].Name), At: at})
	}
	var csrs certificatesv1.CertificateSigningRequestList
	if err := g.Reader.List(ctx, &csrs, client.MatchingFields{index.Node: request.NodeName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the CSRs for node %s: %w", request.NodeName, err)
	}
	for i := range csrs.Items {
		c := &csrs.Items[i]
		if c.Name == request.Name || c.Spec.SignerName != certificatesv1.KubeletServingSignerName {
			continue
		}
		approval := wire.ApprovalOf(c, g.Verifier)
		if approval.By != v1alpha1.ActorNodetrust || approval.Time == nil {
			continue
		}
		parsed, _ := pkcs10.Parse(c.Spec.Request)
		keep(&policy.KnownAddresses{Keys: policy.SANKeys(parsed), Source: fmt.Sprintf("CSR %q", c.Name), At: approval.Time.Time})
	}
	return known, nil
}

// recordKeys returns the SAN keys of a record, sorted.
func recordKeys(s *v1alpha1.NodeCertificateSpec) []string {
	ips := make([]net.IP, 0, len(s.IPAddresses))
	for _, ip := range s.IPAddresses {
		if parsed := net.ParseIP(ip); parsed != nil {
			ips = append(ips, parsed)
		}
	}
	return policy.AddressKeys(s.DNSNames, ips)
}
