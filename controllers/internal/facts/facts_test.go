package facts_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

func TestGather(t *testing.T) {
	apiServer := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "kubernetes"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1", "fd00::1"}}}
	oldService := apiServer.DeepCopy()
	oldService.Spec.ClusterIPs = nil
	valid := fixtures.Policy("valid", v1alpha1.NodeCertificatePolicySpec{ClientRenewal: &v1alpha1.ClientRenewalRules{}})
	invalid := fixtures.Policy("invalid", v1alpha1.NodeCertificatePolicySpec{})
	renewal := func(t *testing.T) *policy.Request {
		r, ok := policy.NewRequest(fixtures.CSR(t, "renew"))
		if !ok {
			t.Fatal("the fixture CSR is no kubelet request")
		}
		return r
	}
	bootstrap := func(t *testing.T) *policy.Request {
		r, ok := policy.NewRequest(fixtures.CSR(t, "boot", fixtures.AsBootstrap("abcdef")))
		if !ok {
			t.Fatal("the fixture CSR is no kubelet request")
		}
		return r
	}
	tests := map[string]struct {
		request      func(*testing.T) *policy.Request
		objects      []client.Object
		wantNode     bool
		wantToken    bool
		wantIPs      []string
		wantPolicies []string
	}{
		"a renewal gets its Node, the API server's Service IPs and the valid policies": {
			request: renewal, objects: []client.Object{fixtures.Node("worker-1", "10.0.0.1"), apiServer, valid, invalid},
			wantNode: true, wantIPs: []string{"10.96.0.1", "fd00::1"}, wantPolicies: []string{"valid"},
		},
		"a missing Node, Service and policy are nil and empty, not errors": {
			request: renewal,
		},
		"an older Service with only spec.clusterIP still names the API server": {
			request: renewal, objects: []client.Object{oldService}, wantIPs: []string{"10.96.0.1"},
		},
		"a bootstrap request gets its token Secret": {
			request: bootstrap, objects: []client.Object{fixtures.BootstrapToken("abcdef", fixtures.Now.Add(1e12))}, wantToken: true,
		},
		"a bootstrap request whose token is gone gets none": {
			request: bootstrap, objects: []client.Object{fixtures.BootstrapToken("zzzzzz", fixtures.Now.Add(1e12))},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := fixtures.Gatherer(fixtures.NewClient(nil, tc.objects...), nil)
			f, err := g.Gather(context.Background(), tc.request(t))
			if err != nil {
				t.Fatal(err)
			}
			if (f.Node != nil) != tc.wantNode || (f.BootstrapToken != nil) != tc.wantToken {
				t.Errorf("Node %v, token %v; want %v, %v", f.Node != nil, f.BootstrapToken != nil, tc.wantNode, tc.wantToken)
			}
			var ips []string
			for _, ip := range f.Cluster.ServiceIPs {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.wantIPs) || f.Cluster.Domain != "cluster.local" {
				t.Errorf("cluster identity %v in %q, want %v", ips, f.Cluster.Domain, tc.wantIPs)
			}
			var names []string
			for _, p := range f.Policies {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, tc.wantPolicies) || !f.Now.Equal(fixtures.Now) {
				t.Errorf("policies %v at %s, want %v at %s", names, f.Now, tc.wantPolicies, fixtures.Now)
			}
		})
	}
}

func TestGatherFindsPriorBootstrapApprovals(t *testing.T) {
	approved := fixtures.WithCondition(certificatesv1.CertificateApproved, "AutoApproved", "ok")
	objects := []client.Object{
		fixtures.CSR(t, "first", fixtures.AsBootstrap("zzzzzz"), approved),
		fixtures.CSR(t, "pending", fixtures.AsBootstrap("yyyyyy")),
		fixtures.CSR(t, "renewal", approved),
		fixtures.CSR(t, "other-node", fixtures.AsBootstrap("xxxxxx"), fixtures.WithCommonName("system:node:worker-9"), approved),
	}
	self := fixtures.CSR(t, "self", fixtures.AsBootstrap("abcdef"), approved)
	g := fixtures.Gatherer(fixtures.NewClient(nil, append(objects, self)...), nil)
	r, _ := policy.NewRequest(self)
	f, err := g.Gather(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.PriorBootstrapApprovals) != 1 || f.PriorBootstrapApprovals[0].CSR != "first" ||
		f.PriorBootstrapApprovals[0].Requester != "system:bootstrap:zzzzzz" || !f.PriorBootstrapApprovals[0].Approved.Equal(fixtures.Now) {
		t.Fatalf("prior approvals = %+v, want only first's", f.PriorBootstrapApprovals)
	}
}

func TestGatherReportsCacheErrors(t *testing.T) {
	broken := errorReader{err: errors.New("cache unavailable")}
	g := fixtures.Gatherer(broken, nil)
	r, _ := policy.NewRequest(fixtures.CSR(t, "renew"))
	if _, err := g.Gather(context.Background(), r); !errors.Is(err, broken.err) {
		t.Fatalf("Gather() error %v, want the cache's", err)
	}
}

// errorReader fails every read.
type errorReader struct{ err error }

func (e errorReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return e.err
}

func (e errorReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return e.err
}
