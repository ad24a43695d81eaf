package policy

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

func TestNodeWritableLabel(t *testing.T) {
	tests := map[string]struct {
		key  string
		want bool
	}{
		"a label without a namespace is node-writable":                        {"pool", true},
		"a label in a company's namespace is node-writable":                   {"example.com/pool", true},
		"the kubelet's hostname label is node-writable":                       {"kubernetes.io/hostname", true},
		"the topology zone is node-writable":                                  {"topology.kubernetes.io/zone", true},
		"labels under node.kubernetes.io are node-writable":                   {"node.kubernetes.io/exclude-from-external-load-balancers", true},
		"labels under a subdomain of kubelet.kubernetes.io are node-writable": {"x.kubelet.kubernetes.io/y", true},
		"node-restriction labels are protected":                               {"node-restriction.kubernetes.io/pool", false},
		"labels under a subdomain of node-restriction are protected":          {"pool.node-restriction.kubernetes.io/name", false},
		"node roles are protected":                                            {"node-role.kubernetes.io/control-plane", false},
		"other kubernetes.io labels are protected":                            {"kubernetes.io/role", false},
		"k8s.io labels are protected":                                         {"example.k8s.io/pool", false},
		"a look-alike domain is node-writable":                                {"evilkubernetes.io/pool", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := NodeWritableLabel(tc.key); got != tc.want {
				t.Errorf("NodeWritableLabel(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

func TestNodeSelectorsOnNodeWritableLabels(t *testing.T) {
	selector := func(trust bool, sel *metav1.LabelSelector) *v1alpha1.NodeCertificatePolicy {
		return buildRenewalPolicy("pool-a", v1alpha1.ClientRenewalRules{}, func(p *v1alpha1.NodeCertificatePolicy) {
			p.Spec.Selector.NodeSelector, p.Spec.Selector.TrustNodeWritableLabels = sel, trust
		})
	}
	tests := map[string]struct {
		policy   *v1alpha1.NodeCertificatePolicy
		writable bool
	}{
		"a selector on a protected label compiles": {
			policy: selector(false, &metav1.LabelSelector{MatchLabels: map[string]string{bPoolLabel: "a"}})},
		"a selector on the control-plane role compiles": {
			policy: selector(false, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "node-role.kubernetes.io/control-plane", Operator: metav1.LabelSelectorOpExists}}})},
		"a selector on a label the node sets itself is refused": {
			policy: selector(false, &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "a"}}), writable: true},
		"an expression on a label the node sets itself is refused": {
			policy: selector(false, &metav1.LabelSelector{MatchLabels: map[string]string{bPoolLabel: "a"}, MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "topology.kubernetes.io/zone", Operator: metav1.LabelSelectorOpIn, Values: []string{"z1"}}}}), writable: true},
		"a policy that trusts node-writable labels compiles": {
			policy: selector(true, &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "a"}})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(tc.policy)
			if got := errors.Is(err, ErrNodeWritableSelector); got != tc.writable {
				t.Fatalf("Compile() error %v; want node-writable %v", err, tc.writable)
			}
			if !tc.writable && err != nil {
				t.Fatalf("Compile() error %v", err)
			}
		})
	}
}
