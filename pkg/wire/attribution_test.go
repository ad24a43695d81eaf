package wire

import (
	"bytes"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

func testKey(t *testing.T, fill byte) attest.Key {
	t.Helper()
	k, err := attest.NewKey(bytes.Repeat([]byte{fill}, attest.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testProver(t *testing.T, k attest.Key) *attest.Prover {
	t.Helper()
	p, err := attest.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeletCSR is a serving CSR of node worker-1, or with the changes made.
func kubeletCSR(name, uid string, changes ...func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)},
		Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeletServingSignerName,
			Username: "system:node:worker-1", Groups: []string{csrstate.NodesGroup}},
	}
	for _, c := range changes {
		c(csr)
	}
	return csr
}

// approved is csr approved with reason and message at approvedAt.
func approved(csr *certificatesv1.CertificateSigningRequest, reason, message string) *certificatesv1.CertificateSigningRequest {
	return csrstate.WithCondition(csr, certificatesv1.CertificateApproved, reason, message, approvedAt)
}

var approvedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestApprovalOf(t *testing.T) {
	current, previous, other := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	v, err := attest.NewVerifier(attest.Keys{Current: current, Previous: []attest.Key{previous}})
	if err != nil {
		t.Fatal(err)
	}
	csr := kubeletCSR("csr-1", "uid-1")
	text := ApprovedMessage(string(v1alpha1.KindServing), "worker-1", "serving")
	proven := func(k attest.Key, c *certificatesv1.CertificateSigningRequest, policy string) string {
		return ProvenApprovedMessage(c, ApprovedMessage(string(v1alpha1.KindServing), "worker-1", policy), policy, testProver(t, k))
	}
	ours := proven(current, csr, "serving")
	bootstrap := kubeletCSR("csr-boot", "uid-boot", func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.SignerName, c.Spec.Username, c.Spec.Groups = certificatesv1.KubeAPIServerClientKubeletSignerName,
			"system:bootstrap:abcdef", []string{csrstate.BootstrappersGroup}
		c.Spec.Request = pkcs10test.RequestPEM(t, "system:node:worker-9")
	})
	bootMessage := ProvenApprovedMessage(bootstrap, ApprovedMessage(string(v1alpha1.KindClientBootstrap), "worker-9", "boot"), "boot", testProver(t, current))
	long := strings.Repeat("x", 5000)

	tests := map[string]struct {
		csr      *certificatesv1.CertificateSigningRequest
		verifier ApprovalVerifier
		want     v1alpha1.Approval
	}{
		"nodetrust's approval with its proof is nodetrust's, naming the policy": {
			csr:  approved(csr, ReasonAutoApproved, ours),
			want: v1alpha1.Approval{By: v1alpha1.ActorNodetrust, Policy: "serving", Reason: ReasonAutoApproved, Message: ours},
		},
		"a bootstrap approval binds the node the request names": {
			csr:  approved(bootstrap, ReasonAutoApproved, bootMessage),
			want: v1alpha1.Approval{By: v1alpha1.ActorNodetrust, Policy: "boot", Reason: ReasonAutoApproved, Message: bootMessage},
		},
		"an approval proven with the previous key is still nodetrust's": {
			csr: approved(csr, ReasonAutoApproved, proven(previous, csr, "serving")),
			want: v1alpha1.Approval{By: v1alpha1.ActorNodetrust, Policy: "serving", Reason: ReasonAutoApproved,
				Message: proven(previous, csr, "serving")},
		},
		"nodetrust's words without a proof are external": {
			csr:  approved(csr, ReasonAutoApproved, text),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: text},
		},
		"a proof copied from another CSR is external": {
			csr:  approved(kubeletCSR("csr-2", "uid-2"), ReasonAutoApproved, ours),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: ours},
		},
		"a proof copied to a CSR recreated under the same name is external": {
			csr:  approved(kubeletCSR("csr-1", "uid-1-again"), ReasonAutoApproved, ours),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: ours},
		},
		"a proof with the policy name changed is external": {
			csr: approved(csr, ReasonAutoApproved, strings.Replace(ours, "policy serving", "policy pool-a", 1)),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved,
				Message: strings.Replace(ours, "policy serving", "policy pool-a", 1)},
		},
		"a proof made with a key nodetrust does not hold is external": {
			csr:  approved(csr, ReasonAutoApproved, proven(other, csr, "serving")),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: proven(other, csr, "serving")},
		},
		"nodetrust's proof under another reason is external": {
			csr:  approved(csr, "KubectlApprove", ours),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: "KubectlApprove", Message: ours},
		},
		"without a verifier every approval is external": {
			csr: approved(csr, ReasonAutoApproved, ours), verifier: (*attest.Verifier)(nil),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: ours},
		},
		"kube-controller-manager's approval is external": {
			csr: approved(csr, ReasonAutoApproved, "Auto approving kubelet client certificate after SubjectAccessReview."),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved,
				Message: "Auto approving kubelet client certificate after SubjectAccessReview."},
		},
		"a policy name that is no object name is external": {
			csr:  approved(csr, ReasonAutoApproved, "approved by policy Not A Name; proof v1.x.y"),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: ReasonAutoApproved, Message: "approved by policy Not A Name; proof v1.x.y"},
		},
		"a message longer than a record holds is cut, not refused": {
			csr:  approved(csr, "Manual", long),
			want: v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: "Manual", Message: long[:maxApprovalMessageBytes-len("…")] + "…"},
		},
		"a CSR without an approval is external": {
			csr: csr, want: v1alpha1.Approval{By: v1alpha1.ActorExternal},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			verifier := tc.verifier
			if verifier == nil {
				verifier = v
			}
			got := ApprovalOf(tc.csr, verifier)
			if _, ok := csrstate.Condition(tc.csr, certificatesv1.CertificateApproved); ok {
				if got.Time == nil || !got.Time.Time.Equal(approvedAt) {
					t.Errorf("time = %v, want %s", got.Time, approvedAt)
				}
			}
			got.Time = nil
			if got != tc.want {
				t.Fatalf("ApprovalOf() = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestProvenApprovedMessage(t *testing.T) {
	csr := kubeletCSR(strings.Repeat("n", 253), strings.Repeat("u", 36))
	policy := strings.Repeat("p", 253)
	text := ApprovedMessage(string(v1alpha1.KindServing), strings.Repeat("w", 253), policy)
	got := ProvenApprovedMessage(csr, text, policy, testProver(t, testKey(t, 1)))
	if !strings.HasPrefix(got, text+"; proof v1.") || len(got)-len(text) > 88 {
		t.Fatalf("message %q: want the text, then at most 88 bytes of proof", got)
	}
	if len(got) > 1024 {
		t.Fatalf("the longest message nodetrust writes has %d bytes, want it well under the limits", len(got))
	}
}

// A condition whose status the API server defaulted counts, as everywhere.
func TestApprovalOfReadsTheConditionInForce(t *testing.T) {
	k := testKey(t, 1)
	v, err := attest.NewVerifier(attest.Keys{Current: k})
	if err != nil {
		t.Fatal(err)
	}
	csr := kubeletCSR("csr-1", "uid-1")
	message := ProvenApprovedMessage(csr, ApprovedMessage("Serving", "worker-1", "serving"), "serving", testProver(t, k))
	withdrawn := approved(csr, ReasonAutoApproved, message)
	withdrawn.Status.Conditions[0].Status = corev1.ConditionFalse
	if got := ApprovalOf(withdrawn, v); got.By != v1alpha1.ActorExternal || got.Reason != "" {
		t.Fatalf("an Approved condition with status False gave %+v", got)
	}
}
