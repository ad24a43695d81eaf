package wire

import (
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReviewOf(t *testing.T) {
	cond := func(typ certificatesv1.RequestConditionType, reason, message string) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message}
	}
	queued := cond(ConditionReviewRequired, "PolicyRequiresReview", ReviewMessage("policy pool-b asks a person (really)", "pool-b"))
	tests := map[string]struct {
		labels map[string]string
		conds  []certificatesv1.CertificateSigningRequestCondition
		want   Review
		ok     bool
	}{
		"nodetrust's condition is a review, with its policy": {
			conds: []certificatesv1.CertificateSigningRequestCondition{queued},
			want:  Review{Reason: "PolicyRequiresReview", Message: "policy pool-b asks a person (really)", Policy: "pool-b"}, ok: true},
		"a label without the condition is no review": {labels: map[string]string{LabelReview: ReviewRequired}},
		"a review decided since is no longer one": {
			conds: []certificatesv1.CertificateSigningRequestCondition{queued, cond(certificatesv1.CertificateApproved, "KubectlApprove", "ok")}},
		"a message without a policy is kept whole": {
			conds: []certificatesv1.CertificateSigningRequestCondition{cond(ConditionReviewRequired, "R", "something odd")},
			want:  Review{Reason: "R", Message: "something odd"}, ok: true},
		"a policy that is no object name is not split off": {
			conds: []certificatesv1.CertificateSigningRequestCondition{cond(ConditionReviewRequired, "R", "m (policy Not A Name)")},
			want:  Review{Reason: "R", Message: "m (policy Not A Name)"}, ok: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}}
			csr.Status.Conditions = tc.conds
			got, ok := ReviewOf(csr)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ReviewOf() = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
