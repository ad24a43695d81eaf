package policy

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

// TestReviewForSigning: what the signer re-checks whoever approved, e.g. a
// human approving a CSR outside every policy.
func TestReviewForSigning(t *testing.T) {
	type SR = v1alpha1.ServingRules
	year := time.Duration(v1alpha1.DefaultMaxExpirationSeconds) * time.Second
	p256Only := withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP256}})
	tests := map[string]struct {
		csr      *certificatesv1.CertificateSigningRequest
		node     *corev1.Node
		noNode   bool
		policies []*v1alpha1.NodeCertificatePolicy
		reasons  []string // of the violations, in order; none means it may be signed
		max      time.Duration
	}{
		"a serving request for the node's name and IP is signed with no policy": {
			csr: buildCSR(t, asServing()),
		},
		"a serving request for a name the Node only reports is refused with no policy": {
			csr:     buildCSR(t, asServing(), withDNSNames("worker-1.example.com")),
			reasons: []string{ReasonSANNotOwnedByNode},
		},
		"a serving request for a name a governing policy's domain allows is signed": {
			csr:      buildCSR(t, asServing(), withDNSNames("worker-1.example.com")),
			policies: []*v1alpha1.NodeCertificatePolicy{buildServingPolicy("serving", SR{NodeReportedDNSDomains: []string{"example.com"}})},
			max:      year,
		},
		"a serving request for an IP the Node does not report is refused": {
			csr:     buildCSR(t, asServing(), withIPs("10.0.0.99")),
			reasons: []string{ReasonSANNotOwnedByNode},
		},
		"a loopback IP SAN is refused unless a governing policy allows loopback": {
			csr:     buildCSR(t, asServing(), withIPs("127.0.0.1")),
			node:    buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.1")),
			reasons: []string{ReasonSANNotOwnedByNode},
		},
		"a loopback IP SAN the Node reports is signed under a policy allowing loopback": {
			csr:      buildCSR(t, asServing(), withIPs("127.0.0.1")),
			node:     buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.1")),
			policies: []*v1alpha1.NodeCertificatePolicy{buildServingPolicy("serving", SR{AllowLoopback: true})},
			max:      year,
		},
		"a serving request whose Node is gone is refused": {
			csr: buildCSR(t, asServing()), noNode: true, reasons: []string{ReasonNodeNotFound},
		},
		"a key no governing policy allows is refused": {
			csr:      buildCSR(t, asServing(), withKey(pkcs10test.P384)),
			policies: []*v1alpha1.NodeCertificatePolicy{buildServingPolicy("serving", SR{}, p256Only)},
			reasons:  []string{ReasonKeyNotAllowed},
		},
		"a key one of two governing policies allows is signed": {
			csr: buildCSR(t, asServing(), withKey(pkcs10test.P384)),
			policies: []*v1alpha1.NodeCertificatePolicy{
				buildServingPolicy("a", SR{}, p256Only), buildServingPolicy("b", SR{}),
			},
			max: year,
		},
		"a key outside the default key rules is refused when no policy governs": {
			csr: buildCSR(t, asServing(), withKey(pkcs10test.P521)), reasons: []string{ReasonKeyNotAllowed},
		},
		"a client renewal is checked for its key too": {
			csr:      buildCSR(t, withKey(pkcs10test.P384)),
			policies: []*v1alpha1.NodeCertificatePolicy{buildRenewalPolicy("renewal", v1alpha1.ClientRenewalRules{}, p256Only)},
			reasons:  []string{ReasonKeyNotAllowed},
		},
		"the governing policies' smallest maxExpirationSeconds caps the certificate": {
			csr: buildCSR(t),
			policies: []*v1alpha1.NodeCertificatePolicy{
				buildRenewalPolicy("a", v1alpha1.ClientRenewalRules{}, withMaxExpirationSeconds(3600)),
				buildRenewalPolicy("b", v1alpha1.ClientRenewalRules{}, withMaxExpirationSeconds(7200)),
			},
			max: time.Hour,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(tc.csr)
			if !ok {
				t.Fatal("not a kubelet request")
			}
			node := tc.node
			if node == nil && !tc.noNode {
				node = buildNode(bNodeName)
			}
			got := ReviewForSigning(r, Facts{Now: bNow, Node: node, Cluster: evalCluster}, buildCompiled(t, tc.policies...))
			var reasons []string
			for _, v := range got.Violations {
				reasons = append(reasons, v.Reason)
			}
			if len(reasons) != len(tc.reasons) || (len(reasons) > 0 && reasons[0] != tc.reasons[0]) {
				t.Fatalf("ReviewForSigning() violations %v, want reasons %v", got.Violations, tc.reasons)
			}
			if got.MaxExpiration != tc.max {
				t.Fatalf("MaxExpiration = %s, want %s", got.MaxExpiration, tc.max)
			}
		})
	}
}
