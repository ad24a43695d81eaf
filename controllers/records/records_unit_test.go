package records

import (
	"context"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestRecordsYieldToCSRsInFlight(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	node := []string{csrstate.NodesGroup}
	pending := fixtures.BareCSR("pending", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:a", node, nil)
	awaiting := fixtures.BareCSR("awaiting", certificatesv1.KubeletServingSignerName, "system:node:b", node, nil, certificatesv1.CertificateApproved)
	inReview := fixtures.BareCSR("review", certificatesv1.KubeletServingSignerName, "system:node:c", node, nil, wire.ConditionReviewRequired)
	issued := fixtures.BareCSR("issued", certificatesv1.KubeletServingSignerName, "system:node:d", node, nil, certificatesv1.CertificateApproved)
	issued.Status.Certificate = []byte("x")
	other := fixtures.BareCSR("other", "example.com/signer", "alice", nil, nil)
	justIssued := fixtures.BareCSR("just-issued", certificatesv1.KubeletServingSignerName, "system:node:e", node, nil, certificatesv1.CertificateApproved)
	justIssued.Status.Certificate = []byte("x")
	justIssued.Status.Conditions[0].LastUpdateTime = metav1.NewTime(now.Add(-300 * time.Millisecond))
	longIssued := justIssued.DeepCopy()
	longIssued.Name = "long-issued"
	longIssued.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	longIssued.Status.Conditions[0].LastUpdateTime = metav1.NewTime(now.Add(-time.Hour))
	approvedAt := func(ago time.Duration) *v1alpha1.NodeCertificate {
		return &v1alpha1.NodeCertificate{Spec: v1alpha1.NodeCertificateSpec{Approval: v1alpha1.Approval{Time: &metav1.Time{Time: now.Add(-ago)}}}}
	}
	tests := map[string]struct {
		objects  []client.Object
		record   *v1alpha1.NodeCertificate
		yieldFor time.Duration
		want     bool
	}{
		"a fresh approval yields while a kubelet CSR waits for a decision": {
			objects: []client.Object{pending}, record: approvedAt(time.Second), yieldFor: 30 * time.Second, want: true},
		"a fresh approval yields while an approved CSR waits for a certificate": {
			objects: []client.Object{awaiting}, record: approvedAt(time.Second), yieldFor: 30 * time.Second, want: true},
		"CSRs waiting for a person, issued CSRs and other signers do not hold records back": {
			objects: []client.Object{inReview, issued, other}, record: approvedAt(time.Second), yieldFor: 30 * time.Second},
		"a kubelet CSR decided a moment ago holds records back": {
			objects: []client.Object{justIssued}, record: approvedAt(time.Second), yieldFor: 30 * time.Second, want: true},
		"kubelet CSRs decided long ago do not": {
			objects: []client.Object{longIssued}, record: approvedAt(time.Second), yieldFor: 30 * time.Second},
		"an approval older than the yield is recorded whatever is in flight": {
			objects: []client.Object{pending}, record: approvedAt(time.Minute), yieldFor: 30 * time.Second},
		"no yield records at once": {
			objects: []client.Object{pending}, record: approvedAt(time.Second)},
		"an approval without a time is recorded at once": {
			objects: []client.Object{pending}, record: &v1alpha1.NodeCertificate{}, yieldFor: 30 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Reconciler{
				Client:   fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.objects...).Build(),
				Clock:    clocktesting.NewFakePassiveClock(now),
				YieldFor: tc.yieldFor,
			}
			got, err := r.shouldYield(context.Background(), tc.record)
			if err != nil || got != tc.want {
				t.Fatalf("shouldYield() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
