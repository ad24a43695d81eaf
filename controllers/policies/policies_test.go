package policies

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/controllers/internal/policystore"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
)

// writeStatus is the one write the policies loop makes.
const writeStatus = "patch NodeCertificatePolicy/status"

const validMessage = "the policy is valid and in use"

// policyAt returns policy "p" with spec at generation, carrying ready as
// its Ready condition when set.
func policyAt(generation int64, spec v1alpha1.NodeCertificatePolicySpec, ready *metav1.Condition) *v1alpha1.NodeCertificatePolicy {
	p := fixtures.Policy("p", spec)
	p.Generation = generation
	if ready != nil {
		p.Status.Conditions = []metav1.Condition{*ready}
	}
	return p
}

func TestReconcile(t *testing.T) {
	valid := v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{}}
	badPattern := v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{},
		Selector: v1alpha1.RequestSelector{NodeNamePattern: "worker-("}}
	nodeWritable := v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{},
		Selector: v1alpha1.RequestSelector{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "a"}}}}
	twoProblems := v1alpha1.NodeCertificatePolicySpec{Selector: v1alpha1.RequestSelector{NodeNamePattern: "worker-("}}
	badPatternMessage := `the policy is ignored until fixed: selector.nodeNamePattern: "worker-(" is not a valid regular expression`
	readyAt := func(generation int64) *metav1.Condition {
		return &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPolicyValid,
			Message: validMessage, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(fixtures.Now)}
	}

	tests := map[string]struct {
		policy *v1alpha1.NodeCertificatePolicy
		fail   map[string]error

		want       reconcile.Result
		wantErr    fixtures.ErrorKind
		wantWrites []string
		wantReady  metav1.Condition // Type empty: no condition
	}{
		"a valid policy is Ready for its generation": {
			policy:     policyAt(3, valid, nil),
			wantWrites: []string{writeStatus},
			wantReady:  metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPolicyValid, Message: validMessage, ObservedGeneration: 3},
		},
		"a policy whose nodeNamePattern does not compile is not Ready": {
			policy:     policyAt(1, badPattern, nil),
			wantWrites: []string{writeStatus},
			wantReady:  metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonInvalidPolicy, Message: badPatternMessage, ObservedGeneration: 1},
		},
		"a policy selecting on labels a node may set on itself is not Ready, with its own reason": {
			policy:     policyAt(1, nodeWritable, nil),
			wantWrites: []string{writeStatus},
			wantReady: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNodeWritableSelector, ObservedGeneration: 1,
				Message: "the policy is ignored until fixed: selector.nodeSelector: the nodeSelector reads labels a kubelet may set on its own Node: pool; " +
					"a node could pick its own policy. Select on labels under node-restriction.kubernetes.io/, which only administrators can set, " +
					"or set selector.trustNodeWritableLabels to accept the risk"},
		},
		"every problem of an invalid policy is named, on one line": {
			policy:     policyAt(1, twoProblems, nil),
			wantWrites: []string{writeStatus},
			wantReady: metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonInvalidPolicy, ObservedGeneration: 1,
				Message: badPatternMessage + "; the policy has no clientBootstrap, clientRenewal or serving rules, so it governs nothing"},
		},
		"a valid policy that became invalid is no longer Ready": {
			policy:     policyAt(2, badPattern, readyAt(1)),
			wantWrites: []string{writeStatus},
			wantReady:  metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonInvalidPolicy, Message: badPatternMessage, ObservedGeneration: 2},
		},
		"a new generation of a valid policy is observed": {
			policy:     policyAt(2, valid, readyAt(1)),
			wantWrites: []string{writeStatus},
			wantReady:  metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPolicyValid, Message: validMessage, ObservedGeneration: 2},
		},
		"an unchanged Ready condition is not written": {
			policy:    policyAt(1, valid, readyAt(1)),
			wantReady: *readyAt(1),
		},
		"a conflict requeues": {
			policy: policyAt(1, valid, nil), fail: map[string]error{writeStatus: fixtures.ErrConflict},
			want: reconcile.Result{RequeueAfter: writes.ConflictRetryDelay}, wantWrites: []string{writeStatus},
		},
		"a failed write returns the error": {
			policy: policyAt(1, valid, nil), fail: map[string]error{writeStatus: fixtures.ErrServer},
			wantErr: fixtures.Retried, wantWrites: []string{writeStatus},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, tc.policy)
			r := &Reconciler{Client: c, Policies: &policystore.Store{}}

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: tc.policy.Name}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			got := &v1alpha1.NodeCertificatePolicy{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.policy), got); err != nil {
				t.Fatal(err)
			}
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			switch {
			case tc.wantReady.Status == "" && ready != nil:
				t.Errorf("Ready = %+v, want none", *ready)
			case tc.wantReady.Status == "":
			case ready == nil:
				t.Error("no Ready condition")
			case ready.Status != tc.wantReady.Status || ready.Reason != tc.wantReady.Reason || ready.Message != tc.wantReady.Message ||
				ready.ObservedGeneration != tc.wantReady.ObservedGeneration:
				t.Errorf("Ready = %+v, want %+v", *ready, tc.wantReady)
			}
		})
	}
}

// TestMissingPolicy checks that a deleted policy is no error and no write.
func TestMissingPolicy(t *testing.T) {
	w := &fixtures.Writes{}
	r := &Reconciler{Client: fixtures.NewClient(w), Policies: &policystore.Store{}}
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "gone"}})
	fixtures.CheckResult(t, res, err, reconcile.Result{}, fixtures.NoError)
	fixtures.CheckWrites(t, w)
}

func TestDNSNamesTiedToNode(t *testing.T) {
	serving := func(r v1alpha1.ServingRules) v1alpha1.NodeCertificatePolicySpec {
		return v1alpha1.NodeCertificatePolicySpec{Serving: &r}
	}
	tests := map[string]struct {
		spec        v1alpha1.NodeCertificatePolicySpec
		want        metav1.ConditionStatus // "" for no condition
		wantReason  string
		wantMessage string
	}{
		"serving rules without allowedDNSNames tie every name to a node": {
			spec: serving(v1alpha1.ServingRules{DNSNameTemplates: []string{"{node}.nodes.example.com"}}),
			want: metav1.ConditionTrue, wantReason: v1alpha1.ReasonTiedDNSNames,
		},
		"an untied wildcard is flagged with its risk": {
			spec: serving(v1alpha1.ServingRules{AllowedDNSNames: []string{"*.pool-a.example.com", "metrics.example.com"}}),
			want: metav1.ConditionFalse, wantReason: v1alpha1.ReasonUntiedDNSNames,
			wantMessage: "serving.allowedDNSNames *.pool-a.example.com, metrics.example.com are not tied to a node: every node this policy governs may claim them, a sibling's name included",
		},
		"a policy without serving rules has no such condition": {
			spec: v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{}},
		},
		"an invalid policy has only Ready": {
			spec: serving(v1alpha1.ServingRules{AllowedDNSNames: []string{"a_b"}}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := fixtures.NewClient(&fixtures.Writes{}, policyAt(1, tc.spec, nil))
			r := &Reconciler{Client: c, Policies: &policystore.Store{}}
			if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "p"}}); err != nil {
				t.Fatal(err)
			}
			got := &v1alpha1.NodeCertificatePolicy{}
			if err := c.Get(context.Background(), types.NamespacedName{Name: "p"}, got); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDNSNamesTiedToNode)
			switch {
			case tc.want == "" && cond != nil:
				t.Fatalf("DNSNamesTiedToNode = %+v, want none", *cond)
			case tc.want == "":
			case cond == nil || cond.Status != tc.want || cond.Reason != tc.wantReason || cond.ObservedGeneration != 1 ||
				!strings.HasPrefix(cond.Message, tc.wantMessage):
				t.Fatalf("DNSNamesTiedToNode = %+v, want %s %s %q", cond, tc.want, tc.wantReason, tc.wantMessage)
			}
		})
	}
}
