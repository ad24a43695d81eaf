package policy

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

const (
	bDS = certificatesv1.UsageDigitalSignature
	bKE = certificatesv1.UsageKeyEncipherment
	bCA = certificatesv1.UsageClientAuth
	bSA = certificatesv1.UsageServerAuth
)

// bReasons returns the reasons of v, in order.
func bReasons(v Violations) []string {
	var out []string
	for _, x := range v {
		out = append(out, x.Reason)
	}
	return out
}

// bParsed is a pkcs10.Request with the subject and SANs of a kubelet request.
func bParsed(cn string, orgs []string, dns []string, ips ...string) *pkcs10.Request {
	p := &pkcs10.Request{CommonName: cn, Organizations: orgs, DNSNames: dns}
	for _, ip := range ips {
		parsed := net.ParseIP(ip)
		if v4 := parsed.To4(); v4 != nil {
			parsed = v4
		}
		p.IPAddresses = append(p.IPAddresses, parsed)
	}
	return p
}

func TestSignerRules(t *testing.T) {
	nodes := []string{csrstate.NodesGroup}
	client := []certificatesv1.KeyUsage{bDS, bCA}
	serving := []certificatesv1.KeyUsage{bDS, bSA}
	tests := map[string]struct {
		signer string
		csr    *pkcs10.Request
		usages []certificatesv1.KeyUsage
		want   []string
	}{
		"a well-formed client request breaks no rule": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nodes, nil), usages: client,
		},
		"a client request with key encipherment breaks no rule": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nodes, nil), usages: []certificatesv1.KeyUsage{bKE, bDS, bCA},
		},
		"a serving request with a DNS SAN only breaks no rule": {
			signer: certificatesv1.KubeletServingSignerName, csr: bParsed(bNodeUser, nodes, []string{"worker-1"}), usages: serving,
		},
		"a serving request with an IP SAN only breaks no rule": {
			signer: certificatesv1.KubeletServingSignerName, csr: bParsed(bNodeUser, nodes, nil, "10.0.0.11"), usages: []certificatesv1.KeyUsage{bSA, bKE, bDS},
		},
		"organization system:masters": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, []string{"system:masters"}, nil), usages: client,
			want: []string{ReasonInvalidOrganization},
		},
		"no organization": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nil, nil), usages: client,
			want: []string{ReasonInvalidOrganization},
		},
		"system:nodes and a second organization": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, []string{csrstate.NodesGroup, "system:masters"}, nil), usages: client,
			want: []string{ReasonInvalidOrganization},
		},
		"a CN without the system:node: prefix": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("worker-1", nodes, nil), usages: client,
			want: []string{ReasonInvalidCommonName},
		},
		"a CN prefix in the wrong case": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("System:Node:worker-1", nodes, nil), usages: client,
			want: []string{ReasonInvalidCommonName},
		},
		`the CN "system:node:" names no node`: {
			signer: certificatesv1.KubeletServingSignerName, csr: bParsed("system:node:", nodes, []string{"worker-1"}), usages: serving,
			want: []string{ReasonEmptyNodeName},
		},
		"a CN node name with capitals": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("system:node:Worker-1", nodes, nil), usages: client,
			want: []string{ReasonInvalidNodeName},
		},
		"a CN node name with an empty label": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("system:node:a..b", nodes, nil), usages: client,
			want: []string{ReasonInvalidNodeName},
		},
		"a CN node name of 254 characters": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("system:node:"+strings.Repeat("a", 254), nodes, nil), usages: client,
			want: []string{ReasonInvalidNodeName},
		},
		"a CN node name of 253 characters is valid": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("system:node:"+strings.Repeat("a.", 126)+"a", nodes, nil), usages: client,
		},
		"serving usages for the client signer": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nodes, nil), usages: serving,
			want: []string{ReasonInvalidUsages},
		},
		"client usages for the serving signer": {
			signer: certificatesv1.KubeletServingSignerName, csr: bParsed(bNodeUser, nodes, []string{"worker-1"}), usages: client,
			want: []string{ReasonInvalidUsages},
		},
		"a DNS SAN on a client request": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nodes, []string{"worker-1"}), usages: client,
			want: []string{ReasonSANsNotAllowed},
		},
		"an IP SAN on a client request": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed(bNodeUser, nodes, nil, "10.0.0.11"), usages: client,
			want: []string{ReasonSANsNotAllowed},
		},
		"a serving request without SANs": {
			signer: certificatesv1.KubeletServingSignerName, csr: bParsed(bNodeUser, nodes, nil), usages: serving,
			want: []string{ReasonMissingSANs},
		},
		"every rule broken at once is reported in order": {
			signer: certificatesv1.KubeAPIServerClientKubeletSignerName, csr: bParsed("admin", []string{"system:masters"}, []string{"x"}), usages: serving,
			want: []string{ReasonInvalidOrganization, ReasonInvalidCommonName, ReasonInvalidUsages, ReasonSANsNotAllowed},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := SignerRules(tc.signer, tc.csr, tc.usages)
			if !slices.Equal(bReasons(got), tc.want) {
				t.Errorf("SignerRules() = %v, want reasons %v", got, tc.want)
			}
			for _, v := range got {
				if v.Message == "" {
					t.Errorf("violation %s has no message", v.Reason)
				}
			}
		})
	}
}

func TestUsagesAllowed(t *testing.T) {
	tests := map[string]struct {
		usages []certificatesv1.KeyUsage
		want   bool
	}{
		"the two-usage set":                           {[]certificatesv1.KeyUsage{bDS, bCA}, true},
		"the two-usage set in another order":          {[]certificatesv1.KeyUsage{bCA, bDS}, true},
		"the three-usage set in another order":        {[]certificatesv1.KeyUsage{bCA, bDS, bKE}, true},
		"a duplicated usage":                          {[]certificatesv1.KeyUsage{bDS, bCA, bDS}, false},
		"a duplicate standing in for the third usage": {[]certificatesv1.KeyUsage{bDS, bCA, bCA}, false},
		"a missing usage":                             {[]certificatesv1.KeyUsage{bCA}, false},
		"an extra usage":                              {[]certificatesv1.KeyUsage{bDS, bCA, bSA}, false},
		"key encipherment without digital signature":  {[]certificatesv1.KeyUsage{bKE, bCA}, false},
		"no usages":                                   {nil, false},
		"an unknown usage":                            {[]certificatesv1.KeyUsage{bDS, "client auth "}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := usagesAllowed(tc.usages, clientUsages); got != tc.want {
				t.Errorf("usagesAllowed(%q, client) = %v, want %v", tc.usages, got, tc.want)
			}
		})
	}
	t.Run("nothing is allowed by an empty allowed list", func(t *testing.T) {
		if usagesAllowed([]certificatesv1.KeyUsage{bDS, bCA}, nil) {
			t.Error("usagesAllowed(…, nil) = true, want false")
		}
	})
}

func TestInvariants(t *testing.T) {
	nodes := []string{csrstate.NodesGroup}
	cluster := ClusterIdentity{Domain: "cluster.local", ServiceIPs: []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("fd00:10:96::1")}}
	renewal := func(user string, csr *pkcs10.Request) *Request {
		return &Request{Kind: v1alpha1.KindClientRenewal, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Username: user,
			NodeName: strings.TrimPrefix(user, csrstate.NodeUserPrefix), Usages: []certificatesv1.KeyUsage{bDS, bCA}, CSR: csr}
	}
	servingReq := func(dns []string, ips ...string) *Request {
		return &Request{Kind: v1alpha1.KindServing, SignerName: certificatesv1.KubeletServingSignerName, Username: bNodeUser,
			NodeName: bNodeName, Usages: []certificatesv1.KeyUsage{bDS, bSA}, CSR: bParsed(bNodeUser, nodes, dns, ips...)}
	}
	tests := map[string]struct {
		r       *Request
		cluster *ClusterIdentity // nil: the default cluster
		want    []string
	}{
		"parse violations are returned as they are": {
			r:    &Request{Kind: v1alpha1.KindClientRenewal, ParseViolations: Violations{{Reason: "MalformedPEM", Message: "x"}, {Reason: "WeakKey", Message: "y"}}},
			want: []string{"MalformedPEM", "WeakKey"},
		},
		"a bootstrap request may name any node in its CN": {
			r: &Request{Kind: v1alpha1.KindClientBootstrap, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Username: bBootUser,
				NodeName: "worker-9", Usages: []certificatesv1.KeyUsage{bDS, bCA}, CSR: bParsed("system:node:worker-9", nodes, nil)},
		},
		"a renewal whose CN is the requester breaks nothing": {
			r: renewal(bNodeUser, bParsed(bNodeUser, nodes, nil)),
		},
		"a renewal whose CN is another node": {
			r: renewal(bNodeUser, bParsed("system:node:worker-2", nodes, nil)), want: []string{ReasonCommonNameMismatch},
		},
		`a renewal by "system:node:" names no node twice: in the CN and in the requester`: {
			r: renewal("system:node:", bParsed("system:node:", nodes, nil)), want: []string{ReasonEmptyNodeName, ReasonEmptyNodeName},
		},
		`a renewal by "system:node:" for another node's CN`: {
			r: renewal("system:node:", bParsed(bNodeUser, nodes, nil)), want: []string{ReasonEmptyNodeName},
		},
		"a serving request for the Node's names breaks nothing": {
			r: servingReq([]string{"worker-1", "Worker-1.Example.com."}, "10.0.0.11", "2001:db8::1"),
		},
		"a loopback serving SAN is left to the policies": {
			r: servingReq(nil, "127.0.0.1", "::1"),
		},
		"serving SAN violations are reported in SAN order": {
			r: servingReq([]string{"*.example.com", "a_b", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local", "Kubernetes.Default.Svc.", "kubernetes.default.svc.corp"},
				"0.0.0.0", "::", "239.1.1.1", "ff02::1", "169.254.0.1", "fe80::1", "255.255.255.255", "10.96.0.1", "fd00:10:96::1"),
			want: []string{ReasonWildcardSAN, ReasonInvalidDNSName,
				ReasonClusterIdentitySAN, ReasonClusterIdentitySAN, ReasonClusterIdentitySAN, ReasonClusterIdentitySAN,
				ReasonClusterIdentitySAN, ReasonClusterIdentitySAN,
				ReasonForbiddenIPSAN, ReasonForbiddenIPSAN, ReasonForbiddenIPSAN, ReasonForbiddenIPSAN, ReasonForbiddenIPSAN,
				ReasonForbiddenIPSAN, ReasonForbiddenIPSAN, ReasonClusterIdentitySAN, ReasonClusterIdentitySAN},
		},
		"names that merely contain kubernetes are not the API server": {
			r: servingReq([]string{"kubernetes.example.com", "my-kubernetes", "kubernetes-default", "kubernetes.default.svcx"}),
		},
		"kubernetes.default.svc.<domain> follows the configured domain, canonicalised": {
			r:       servingReq([]string{"kubernetes.default.svc.example.org"}),
			cluster: &ClusterIdentity{Domain: "Example.ORG."},
			want:    []string{ReasonClusterIdentitySAN},
		},
		"with no cluster domain, kubernetes.default.svc.cluster.local is still denied": {
			r:       servingReq([]string{"kubernetes.default.svc.cluster.local"}),
			cluster: &ClusterIdentity{},
			want:    []string{ReasonClusterIdentitySAN},
		},
		"an IPv4-mapped form of the Service IP is the Service IP": {
			r: &Request{Kind: v1alpha1.KindServing, SignerName: certificatesv1.KubeletServingSignerName, Username: bNodeUser, NodeName: bNodeName,
				Usages: []certificatesv1.KeyUsage{bDS, bSA},
				CSR:    &pkcs10.Request{CommonName: bNodeUser, Organizations: nodes, IPAddresses: []net.IP{net.ParseIP("::ffff:10.96.0.1").To16()}}},
			want: []string{ReasonClusterIdentitySAN},
		},
		"serving SAN checks come after the signer rules": {
			r: &Request{Kind: v1alpha1.KindServing, SignerName: certificatesv1.KubeletServingSignerName, Username: bNodeUser, NodeName: bNodeName,
				Usages: []certificatesv1.KeyUsage{bDS, bCA}, CSR: bParsed("system:node:worker-2", nodes, []string{"kubernetes"})},
			want: []string{ReasonInvalidUsages, ReasonCommonNameMismatch, ReasonClusterIdentitySAN},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := cluster
			if tc.cluster != nil {
				c = *tc.cluster
			}
			got := Invariants(tc.r, c)
			if !slices.Equal(bReasons(got), tc.want) {
				t.Errorf("Invariants() = %v\nwant reasons %v", got, tc.want)
			}
		})
	}
}

func TestKubeletRequestKinds(t *testing.T) {
	tests := map[string]struct {
		opts     []buildCSROption
		wantKind v1alpha1.RequestKind
		wantOK   bool
	}{
		"a bootstrap token asking for a client certificate is ClientBootstrap": {
			opts: []buildCSROption{asBootstrap(bTokenID, bPoolA)}, wantKind: v1alpha1.KindClientBootstrap, wantOK: true,
		},
		"a node asking for a client certificate is ClientRenewal": {
			wantKind: v1alpha1.KindClientRenewal, wantOK: true,
		},
		"a node asking for a serving certificate is Serving": {
			opts: []buildCSROption{asServing()}, wantKind: v1alpha1.KindServing, wantOK: true,
		},
		"a node that is also in system:bootstrappers renews as a node": {
			opts:     []buildCSROption{withGroups(csrstate.BootstrappersGroup, csrstate.NodesGroup)},
			wantKind: v1alpha1.KindClientRenewal, wantOK: true,
		},
		"a stranger asking for a kubelet client certificate is ignored": {
			opts: []buildCSROption{withUsername("alice"), withGroups(bAuthGroup)},
		},
		"a stranger in system:nodes is ignored": {
			opts: []buildCSROption{withUsername("alice"), withGroups(csrstate.NodesGroup)},
		},
		"a stranger in system:bootstrappers is ignored": {
			opts: []buildCSROption{withUsername("system:serviceaccount:kube-system:x"), withGroups(csrstate.BootstrappersGroup)},
		},
		"a bootstrap user asking for a serving certificate is ignored": {
			opts: []buildCSROption{asBootstrap(bTokenID), asServing()},
		},
		"a node user missing the system:nodes group is ignored": {
			opts: []buildCSROption{withGroups(bAuthGroup)},
		},
		"a node user missing the system:nodes group asking for serving is ignored": {
			opts: []buildCSROption{asServing(), withGroups(bAuthGroup)},
		},
		"a bootstrap user missing the system:bootstrappers group is ignored": {
			opts: []buildCSROption{asBootstrap(bTokenID), withGroups(bAuthGroup, bPoolA)},
		},
		"a bootstrap-looking user in system:nodes only is ignored": {
			opts: []buildCSROption{asBootstrap(bTokenID), withGroups(csrstate.NodesGroup)},
		},
		"a node asking the kube-apiserver-client signer is ignored": {
			opts: []buildCSROption{withSigner(certificatesv1.KubeAPIServerClientSignerName)},
		},
		"a node asking the legacy-unknown signer is ignored": {
			opts: []buildCSROption{withSigner("kubernetes.io/legacy-unknown")},
		},
		"a bootstrap token asking a custom signer is ignored": {
			opts: []buildCSROption{asBootstrap(bTokenID), withSigner("example.com/kubelet")},
		},
		"a node user prefix in the wrong case is ignored": {
			opts: []buildCSROption{withUsername("System:Node:worker-1")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			csr := buildCSR(t, tc.opts...)
			kind, ok := csrstate.Kind(csr)
			if kind != tc.wantKind || ok != tc.wantOK {
				t.Errorf("csrstate.Kind() = %q, %v; want %q, %v", kind, ok, tc.wantKind, tc.wantOK)
			}
			r, ok := NewRequest(csr)
			if ok != tc.wantOK || (r != nil) != tc.wantOK {
				t.Errorf("NewRequest() = %v, %v; want a request %v", r, ok, tc.wantOK)
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	tests := map[string]struct {
		opts  []buildCSROption
		check func(t *testing.T, r *Request)
	}{
		"a bootstrap request takes its token ID from the requester and its node name from the CN": {
			opts: []buildCSROption{asBootstrap("k8s123", bPoolA), withCN("system:node:worker-7"), withExpirationSeconds(3600), withCSRName("csr-boot")},
			check: func(t *testing.T, r *Request) {
				bCheck(t, "Kind", r.Kind, v1alpha1.KindClientBootstrap)
				bCheck(t, "TokenID", r.TokenID, "k8s123")
				bCheck(t, "NodeName", r.NodeName, "worker-7")
				bCheck(t, "Username", r.Username, "system:bootstrap:k8s123")
				bCheck(t, "Name", r.Name, "csr-boot")
				bCheck(t, "UID", r.UID, "uid-csr-boot")
				bCheck(t, "SignerName", r.SignerName, certificatesv1.KubeAPIServerClientKubeletSignerName)
				bCheck(t, "ExpirationSeconds", *r.ExpirationSeconds, int32(3600))
				bCheck(t, "Created", r.Created.Equal(bNow.Add(-time.Minute)), true)
				bCheck(t, "in pool-a", r.InGroup(bPoolA), true)
				bCheck(t, "in pool-b", r.InGroup(bPoolB), false)
				bCheck(t, "CN", r.CSR.CommonName, "system:node:worker-7")
				bCheck(t, "ParseViolations", len(r.ParseViolations), 0)
			},
		},
		"a renewal takes its node name from the requester, not the CN": {
			opts: []buildCSROption{withCN("system:node:worker-2")},
			check: func(t *testing.T, r *Request) {
				bCheck(t, "Kind", r.Kind, v1alpha1.KindClientRenewal)
				bCheck(t, "NodeName", r.NodeName, bNodeName)
				bCheck(t, "TokenID", r.TokenID, "")
				bCheck(t, "ExpirationSeconds nil", r.ExpirationSeconds == nil, true)
				bCheck(t, "usages", len(r.Usages), 2)
			},
		},
		"a serving request keeps its SANs in order": {
			opts: []buildCSROption{asServing(), withDNSNames("b.example.com", "a.example.com"), withIPs("10.0.0.11", "2001:db8::1")},
			check: func(t *testing.T, r *Request) {
				bCheck(t, "Kind", r.Kind, v1alpha1.KindServing)
				bCheck(t, "NodeName", r.NodeName, bNodeName)
				bCheck(t, "DNSNames", strings.Join(r.CSR.DNSNames, ","), "b.example.com,a.example.com")
				bCheck(t, "IPs", len(r.CSR.IPAddresses), 2)
				bCheck(t, "Key", r.CSR.Key.String(), "ECDSA-P256")
			},
		},
		"a bootstrap request with a malformed spec.request has parse violations and no node name": {
			opts: []buildCSROption{asBootstrap(bTokenID), withRequestPEM([]byte("garbage"))},
			check: func(t *testing.T, r *Request) {
				bCheck(t, "CSR nil", r.CSR == nil, true)
				bCheck(t, "reason", r.ParseViolations.Reason(), "MalformedPEM")
				bCheck(t, "NodeName", r.NodeName, "")
				bCheck(t, "TokenID", r.TokenID, bTokenID)
			},
		},
		"a renewal with a malformed spec.request still names its node": {
			opts: []buildCSROption{withRequestPEM([]byte{})},
			check: func(t *testing.T, r *Request) {
				bCheck(t, "CSR nil", r.CSR == nil, true)
				bCheck(t, "has parse violations", len(r.ParseViolations) > 0, true)
				bCheck(t, "NodeName", r.NodeName, bNodeName)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(buildCSR(t, tc.opts...))
			if !ok || r == nil {
				t.Fatalf("NewRequest() = %v, %v; want a request", r, ok)
			}
			tc.check(t, r)
		})
	}
}
