package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func metricsRecord(name, node string, kind v1alpha1.CertificateKind, notBefore, notAfter time.Time) *v1alpha1.NodeCertificate {
	return &v1alpha1.NodeCertificate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.NodeCertificateSpec{
		NodeName: node, Kind: kind, NotBefore: metav1.NewTime(notBefore), NotAfter: metav1.NewTime(notAfter)}}
}

func TestStateCollector(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	node := []string{csrstate.NodesGroup}
	ready := []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "x", LastTransitionTime: metav1.Now()}}
	objects := []client.Object{
		fixtures.BareCSR("review", certificatesv1.KubeletServingSignerName, "system:node:a", node, nil, wire.ConditionReviewRequired),
		// A label alone is no review: the requester may have set it.
		fixtures.BareCSR("forged-review", certificatesv1.KubeletServingSignerName, "system:node:b", node, map[string]string{wire.LabelReview: wire.ReviewRequired}),
		fixtures.BareCSR("renewal", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:a", node, nil),
		fixtures.BareCSR("bootstrap", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:bootstrap:abcdef", []string{csrstate.BootstrappersGroup}, nil),
		fixtures.BareCSR("approved", certificatesv1.KubeletServingSignerName, "system:node:b", node, nil, certificatesv1.CertificateApproved),
		fixtures.BareCSR("denied", certificatesv1.KubeletServingSignerName, "system:node:b", node, nil, certificatesv1.CertificateDenied),
		fixtures.BareCSR("not-kubelet", "example.com/other", "alice", nil, nil),
		metricsRecord("old", "a", v1alpha1.CertificateServing, now.Add(-48*time.Hour), now.Add(time.Hour)),
		metricsRecord("new", "a", v1alpha1.CertificateServing, now.Add(-time.Hour), now.Add(30*24*time.Hour)),
		metricsRecord("expired", "b", v1alpha1.CertificateClient, now.Add(-48*time.Hour), now.Add(-time.Hour)),
		&v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{Name: "ca"}, Status: v1alpha1.NodeCertificateSignerStatus{
			Conditions: ready, CA: &v1alpha1.CAStatus{NotAfter: metav1.NewTime(now.Add(365 * 24 * time.Hour))}}},
		&v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Status: v1alpha1.NodeCertificatePolicyStatus{Conditions: ready}},
		&v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad"}},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).Build()
	c := &stateCollector{reader: reader, perNode: true}
	expected := `
# HELP nodetrust_csr_awaiting_issuance Approved kubelet CSRs without a certificate yet, by signer name.
# TYPE nodetrust_csr_awaiting_issuance gauge
nodetrust_csr_awaiting_issuance{signer_name="kubernetes.io/kube-apiserver-client-kubelet"} 0
nodetrust_csr_awaiting_issuance{signer_name="kubernetes.io/kubelet-serving"} 1
# HELP nodetrust_csr_pending Kubelet CSRs waiting for a decision, by request kind and review state (required: queued by nodetrust for manual review).
# TYPE nodetrust_csr_pending gauge
nodetrust_csr_pending{kind="ClientBootstrap",review="none"} 1
nodetrust_csr_pending{kind="ClientBootstrap",review="required"} 0
nodetrust_csr_pending{kind="ClientRenewal",review="none"} 1
nodetrust_csr_pending{kind="ClientRenewal",review="required"} 0
nodetrust_csr_pending{kind="Serving",review="none"} 1
nodetrust_csr_pending{kind="Serving",review="required"} 1
# HELP nodetrust_node_certificate_expiration_timestamp_seconds Expiry (Unix time) of each node's current certificate of each kind: the most recently issued one, so a node whose certificate expired without renewal shows a time in the past.
# TYPE nodetrust_node_certificate_expiration_timestamp_seconds gauge
nodetrust_node_certificate_expiration_timestamp_seconds{kind="client",node="b"} ` + itoa(now.Add(-time.Hour).Unix()) + `
nodetrust_node_certificate_expiration_timestamp_seconds{kind="serving",node="a"} ` + itoa(now.Add(30*24*time.Hour).Unix()) + `
# HELP nodetrust_policy_ready 1 when the NodeCertificatePolicy is Ready (valid and in use), 0 otherwise.
# TYPE nodetrust_policy_ready gauge
nodetrust_policy_ready{policy="bad"} 0
nodetrust_policy_ready{policy="good"} 1
# HELP nodetrust_signer_ca_expiration_timestamp_seconds Expiry (Unix time) of each NodeCertificateSigner's issuing CA.
# TYPE nodetrust_signer_ca_expiration_timestamp_seconds gauge
nodetrust_signer_ca_expiration_timestamp_seconds{signer="ca"} ` + itoa(now.Add(365*24*time.Hour).Unix()) + `
# HELP nodetrust_signer_name_conflict 1 when the NodeCertificateSigner stands down because another one that could sign claims its signer name, 0 otherwise.
# TYPE nodetrust_signer_name_conflict gauge
nodetrust_signer_name_conflict{signer="ca",signer_name="kubernetes.io/kubelet-serving"} 0
# HELP nodetrust_signer_ready 1 when the NodeCertificateSigner is Ready, 0 otherwise.
# TYPE nodetrust_signer_ready gauge
nodetrust_signer_ready{signer="ca",signer_name="kubernetes.io/kubelet-serving"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(expected)); err != nil {
		t.Fatal(err)
	}
	t.Run("per-node series can be turned off", func(t *testing.T) {
		off := &stateCollector{reader: reader, perNode: false}
		if n := testutil.CollectAndCount(off, "nodetrust_node_certificate_expiration_timestamp_seconds"); n != 0 {
			t.Fatalf("%d per-node series with perNode off", n)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestObserveDecision(t *testing.T) {
	now := time.Now()
	req := &policy.Request{SignerName: certificatesv1.KubeletServingSignerName, Kind: v1alpha1.KindServing, Created: now.Add(-2 * time.Second)}
	approve := policy.Decision{Result: policy.Approve, Reason: wire.ReasonAutoApproved}
	review := policy.Decision{Result: policy.Review, Reason: policy.ReasonPolicyRequiresReview}
	counter := decisions.WithLabelValues(req.SignerName, string(req.Kind), string(policy.Approve), wire.ReasonAutoApproved)
	reviews := decisions.WithLabelValues(req.SignerName, string(req.Kind), string(policy.Review), policy.ReasonPolicyRequiresReview)
	observations := func(decision policy.Result) uint64 {
		m := &dto.Metric{}
		if err := decisionLatency.WithLabelValues(string(req.Kind), string(decision)).(prometheus.Metric).Write(m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	approvalsBefore, reviewsBefore := testutil.ToFloat64(counter), testutil.ToFloat64(reviews)
	latenciesBefore, reviewLatenciesBefore := observations(policy.Approve), observations(policy.Review)
	ObserveDecision(req, approve, now)
	ObserveDecision(req, review, now)
	switch {
	case testutil.ToFloat64(counter)-approvalsBefore != 1:
		t.Fatal("the approval was not counted once")
	case testutil.ToFloat64(reviews)-reviewsBefore != 1:
		t.Fatal("the review was not counted once")
	case observations(policy.Approve)-latenciesBefore != 1:
		t.Fatal("the approval's latency was not observed once")
	case observations(policy.Review) != reviewLatenciesBefore:
		t.Fatal("a review's latency was observed; reviews are no decision")
	}
}
