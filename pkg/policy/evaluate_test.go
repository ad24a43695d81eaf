package policy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// stubResolver is a map-based Resolver. Names in failing fail with a
// temporary error; names in neither map do not exist.
type stubResolver struct {
	hosts   map[string][]string
	failing map[string]bool
}

func (s stubResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if s.failing[host] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	addrs, ok := s.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

var evalResolver = stubResolver{
	hosts: map[string][]string{
		"worker-1":                      {"10.0.0.11"},
		"worker-1.internal.example.com": {"10.0.0.11", "203.0.113.11"},
		"worker-1.example.com":          {"198.51.100.7"},
		"worker-1.nodes.example.com":    {"10.0.0.11", "198.51.100.7"},
		"worker-1.empty.example.com":    {},
	},
	failing: map[string]bool{"worker-1.flaky.example.com": true},
}

var evalCluster = ClusterIdentity{
	Domain:     "cluster.local",
	ServiceIPs: []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("fd00:10:96::1")},
}

func TestEvaluate(t *testing.T) {
	type (
		P  = *v1alpha1.NodeCertificatePolicy
		BR = v1alpha1.ClientBootstrapRules
		RR = v1alpha1.ClientRenewalRules
		SR = v1alpha1.ServingRules
	)
	const (
		approve      = v1alpha1.ActionApprove
		review       = v1alpha1.ActionReview
		serveApprove = v1alpha1.ServingApprove
		serveReview  = v1alpha1.ServingReview
	)
	node := buildNode(bNodeName)
	token := buildTokenSecret(bTokenID)
	boot := func(opts ...buildCSROption) *certificatesv1.CertificateSigningRequest {
		return buildCSR(t, append([]buildCSROption{asBootstrap(bTokenID, bPoolA)}, opts...)...)
	}
	renew := func(opts ...buildCSROption) *certificatesv1.CertificateSigningRequest {
		return buildCSR(t, opts...)
	}
	serve := func(opts ...buildCSROption) *certificatesv1.CertificateSigningRequest {
		return buildCSR(t, append([]buildCSROption{asServing()}, opts...)...)
	}
	bootPolicy := buildBootstrapPolicy("bootstrap", BR{})
	renewPolicy := buildRenewalPolicy("renewal", RR{})
	// The Node's reported DNS names are under example.com (or lan).
	reportedDomains := []string{"example.com", "lan"}
	servePolicy := buildServingPolicy("serving", SR{Action: serveApprove, NodeReportedDNSDomains: reportedDomains})
	servingWith := func(r SR, opts ...buildPolicyOption) P {
		if r.Action == "" {
			r.Action = serveApprove
		}
		if r.NodeReportedDNSDomains == nil {
			r.NodeReportedDNSDomains = reportedDomains
		}
		return buildServingPolicy("serving", r, opts...)
	}
	usages := withUsages
	const (
		ds = certificatesv1.UsageDigitalSignature
		ke = certificatesv1.UsageKeyEncipherment
		ca = certificatesv1.UsageClientAuth
		sa = certificatesv1.UsageServerAuth
	)
	withMaxDNS := func(n int32) SR { return SR{MaxDNSNames: &n} }
	withMaxIPs := func(n int32) SR { return SR{MaxIPAddresses: &n} }
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	resolving := SR{ResolveDNSNames: true}

	tests := map[string]struct {
		csr        *certificatesv1.CertificateSigningRequest
		node       *corev1.Node
		token      *corev1.Secret
		policies   []P
		noResolver bool
		signers    map[string]string // ReadySigners

		want    Decision // Message is matched as a substring
		wantErr string
	}{
		// ---- ClientBootstrap ----
		"a bootstrap request with a valid token for a new node is approved": {
			csr: boot(), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "bootstrap", Message: "node worker-1"},
		},
		"a bootstrap request under a Review action is left for review": {
			csr: boot(), token: token, policies: []P{buildBootstrapPolicy("bootstrap", BR{Action: review})},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "bootstrap"},
		},
		"a bootstrap request whose token has expired is denied": {
			csr: boot(), policies: []P{bootPolicy},
			token: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExpirationKey, bNow.Add(-time.Minute).Format(time.RFC3339))),
			want:  Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "expired"},
		},
		"a bootstrap request whose token expires exactly now is denied": {
			csr: boot(), policies: []P{bootPolicy},
			token: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExpirationKey, bNow.Format(time.RFC3339))),
			want:  Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "expired"},
		},
		"a bootstrap request whose token Secret is missing is denied": {
			csr: boot(), token: nil, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "no Secret"},
		},
		"a bootstrap request whose token does not allow authentication is denied": {
			csr: boot(), policies: []P{bootPolicy},
			token: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenUsageAuthKey, "false")),
			want:  Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "usage-bootstrap-authentication"},
		},
		"a bootstrap request whose token Secret is being deleted is denied": {
			csr: boot(), policies: []P{bootPolicy}, token: buildTokenSecret(bTokenID, withDeletionTimestamp()),
			want: Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "being deleted"},
		},
		"a bootstrap request whose node name matches allowedNodeNamePattern is approved": {
			csr: boot(), token: token, policies: []P{buildBootstrapPolicy("bootstrap", BR{AllowedNodeNamePattern: "worker-[0-9]+"})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "bootstrap"},
		},
		"a bootstrap request whose node name does not match allowedNodeNamePattern is denied": {
			csr: boot(withCN("system:node:db-1")), token: token,
			policies: []P{buildBootstrapPolicy("bootstrap", BR{AllowedNodeNamePattern: "worker-[0-9]+"})},
			want:     Decision{Result: Deny, Reason: ReasonNodeNameNotAllowed, Policy: "bootstrap", Message: `"db-1"`},
		},
		"allowedNodeNamePattern must match the whole node name": {
			csr: boot(withCN("system:node:worker-1x")), token: token,
			policies: []P{buildBootstrapPolicy("bootstrap", BR{AllowedNodeNamePattern: "worker-[0-9]+"})},
			want:     Decision{Result: Deny, Reason: ReasonNodeNameNotAllowed, Policy: "bootstrap"},
		},
		"a bootstrap request for a name that already has a Node is denied as NodeAlreadyExists": {
			csr: boot(), token: token, node: node, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonNodeAlreadyExists, Policy: "bootstrap", Message: "already exists"},
		},
		"a bootstrap request for an existing Node is approved when allowRejoin is on": {
			csr: boot(), token: token, node: node, policies: []P{buildBootstrapPolicy("bootstrap", BR{AllowRejoin: true})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "bootstrap"},
		},
		"a bootstrap request just younger than maxRequestAge is approved": {
			csr: boot(withCreated(bNow.Add(-15*time.Minute + time.Second))), token: token,
			policies: []P{buildBootstrapPolicy("bootstrap", BR{MaxRequestAge: dur(15 * time.Minute)})},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "bootstrap"},
		},
		"a bootstrap request exactly maxRequestAge old is approved": {
			csr: boot(withCreated(bNow.Add(-15 * time.Minute))), token: token,
			policies: []P{buildBootstrapPolicy("bootstrap", BR{MaxRequestAge: dur(15 * time.Minute)})},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "bootstrap"},
		},
		"a bootstrap request just older than maxRequestAge is denied as RequestTooOld": {
			csr: boot(withCreated(bNow.Add(-15*time.Minute - time.Second))), token: token,
			policies: []P{buildBootstrapPolicy("bootstrap", BR{MaxRequestAge: dur(15 * time.Minute)})},
			want:     Decision{Result: Deny, Reason: ReasonRequestTooOld, Policy: "bootstrap", Message: "15m1s old"},
		},
		"a bootstrap request breaking a rule of an onViolation Review policy is left for review with the violation": {
			csr: boot(), token: nil, policies: []P{buildBootstrapPolicy("bootstrap", BR{}, withOnViolation(v1alpha1.ViolationReview))},
			want: Decision{Result: Review, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "no Secret"},
		},
		"a bootstrap request breaking several rules reports the first and names them all": {
			csr: boot(withCN("system:node:db-1")), token: nil, node: buildNode("db-1"),
			policies: []P{buildBootstrapPolicy("bootstrap", BR{AllowedNodeNamePattern: "worker-.*"})},
			want:     Decision{Result: Deny, Reason: ReasonBootstrapTokenInvalid, Policy: "bootstrap", Message: "already exists"},
		},
		"a bootstrap client request carrying SANs is denied whatever the policy": {
			csr: boot(withDNSNames("worker-1")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonSANsNotAllowed},
		},
		`a bootstrap request for the empty node name "system:node:" is denied`: {
			csr: boot(withCN("system:node:")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonEmptyNodeName},
		},
		"a bootstrap request whose CN lacks the system:node: prefix is denied": {
			csr: boot(withCN("worker-1")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidCommonName},
		},
		"a bootstrap request for a node name that is not a valid Node name is denied": {
			csr: boot(withCN("system:node:Worker_1")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidNodeName},
		},
		"a bootstrap request with organization system:masters is denied": {
			csr: boot(withOrgs("system:masters")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidOrganization, Message: "system:masters"},
		},
		"a bootstrap request with system:nodes plus another organization is denied": {
			csr: boot(withOrgs(csrstate.NodesGroup, "system:masters")), token: token, policies: []P{bootPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidOrganization},
		},
		"a bootstrap request from pool-a is governed by the pool-a policy": {
			csr: boot(), token: token,
			policies: []P{
				buildBootstrapPolicy("pool-a", BR{}, withSelectorGroups(bPoolA)),
				buildBootstrapPolicy("pool-b", BR{Action: review}, withSelectorGroups(bPoolB)),
			},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "pool-a"},
		},
		"a bootstrap request from pool-b is governed by the pool-b policy": {
			csr: buildCSR(t, asBootstrap(bTokenID, bPoolB)), token: buildTokenSecret(bTokenID, withTokenData("auth-extra-groups", bPoolB)),
			policies: []P{
				buildBootstrapPolicy("pool-a", BR{}, withSelectorGroups(bPoolA)),
				buildBootstrapPolicy("pool-b", BR{Action: review}, withSelectorGroups(bPoolB)),
			},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "pool-b"},
		},
		"a bootstrap request outside every selected group has no matching policy": {
			csr: buildCSR(t, asBootstrap(bTokenID)), token: token,
			policies: []P{buildBootstrapPolicy("pool-a", BR{}, withSelectorGroups(bPoolA))},
			want:     Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a bootstrap request is not governed by a policy with only renewal and serving rules": {
			csr: boot(), token: token, policies: []P{buildPolicy("other", withRenewalRules(RR{}), withServingRules(SR{Action: serveApprove}))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a bootstrap request is selected by nodeNamePattern on the requested name": {
			csr: boot(), token: token,
			policies: []P{
				buildBootstrapPolicy("db", BR{Action: review}, withNodeNamePattern("db-.*")),
				buildBootstrapPolicy("workers", BR{}, withNodeNamePattern("worker-.*")),
			},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "workers"},
		},

		// ---- ClientRenewal ----
		"a renewal by the node itself is approved": {
			csr: renew(), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal", Message: "ClientRenewal request for node worker-1"},
		},
		"a renewal under a Review action is left for review": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("renewal", RR{Action: review})},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "renewal", Message: "review"},
		},
		"a renewal by a node without a Node object is approved when requireNode is off": {
			csr: renew(), policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a renewal without a Node object is denied when requireNode is on": {
			csr: renew(), policies: []P{buildRenewalPolicy("renewal", RR{RequireNode: true})},
			want: Decision{Result: Deny, Reason: ReasonNodeNotFound, Policy: "renewal", Message: `"worker-1"`},
		},
		"a renewal with a Node object is approved when requireNode is on": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("renewal", RR{RequireNode: true})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a renewal whose CN names another node than the requester is denied": {
			csr: renew(withCN("system:node:worker-2")), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonCommonNameMismatch, Message: "system:node:worker-2"},
		},
		`a renewal by the node user "system:node:" with an empty name is denied`: {
			csr: renew(withNodeIdentity("")), policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonEmptyNodeName},
		},
		"a renewal asking for server auth is denied as InvalidUsages": {
			csr: renew(usages(ds, sa)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidUsages},
		},
		"a renewal with a duplicated usage is denied as InvalidUsages": {
			csr: renew(usages(ds, ca, ca)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidUsages},
		},
		"a renewal missing digital signature is denied as InvalidUsages": {
			csr: renew(usages(ca)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidUsages},
		},
		"a renewal with key encipherment, digital signature and client auth in any order is approved": {
			csr: renew(usages(ca, ke, ds)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a renewal with organization system:masters is denied": {
			csr: renew(withOrgs("system:masters")), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidOrganization},
		},
		"a renewal without organization is denied": {
			csr: renew(withOrgs()), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidOrganization},
		},
		"a renewal carrying an IP SAN is denied": {
			csr: renew(withIPs("10.0.0.11")), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonSANsNotAllowed},
		},
		"a renewal whose spec.request is not PEM is denied before any policy": {
			csr: renew(withRequestPEM([]byte("not a csr"))), node: node, policies: nil,
			want: Decision{Result: Deny, Reason: "MalformedPEM"},
		},
		"a renewal asking for exactly maxExpirationSeconds is approved": {
			csr: renew(withExpirationSeconds(3600)), node: node, policies: []P{buildRenewalPolicy("renewal", RR{}, withMaxExpirationSeconds(3600))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a renewal asking for one second more than maxExpirationSeconds is denied": {
			csr: renew(withExpirationSeconds(3601)), node: node, policies: []P{buildRenewalPolicy("renewal", RR{}, withMaxExpirationSeconds(3600))},
			want: Decision{Result: Deny, Reason: ReasonExpirationTooLong, Policy: "renewal", Message: "3601"},
		},
		"a renewal asking for exactly the default maximum of one year is approved": {
			csr: renew(withExpirationSeconds(v1alpha1.DefaultMaxExpirationSeconds)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a renewal asking for more than the default maximum of one year is denied": {
			csr: renew(withExpirationSeconds(v1alpha1.DefaultMaxExpirationSeconds + 1)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonExpirationTooLong, Policy: "renewal"},
		},
		"the default keys allow RSA-2048": {
			csr: renew(withKey(pkcs10test.RSA2048), usages(ke, ds, ca)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"the default keys allow ECDSA P-256": {
			csr: renew(withKey(pkcs10test.P256)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"the default keys allow ECDSA P-384": {
			csr: renew(withKey(pkcs10test.P384)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"the default keys allow Ed25519": {
			csr: renew(withKey(pkcs10test.Ed25519)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"the default keys deny ECDSA P-521 as KeyNotAllowed": {
			csr: renew(withKey(pkcs10test.P521)), node: node, policies: []P{renewPolicy},
			want: Decision{Result: Deny, Reason: ReasonKeyNotAllowed, Policy: "renewal", Message: "ECDSA-P521"},
		},
		"a keys rule allowing only ECDSA denies RSA": {
			csr: renew(withKey(pkcs10test.RSA2048)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP256}}))},
			want:     Decision{Result: Deny, Reason: ReasonKeyNotAllowed, Policy: "renewal", Message: "RSA-2048"},
		},
		"a keys rule allowing only ECDSA P-256 still allows P-256": {
			csr: renew(withKey(pkcs10test.P256)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP256}}))},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a keys rule allowing P-521 approves P-521": {
			csr: renew(withKey(pkcs10test.P521)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP521}}))},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"a keys rule without ed25519 denies Ed25519": {
			csr: renew(withKey(pkcs10test.Ed25519)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{}}))},
			want:     Decision{Result: Deny, Reason: ReasonKeyNotAllowed, Policy: "renewal"},
		},
		"an RSA rule of at least 4096 bits denies RSA-2048": {
			csr: renew(withKey(pkcs10test.RSA2048)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: 4096}}))},
			want:     Decision{Result: Deny, Reason: ReasonKeyNotAllowed, Policy: "renewal"},
		},
		"an RSA rule of at least 4096 bits approves RSA-4096": {
			csr: renew(withKey(pkcs10test.RSA4096)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: 4096}}))},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"an RSA rule of at most 3072 bits denies RSA-4096": {
			csr: renew(withKey(pkcs10test.RSA4096)), node: node,
			policies: []P{buildRenewalPolicy("renewal", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MaxBits: 3072}}))},
			want:     Decision{Result: Deny, Reason: ReasonKeyNotAllowed, Policy: "renewal", Message: "RSA-4096"},
		},
		"a renewal matching the nodeNamePattern is governed": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("workers", RR{}, withNodeNamePattern("worker-[0-9]+"))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "workers"},
		},
		"a renewal not matching the nodeNamePattern has no matching policy": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("db", RR{}, withNodeNamePattern("db-[0-9]+"))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"nodeNamePattern must match the whole node name": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("workers", RR{}, withNodeNamePattern("worker"))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a renewal by a Node whose labels match the nodeSelector is governed": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("pool-a", RR{}, withNodeSelector(map[string]string{bPoolLabel: "a"}))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "pool-a"},
		},
		"a renewal by a Node whose labels do not match the nodeSelector has no matching policy": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("pool-b", RR{}, withNodeSelector(map[string]string{bPoolLabel: "b"}))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a renewal whose Node is missing is not governed by a nodeSelector policy": {
			csr: renew(), node: nil, policies: []P{buildRenewalPolicy("pool-a", RR{}, withNodeSelector(map[string]string{bPoolLabel: "a"}))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a renewal is selected by the system:nodes group": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("nodes", RR{}, withSelectorGroups("some-group", csrstate.NodesGroup))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "nodes"},
		},
		"a renewal is not governed by a bootstrap-only policy": {
			csr: renew(), node: node, policies: []P{bootPolicy},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy, Message: "ClientRenewal"},
		},

		// ---- Serving ----
		"a serving request for the Node's hostname and InternalIP is approved": {
			csr: serve(), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving", Message: "Serving request for node worker-1"},
		},
		"a serving request under ApproveAndSign is approved naming its signer when the signer is ready": {
			csr: serve(), node: node, policies: []P{buildServingPolicy("serving", SR{Action: v1alpha1.ServingApproveAndSign, Signer: "ca"})},
			signers: map[string]string{"ca": certificatesv1.KubeletServingSignerName},
			want:    Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving", Signer: "ca"},
		},
		"a serving request under ApproveAndSign waits while its signer is not ready": {
			csr: serve(), node: node, policies: []P{buildServingPolicy("serving", SR{Action: v1alpha1.ServingApproveAndSign, Signer: "ca"})},
			signers: map[string]string{"other-ca": certificatesv1.KubeletServingSignerName},
			want:    Decision{Result: NoOpinion, Reason: ReasonAwaitingSigner, Policy: "serving", Signer: "ca", Message: "NodeCertificateSigner ca"},
		},
		"a serving request under ApproveAndSign waits when its signer signs client certificates": {
			csr: serve(), node: node, policies: []P{buildServingPolicy("serving", SR{Action: v1alpha1.ServingApproveAndSign, Signer: "ca"})},
			signers: map[string]string{"ca": certificatesv1.KubeAPIServerClientKubeletSignerName},
			want:    Decision{Result: NoOpinion, Reason: ReasonAwaitingSigner, Policy: "serving", Signer: "ca"},
		},
		"a serving request breaking an ApproveAndSign policy is denied even with no signer ready": {
			csr: serve(withDNSNames("elsewhere.example.org")), node: node,
			policies: []P{buildServingPolicy("serving", SR{Action: v1alpha1.ServingApproveAndSign, Signer: "ca"})},
			want:     Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving"},
		},
		"an approving policy that needs no signer wins over a later one that waits for its signer": {
			csr: serve(), node: node, policies: []P{
				buildServingPolicy("b-signs", SR{Action: v1alpha1.ServingApproveAndSign, Signer: "ca"}),
				buildServingPolicy("a-approves", SR{Action: serveApprove}),
			},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "a-approves"},
		},
		"a serving request under the default serving action is left for review": {
			csr: serve(), node: node, policies: []P{buildServingPolicy("serving", SR{})},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "serving"},
		},
		"a serving request for the Node's ExternalIP is approved": {
			csr: serve(withNoSANs(), withIPs("203.0.113.11")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a serving request for the Node's InternalDNS and ExternalDNS is approved": {
			csr: serve(withNoSANs(), withDNSNames("worker-1.internal.example.com", "worker-1.example.com")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"DNS SANs are compared with the Node's addresses case-insensitively": {
			csr: serve(withNoSANs(), withDNSNames("WORKER-1.Internal.Example.COM")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a DNS SAN with a trailing dot matches the Node's address": {
			csr: serve(withNoSANs(), withDNSNames("worker-1.internal.example.com.")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a Node address with a trailing dot and capitals matches the SAN": {
			csr:  serve(withNoSANs(), withDNSNames("worker-1.lan")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalDNS, "Worker-1.LAN.")), policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"an IPv6 SAN written in full matches the Node's compressed IPv6 address": {
			csr:  serve(withNoSANs(), withIPs("2001:0db8:0:0:0:0:0:1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "2001:db8::1")), policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"an IPv6 SAN matches the Node's IPv6 address written in full": {
			csr:  serve(withNoSANs(), withIPs("2001:db8::1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "2001:0DB8:0000:0000:0000:0000:0000:0001")), policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a 16-byte IPv4-mapped IPv6 SAN matches the Node's IPv4 address": {
			csr: serve(withNoSANs(), withRawIPs(net.ParseIP("::ffff:10.0.0.11").To16())), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"an IPv4 SAN matches the Node's address written as IPv4-mapped IPv6": {
			csr:  serve(withNoSANs(), withIPs("192.0.2.44")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "::ffff:192.0.2.44")), policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a DNS SAN the Node does not own is denied": {
			csr: serve(withDNSNames("worker-1", "api.example.com")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving", Message: `"api.example.com"`},
		},
		"an IP SAN the Node does not own is denied": {
			csr: serve(withIPs("10.0.0.11", "10.0.0.12")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving", Message: "10.0.0.12"},
		},
		"a Node address of an unknown type does not grant the SAN": {
			csr:  serve(withNoSANs(), withIPs("10.9.9.9")),
			node: buildNode(bNodeName, withAddress("Foo", "10.9.9.9")), policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving"},
		},
		"a DNS SAN listed exactly in allowedDNSNames is approved": {
			csr: serve(withDNSNames("worker-1", "metrics.example.com")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"Metrics.Example.com."}})},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		`a DNS SAN one label under a "*." pattern is approved`: {
			csr: serve(withDNSNames("worker-1.nodes.example.com")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		`a DNS SAN two labels under a "*." pattern is denied`: {
			csr: serve(withDNSNames("a.b.nodes.example.com")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving", Message: "a.b.nodes.example.com"},
		},
		`the bare suffix of a "*." pattern is not allowed by it`: {
			csr: serve(withDNSNames("nodes.example.com")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving"},
		},
		"an IP SAN inside allowedIPRanges is approved": {
			csr: serve(withIPs("10.0.0.11", "192.168.5.5", "fd00:1::5")), node: node,
			policies: []P{servingWith(SR{AllowedIPRanges: []string{"192.168.0.0/16", "fd00:1::/64"}})},
			want:     Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"an IP SAN just outside allowedIPRanges is denied": {
			csr: serve(withIPs("192.169.0.1")), node: node,
			policies: []P{servingWith(SR{AllowedIPRanges: []string{"192.168.0.0/16"}})},
			want:     Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving"},
		},
		"a serving request with exactly maxDNSNames DNS SANs is approved": {
			csr: serve(withDNSNames("worker-1", "worker-1.example.com")), node: node, policies: []P{servingWith(withMaxDNS(2))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a serving request with one DNS SAN over maxDNSNames is denied": {
			csr:      serve(withDNSNames("worker-1", "worker-1.example.com", "worker-1.internal.example.com")),
			node:     node,
			policies: []P{servingWith(withMaxDNS(2))},
			want:     Decision{Result: Deny, Reason: ReasonTooManyDNSNames, Policy: "serving", Message: "3 DNS SANs"},
		},
		"maxDNSNames 0 forbids any DNS SAN": {
			csr: serve(), node: node, policies: []P{servingWith(withMaxDNS(0))},
			want: Decision{Result: Deny, Reason: ReasonTooManyDNSNames, Policy: "serving"},
		},
		"a serving request with exactly maxIPAddresses IP SANs is approved": {
			csr: serve(withIPs("10.0.0.11", "203.0.113.11")), node: node, policies: []P{servingWith(withMaxIPs(2))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a serving request with one IP SAN over maxIPAddresses is denied": {
			csr: serve(withIPs("10.0.0.11", "203.0.113.11")), node: node, policies: []P{servingWith(withMaxIPs(1))},
			want: Decision{Result: Deny, Reason: ReasonTooManyIPAddresses, Policy: "serving", Message: "2 IP SANs"},
		},
		"a serving request over the default of 10 DNS SANs is denied": {
			csr: serve(withDNSNames("worker-1", "worker-1", "worker-1", "worker-1", "worker-1", "worker-1",
				"worker-1", "worker-1", "worker-1", "worker-1", "worker-1")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonTooManyDNSNames, Policy: "serving"},
		},
		"a serving request whose Node has not registered waits as AwaitingNode": {
			csr: serve(), node: nil, policies: []P{servePolicy},
			want: Decision{Result: NoOpinion, Reason: ReasonAwaitingNode, Message: `"worker-1"`},
		},
		"a serving request whose Node has not reported addresses waits as AwaitingNode": {
			csr: serve(), node: buildNode(bNodeName, withNoAddresses()), policies: []P{servePolicy},
			want: Decision{Result: NoOpinion, Reason: ReasonAwaitingNode, Message: "not reported its addresses"},
		},
		"a renewal by a relabelled Node outside the nodeSelector has no matching policy": {
			csr: renew(), node: buildNode(bNodeName, withLabels(map[string]string{bPoolLabel: "b"})),
			policies: []P{buildRenewalPolicy("renewal", RR{}, withNodeSelector(map[string]string{bPoolLabel: "a"}))},
			want:     Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a serving request from a Node outside the nodeSelector has no matching policy": {
			csr: serve(), node: node, policies: []P{servingWith(SR{}, withNodeSelector(map[string]string{bPoolLabel: "b"}))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a serving request from a Node inside a set-based nodeSelector is governed": {
			csr: serve(), node: node,
			policies: []P{servingWith(SR{}, withLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: bPoolLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "c"}}}}))},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a serving request is not governed by a client-only policy": {
			csr: serve(), node: node, policies: []P{buildPolicy("clients", withRenewalRules(RR{}), withBootstrapRules(BR{}))},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"a serving request whose CN names another node is denied": {
			csr: serve(withCN("system:node:worker-2")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonCommonNameMismatch},
		},
		"a serving request without SANs is denied as MissingSANs": {
			csr: serve(withNoSANs()), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonMissingSANs},
		},
		"a serving request asking for client auth is denied as InvalidUsages": {
			csr: serve(usages(ds, ca)), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidUsages},
		},
		"a serving request with key encipherment is approved": {
			csr: serve(usages(ke, ds, sa)), node: node, policies: []P{servePolicy},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a serving request breaking an onViolation Review policy is left for review": {
			csr: serve(withDNSNames("api.example.com")), node: node,
			policies: []P{servingWith(SR{}, withOnViolation(v1alpha1.ViolationReview))},
			want:     Decision{Result: Review, Reason: ReasonSANNotOwnedByNode, Policy: "serving", Message: "api.example.com"},
		},
		"a serving request for the DNS SAN kubernetes is denied": {
			csr: serve(withDNSNames("kubernetes")), node: buildNode(bNodeName, withAddress(corev1.NodeInternalDNS, "kubernetes")),
			policies: []P{servePolicy}, want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for the DNS SAN kubernetes.default is denied": {
			csr: serve(withDNSNames("kubernetes.default")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"kubernetes.default"}})},
			want:     Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for the DNS SAN kubernetes.default.svc is denied": {
			csr: serve(withDNSNames("kubernetes.default.svc")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for kubernetes.default.svc.cluster.local is denied": {
			csr: serve(withDNSNames("worker-1", "kubernetes.default.svc.cluster.local")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN, Message: "kubernetes.default.svc.cluster.local"},
		},
		"a serving request for KUBERNETES.default.svc. is denied": {
			csr: serve(withDNSNames("KUBERNETES.default.svc.")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for kubernetes.default.svc under any domain is denied": {
			csr: serve(withDNSNames("kubernetes.default.svc.other.example")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"*.svc.other.example", "kubernetes.default.svc.other.example"}})},
			want:     Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for the kubernetes Service IP is denied": {
			csr: serve(withIPs("10.96.0.1")), node: node, policies: []P{servingWith(SR{AllowedIPRanges: []string{"10.96.0.0/12"}})},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN, Message: "10.96.0.1"},
		},
		"a serving request for the kubernetes Service IPv6 address is denied": {
			csr: serve(withIPs("fd00:10:96:0:0:0:0:1")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for the Service IP as a 16-byte IPv4-mapped SAN is denied": {
			csr: serve(withNoSANs(), withRawIPs(net.ParseIP("::ffff:10.96.0.1").To16())), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonClusterIdentitySAN},
		},
		"a serving request for a wildcard DNS SAN is denied": {
			csr: serve(withDNSNames("*.nodes.example.com")), node: node,
			policies: []P{servingWith(SR{AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonWildcardSAN},
		},
		"a serving request for an invalid DNS name is denied": {
			csr: serve(withDNSNames("worker_1")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonInvalidDNSName},
		},
		"a serving request for the unspecified IPv4 address is denied": {
			csr: serve(withIPs("0.0.0.0")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "unspecified"},
		},
		"a serving request for the unspecified IPv6 address is denied": {
			csr: serve(withIPs("::")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "unspecified"},
		},
		"a serving request for a multicast IP is denied": {
			csr: serve(withIPs("224.0.0.1")), node: node, policies: []P{servingWith(SR{AllowedIPRanges: []string{"224.0.0.0/4"}})},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "multicast"},
		},
		"a serving request for an IPv6 multicast IP is denied": {
			csr: serve(withIPs("ff02::1")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "multicast"},
		},
		"a serving request for a link-local IPv4 address is denied even if the Node reports it": {
			csr:  serve(withIPs("169.254.1.1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "169.254.1.1")), policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "link-local"},
		},
		"a serving request for a link-local IPv6 address is denied": {
			csr: serve(withIPs("fe80::1")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "link-local"},
		},
		"a serving request for the broadcast address is denied": {
			csr: serve(withIPs("255.255.255.255")), node: node, policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonForbiddenIPSAN, Message: "broadcast"},
		},
		"a loopback IP SAN is denied when no policy allows loopback, even if the Node reports it": {
			csr:  serve(withIPs("10.0.0.11", "127.0.0.1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.1")), policies: []P{servePolicy},
			want: Decision{Result: Deny, Reason: ReasonLoopbackIPSAN, Policy: "", Message: "127.0.0.1"},
		},
		"a loopback IP SAN is denied when no policy allows loopback, even inside allowedIPRanges": {
			csr:      serve(withIPs("127.0.0.1")),
			node:     node,
			policies: []P{servingWith(SR{AllowedIPRanges: []string{"127.0.0.0/8"}})},
			want:     Decision{Result: Deny, Reason: ReasonLoopbackIPSAN, Policy: ""},
		},
		"a loopback IP SAN the Node reports is approved with allowLoopback": {
			csr:  serve(withIPs("10.0.0.11", "127.0.0.2")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.2")), policies: []P{servingWith(SR{AllowLoopback: true})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"the IPv6 loopback SAN the Node reports is approved with allowLoopback": {
			csr:  serve(withIPs("::1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "0:0:0:0:0:0:0:1")), policies: []P{servingWith(SR{AllowLoopback: true})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a loopback IP SAN the Node does not report is denied even with allowLoopback": {
			csr: serve(withIPs("127.0.0.1")), node: node, policies: []P{servingWith(SR{AllowLoopback: true})},
			want: Decision{Result: Deny, Reason: ReasonSANNotOwnedByNode, Policy: "serving", Message: "127.0.0.1"},
		},
		"a loopback SAN is denied by the policy without allowLoopback and approved by the one with it": {
			csr:  serve(withIPs("127.0.0.1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.1")),
			policies: []P{
				buildServingPolicy("a-strict", SR{Action: serveApprove}),
				buildServingPolicy("b-loopback", SR{Action: serveApprove, AllowLoopback: true}),
			},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "b-loopback"},
		},
		"a loopback SAN allowed only by a policy asking for review is left for review": {
			csr:  serve(withIPs("127.0.0.1")),
			node: buildNode(bNodeName, withAddress(corev1.NodeInternalIP, "127.0.0.1")),
			policies: []P{
				buildServingPolicy("a-strict", SR{Action: serveApprove}),
				buildServingPolicy("b-loopback", SR{Action: serveReview, AllowLoopback: true}),
			},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "b-loopback"},
		},

		// ---- DNS resolution ----
		"a DNS SAN that resolves only to the Node's IPs is approved": {
			csr: serve(withDNSNames("worker-1", "worker-1.internal.example.com")), node: node, policies: []P{servingWith(resolving)},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},
		"a DNS SAN that resolves to an address the Node does not own is denied": {
			csr: serve(withDNSNames("worker-1.example.com")), node: node, policies: []P{servingWith(resolving)},
			want: Decision{Result: Deny, Reason: ReasonDNSNameResolvesElsewhere, Policy: "serving", Message: "198.51.100.7"},
		},
		"a DNS SAN that resolves to the Node's IP and another is denied": {
			csr: serve(withDNSNames("worker-1.nodes.example.com")), node: node,
			policies: []P{servingWith(SR{ResolveDNSNames: true, AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonDNSNameResolvesElsewhere, Policy: "serving"},
		},
		"a DNS SAN that does not exist (NXDOMAIN) is denied": {
			csr: serve(withDNSNames("ghost.nodes.example.com")), node: node,
			policies: []P{servingWith(SR{ResolveDNSNames: true, AllowedDNSNames: []string{"*.nodes.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonDNSNameDoesNotResolve, Policy: "serving", Message: "ghost.nodes.example.com"},
		},
		"a DNS SAN that resolves to no address is denied": {
			csr: serve(withDNSNames("worker-1.empty.example.com")), node: node,
			policies: []P{servingWith(SR{ResolveDNSNames: true, AllowedDNSNames: []string{"*.empty.example.com"}})},
			want:     Decision{Result: Deny, Reason: ReasonDNSNameDoesNotResolve, Policy: "serving"},
		},
		"a temporary DNS failure is an error, not a denial": {
			csr: serve(withDNSNames("worker-1.flaky.example.com")), node: node,
			policies: []P{servingWith(SR{ResolveDNSNames: true, AllowedDNSNames: []string{"*.flaky.example.com"}})},
			wantErr:  "worker-1.flaky.example.com",
		},
		"a policy that resolves DNS names without a Resolver is an error": {
			csr: serve(), node: node, policies: []P{servingWith(resolving)}, noResolver: true,
			wantErr: "no resolver",
		},
		"a policy that does not resolve DNS names works without a Resolver": {
			csr: serve(), node: node, policies: []P{servePolicy}, noResolver: true,
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "serving"},
		},

		// ---- Combination ----
		"one approving and one denying policy approve, by the approving one": {
			csr: renew(withKey(pkcs10test.P521)), node: node,
			policies: []P{
				buildRenewalPolicy("z-approves", RR{}, withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP521}})),
				buildRenewalPolicy("a-denies", RR{}),
			},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "z-approves"},
		},
		"a reviewing and a denying policy leave the request for review": {
			csr: renew(), node: nil,
			policies: []P{
				buildRenewalPolicy("a-denies", RR{RequireNode: true}),
				buildRenewalPolicy("b-reviews", RR{Action: review}),
			},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "b-reviews"},
		},
		"two denying policies deny by the first in name order, whatever the order given": {
			csr: renew(withExpirationSeconds(7200)), node: nil,
			policies: []P{
				buildRenewalPolicy("zeta", RR{RequireNode: true}),
				buildRenewalPolicy("alpha", RR{}, withMaxExpirationSeconds(3600)),
			},
			want: Decision{Result: Deny, Reason: ReasonExpirationTooLong, Policy: "alpha"},
		},
		"two approving policies approve by the first in name order": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("m", RR{}), buildRenewalPolicy("b", RR{}), buildRenewalPolicy("x", RR{})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "b"},
		},
		"two reviewing policies review by the first in name order": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("r2", RR{Action: review}), buildRenewalPolicy("r1", RR{Action: review})},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "r1"},
		},
		"an approving policy wins over an earlier reviewing one": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("b-approves", RR{}), buildRenewalPolicy("a-reviews", RR{Action: review})},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "b-approves"},
		},
		"a policy that does not govern the request takes no part in the decision": {
			csr: renew(), node: node, policies: []P{buildRenewalPolicy("a-other-pool", RR{}, withNodeNamePattern("db-.*")), buildRenewalPolicy("b", RR{Action: review})},
			want: Decision{Result: Review, Reason: ReasonPolicyRequiresReview, Policy: "b"},
		},
		"nil entries in the policy list are ignored": {
			csr: renew(), node: node, policies: []P{nil, buildRenewalPolicy("renewal", RR{}), nil},
			want: Decision{Result: Approve, Reason: wire.ReasonAutoApproved, Policy: "renewal"},
		},
		"only nil entries in the policy list means no matching policy": {
			csr: renew(), node: node, policies: []P{nil, nil},
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy},
		},
		"no policy at all gives NoOpinion NoMatchingPolicy": {
			csr: renew(), node: node, policies: nil,
			want: Decision{Result: NoOpinion, Reason: ReasonNoMatchingPolicy, Message: "system:node:worker-1"},
		},
		"invariants deny even when no policy governs the request": {
			csr: renew(withCN("system:node:worker-2")), node: node, policies: nil,
			want: Decision{Result: Deny, Reason: ReasonCommonNameMismatch},
		},
	}

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(tc.csr)
			if !ok {
				t.Fatalf("NewRequest: not a kubelet request")
			}
			e := &Evaluator{Resolver: evalResolver}
			if tc.noResolver {
				e.Resolver = nil
			}
			facts := Facts{Now: bNow, Node: tc.node, BootstrapToken: tc.token, Cluster: evalCluster, ReadySigners: tc.signers}
			got, err := e.Evaluate(context.Background(), r, facts, buildCompiled(t, tc.policies...))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Evaluate() = %+v, want an error containing %q", got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Evaluate() error = %q, want it to contain %q", err, tc.wantErr)
				}
				if got != (Decision{}) {
					t.Errorf("Evaluate() returned decision %+v with an error, want the zero Decision", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate() unexpected error: %v", err)
			}
			if got.Signer != tc.want.Signer {
				t.Errorf("Evaluate() signer = %q, want %q", got.Signer, tc.want.Signer)
			}
			if got.Result != tc.want.Result || got.Reason != tc.want.Reason || got.Policy != tc.want.Policy {
				t.Errorf("Evaluate() = {%s %s policy=%q}, want {%s %s policy=%q}\nmessage: %s",
					got.Result, got.Reason, got.Policy, tc.want.Result, tc.want.Reason, tc.want.Policy, got.Message)
			}
			if got.Message == "" {
				t.Errorf("Evaluate() returned an empty Message")
			}
			if !strings.Contains(got.Message, tc.want.Message) {
				t.Errorf("Evaluate() message = %q, want it to contain %q", got.Message, tc.want.Message)
			}
		})
	}
}

// TestEvaluateDoesNotResolveWhenInvariantsDeny checks that a request denied
// by the invariants never reaches the resolver.
func TestEvaluateDoesNotResolveWhenInvariantsDeny(t *testing.T) {
	var calls int
	e := &Evaluator{Resolver: countingResolver{&calls}}
	r := buildRequest(t, asServing(), withDNSNames("kubernetes.default.svc"))
	policies := buildCompiled(t, buildServingPolicy("serving", v1alpha1.ServingRules{Action: v1alpha1.ServingApprove, ResolveDNSNames: true}))
	d, err := e.Evaluate(context.Background(), r, Facts{Now: bNow, Node: buildNode(bNodeName), Cluster: evalCluster}, policies)
	if err != nil || d.Result != Deny || d.Reason != ReasonClusterIdentitySAN {
		t.Fatalf("Evaluate() = %+v, %v; want Deny ClusterIdentitySAN", d, err)
	}
	if calls != 0 {
		t.Errorf("the resolver was called %d times, want 0", calls)
	}
}

type countingResolver struct{ calls *int }

func (c countingResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	*c.calls++
	return nil, &net.DNSError{IsNotFound: true}
}

func TestMaxExpiration(t *testing.T) {
	node := buildNode(bNodeName)
	serve := buildCSR(t, asServing())
	tests := map[string]struct {
		policies []*v1alpha1.NodeCertificatePolicy
		want     time.Duration
		governed bool
	}{
		"a request no policy governs has no policy limit": {
			policies: []*v1alpha1.NodeCertificatePolicy{buildRenewalPolicy("renewal", v1alpha1.ClientRenewalRules{})},
		},
		"a governing policy without maxExpirationSeconds limits to the default year": {
			policies: []*v1alpha1.NodeCertificatePolicy{buildServingPolicy("serving", v1alpha1.ServingRules{})},
			want:     time.Duration(v1alpha1.DefaultMaxExpirationSeconds) * time.Second, governed: true,
		},
		"the smallest limit of the governing policies wins": {
			policies: []*v1alpha1.NodeCertificatePolicy{
				buildServingPolicy("a", v1alpha1.ServingRules{}, withMaxExpirationSeconds(7200)),
				buildServingPolicy("b", v1alpha1.ServingRules{}, withMaxExpirationSeconds(3600)),
				buildServingPolicy("c-other-pool", v1alpha1.ServingRules{}, withMaxExpirationSeconds(600), withNodeNamePattern("db-.*")),
			},
			want: time.Hour, governed: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := NewRequest(serve)
			if !ok {
				t.Fatal("not a kubelet request")
			}
			got, governed := MaxExpiration(r, node, buildCompiled(t, tc.policies...))
			if got != tc.want || governed != tc.governed {
				t.Fatalf("MaxExpiration() = %v, %v; want %v, %v", got, governed, tc.want, tc.governed)
			}
		})
	}
}
