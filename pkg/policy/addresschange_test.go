package policy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

func TestAddressChange(t *testing.T) {
	held := &KnownAddresses{
		Keys:   []string{DNSNameKey(bNodeName), IPKey(net.ParseIP("10.0.0.11"))},
		Source: `NodeCertificate "serving-1"`, At: bNow.Add(-24 * time.Hour),
	}
	moved := buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "10.0.0.12"))
	tests := map[string]struct {
		ips      []string
		known    *KnownAddresses
		onChange v1alpha1.AddressChangeAction
		rules    func(*v1alpha1.ServingRules)
		violate  v1alpha1.ViolationAction
		want     Result
		reason   string
		msg      string
	}{
		"a node's first serving certificate is trusted on first use": {ips: []string{"10.0.0.12"}, want: Approve},
		"a renewal for the addresses held before is approved":        {ips: []string{"10.0.0.11"}, known: held, want: Approve},
		"a renewal dropping an address is approved":                  {ips: []string{}, known: held, want: Approve},
		"a new address is left for review by default, naming the old and new sets": {
			ips: []string{"10.0.0.12"}, known: held, want: Review, reason: ReasonAddressChanged,
			msg: `held [dns:worker-1, ip:10.0.0.11]; requested [dns:worker-1, ip:10.0.0.12]; new [ip:10.0.0.12]`,
		},
		"the message names where the held addresses were read and when": {
			ips: []string{"10.0.0.12"}, known: held, want: Review, reason: ReasonAddressChanged,
			msg: `(NodeCertificate "serving-1", 2026-02-28T12:00:00Z)`,
		},
		"a new address is denied under onAddressChange Deny": {
			ips: []string{"10.0.0.12"}, known: held, onChange: v1alpha1.AddressChangeDeny, want: Deny, reason: ReasonAddressChanged,
		},
		"a denied address change is reviewed under onViolation Review": {
			ips: []string{"10.0.0.12"}, known: held, onChange: v1alpha1.AddressChangeDeny, violate: v1alpha1.ViolationReview,
			want: Review, reason: ReasonAddressChanged,
		},
		"a new address is approved under onAddressChange Approve": {
			ips: []string{"10.0.0.12"}, known: held, onChange: v1alpha1.AddressChangeApprove, want: Approve,
		},
		"a rule violation wins over an address change": {
			ips: []string{"10.0.0.99"}, known: held, want: Deny, reason: ReasonSANNotOwnedByNode,
		},
		"a request that passes but changes addresses is AddressChanged, not PolicyRequiresReview, under a Review action": {
			ips: []string{"10.0.0.12"}, known: held, rules: func(r *v1alpha1.ServingRules) { r.Action = v1alpha1.ServingReview },
			want: Review, reason: ReasonAddressChanged,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(buildCSR(t, asServing(), withIPs(tc.ips...)))
			if !ok {
				t.Fatal("not a kubelet request")
			}
			rules := v1alpha1.ServingRules{Action: v1alpha1.ServingApprove, OnAddressChange: tc.onChange}
			if tc.rules != nil {
				tc.rules(&rules)
			}
			p := buildServingPolicy("serving", rules, withOnViolation(orDefault(tc.violate, v1alpha1.ViolationDeny)))
			facts := Facts{Now: bNow, Node: moved, Cluster: evalCluster, KnownAddresses: tc.known}
			got, err := (&Evaluator{}).Evaluate(context.Background(), r, facts, buildCompiled(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tc.want || got.Reason != orDefault(tc.reason, got.Reason) || !strings.Contains(got.Message, tc.msg) {
				t.Fatalf("Evaluate() = %+v, want %s %s %q", got, tc.want, tc.reason, tc.msg)
			}
		})
	}
}

// TestAddressChangeMessageIsBounded: a request adding a hundred addresses
// names five of each list and counts the rest.
func TestAddressChangeMessageIsBounded(t *testing.T) {
	var ips []string
	node := buildNode(bNodeName)
	for i := range 100 {
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		ips = append(ips, ip)
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	r, _ := NewRequest(buildCSR(t, asServing(), withIPs(ips...)))
	msg := addressChange(r, &KnownAddresses{Keys: []string{DNSNameKey(bNodeName)}, Source: "x"})
	if !strings.Contains(msg, "and 95 more") || len(msg) > 1024 {
		t.Fatalf("message of %d bytes: %s", len(msg), msg)
	}
}
