package approval

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// The writes the approval loop makes.
const (
	writeDecision        = "update CertificateSigningRequest/approval"
	writeReviewCondition = "update CertificateSigningRequest/status"
	writeReviewLabel     = "patch CertificateSigningRequest"
)

// failingResolver answers every lookup with a server failure, which is not
// "no such host": the answer is unknown.
type failingResolver struct{}

func (failingResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
}

// condition is what a test expects of the condition the loop adds. An
// approval's message is message followed by the proof that nodetrust
// approved by policy proven.
type condition struct {
	typ             certificatesv1.RequestConditionType
	reason, message string
	proven          string
}

// review is what a test expects of the review label and annotations.
type review struct {
	reason, message, policy string
}

func TestReconcile(t *testing.T) {
	const tokenID = "abcdef"
	node := fixtures.Node(fixtures.NodeName, "10.0.0.11")
	validToken := fixtures.BootstrapToken(tokenID, fixtures.Now.Add(24*time.Hour))
	expiredToken := fixtures.BootstrapToken(tokenID, fixtures.Now.Add(-time.Hour))
	bootstrapPolicy := fixtures.Policy("bootstrap", v1alpha1.NodeCertificatePolicySpec{ClientBootstrap: &v1alpha1.ClientBootstrapRules{}})
	renewalPolicy := fixtures.Policy("renewal", v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{}})
	reviewPolicy := fixtures.Policy("review-renewals", v1alpha1.NodeCertificatePolicySpec{
		ClientRenewal: &v1alpha1.ClientRenewalRules{Action: v1alpha1.ActionReview}})
	servingPolicy := fixtures.Policy("serving", v1alpha1.NodeCertificatePolicySpec{
		Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingApprove}})
	resolvingPolicy := fixtures.Policy("serving-resolved", v1alpha1.NodeCertificatePolicySpec{
		Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingApprove, ResolveDNSNames: true}})
	signingPolicy := fixtures.Policy("serving-signed", v1alpha1.NodeCertificatePolicySpec{
		Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingApproveAndSign, Signer: "serving-ca"}})

	bootstrap := fixtures.CSR(t, "bootstrap", fixtures.AsBootstrap(tokenID))
	renewal := fixtures.CSR(t, "renewal")
	serving := fixtures.CSR(t, "serving", fixtures.AsServing([]string{fixtures.NodeName}, "10.0.0.11"))
	reviewText := "policy review-renewals asks a human to review ClientRenewal requests"
	alreadyInReview := fixtures.CSR(t, "in-review", fixtures.WithMeta(func(m *metav1.ObjectMeta) {
		m.Labels = map[string]string{wire.LabelReview: wire.ReviewRequired}
	}), fixtures.WithCondition(wire.ConditionReviewRequired, policy.ReasonPolicyRequiresReview, wire.ReviewMessage(reviewText, reviewPolicy.Name)))
	conditionOnly := fixtures.CSR(t, "condition-only",
		fixtures.WithCondition(wire.ConditionReviewRequired, policy.ReasonPolicyRequiresReview, wire.ReviewMessage(reviewText, reviewPolicy.Name)))
	forgedReview := fixtures.CSR(t, "forged-review", fixtures.WithMeta(func(m *metav1.ObjectMeta) {
		m.Labels = map[string]string{wire.LabelReview: wire.ReviewRequired}
		m.Annotations = map[string]string{"nodetrust.io/review-message": "checked by the security team, safe to approve"}
	}))
	approvedMessage := func(kind v1alpha1.RequestKind, p string) string {
		return wire.ApprovedMessage(string(kind), fixtures.NodeName, p)
	}

	tests := map[string]struct {
		csr      *certificatesv1.CertificateSigningRequest
		objects  []client.Object
		resolver policy.Resolver
		fail     map[string]error

		want       reconcile.Result
		wantErr    fixtures.ErrorKind
		wantWrites []string
		wantCond   *condition
		wantReview *review
		wantEvents []string
	}{
		"a bootstrap request with a valid token is approved": {
			csr: bootstrap, objects: []client.Object{validToken, bootstrapPolicy},
			wantWrites: []string{writeDecision},
			wantCond:   &condition{certificatesv1.CertificateApproved, wire.ReasonAutoApproved, approvedMessage(v1alpha1.KindClientBootstrap, "bootstrap"), "bootstrap"},
			wantEvents: []string{"Normal Approved AutoApproved: " + approvedMessage(v1alpha1.KindClientBootstrap, "bootstrap") + " (policy bootstrap)"},
		},
		"a renewal by the node is approved": {
			csr: renewal, objects: []client.Object{node, renewalPolicy},
			wantWrites: []string{writeDecision},
			wantCond:   &condition{certificatesv1.CertificateApproved, wire.ReasonAutoApproved, approvedMessage(v1alpha1.KindClientRenewal, "renewal"), "renewal"},
			wantEvents: []string{"Normal Approved AutoApproved: " + approvedMessage(v1alpha1.KindClientRenewal, "renewal") + " (policy renewal)"},
		},
		"a serving request for the addresses its Node reports is approved": {
			csr: serving, objects: []client.Object{node, servingPolicy},
			wantWrites: []string{writeDecision},
			wantCond:   &condition{certificatesv1.CertificateApproved, wire.ReasonAutoApproved, approvedMessage(v1alpha1.KindServing, "serving"), "serving"},
			wantEvents: []string{"Normal Approved AutoApproved: " + approvedMessage(v1alpha1.KindServing, "serving") + " (policy serving)"},
		},
		"a bootstrap request with an expired token is denied": {
			csr: bootstrap, objects: []client.Object{expiredToken, bootstrapPolicy},
			wantWrites: []string{writeDecision},
			wantCond: &condition{typ: certificatesv1.CertificateDenied, reason: policy.ReasonBootstrapTokenInvalid,
				message: `bootstrap token "abcdef" expired at 2026-03-01T11:00:00Z`},
			wantEvents: []string{`Warning Denied BootstrapTokenInvalid: bootstrap token "abcdef" expired at 2026-03-01T11:00:00Z (policy bootstrap)`},
		},
		"a renewal whose common name names another node is denied whatever the policies": {
			csr:        fixtures.CSR(t, "other-node", fixtures.WithCommonName("system:node:worker-2")),
			objects:    []client.Object{node, renewalPolicy},
			wantWrites: []string{writeDecision},
			wantCond: &condition{typ: certificatesv1.CertificateDenied, reason: policy.ReasonCommonNameMismatch,
				message: `common name "system:node:worker-2" does not match the requester "system:node:worker-1"`},
			wantEvents: []string{`Warning Denied CommonNameMismatch: common name "system:node:worker-2" does not match the requester "system:node:worker-1"`},
		},
		"an older request superseded by a newer one for the same node is denied": {
			csr:        renewal,
			objects:    []client.Object{node, renewalPolicy, fixtures.CSR(t, "renewal-newer", fixtures.WithCreated(fixtures.Now))},
			wantWrites: []string{writeDecision},
			wantCond: &condition{typ: certificatesv1.CertificateDenied, reason: policy.ReasonSuperseded,
				message: "superseded by the newer request renewal-newer for the same common name and signer"},
			wantEvents: []string{"Warning Denied Superseded: superseded by the newer request renewal-newer"},
		},
		"a policy asking for review sets nodetrust's review condition, then the label": {
			csr: renewal, objects: []client.Object{node, reviewPolicy},
			wantWrites: []string{writeReviewCondition, writeReviewLabel},
			wantReview: &review{policy.ReasonPolicyRequiresReview, reviewText, reviewPolicy.Name},
			wantEvents: []string{"Normal ReviewRequired PolicyRequiresReview: " + reviewText + " (policy review-renewals)"},
		},
		"a CSR already marked for the same review is not written again": {
			csr: alreadyInReview, objects: []client.Object{node, reviewPolicy},
			wantReview: &review{policy.ReasonPolicyRequiresReview, reviewText, reviewPolicy.Name},
		},
		"a review label the requester set is no review: nodetrust writes its own condition": {
			csr: forgedReview, objects: []client.Object{node, reviewPolicy},
			wantWrites: []string{writeReviewCondition},
			wantReview: &review{policy.ReasonPolicyRequiresReview, reviewText, reviewPolicy.Name},
			wantEvents: []string{"Normal ReviewRequired PolicyRequiresReview: " + reviewText + " (policy review-renewals)"},
		},
		"a review condition whose label was lost gets the label back, without a second Event": {
			csr: conditionOnly, objects: []client.Object{node, reviewPolicy},
			wantWrites: []string{writeReviewLabel},
			wantReview: &review{policy.ReasonPolicyRequiresReview, reviewText, reviewPolicy.Name},
		},
		"a request no policy governs gets a NoMatchingPolicy Event and no write": {
			csr: renewal, objects: []client.Object{node, bootstrapPolicy},
			wantEvents: []string{"Warning NoMatchingPolicy NoMatchingPolicy: no valid NodeCertificatePolicy governs ClientRenewal requests from system:node:worker-1"},
		},
		"a serving request whose Node has not registered waits for it": {
			csr: serving, objects: []client.Object{servingPolicy},
			wantEvents: []string{`Normal AwaitingNode AwaitingNode: Node "worker-1" has not registered yet`},
		},
		"a serving request whose policy's signer is not ready waits for it": {
			csr: serving, objects: []client.Object{node, signingPolicy},
			wantEvents: []string{"Warning AwaitingSigner AwaitingSigner: policy serving-signed signs with NodeCertificateSigner serving-ca, " +
				"which is not ready to sign kubernetes.io/kubelet-serving (policy serving-signed)"},
		},
		"a conflict on the decision requeues without an Event": {
			csr: renewal, objects: []client.Object{node, renewalPolicy},
			fail:       map[string]error{writeDecision: fixtures.ErrConflict},
			want:       reconcile.Result{RequeueAfter: writes.ConflictRetryDelay},
			wantWrites: []string{writeDecision},
		},
		"a conflict on the review marker requeues without an Event": {
			csr: renewal, objects: []client.Object{node, reviewPolicy},
			fail:       map[string]error{writeReviewCondition: fixtures.ErrConflict},
			want:       reconcile.Result{RequeueAfter: writes.ConflictRetryDelay},
			wantWrites: []string{writeReviewCondition},
		},
		"a failed write returns the error without an Event": {
			csr: renewal, objects: []client.Object{node, renewalPolicy},
			fail:       map[string]error{writeDecision: fixtures.ErrServer},
			wantErr:    fixtures.Retried,
			wantWrites: []string{writeDecision},
		},
		"a DNS lookup that fails is an evaluation error, retried": {
			csr: serving, objects: []client.Object{node, resolvingPolicy}, resolver: failingResolver{},
			wantErr:    fixtures.Retried,
			wantEvents: []string{"Warning EvaluationError the request could not be evaluated; nodetrust retries"},
		},
		"an approved CSR is left alone": {
			csr:     fixtures.CSR(t, "approved", fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
			objects: []client.Object{node, renewalPolicy},
		},
		"a denied CSR is left alone": {
			csr:     fixtures.CSR(t, "denied", fixtures.WithCondition(certificatesv1.CertificateDenied, "KubectlDeny", "by hand")),
			objects: []client.Object{node, renewalPolicy},
		},
		"a CSR for another signer is left alone": {
			csr: fixtures.CSR(t, "foreign", fixtures.WithSigner("example.com/signer")), objects: []client.Object{node, renewalPolicy},
		},
		"a kubelet CSR from a user who is neither a node nor a bootstrap token is left alone": {
			csr:     fixtures.CSR(t, "alice", fixtures.WithRequester("alice", "system:authenticated")),
			objects: []client.Object{node, renewalPolicy},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, append([]client.Object{tc.csr.DeepCopy()}, tc.objects...)...)
			r, rec := newReconciler(t, c, tc.resolver)

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: tc.csr.Name}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			fixtures.CheckEvents(t, rec, tc.wantEvents...)
			got := getCSR(t, c, tc.csr.Name)
			checkCondition(t, tc.csr, got, tc.wantCond)
			checkReview(t, got, tc.wantReview)
		})
	}
}

// TestReviewIsWrittenOnce reconciles a CSR a policy leaves for review twice:
// the second look finds the marker in place and writes nothing.
func TestReviewIsWrittenOnce(t *testing.T) {
	policyObj := fixtures.Policy("review-renewals", v1alpha1.NodeCertificatePolicySpec{
		ClientRenewal: &v1alpha1.ClientRenewalRules{Action: v1alpha1.ActionReview}})
	w := &fixtures.Writes{}
	c := fixtures.NewClient(w, fixtures.CSR(t, "renewal"), fixtures.Node(fixtures.NodeName), policyObj)
	r, rec := newReconciler(t, c, nil)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "renewal"}}
	for range 2 {
		res, err := r.Reconcile(context.Background(), req)
		fixtures.CheckResult(t, res, err, reconcile.Result{}, fixtures.NoError)
	}
	fixtures.CheckWrites(t, w, writeReviewCondition, writeReviewLabel)
	fixtures.CheckEvents(t, rec, "Normal ReviewRequired PolicyRequiresReview")
}

// TestMissingCSR checks that a CSR deleted before its turn is no error.
func TestMissingCSR(t *testing.T) {
	w := &fixtures.Writes{}
	r, rec := newReconciler(t, fixtures.NewClient(w), nil)
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "gone"}})
	fixtures.CheckResult(t, res, err, reconcile.Result{}, fixtures.NoError)
	fixtures.CheckWrites(t, w)
	fixtures.CheckEvents(t, rec)
}

func newReconciler(t testing.TB, c client.Client, resolver policy.Resolver) (*Reconciler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(10)
	reg := registry.New()
	return &Reconciler{Client: c, Recorder: rec, Clock: fixtures.Clock(), Facts: fixtures.Gatherer(c, reg),
		Evaluator: &policy.Evaluator{Resolver: resolver}, MaxPendingPerRequester: DefaultMaxPendingPerRequester, Signers: reg,
		Prover: fixtures.Prover(t, fixtures.ApprovalKey)}, rec
}

func getCSR(t *testing.T, c client.Reader, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	return csr
}

// checkCondition checks that got has before's conditions plus want, added
// at the fake clock's time, or exactly before's when want is nil. The review
// condition is checkReview's.
func checkCondition(t *testing.T, before, got *certificatesv1.CertificateSigningRequest, want *condition) {
	t.Helper()
	before, got = withoutReview(before), withoutReview(got)
	added := len(got.Status.Conditions) - len(before.Status.Conditions)
	switch {
	case want == nil && added != 0:
		t.Errorf("conditions = %+v, want none added", got.Status.Conditions)
	case want == nil:
	case added != 1:
		t.Errorf("conditions = %+v, want one added", got.Status.Conditions)
	default:
		c := got.Status.Conditions[len(got.Status.Conditions)-1]
		message := c.Message
		if want.proven != "" {
			text, proof, _ := strings.Cut(c.Message, "; proof ")
			if name, ok := wire.ApprovingPolicy(got, c.Reason, c.Message, fixtures.Verifier(t)); !ok || name != want.proven || proof == "" {
				t.Errorf("approval message %q carries no proof that policy %s approved %s", c.Message, want.proven, got.Name)
			}
			message = text
		}
		if c.Type != want.typ || c.Status != corev1.ConditionTrue || c.Reason != want.reason || message != want.message || !c.LastUpdateTime.Time.Equal(fixtures.Now) {
			t.Errorf("condition = %+v, want %s %s %q at %s", c, want.typ, want.reason, want.message, fixtures.Now)
		}
	}
}

// withoutReview is csr without nodetrust's review condition.
func withoutReview(csr *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
	out := csr.DeepCopy()
	out.Status.Conditions = slices.DeleteFunc(out.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == wire.ConditionReviewRequired
	})
	return out
}

// checkReview checks nodetrust's review condition and label on got, or that
// it has neither when want is nil.
func checkReview(t *testing.T, got *certificatesv1.CertificateSigningRequest, want *review) {
	t.Helper()
	r, inReview := wire.ReviewOf(got)
	if want == nil {
		if len(got.Labels) > 0 || inReview {
			t.Errorf("labels %v, review %+v; want none", got.Labels, r)
		}
		return
	}
	if got.Labels[wire.LabelReview] != wire.ReviewRequired || !inReview || r != (wire.Review{Reason: want.reason, Message: want.message, Policy: want.policy}) {
		t.Errorf("labels %v, review %+v, %v; want review %+v", got.Labels, r, inReview, *want)
	}
}
