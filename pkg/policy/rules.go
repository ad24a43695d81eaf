package policy

import (
	"fmt"
	"net"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// Reason codes of the checks that hold whatever a policy says.
const (
	ReasonInvalidOrganization = "InvalidOrganization"
	ReasonInvalidCommonName   = "InvalidCommonName"
	ReasonEmptyNodeName       = "EmptyNodeName"
	ReasonInvalidNodeName     = "InvalidNodeName"
	ReasonCommonNameMismatch  = "CommonNameMismatch"
	ReasonInvalidUsages       = "InvalidUsages"
	ReasonSANsNotAllowed      = "SANsNotAllowed"
	ReasonMissingSANs         = "MissingSANs"
	ReasonWildcardSAN         = "WildcardSAN"
	ReasonInvalidDNSName      = "InvalidDNSName"
	ReasonClusterIdentitySAN  = "ClusterIdentitySAN"
	ReasonForbiddenIPSAN      = "ForbiddenIPSAN"
	ReasonLoopbackIPSAN       = "LoopbackIPSAN"
	ReasonInClusterSAN        = "InClusterSAN"
)

// ClusterIdentity names what belongs to the cluster rather than to a node:
// the API server as clients see it, and the names and IPs of Services and
// Pods. A kubelet serving certificate that claims any of it could
// impersonate the API server, a Service or a Pod.
type ClusterIdentity struct {
	// Domain is the cluster DNS domain, e.g. "cluster.local".
	Domain string
	// ServiceIPs are the ClusterIPs of the default/kubernetes Service.
	ServiceIPs []net.IP
	// InClusterRanges are the IP ranges of Services and Pods.
	InClusterRanges []InClusterRange
}

// InClusterRange is an IP range of Services or Pods, and where it was read.
type InClusterRange struct {
	// CIDR is the range.
	CIDR *net.IPNet
	// Source names the object or flag the range was read from, for
	// messages, e.g. `ServiceCIDR "kubernetes"`.
	Source string
}

var (
	clientUsages = [][]certificatesv1.KeyUsage{
		{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		{certificatesv1.UsageKeyEncipherment, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
	}
	servingUsages = [][]certificatesv1.KeyUsage{
		{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		{certificatesv1.UsageKeyEncipherment, certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
	}
)

// SignerRules checks the rules the upstream signers enforce for the two
// kubelet signers, tightened where nodetrust must be stricter (an empty node
// name). It needs a parsed CSR. It is also the signing controller's
// defence-in-depth check.
func SignerRules(signerName string, csr *pkcs10.Request, usages []certificatesv1.KeyUsage) Violations {
	var v Violations
	if !slices.Equal(csr.Organizations, []string{csrstate.NodesGroup}) {
		v = append(v, Violation{Reason: ReasonInvalidOrganization,
			Message: fmt.Sprintf("subject organization must be exactly [%q], got %q", csrstate.NodesGroup, csr.Organizations)})
	}
	switch node, ok := strings.CutPrefix(csr.CommonName, csrstate.NodeUserPrefix); {
	case !ok:
		v = append(v, Violation{Reason: ReasonInvalidCommonName,
			Message: fmt.Sprintf("common name %q does not start with %q", csr.CommonName, csrstate.NodeUserPrefix)})
	case node == "":
		v = append(v, Violation{Reason: ReasonEmptyNodeName, Message: fmt.Sprintf("common name %q names no node", csr.CommonName)})
	case len(validation.IsDNS1123Subdomain(node)) > 0:
		v = append(v, Violation{Reason: ReasonInvalidNodeName,
			Message: fmt.Sprintf("node name %q in the common name is not a valid Node name", node)})
	}
	allowed := clientUsages
	if signerName == certificatesv1.KubeletServingSignerName {
		allowed = servingUsages
	}
	if !usagesAllowed(usages, allowed) {
		v = append(v, Violation{Reason: ReasonInvalidUsages,
			Message: fmt.Sprintf("usages %q are not allowed for signer %s", usages, signerName)})
	}
	sans := len(csr.DNSNames) + len(csr.IPAddresses)
	switch {
	case signerName == certificatesv1.KubeAPIServerClientKubeletSignerName && sans > 0:
		v = append(v, Violation{Reason: ReasonSANsNotAllowed, Message: "client certificates must not carry DNS or IP SANs"})
	case signerName == certificatesv1.KubeletServingSignerName && sans == 0:
		v = append(v, Violation{Reason: ReasonMissingSANs, Message: "serving certificates need at least one DNS or IP SAN"})
	}
	return v
}

// usagesAllowed reports whether usages, as a set without duplicates, equals
// one of the allowed sets.
func usagesAllowed(usages []certificatesv1.KeyUsage, allowed [][]certificatesv1.KeyUsage) bool {
	set := map[certificatesv1.KeyUsage]bool{}
	for _, u := range usages {
		if set[u] {
			return false
		}
		set[u] = true
	}
	for _, want := range allowed {
		if len(want) != len(set) {
			continue
		}
		ok := true
		for _, u := range want {
			ok = ok && set[u]
		}
		if ok {
			return true
		}
	}
	return false
}

// Invariants checks everything nodetrust enforces whatever a policy says: a
// well-formed request, the signer rules, the requester's identity, and SANs
// that can never belong to a node. Loopback IP SANs are left to the policy
// (see Evaluate). The result is empty when the request may be evaluated.
func Invariants(r *Request, cluster ClusterIdentity) Violations {
	if len(r.ParseViolations) > 0 {
		return r.ParseViolations
	}
	v := SignerRules(r.SignerName, r.CSR, r.Usages)
	if r.Kind != v1alpha1.KindClientBootstrap {
		switch {
		case r.NodeName == "":
			v = append(v, Violation{Reason: ReasonEmptyNodeName, Message: fmt.Sprintf("requester %q names no node", r.Username)})
		case r.CSR.CommonName != r.Username:
			v = append(v, Violation{Reason: ReasonCommonNameMismatch,
				Message: fmt.Sprintf("common name %q does not match the requester %q", r.CSR.CommonName, r.Username)})
		}
	}
	if r.Kind == v1alpha1.KindServing {
		v = append(v, sanInvariants(r.CSR, cluster)...)
	}
	return v
}

func sanInvariants(csr *pkcs10.Request, cluster ClusterIdentity) Violations {
	var v Violations
	clusterNames := clusterDNSNames(cluster.Domain)
	for _, name := range csr.DNSNames {
		canon := CanonicalDNSName(name)
		switch {
		case strings.Contains(name, "*"):
			v = append(v, Violation{Reason: ReasonWildcardSAN, Message: fmt.Sprintf("wildcard DNS SAN %q is not allowed", name)})
		case len(validation.IsDNS1123Subdomain(canon)) > 0:
			v = append(v, Violation{Reason: ReasonInvalidDNSName, Message: fmt.Sprintf("DNS SAN %q is not a valid DNS name", name)})
		case clusterNames[canon] || strings.HasPrefix(canon, "kubernetes.default.svc."):
			v = append(v, Violation{Reason: ReasonClusterIdentitySAN, Message: fmt.Sprintf("DNS SAN %q names the Kubernetes API server", name)})
		default:
			if domain, ok := inClusterDomain(canon, cluster.Domain); ok {
				v = append(v, Violation{Reason: ReasonInClusterSAN, Message: fmt.Sprintf(
					"DNS SAN %q is in %q, where the cluster names its Services and Pods", name, domain)})
			}
		}
	}
	for _, ip := range csr.IPAddresses {
		switch {
		case ip.IsUnspecified():
			v = append(v, Violation{Reason: ReasonForbiddenIPSAN, Message: fmt.Sprintf("IP SAN %s is the unspecified address", ip)})
		case ip.IsMulticast():
			v = append(v, Violation{Reason: ReasonForbiddenIPSAN, Message: fmt.Sprintf("IP SAN %s is a multicast address", ip)})
		case ip.IsLinkLocalUnicast():
			v = append(v, Violation{Reason: ReasonForbiddenIPSAN, Message: fmt.Sprintf("IP SAN %s is a link-local address", ip)})
		case ip.Equal(net.IPv4bcast):
			v = append(v, Violation{Reason: ReasonForbiddenIPSAN, Message: fmt.Sprintf("IP SAN %s is the broadcast address", ip)})
		case slices.ContainsFunc(cluster.ServiceIPs, ip.Equal):
			v = append(v, Violation{Reason: ReasonClusterIdentitySAN,
				Message: fmt.Sprintf("IP SAN %s is the Kubernetes API server's Service IP", ip)})
		default:
			if i := slices.IndexFunc(cluster.InClusterRanges, func(r InClusterRange) bool { return r.CIDR.Contains(ip) }); i >= 0 {
				r := cluster.InClusterRanges[i]
				v = append(v, Violation{Reason: ReasonInClusterSAN, Message: fmt.Sprintf(
					"IP SAN %s is inside %s of %s, an in-cluster range", ip, r.CIDR, r.Source)})
			}
		}
	}
	return v
}

// inClusterDomain returns the in-cluster domain the canonical name equals
// or lies under: "svc" (as in <service>.<namespace>.svc) or the cluster
// domain.
func inClusterDomain(name, clusterDomain string) (string, bool) {
	for _, d := range []string{"svc", CanonicalDNSName(clusterDomain)} {
		if d != "" && (name == d || strings.HasSuffix(name, "."+d)) {
			return d, true
		}
	}
	return "", false
}

func clusterDNSNames(domain string) map[string]bool {
	names := map[string]bool{"kubernetes": true, "kubernetes.default": true, "kubernetes.default.svc": true}
	if d := CanonicalDNSName(domain); d != "" {
		names["kubernetes.default.svc."+d] = true
	}
	return names
}
