package controllers_test

import (
	"context"
	"net"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// expectDenied waits for the CSR's denial and checks its reason and that
// its message holds text.
func expectDenied(t *testing.T, name, reason, text string) {
	t.Helper()
	cond := waitForCondition(t, name, certificatesv1.CertificateDenied)
	if cond.Reason != reason || !strings.Contains(cond.Message, text) {
		t.Errorf("CSR %s denied %s %q, want %s with %q", name, cond.Reason, cond.Message, reason, text)
	}
}

// waitForReview waits until nodetrust queues the CSR for review and returns
// the review.
func waitForReview(t *testing.T, name string) wire.Review {
	t.Helper()
	var review wire.Review
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" queued for review", func(ctx context.Context) (bool, error) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		if csrstate.Decided(csr) {
			t.Fatalf("CSR %s was decided: %v", name, csr.Status.Conditions)
		}
		var ok bool
		review, ok = wire.ReviewOf(csr)
		return ok, nil
	})
	return review
}

// TestServingForInClusterAddressesIsDenied: a node that reports a Service
// IP, another Node's Pod IP or a Service name as its own gets no
// certificate for it, whatever the policies say.
func TestServingForInClusterAddressesIsDenied(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	var cidrs networkingv1.ServiceCIDRList
	if err := env.Client.List(ctx, &cidrs); err != nil || len(cidrs.Items) == 0 || len(cidrs.Items[0].Spec.CIDRs) == 0 {
		t.Fatalf("the API server has no ServiceCIDR: %v %v", cidrs.Items, err)
	}
	_, serviceRange, err := net.ParseCIDR(cidrs.Items[0].Spec.CIDRs[0])
	if err != nil {
		t.Fatal(err)
	}
	serviceIP := append(net.IP{}, serviceRange.IP.To4()...)
	serviceIP[3] += 77
	pods := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "pods-1"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.9.0/24"}}}
	testenv.CreateAndWait(ctx, t, env.Client, cache, pods)
	createNode(t, "incluster-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "incluster-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.90"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: serviceIP.String()},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.244.9.7"},
		corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: "db.prod.svc.cluster.local"})
	user := "system:node:incluster-1"
	own := net.ParseIP("192.0.2.90")
	// One at a time: a newer request of the same node supersedes a pending one.
	createCSR(t, servingCSR("serve-service-ip", "incluster-1", []string{"incluster-1"}, own, serviceIP), user, csrstate.NodesGroup)
	expectDenied(t, "serve-service-ip", policy.ReasonInClusterSAN, `ServiceCIDR "`+cidrs.Items[0].Name+`"`)
	createCSR(t, servingCSR("serve-pod-ip", "incluster-1", []string{"incluster-1"}, own, net.ParseIP("10.244.9.7")), user, csrstate.NodesGroup)
	expectDenied(t, "serve-pod-ip", policy.ReasonInClusterSAN, `the podCIDRs of Node "pods-1"`)
	createCSR(t, servingCSR("serve-service-name", "incluster-1", []string{"incluster-1", "db.prod.svc.cluster.local"}, own), user, csrstate.NodesGroup)
	expectDenied(t, "serve-service-name", policy.ReasonInClusterSAN, `"cluster.local"`)
}

// TestServingDNSNamesComeFromTheNodeNameAndTemplates: a template ties a
// name to one node; a sibling's templated name, and a name a node merely
// reports about itself, are denied.
func TestServingDNSNamesComeFromTheNodeNameAndTemplates(t *testing.T) {
	startManager(t)
	testenv.CreateAndWait(context.Background(), t, env.Client, cache, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tmpl-serving"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector: v1alpha1.RequestSelector{NodeNamePattern: "tmpl-[0-9]+"},
			Serving:  &v1alpha1.ServingRules{Action: v1alpha1.ServingApprove, DNSNameTemplates: []string{"{node}.tmpl.example.com"}},
		},
	})
	createNode(t, "tmpl-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "tmpl-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.95"},
		corev1.NodeAddress{Type: corev1.NodeExternalDNS, Address: "tmpl-2.tmpl.example.com"},
		corev1.NodeAddress{Type: corev1.NodeExternalDNS, Address: "www.example.org"})
	user, ip := "system:node:tmpl-1", net.ParseIP("192.0.2.95")
	createCSR(t, servingCSR("serve-tmpl-own", "tmpl-1", []string{"tmpl-1", "tmpl-1.tmpl.example.com"}, ip), user, csrstate.NodesGroup)
	if cond := waitForCondition(t, "serve-tmpl-own", certificatesv1.CertificateApproved); !strings.Contains(cond.Message, "tmpl-serving") {
		t.Errorf("approved %q, want by tmpl-serving", cond.Message)
	}
	createCSR(t, servingCSR("serve-tmpl-sibling", "tmpl-1", []string{"tmpl-1", "tmpl-2.tmpl.example.com"}, ip), user, csrstate.NodesGroup)
	expectDenied(t, "serve-tmpl-sibling", policy.ReasonSANTiedToAnotherNode, `ties to node "tmpl-2"`)
	createCSR(t, servingCSR("serve-tmpl-claimed", "tmpl-1", []string{"tmpl-1", "www.example.org"}, ip), user, csrstate.NodesGroup)
	expectDenied(t, "serve-tmpl-claimed", policy.ReasonSANNotOwnedByNode, `"www.example.org"`)
}

// TestAServingRequestForANewAddressIsQueuedForReview: once nodetrust has
// approved a node's serving certificate, a request for an address the node
// did not hold then waits for a human, naming the old and new addresses.
func TestAServingRequestForANewAddressIsQueuedForReview(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	createNode(t, "moving-1", nil,
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "moving-1"},
		corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.100"})
	user := "system:node:moving-1"
	createCSR(t, servingCSR("serve-before-move", "moving-1", []string{"moving-1"}, net.ParseIP("192.0.2.100")), user, csrstate.NodesGroup)
	waitForCondition(t, "serve-before-move", certificatesv1.CertificateApproved)

	// The kubelet rewrites its own status, as NodeRestriction lets it.
	node := &corev1.Node{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "moving-1"}, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses[1].Address = "192.0.2.101"
	if err := env.Client.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "the new address in the cache", func(ctx context.Context) (bool, error) {
		got := &corev1.Node{}
		err := cache.Get(ctx, client.ObjectKey{Name: "moving-1"}, got)
		return err == nil && got.Status.Addresses[1].Address == "192.0.2.101", err
	})
	createCSR(t, servingCSR("serve-after-move", "moving-1", []string{"moving-1"}, net.ParseIP("192.0.2.101")), user, csrstate.NodesGroup)
	review := waitForReview(t, "serve-after-move")
	if review.Reason != policy.ReasonAddressChanged || !strings.Contains(review.Message, "held [dns:moving-1, ip:192.0.2.100]") ||
		!strings.Contains(review.Message, "new [ip:192.0.2.101]") || !strings.Contains(review.Message, `CSR "serve-before-move"`) {
		t.Errorf("review %+v, want AddressChanged naming the held and new addresses", review)
	}
}
