package policy

import (
	"context"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// TestServingSANOwnership: which DNS and IP SANs a node may claim, from the
// node's name, the templates and domains of the policies, and the cluster's
// own names and ranges, at approval and again before signing.
func TestServingSANOwnership(t *testing.T) {
	type SR = v1alpha1.ServingRules
	approve := v1alpha1.ServingApprove
	_, serviceRange, _ := net.ParseCIDR("10.96.0.0/12")
	_, podRange, _ := net.ParseCIDR("10.244.1.0/24")
	cluster := evalCluster
	cluster.InClusterRanges = []InClusterRange{
		{CIDR: serviceRange, Source: `ServiceCIDR "kubernetes"`},
		{CIDR: podRange, Source: `the podCIDRs of Node "worker-2"`},
	}
	templated := SR{Action: approve, DNSNameTemplates: []string{"{node}.nodes.example.com"}}
	tests := map[string]struct {
		dnsNames []string
		ips      []string
		node     *corev1.Node
		policies []SR
		want     Result
		reason   string
		msg      string
	}{
		"the node's own name is approved without any rule for DNS names": {
			dnsNames: []string{bNodeName}, policies: []SR{{Action: approve}}, want: Approve,
		},
		"the node's own name is approved even when the Node does not report it": {
			dnsNames: []string{bNodeName}, node: buildNode(bNodeName, withNoAddresses(), withAddress(corev1.NodeInternalIP, "10.0.0.11")),
			policies: []SR{{Action: approve}}, want: Approve,
		},
		"a name the Node reports is not enough outside every allowed domain": {
			dnsNames: []string{"worker-1.example.com"}, policies: []SR{{Action: approve}},
			want: Deny, reason: ReasonSANNotOwnedByNode, msg: `DNS SAN "worker-1.example.com" is not Node "worker-1"'s name`,
		},
		"a name the Node reports inside an allowed domain is approved": {
			dnsNames: []string{"worker-1.internal.example.com"}, policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"internal.example.com"}}},
			want: Approve,
		},
		"an allowed domain matches on a label boundary only": {
			dnsNames: []string{"worker-1.example.com"}, node: buildNode(bNodeName, withAddress(corev1.NodeExternalDNS, "worker-1.badexample.com")),
			policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"example.com"}}}, want: Approve,
		},
		"a reported name that only ends like an allowed domain is denied": {
			dnsNames: []string{"worker-1.badexample.com"}, node: buildNode(bNodeName, withAddress(corev1.NodeExternalDNS, "worker-1.badexample.com")),
			policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"example.com"}}},
			want:     Deny, reason: ReasonSANNotOwnedByNode,
		},
		"a name inside an allowed domain that the Node does not report is denied": {
			dnsNames: []string{"worker-9.internal.example.com"}, policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"internal.example.com"}}},
			want: Deny, reason: ReasonSANNotOwnedByNode,
		},
		"a template ties its name to the requesting node": {
			dnsNames: []string{"worker-1.nodes.example.com"}, policies: []SR{templated}, want: Approve,
		},
		"a template compares names case-insensitively and without the trailing dot": {
			dnsNames: []string{"Worker-1.Nodes.Example.COM."}, policies: []SR{templated}, want: Approve,
		},
		"a template does not give a node a sibling's name": {
			dnsNames: []string{"worker-2.nodes.example.com"}, policies: []SR{templated},
			want: Deny, reason: ReasonSANTiedToAnotherNode, msg: `ties to node "worker-2"`,
		},
		"an untied wildcard beside a template does not give a node a sibling's name": {
			dnsNames: []string{"worker-2.nodes.example.com"},
			policies: []SR{{Action: approve, AllowedDNSNames: []string{"*.nodes.example.com"}}, templated},
			want:     Deny, reason: ReasonSANTiedToAnotherNode,
		},
		"a sibling's templated name the node reports about itself is denied": {
			dnsNames: []string{"worker-2.nodes.example.com"}, node: buildNode(bNodeName, withAddress(corev1.NodeExternalDNS, "worker-2.nodes.example.com")),
			policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"example.com"}}, templated},
			want:     Deny, reason: ReasonSANTiedToAnotherNode,
		},
		"overlapping templates deny the name the shorter one ties to another node": {
			dnsNames: []string{"worker-1.a.example.com"},
			policies: []SR{{Action: approve, DNSNameTemplates: []string{"{node}.a.example.com", "{node}.example.com"}}},
			want:     Deny, reason: ReasonSANTiedToAnotherNode, msg: `node "worker-1.a"`,
		},
		"the untied wildcard alone still lets a node claim any single label under it": {
			dnsNames: []string{"worker-2.nodes.example.com"}, policies: []SR{{Action: approve, AllowedDNSNames: []string{"*.nodes.example.com"}}},
			want: Approve,
		},
		"a name under svc is in-cluster": {
			dnsNames: []string{"db.prod.svc"}, node: buildNode(bNodeName, withAddress(corev1.NodeInternalDNS, "db.prod.svc")),
			policies: []SR{{Action: approve, AllowedDNSNames: []string{"db.prod.svc"}}},
			want:     Deny, reason: ReasonInClusterSAN, msg: `"svc"`,
		},
		"a Service name under the cluster domain is in-cluster": {
			dnsNames: []string{"db.prod.svc.cluster.local"}, policies: []SR{{Action: approve, AllowedDNSNames: []string{"*.prod.svc.cluster.local"}}},
			want: Deny, reason: ReasonInClusterSAN, msg: `"cluster.local"`,
		},
		"a Pod name under the cluster domain is in-cluster": {
			dnsNames: []string{"10-244-1-5.default.pod.cluster.local"}, policies: []SR{{Action: approve}},
			want: Deny, reason: ReasonInClusterSAN,
		},
		"the cluster domain itself is in-cluster": {
			dnsNames: []string{"Cluster.Local."}, policies: []SR{{Action: approve}}, want: Deny, reason: ReasonInClusterSAN,
		},
		"a name that only ends like svc is not in-cluster": {
			dnsNames: []string{bNodeName, "worker-1.mysvc"}, node: buildNode(bNodeName, withAddress(corev1.NodeInternalDNS, "worker-1.mysvc")),
			policies: []SR{{Action: approve, NodeReportedDNSDomains: []string{"mysvc"}}}, want: Approve,
		},
		"a Service IP the Node reports is in-cluster": {
			ips: []string{"10.100.7.7"}, node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "10.100.7.7")),
			policies: []SR{{Action: approve}}, want: Deny, reason: ReasonInClusterSAN, msg: `inside 10.96.0.0/12 of ServiceCIDR "kubernetes"`,
		},
		"a Pod IP inside another Node's pod CIDR is in-cluster even when a policy allows it": {
			ips: []string{"10.244.1.5"}, policies: []SR{{Action: approve, AllowedIPRanges: []string{"10.0.0.0/8"}}},
			want: Deny, reason: ReasonInClusterSAN, msg: `podCIDRs of Node "worker-2"`,
		},
		"an IPv4-mapped IPv6 spelling of a Service IP is in-cluster": {
			ips: []string{"::ffff:10.100.7.7"}, node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "10.100.7.7")),
			policies: []SR{{Action: approve}}, want: Deny, reason: ReasonInClusterSAN,
		},
		"an IP just outside the in-cluster ranges is the Node's own": {
			ips: []string{"10.112.0.1"}, node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "10.112.0.1")),
			policies: []SR{{Action: approve}}, want: Approve,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dns := tc.dnsNames
			if dns == nil {
				dns = []string{bNodeName}
			}
			ips := tc.ips
			if ips == nil {
				ips = []string{"10.0.0.11"}
			}
			r, ok := NewRequest(buildCSR(t, asServing(), withDNSNames(dns...), withIPs(ips...)))
			if !ok {
				t.Fatal("not a kubelet request")
			}
			node := tc.node
			if node == nil {
				node = buildNode(bNodeName)
			}
			var policies []*v1alpha1.NodeCertificatePolicy
			for i, sr := range tc.policies {
				policies = append(policies, buildServingPolicy(string(rune('a'+i))+"-serving", sr))
			}
			compiled := buildCompiled(t, policies...)
			facts := Facts{Now: bNow, Node: node, Cluster: cluster}
			got, err := (&Evaluator{}).Evaluate(context.Background(), r, facts, compiled)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tc.want || got.Reason != orDefault(tc.reason, got.Reason) || !strings.Contains(got.Message, tc.msg) {
				t.Fatalf("Evaluate() = %+v, want %s %s %q", got, tc.want, tc.reason, tc.msg)
			}
			review := ReviewForSigning(r, facts, compiled)
			if refused := len(review.Violations) > 0; refused != (tc.want == Deny) {
				t.Fatalf("ReviewForSigning() violations %v, want refusal %v", review.Violations, tc.want == Deny)
			}
		})
	}
}
