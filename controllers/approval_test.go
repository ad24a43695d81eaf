package controllers_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

var bootstrappers = []string{csrstate.BootstrappersGroup}

func TestBootstrapWithValidTokenIsApproved(t *testing.T) {
	startManager(t)
	createToken(t, "aaaaaa", time.Now().Add(time.Hour), "")
	createCSR(t, clientCSR("boot-approved", "system:node:boot-1"), "system:bootstrap:aaaaaa", bootstrappers...)
	cond := waitForCondition(t, "boot-approved", certificatesv1.CertificateApproved)
	if cond.Reason != wire.ReasonAutoApproved || cond.LastUpdateTime.IsZero() {
		t.Errorf("condition = %+v, want reason AutoApproved and lastUpdateTime set", cond)
	}
	expectEvent(t, "boot-approved", wire.EventApproved, "default")
}

func TestBootstrapWithExpiredTokenIsDenied(t *testing.T) {
	startManager(t)
	createToken(t, "bbbbbb", time.Now().Add(-time.Minute), "")
	createCSR(t, clientCSR("boot-expired", "system:node:boot-2"), "system:bootstrap:bbbbbb", bootstrappers...)
	cond := waitForCondition(t, "boot-expired", certificatesv1.CertificateDenied)
	if cond.Reason != policy.ReasonBootstrapTokenInvalid || !strings.Contains(cond.Message, "expired") {
		t.Errorf("condition = %+v, want BootstrapTokenInvalid naming the expiry", cond)
	}
	expectEvent(t, "boot-expired", wire.EventDenied, policy.ReasonBootstrapTokenInvalid)
}

func TestBootstrapForExistingNodeIsDenied(t *testing.T) {
	startManager(t)
	createToken(t, "cccccc", time.Now().Add(time.Hour), "")
	createNode(t, "taken-1", nil)
	createCSR(t, clientCSR("boot-takeover", "system:node:taken-1"), "system:bootstrap:cccccc", bootstrappers...)
	if cond := waitForCondition(t, "boot-takeover", certificatesv1.CertificateDenied); cond.Reason != policy.ReasonNodeAlreadyExists {
		t.Errorf("reason = %s, want NodeAlreadyExists", cond.Reason)
	}
}

func TestRenewalByTheNodeIsApproved(t *testing.T) {
	startManager(t)
	createNode(t, "renew-1", nil)
	createCSR(t, clientCSR("renew-ok", "system:node:renew-1"), "system:node:renew-1", csrstate.NodesGroup)
	waitForCondition(t, "renew-ok", certificatesv1.CertificateApproved)
}

func TestRenewalForAnotherNodeIsDenied(t *testing.T) {
	startManager(t)
	createCSR(t, clientCSR("renew-other", "system:node:victim"), "system:node:renew-2", csrstate.NodesGroup)
	cond := waitForCondition(t, "renew-other", certificatesv1.CertificateDenied)
	if cond.Reason != policy.ReasonCommonNameMismatch {
		t.Errorf("reason = %s, want CommonNameMismatch", cond.Reason)
	}
}

func TestServingIsApprovedOnceItsNodeRegisters(t *testing.T) {
	startManager(t)
	ip := net.ParseIP("192.0.2.10")
	createCSR(t, servingCSR("serve-late", "late-1", []string{"late-1"}, ip), "system:node:late-1", csrstate.NodesGroup)
	expectEvent(t, "serve-late", wire.EventAwaitingNode, "late-1")
	expectUntouched(t, "serve-late", time.Second)
	createNode(t, "late-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "late-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	waitForCondition(t, "serve-late", certificatesv1.CertificateApproved)
}

func TestServingForForeignSANIsDenied(t *testing.T) {
	startManager(t)
	createNode(t, "serve-2", nil, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.20"})
	createCSR(t, servingCSR("serve-foreign", "serve-2", nil, net.ParseIP("192.0.2.99")), "system:node:serve-2", csrstate.NodesGroup)
	if cond := waitForCondition(t, "serve-foreign", certificatesv1.CertificateDenied); cond.Reason != policy.ReasonSANNotOwnedByNode {
		t.Errorf("reason = %s, want SANNotOwnedByNode", cond.Reason)
	}
}

func TestServingForTheAPIServerNameIsDenied(t *testing.T) {
	startManager(t)
	createNode(t, "serve-3", nil, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.30"})
	createCSR(t, servingCSR("serve-kubernetes", "serve-3", []string{"kubernetes.default.svc"}), "system:node:serve-3", csrstate.NodesGroup)
	if cond := waitForCondition(t, "serve-kubernetes", certificatesv1.CertificateDenied); cond.Reason != policy.ReasonClusterIdentitySAN {
		t.Errorf("reason = %s, want ClusterIdentitySAN", cond.Reason)
	}
}

func TestViolationUnderReviewPolicyIsQueuedForReview(t *testing.T) {
	startManager(t)
	testenv.CreateAndWait(context.Background(), t, env.Client, cache, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "review-extra-names"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:    v1alpha1.RequestSelector{NodeNamePattern: "review-[0-9]+"},
			Serving:     &v1alpha1.ServingRules{Action: v1alpha1.ServingApprove},
			OnViolation: v1alpha1.ViolationReview,
		},
	})
	createNode(t, "review-1", nil, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "review-1"})
	createCSR(t, servingCSR("serve-review", "review-1", []string{"review-1", "extra.example.com"}), "system:node:review-1", csrstate.NodesGroup)
	testenv.WaitFor(t, testenv.DefaultTimeout, "the review label", func(ctx context.Context) (bool, error) {
		var list certificatesv1.CertificateSigningRequestList
		if err := env.Client.List(ctx, &list, client.MatchingLabels{wire.LabelReview: "required"}); err != nil {
			return false, err
		}
		for _, c := range list.Items {
			if c.Name == "serve-review" {
				if csrstate.Decided(&c) {
					t.Fatalf("a CSR under review was decided: %v", c.Status.Conditions)
				}
				review, ok := wire.ReviewOf(&c)
				return ok && review.Reason == policy.ReasonSANNotOwnedByNode && review.Policy == "review-extra-names", nil
			}
		}
		return false, nil
	})
	expectEvent(t, "serve-review", wire.EventReviewRequired, "review-extra-names")
}

func TestRequestsNodetrustDoesNotOwnAreIgnored(t *testing.T) {
	startManager(t)
	createCSR(t, clientCSR("stranger-client", "system:node:s-1"), "alice", "developers")
	other := clientCSR("other-signer", "system:node:s-2")
	other.signer = "example.com/custom"
	createCSR(t, other, "system:node:s-2", csrstate.NodesGroup)
	bootServing := servingCSR("bootstrap-serving", "s-3", []string{"s-3"})
	createCSR(t, bootServing, "system:bootstrap:aaaaaa", bootstrappers...)
	for _, name := range []string{"stranger-client", "other-signer", "bootstrap-serving"} {
		expectUntouched(t, name, time.Second)
		expectNoEvents(t, name)
	}
}

func TestInvalidPolicyIsNotReadyAndNeverApproves(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	bad := &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "bad-regex"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:        v1alpha1.RequestSelector{NodeNamePattern: "rejoin-(["},
			ClientBootstrap: &v1alpha1.ClientBootstrapRules{AllowRejoin: true},
		},
	}
	testenv.CreateAndWait(ctx, t, env.Client, cache, bad)
	testenv.WaitFor(t, testenv.DefaultTimeout, "Ready=False on the invalid policy", func(ctx context.Context) (bool, error) {
		p := &v1alpha1.NodeCertificatePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bad), p); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonInvalidPolicy &&
			c.ObservedGeneration == p.Generation && strings.Contains(c.Message, "nodeNamePattern"), nil
	})
	createToken(t, "dddddd", time.Now().Add(time.Hour), "")
	createNode(t, "rejoin-1", nil)
	createCSR(t, clientCSR("boot-rejoin", "system:node:rejoin-1"), "system:bootstrap:dddddd", bootstrappers...)
	if cond := waitForCondition(t, "boot-rejoin", certificatesv1.CertificateDenied); cond.Reason != policy.ReasonNodeAlreadyExists {
		t.Errorf("reason = %s, want NodeAlreadyExists from the valid default policy", cond.Reason)
	}
}

func TestOlderDuplicateIsSuperseded(t *testing.T) {
	startManager(t)
	createNode(t, "dup-1", nil)
	createCSR(t, clientCSR("dup-old", "system:node:dup-1"), "system:node:dup-1", csrstate.NodesGroup)
	time.Sleep(1100 * time.Millisecond) // creation timestamps have second resolution
	createCSR(t, clientCSR("dup-new", "system:node:dup-1"), "system:node:dup-1", csrstate.NodesGroup)
	waitForCondition(t, "dup-new", certificatesv1.CertificateApproved)
	// dup-old may have been approved before dup-new existed; if not, it is superseded.
	old := &certificatesv1.CertificateSigningRequest{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "dup-old to be decided", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "dup-old"}, old); err != nil {
			return false, err
		}
		return len(old.Status.Conditions) > 0, nil
	})
	if c := old.Status.Conditions[0]; c.Type == certificatesv1.CertificateDenied && c.Reason != policy.ReasonSuperseded {
		t.Errorf("dup-old denied with %s, want Superseded", c.Reason)
	}
}

func TestPoolJoiningWithOneTokenIsAllApproved(t *testing.T) {
	startManager(t)
	createToken(t, "eeeeee", time.Now().Add(time.Hour), "system:bootstrappers:pool-a")
	// One token, several nodes: distinct CNs are not duplicates of each other.
	const n = 5
	for i := range n {
		createCSR(t, clientCSR("flood-"+string(rune('a'+i)), "system:node:flood-"+string(rune('a'+i))),
			"system:bootstrap:eeeeee", csrstate.BootstrappersGroup, "system:bootstrappers:pool-a")
	}
	for i := range n {
		waitForCondition(t, "flood-"+string(rune('a'+i)), certificatesv1.CertificateApproved)
	}
}

// expectEvent waits for an Event on the CSR with reason whose note mentions text.
func expectEvent(t *testing.T, csrName, reason, text string) {
	t.Helper()
	testenv.WaitFor(t, testenv.DefaultTimeout, reason+" Event on "+csrName, func(ctx context.Context) (bool, error) {
		for _, e := range eventsFor(ctx, t, csrName) {
			if e.Reason == reason && strings.Contains(e.Note, text) {
				return true, nil
			}
		}
		return false, nil
	})
}

func expectNoEvents(t *testing.T, csrName string) {
	t.Helper()
	if events := eventsFor(context.Background(), t, csrName); len(events) > 0 {
		t.Errorf("CSR %s got Events: %v", csrName, events[0].Reason)
	}
}

func eventsFor(ctx context.Context, t *testing.T, csrName string) []eventsv1.Event {
	t.Helper()
	return eventsAbout(ctx, t, "CertificateSigningRequest", csrName)
}

// eventsAbout lists the Events regarding the object of kind and name.
func eventsAbout(ctx context.Context, t *testing.T, kind, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func containsText(s, text string) bool { return strings.Contains(s, text) }

// TestReviewMarkersTheRequesterWritesAreNoReview: a node creates its CSR
// with nodetrust's review label, annotations with a reassuring message and
// a review condition in its status. The API server drops the status, and
// the CSR, which waits for its Node, is not queued for review.
func TestReviewMarkersTheRequesterWritesAreNoReview(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	spec := servingCSR("serve-forged", "forged-1", []string{"forged-1"}, net.ParseIP("192.0.2.70"))
	env.CreateCSR(t, testenv.CSR{
		Name: spec.name, SignerName: spec.signer, CommonName: spec.cn, Orgs: spec.orgs, DNSNames: spec.dnsNames, IPAddresses: spec.ips, Usages: spec.usages,
		Labels:      map[string]string{wire.LabelReview: wire.ReviewRequired},
		Annotations: map[string]string{"nodetrust.io/review-message": "checked by the security team, safe to approve"},
		Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: wire.ConditionReviewRequired, Status: corev1.ConditionTrue,
			Reason: policy.ReasonPolicyRequiresReview, Message: wire.ReviewMessage("checked, safe to approve", "default")}},
	}, "system:node:forged-1", csrstate.NodesGroup)
	expectEvent(t, "serve-forged", wire.EventAwaitingNode, "forged-1")
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "serve-forged"}, csr); err != nil {
		t.Fatal(err)
	}
	if len(csr.Status.Conditions) > 0 {
		t.Fatalf("the API server kept the requester's conditions: %+v", csr.Status.Conditions)
	}
	if r, ok := wire.ReviewOf(csr); ok {
		t.Fatalf("the requester's markers read as nodetrust's review %+v", r)
	}
}

// TestTwoTokensCannotBothBootstrapOneNode: once a bootstrap request for a
// node name is approved, a second one for the same name, from another
// token, is refused until the Node registers.
func TestTwoTokensCannotBothBootstrapOneNode(t *testing.T) {
	startManager(t)
	createToken(t, "rsvone", time.Now().Add(time.Hour), "")
	createToken(t, "rsvtwo", time.Now().Add(time.Hour), "")
	createCSR(t, clientCSR("boot-reserve-first", "system:node:reserved-1"), "system:bootstrap:rsvone", bootstrappers...)
	waitForCondition(t, "boot-reserve-first", certificatesv1.CertificateApproved)
	createCSR(t, clientCSR("boot-reserve-second", "system:node:reserved-1"), "system:bootstrap:rsvtwo", bootstrappers...)
	cond := waitForCondition(t, "boot-reserve-second", certificatesv1.CertificateDenied)
	if cond.Reason != policy.ReasonNodeNameReserved || !strings.Contains(cond.Message, "boot-reserve-first") {
		t.Errorf("condition = %+v, want NodeNameReserved naming the first request", cond)
	}
}

// TestServingForAnotherNodesAddressIsDenied: a node that rewrites its own
// Node status (as NodeRestriction lets it) to list another Node's IP gets
// no certificate for it.
func TestServingForAnotherNodesAddressIsDenied(t *testing.T) {
	startManager(t)
	createNode(t, "victim-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "victim-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.80"})
	createNode(t, "thief-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "thief-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.81"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.80"})
	createCSR(t, servingCSR("serve-steal", "thief-1", []string{"thief-1"}, net.ParseIP("192.0.2.81"), net.ParseIP("192.0.2.80")),
		"system:node:thief-1", csrstate.NodesGroup)
	cond := waitForCondition(t, "serve-steal", certificatesv1.CertificateDenied)
	if cond.Reason != policy.ReasonSANOfAnotherNode || !strings.Contains(cond.Message, `Node "victim-1"`) {
		t.Errorf("condition = %+v, want SANOfAnotherNode naming victim-1", cond)
	}
}

// TestBootstrapWithATokenTheAPIServerWouldRefuseIsDenied: a token Secret
// whose auth-extra-groups the bootstrap authenticator refuses cannot
// authenticate anybody, so nothing it seems to request is approved.
func TestBootstrapWithATokenTheAPIServerWouldRefuseIsDenied(t *testing.T) {
	startManager(t)
	createToken(t, "badgrp", time.Now().Add(time.Hour), "system:masters")
	createCSR(t, clientCSR("boot-bad-groups", "system:node:badgrp-1"), "system:bootstrap:badgrp", bootstrappers...)
	cond := waitForCondition(t, "boot-bad-groups", certificatesv1.CertificateDenied)
	if cond.Reason != policy.ReasonBootstrapTokenInvalid || !strings.Contains(cond.Message, "auth-extra-groups") {
		t.Errorf("condition = %+v, want BootstrapTokenInvalid about auth-extra-groups", cond)
	}
}
