package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// metricsNamespace prefixes every metric nodetrust exports.
const metricsNamespace = "nodetrust"

// latencyBuckets span a fast approval (milliseconds) to a human review (hours).
var latencyBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

var (
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: "csr", Name: "decisions_total",
		Help: "Decisions the approval controller wrote (Approve, Deny, Review), once per CSR, by signer name, request kind, decision and reason.",
	}, []string{"signer_name", "kind", "decision", "reason"})
	decisionLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: "csr", Name: "decision_duration_seconds",
		Help:    "Time from a CSR's creation to nodetrust's approval or denial of it.",
		Buckets: latencyBuckets,
	}, []string{"kind", "decision"})
	issuanceLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: "csr", Name: "issuance_duration_seconds",
		Help:    "Time from a CSR's creation to the certificate nodetrust signed for it.",
		Buckets: latencyBuckets,
	}, []string{"signer_name", "kind"})
	signerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: "signer", Name: "errors_total",
		Help: "Signing attempts that failed, by NodeCertificateSigner and reason (Transient, or the reason of the CSR's Failed condition).",
	}, []string{"signer", "reason"})
	recordsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: "certificate", Name: "records_created_total",
		Help: "NodeCertificate records created, by certificate kind and by who approved and issued the certificate.",
	}, []string{"kind", "approved_by", "issued_by"})
)

// Gauges computed from the cache at scrape time.
var (
	pendingDesc = prometheus.NewDesc(metricsNamespace+"_csr_pending",
		"Kubelet CSRs waiting for a decision, by request kind and review state (required: queued by nodetrust for manual review).",
		[]string{"kind", "review"}, nil)
	awaitingIssuanceDesc = prometheus.NewDesc(metricsNamespace+"_csr_awaiting_issuance",
		"Approved kubelet CSRs without a certificate yet, by signer name.",
		[]string{"signer_name"}, nil)
	nodeExpiryDesc = prometheus.NewDesc(metricsNamespace+"_node_certificate_expiration_timestamp_seconds",
		"Expiry (Unix time) of each node's current certificate of each kind: the most recently issued one, so a node whose certificate expired without renewal shows a time in the past.",
		[]string{"node", "kind"}, nil)
	signerReadyDesc = prometheus.NewDesc(metricsNamespace+"_signer_ready",
		"1 when the NodeCertificateSigner is Ready, 0 otherwise.", []string{"signer", "signer_name"}, nil)
	signerConflictDesc = prometheus.NewDesc(metricsNamespace+"_signer_name_conflict",
		"1 when the NodeCertificateSigner stands down because another one that could sign claims its signer name, 0 otherwise.",
		[]string{"signer", "signer_name"}, nil)
	signerExpiryDesc = prometheus.NewDesc(metricsNamespace+"_signer_ca_expiration_timestamp_seconds",
		"Expiry (Unix time) of each NodeCertificateSigner's issuing CA.", []string{"signer"}, nil)
	policyReadyDesc = prometheus.NewDesc(metricsNamespace+"_policy_ready",
		"1 when the NodeCertificatePolicy is Ready (valid and in use), 0 otherwise.", []string{"policy"}, nil)
)

// Register registers nodetrust's metrics with reg. The scrape-time
// gauges read reader, normally the manager's cache; perNode adds the
// per-node certificate expiry series (two per node).
func Register(reg prometheus.Registerer, reader client.Reader, perNode bool) error {
	collectors := []prometheus.Collector{decisions, decisionLatency, issuanceLatency, signerErrors, recordsCreated,
		&stateCollector{reader: reader, perNode: perNode}}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// ObserveDecision counts a decision that was written and, for approvals and
// denials, its latency. Decisions that write nothing (NoOpinion, a review
// already recorded) are not counted: a waiting CSR is evaluated many times.
func ObserveDecision(request *policy.Request, d policy.Decision, now time.Time) {
	decisions.WithLabelValues(request.SignerName, string(request.Kind), string(d.Result), d.Reason).Inc()
	if (d.Result == policy.Approve || d.Result == policy.Deny) && !request.Created.IsZero() {
		decisionLatency.WithLabelValues(string(request.Kind), string(d.Result)).Observe(now.Sub(request.Created).Seconds())
	}
}

// ObserveIssuance records the time from a CSR's creation to the
// certificate nodetrust signed for it.
func ObserveIssuance(signerName string, kind v1alpha1.RequestKind, created, now time.Time) {
	issuanceLatency.WithLabelValues(signerName, string(kind)).Observe(now.Sub(created).Seconds())
}

// SignerFailed counts a signing attempt of NodeCertificateSigner signer
// that failed: transiently (reason Transient) or for good (the reason of
// the CSR's Failed condition).
func SignerFailed(signer, reason string) {
	signerErrors.WithLabelValues(signer, reason).Inc()
}

// ReasonTransient is the reason SignerFailed counts a retried failure by.
const ReasonTransient = "Transient"

// RecordCreated counts a NodeCertificate record created.
func RecordCreated(record *v1alpha1.NodeCertificate) {
	recordsCreated.WithLabelValues(wire.KindLabel(record.Spec.Kind), string(record.Spec.Approval.By), string(record.Spec.Issuance.By)).Inc()
}

// stateCollector reports gauges computed from the cache at scrape time, so
// that every replica, leader or not, reports the same state.
type stateCollector struct {
	reader  client.Reader
	perNode bool
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pendingDesc, awaitingIssuanceDesc, nodeExpiryDesc, signerReadyDesc, signerConflictDesc, signerExpiryDesc, policyReadyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.collectCSRs(ctx, ch)
	if c.perNode {
		c.collectRecords(ctx, ch)
	}
	c.collectSigners(ctx, ch)
	c.collectPolicies(ctx, ch)
}

func (c *stateCollector) collectCSRs(ctx context.Context, ch chan<- prometheus.Metric) {
	var list certificatesv1.CertificateSigningRequestList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "metrics: listing CSRs")
		return
	}
	type key struct{ kind, review string }
	pending := map[key]float64{}
	for _, kind := range []v1alpha1.RequestKind{v1alpha1.KindClientBootstrap, v1alpha1.KindClientRenewal, v1alpha1.KindServing} {
		for _, review := range []string{"none", "required"} {
			pending[key{string(kind), review}] = 0
		}
	}
	awaiting := map[string]float64{certificatesv1.KubeAPIServerClientKubeletSignerName: 0, certificatesv1.KubeletServingSignerName: 0}
	for i := range list.Items {
		csr := &list.Items[i]
		if !csrstate.IsKubeletSigner(csr.Spec.SignerName) {
			continue
		}
		if csrstate.AwaitsSigning(csr) {
			awaiting[csr.Spec.SignerName]++
			continue
		}
		kind, ok := csrstate.Kind(csr)
		if !ok || csrstate.Decided(csr) {
			continue
		}
		review := "none"
		if _, inReview := wire.ReviewOf(csr); inReview {
			review = "required"
		}
		pending[key{string(kind), review}]++
	}
	for k, v := range pending {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, v, k.kind, k.review)
	}
	for signerName, v := range awaiting {
		ch <- prometheus.MustNewConstMetric(awaitingIssuanceDesc, prometheus.GaugeValue, v, signerName)
	}
}

func (c *stateCollector) collectRecords(ctx context.Context, ch chan<- prometheus.Metric) {
	var list v1alpha1.NodeCertificateList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "metrics: listing records")
		return
	}
	type key struct{ node, kind string }
	type current struct{ notBefore, notAfter time.Time }
	latest := map[key]current{}
	for i := range list.Items {
		s := &list.Items[i].Spec
		k := key{s.NodeName, wire.KindLabel(s.Kind)}
		if have, ok := latest[k]; !ok || s.NotBefore.After(have.notBefore) {
			latest[k] = current{s.NotBefore.Time, s.NotAfter.Time}
		}
	}
	for k, v := range latest {
		ch <- prometheus.MustNewConstMetric(nodeExpiryDesc, prometheus.GaugeValue, float64(v.notAfter.Unix()), k.node, k.kind)
	}
}

func (c *stateCollector) collectSigners(ctx context.Context, ch chan<- prometheus.Metric) {
	var list v1alpha1.NodeCertificateSignerList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "metrics: listing signers")
		return
	}
	for i := range list.Items {
		s := &list.Items[i]
		ch <- prometheus.MustNewConstMetric(signerReadyDesc, prometheus.GaugeValue, readyValue(s.Status.Conditions), s.Name, s.SignerNameOrDefault())
		conflict := 0.0
		if c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == v1alpha1.ReasonSignerNameConflict {
			conflict = 1
		}
		ch <- prometheus.MustNewConstMetric(signerConflictDesc, prometheus.GaugeValue, conflict, s.Name, s.SignerNameOrDefault())
		if s.Status.CA != nil {
			ch <- prometheus.MustNewConstMetric(signerExpiryDesc, prometheus.GaugeValue, float64(s.Status.CA.NotAfter.Unix()), s.Name)
		}
	}
}

func (c *stateCollector) collectPolicies(ctx context.Context, ch chan<- prometheus.Metric) {
	var list v1alpha1.NodeCertificatePolicyList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "metrics: listing policies")
		return
	}
	for i := range list.Items {
		ch <- prometheus.MustNewConstMetric(policyReadyDesc, prometheus.GaugeValue, readyValue(list.Items[i].Status.Conditions), list.Items[i].Name)
	}
}

func readyValue(conditions []metav1.Condition) float64 {
	if meta.IsStatusConditionTrue(conditions, v1alpha1.ConditionReady) {
		return 1
	}
	return 0
}
