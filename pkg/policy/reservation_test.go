package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestNodeNameReservation(t *testing.T) {
	other := func(ago time.Duration) PriorApproval {
		return PriorApproval{CSR: "csr-first", Requester: "system:bootstrap:zzzzzz", Approved: bNow.Add(-ago)}
	}
	tests := map[string]struct {
		prior      []PriorApproval
		nodeExists bool
		allow      bool
		want       Decision
	}{
		"a first request for a name is approved": {
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved}},
		"a second request for a name approved a minute ago is denied, naming the first": {
			prior: []PriorApproval{other(time.Minute)},
			want:  Decision{Result: Deny, Reason: ReasonNodeNameReserved, Message: "approved for bootstrap request csr-first of system:bootstrap:zzzzzz"}},
		"the reservation holds just before it ends": {
			prior: []PriorApproval{other(NodeNameReservation - time.Second)},
			want:  Decision{Result: Deny, Reason: ReasonNodeNameReserved}},
		"the reservation ends after NodeNameReservation": {
			prior: []PriorApproval{other(NodeNameReservation)},
			want:  Decision{Result: Approve, Reason: wire.ReasonAutoApproved}},
		"the earliest live approval is named": {
			prior: []PriorApproval{{CSR: "csr-b", Requester: "b", Approved: bNow.Add(-time.Minute)}, {CSR: "csr-a", Requester: "a", Approved: bNow.Add(-2 * time.Minute)}},
			want:  Decision{Result: Deny, Reason: ReasonNodeNameReserved, Message: "request csr-a of a"}},
		"once the Node registered, rejoining is allowRejoin's business": {
			prior: []PriorApproval{other(time.Minute)}, nodeExists: true, allow: true,
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(buildCSR(t, asBootstrap(bTokenID, bPoolA)))
			if !ok {
				t.Fatal("not a kubelet request")
			}
			facts := Facts{Now: bNow, BootstrapToken: buildTokenSecret(bTokenID), Cluster: evalCluster, PriorBootstrapApprovals: tc.prior}
			if tc.nodeExists {
				facts.Node = buildNode(bNodeName)
			}
			p := buildBootstrapPolicy("bootstrap", v1alpha1.ClientBootstrapRules{AllowRejoin: tc.allow})
			got, err := (&Evaluator{}).Evaluate(context.Background(), r, facts, buildCompiled(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tc.want.Result || got.Reason != tc.want.Reason || !strings.Contains(got.Message, tc.want.Message) {
				t.Fatalf("Evaluate() = %+v, want %s %s containing %q", got, tc.want.Result, tc.want.Reason, tc.want.Message)
			}
		})
	}
}
