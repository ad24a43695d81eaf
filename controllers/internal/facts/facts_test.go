package facts_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
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

func TestGatherInClusterRanges(t *testing.T) {
	serviceCIDR := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"},
		Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.96.0.0/12", "fd00:10:96::/108"}}}
	extra := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "extra"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.200.0.0/16"}}}
	other := fixtures.Node("worker-2", "10.0.0.2")
	other.Spec.PodCIDRs = []string{"10.244.2.0/24", "not a cidr"}
	_, flagRange, _ := net.ParseCIDR("10.32.0.0/16")
	serving, _ := policy.NewRequest(fixtures.CSR(t, "serve", fixtures.AsServing([]string{"worker-1"}, "10.0.0.1")))
	renewal, _ := policy.NewRequest(fixtures.CSR(t, "renew"))
	tests := map[string]struct {
		request *policy.Request
		objects []client.Object
		want    []string
	}{
		"a serving request gets every ServiceCIDR and every Node's pod CIDRs": {
			request: serving, objects: []client.Object{serviceCIDR, extra, other},
			want: []string{`10.200.0.0/16 ServiceCIDR "extra"`, `10.96.0.0/12 ServiceCIDR "kubernetes"`, `fd00:10:96::/108 ServiceCIDR "kubernetes"`,
				`10.244.2.0/24 the podCIDRs of Node "worker-2"`},
		},
		"without ServiceCIDRs the flag's ranges are the Service ranges": {
			request: serving, objects: []client.Object{other},
			want: []string{"10.32.0.0/16 --service-cluster-ip-range", `10.244.2.0/24 the podCIDRs of Node "worker-2"`},
		},
		"with ServiceCIDRs the flag is not used": {
			request: serving, objects: []client.Object{extra}, want: []string{`10.200.0.0/16 ServiceCIDR "extra"`},
		},
		"a client request does not read the ranges": {
			request: renewal, objects: []client.Object{serviceCIDR, other},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := fixtures.Gatherer(fixtures.NewClient(nil, tc.objects...), nil)
			g.ServiceRanges = []*net.IPNet{flagRange}
			f, err := g.Gather(context.Background(), tc.request)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range f.Cluster.InClusterRanges {
				got = append(got, r.CIDR.String()+" "+r.Source)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("in-cluster ranges %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGatherKnownAddresses(t *testing.T) {
	nodetrustApproved := fixtures.ApprovedByNodetrust("serving", fixtures.ApprovalKey)
	forged := fixtures.WithCondition(certificatesv1.CertificateApproved, wire.ReasonAutoApproved,
		wire.ApprovedMessage("Serving", "worker-1", "serving"))
	humanApproved := fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "approved by an admin")
	record := func(name string, by v1alpha1.Actor, at time.Time, ips ...string) *v1alpha1.NodeCertificate {
		return &v1alpha1.NodeCertificate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.NodeCertificateSpec{
			NodeName: "worker-1", Kind: v1alpha1.CertificateServing, DNSNames: []string{"worker-1"}, IPAddresses: ips,
			NotBefore: metav1.NewTime(at), Approval: v1alpha1.Approval{By: by}, Issuance: v1alpha1.Issuance{By: v1alpha1.ActorExternal}}}
	}
	tests := map[string]struct {
		// selfApproved makes the request itself one nodetrust approved.
		selfApproved bool
		objects      []client.Object
		wantSource   string
		wantKeys     []string
	}{
		"a node nodetrust never issued to has no known addresses": {},
		"the newest record of a serving certificate nodetrust approved gives them": {
			objects: []client.Object{
				record("serving-old", v1alpha1.ActorNodetrust, fixtures.Now.Add(-48*time.Hour), "10.0.0.1"),
				record("serving-new", v1alpha1.ActorNodetrust, fixtures.Now.Add(-24*time.Hour), "10.0.0.2"),
			},
			wantSource: `NodeCertificate "serving-new"`, wantKeys: []string{"dns:worker-1", "ip:10.0.0.2"},
		},
		"a record of a certificate someone else approved and issued is not nodetrust's word": {
			objects: []client.Object{record("serving-ext", v1alpha1.ActorExternal, fixtures.Now.Add(-time.Hour), "10.0.0.3")},
		},
		"a serving CSR nodetrust approved that has no record yet counts": {
			objects: []client.Object{
				record("serving-old", v1alpha1.ActorNodetrust, fixtures.Now.Add(-48*time.Hour), "10.0.0.1"),
				fixtures.CSR(t, "recent", fixtures.AsServing([]string{"worker-1"}, "10.0.0.4"), nodetrustApproved),
			},
			wantSource: `CSR "recent"`, wantKeys: []string{"dns:worker-1", "ip:10.0.0.4"},
		},
		"a serving CSR approved with nodetrust's words but no proof does not count": {
			objects: []client.Object{fixtures.CSR(t, "forged", fixtures.AsServing([]string{"worker-1"}, "10.0.0.6"), forged)},
		},
		"a serving CSR a human approved does not count": {
			objects: []client.Object{fixtures.CSR(t, "human", fixtures.AsServing([]string{"worker-1"}, "10.0.0.5"), humanApproved)},
		},
		"the request itself does not count, even once nodetrust approved it": {
			selfApproved: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := []fixtures.CSROption{fixtures.AsServing([]string{"worker-1"}, "10.0.0.9")}
			if tc.selfApproved {
				opts = append(opts, nodetrustApproved)
			}
			self := fixtures.CSR(t, "self", opts...)
			g := fixtures.Gatherer(fixtures.NewClient(nil, append(tc.objects, fixtures.Node("worker-1", "10.0.0.9"), self)...), nil)
			r, _ := policy.NewRequest(self)
			f, err := g.Gather(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantSource == "" && f.KnownAddresses != nil:
				t.Fatalf("known addresses %+v, want none", f.KnownAddresses)
			case tc.wantSource != "" && (f.KnownAddresses == nil || f.KnownAddresses.Source != tc.wantSource || !slices.Equal(f.KnownAddresses.Keys, tc.wantKeys)):
				t.Fatalf("known addresses %+v, want %s %v", f.KnownAddresses, tc.wantSource, tc.wantKeys)
			}
		})
	}
}
