package wire

import "testing"

func TestApprovingPolicy(t *testing.T) {
	tests := map[string]struct {
		reason, message string
		want            string
		ok              bool
	}{
		"an approval nodetrust wrote names its policy": {
			reason: ReasonAutoApproved, message: "Serving request for node worker-1 approved by policy pool-a", want: "pool-a", ok: true},
		"kube-controller-manager's approval names no policy": {
			reason: ReasonAutoApproved, message: "Auto approving kubelet client certificate after SubjectAccessReview."},
		"a human approval names no policy": {reason: "KubectlApprove", message: "This CSR was approved by kubectl certificate approve."},
		"another reason with nodetrust's wording is not nodetrust's": {
			reason: "Approved", message: "approved by policy pool-a"},
		"a policy name that is no object name is refused": {
			reason: ReasonAutoApproved, message: "approved by policy Not A Name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ApprovingPolicy(tc.reason, tc.message)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ApprovingPolicy() = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	t.Run("the message of every approval nodetrust writes round-trips", func(t *testing.T) {
		if got, ok := ApprovingPolicy(ReasonAutoApproved, ApprovedMessage("Serving", "n", "my-policy")); !ok || got != "my-policy" {
			t.Fatalf("ApprovingPolicy() = %q, %v", got, ok)
		}
	})
}
