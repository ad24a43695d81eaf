package policy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

func TestSANsOfAnotherNode(t *testing.T) {
	ip := "192.0.2.11"
	tests := map[string]struct {
		others map[string][]string
		want   Result
		reason string
		msg    string
	}{
		"a request naming only the node's own addresses is approved": {want: Approve},
		"an IP another Node reports is denied, naming that Node": {
			others: map[string][]string{IPKey(net.ParseIP(ip)): {"worker-2"}}, want: Deny, reason: ReasonSANOfAnotherNode,
			msg: `IP SAN 192.0.2.11 is an address of Node "worker-2"`},
		"a DNS name another Node reports is denied, compared case-insensitively": {
			others: map[string][]string{DNSNameKey("WORKER-1."): {"worker-2"}}, want: Deny, reason: ReasonSANOfAnotherNode,
			msg: `DNS SAN "worker-1" is an address of Node "worker-2"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(buildCSR(t, asServing(), withDNSNames(bNodeName), withIPs(ip)))
			if !ok {
				t.Fatal("not a kubelet request")
			}
			node := buildNode(bNodeName, withAddress(corev1.NodeHostName, bNodeName), withAddress(corev1.NodeInternalIP, ip))
			facts := Facts{Now: bNow, Node: node, Cluster: evalCluster, OtherNodeAddresses: tc.others}
			p := buildServingPolicy("serving", v1alpha1.ServingRules{Action: v1alpha1.ServingApprove})
			got, err := (&Evaluator{}).Evaluate(context.Background(), r, facts, buildCompiled(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tc.want || got.Reason != orDefault(tc.reason, got.Reason) || !strings.Contains(got.Message, tc.msg) {
				t.Fatalf("Evaluate() = %+v, want %s %s %q", got, tc.want, tc.reason, tc.msg)
			}
			review := ReviewForSigning(r, facts, buildCompiled(t, p))
			if denied := len(review.Violations) > 0; denied != (tc.want == Deny) {
				t.Fatalf("ReviewForSigning() violations %v, want denial %v", review.Violations, tc.want == Deny)
			}
		})
	}
}

// TestAThousandForeignSANsGiveABoundedDenial: the denial of a request with a
// thousand SANs the Node does not own stays within pkcs10.MaxMessageBytes.
func TestAThousandForeignSANsGiveABoundedDenial(t *testing.T) {
	names := make([]string, 0, 1000)
	for i := range 1000 {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	r, ok := NewRequest(buildCSR(t, asServing(), withDNSNames(names...), withIPs()))
	if !ok || len(r.ParseViolations) > 0 {
		t.Fatalf("the request does not parse: %v", r.ParseViolations)
	}
	node := buildNode(bNodeName, withAddress(corev1.NodeHostName, bNodeName))
	p := buildServingPolicy("serving", v1alpha1.ServingRules{Action: v1alpha1.ServingApprove, MaxDNSNames: ptr.To[int32](2000)})
	got, err := (&Evaluator{}).Evaluate(context.Background(), r, Facts{Now: bNow, Node: node, Cluster: evalCluster}, buildCompiled(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if got.Result != Deny || len(got.Message) > pkcs10.MaxMessageBytes || !strings.Contains(got.Message, "more (SANNotOwnedByNode ×") {
		t.Fatalf("Evaluate() = %s %s with a %d-byte message %q", got.Result, got.Reason, len(got.Message), got.Message)
	}
}
