package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

func TestCompileValid(t *testing.T) {
	type (
		BR = v1alpha1.ClientBootstrapRules
		RR = v1alpha1.ClientRenewalRules
		SR = v1alpha1.ServingRules
	)
	tests := map[string]struct {
		policy *v1alpha1.NodeCertificatePolicy
		check  func(t *testing.T, c *Compiled)
	}{
		"a bootstrap-only policy gets the defaults: Approve, one year, default keys, Deny on violation": {
			policy: buildBootstrapPolicy("boot", BR{}),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "kinds", len(c.kinds), 1)
				bCheck(t, "governs ClientBootstrap", c.kinds[v1alpha1.KindClientBootstrap], true)
				bCheck(t, "bootstrap action", c.bootstrap.action, v1alpha1.ActionApprove)
				bCheck(t, "allowedNames", c.bootstrap.allowedNames == nil, true)
				bCheck(t, "maxRequestAge", c.bootstrap.maxRequestAge, time.Duration(0))
				bCheck(t, "maxExpiration", c.maxExpiration, v1alpha1.DefaultMaxExpirationSeconds)
				bCheck(t, "reviewViolation", c.reviewViolation, false)
				bCheck(t, "rsa", [2]int{c.keys.rsaMin, c.keys.rsaMax}, [2]int{2048, 8192})
				bCheck(t, "P-256", c.keys.curves["P-256"], true)
				bCheck(t, "P-384", c.keys.curves["P-384"], true)
				bCheck(t, "P-521", c.keys.curves["P-521"], false)
				bCheck(t, "ed25519", c.keys.ed25519, true)
				bCheck(t, "nodeName", c.nodeName == nil, true)
				bCheck(t, "nodeSelector", c.nodeSelector == nil, true)
			},
		},
		"a serving-only policy defaults to Review with at most 10 DNS and 10 IP SANs": {
			policy: buildServingPolicy("serve", SR{}),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "governs Serving", c.kinds[v1alpha1.KindServing], true)
				bCheck(t, "governs ClientRenewal", c.kinds[v1alpha1.KindClientRenewal], false)
				bCheck(t, "serving action", c.serving.action, v1alpha1.ActionReview)
				bCheck(t, "maxDNSNames", c.serving.maxDNSNames, 10)
				bCheck(t, "maxIPAddresses", c.serving.maxIPAddresses, 10)
				bCheck(t, "resolve", c.serving.resolve, false)
				bCheck(t, "allowLoopback", c.serving.allowLoopback, false)
			},
		},
		"a renewal policy keeps its Review action and requireNode": {
			policy: buildRenewalPolicy("renew", RR{Action: v1alpha1.ActionReview, RequireNode: true}),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "renewal action", c.renewal.action, v1alpha1.ActionReview)
				bCheck(t, "requireNode", c.renewal.requireNode, true)
			},
		},
		"a policy using every field compiles, with DNS patterns canonicalised": {
			policy: buildPolicy("full",
				withSelectorGroups(csrstate.NodesGroup),
				withNodeNamePattern("worker-[0-9]+|db-.*"),
				withNodeSelector(map[string]string{bPoolLabel: "a"}),
				withRenewalRules(RR{RequireNode: true}),
				withServingRules(SR{
					Action:                 v1alpha1.ServingApprove,
					AllowedDNSNames:        []string{"*.Nodes.Example.com.", "metrics.example.com"},
					DNSNameTemplates:       []string{"{node}.Nodes.Example.com.", "kubelet.{node}.example.org"},
					NodeReportedDNSDomains: []string{"Internal.Example.com."},
					OnAddressChange:        v1alpha1.AddressChangeDeny,
					AllowedIPRanges:        []string{"10.0.0.0/8", "fd00::/8", "192.168.1.7/32"},
					AllowLoopback:          true,
					MaxDNSNames:            new(int32(0)),
					MaxIPAddresses:         new(int32(100)),
					ResolveDNSNames:        true,
				}),
				withKeyRules(v1alpha1.KeyRules{
					RSA:         &v1alpha1.RSAKeyRule{MinBits: 2048, MaxBits: 8192},
					ECDSACurves: []v1alpha1.ECDSACurve{v1alpha1.CurveP256, v1alpha1.CurveP384, v1alpha1.CurveP521},
					Ed25519:     true,
				}),
				withMaxExpirationSeconds(600),
				withOnViolation(v1alpha1.ViolationReview),
			),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "name", c.Name, "full")
				bCheck(t, "dnsPatterns", strings.Join(c.serving.dnsPatterns, ","), "*.nodes.example.com,metrics.example.com")
				bCheck(t, "untied", strings.Join(c.UntiedDNSNames(), ","), "*.nodes.example.com,metrics.example.com")
				bCheck(t, "templates", len(c.serving.templates), 2)
				bCheck(t, "tied", c.serving.tiedToNode("kubelet.worker-1.example.org", "worker-1"), true)
				bCheck(t, "tied canonically", c.serving.tiedToNode("worker-1.nodes.example.com", "worker-1"), true)
				bCheck(t, "not tied to another", c.serving.tiedToNode("worker-1.nodes.example.com", "worker-2"), false)
				bCheck(t, "reportedDomains", strings.Join(c.serving.reportedDomains, ","), "internal.example.com")
				bCheck(t, "onAddressChange", c.serving.onAddressChange, v1alpha1.AddressChangeDeny)
				bCheck(t, "ipRanges", len(c.serving.ipRanges), 3)
				bCheck(t, "maxDNSNames", c.serving.maxDNSNames, 0)
				bCheck(t, "maxIPAddresses", c.serving.maxIPAddresses, 100)
				bCheck(t, "maxExpiration", c.maxExpiration, int32(600))
				bCheck(t, "reviewViolation", c.reviewViolation, true)
				bCheck(t, "P-521", c.keys.curves["P-521"], true)
				bCheck(t, "nodeName anchored", c.nodeName.MatchString("worker-12x"), false)
				bCheck(t, "nodeName alternation anchored", c.nodeName.MatchString("db-1"), true)
				bCheck(t, "nodeSelector", c.nodeSelector != nil, true)
			},
		},
		"an explicit onViolation Deny compiles": {
			policy: buildRenewalPolicy("renew", RR{}, withOnViolation(v1alpha1.ViolationDeny)),
			check:  func(t *testing.T, c *Compiled) { bCheck(t, "reviewViolation", c.reviewViolation, false) },
		},
		"an RSA rule with only minBits keeps the default maximum": {
			policy: buildRenewalPolicy("renew", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: 3072}})),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "rsa", [2]int{c.keys.rsaMin, c.keys.rsaMax}, [2]int{3072, 8192})
				bCheck(t, "ed25519", c.keys.ed25519, false)
				bCheck(t, "curves", len(c.keys.curves), 0)
			},
		},
		"an RSA rule with minBits equal to maxBits compiles": {
			policy: buildRenewalPolicy("renew", RR{}, withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: 4096, MaxBits: 4096}})),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "rsa", [2]int{c.keys.rsaMin, c.keys.rsaMax}, [2]int{4096, 4096})
			},
		},
		"an empty keys rule compiles and allows no key": {
			policy: buildRenewalPolicy("renew", RR{}, withKeyRules(v1alpha1.KeyRules{})),
			check: func(t *testing.T, c *Compiled) {
				for _, k := range []pkcs10.KeyInfo{
					{Algorithm: pkcs10.KeyAlgorithmRSA, Bits: 2048},
					{Algorithm: pkcs10.KeyAlgorithmECDSA, Bits: 256, Curve: "P-256"},
					{Algorithm: pkcs10.KeyAlgorithmEd25519, Bits: 256},
				} {
					bCheck(t, "allows "+k.String(), c.keys.allows(k), false)
				}
			},
		},
		"a bootstrap policy with a positive maxRequestAge and a name pattern compiles": {
			policy: buildBootstrapPolicy("boot", BR{MaxRequestAge: &metav1.Duration{Duration: time.Second}, AllowedNodeNamePattern: "a|b"}),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "maxRequestAge", c.bootstrap.maxRequestAge, time.Second)
				bCheck(t, "allowedNames anchored", c.bootstrap.allowedNames.MatchString("ab"), false)
			},
		},
		"groups alone narrow a bootstrap policy": {
			policy: buildBootstrapPolicy("boot", BR{}, withSelectorGroups(bPoolA, bPoolB)),
			check: func(t *testing.T, c *Compiled) {
				bCheck(t, "groups", strings.Join(c.groups, ","), bPoolA+","+bPoolB)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Compile(tc.policy)
			if err != nil {
				t.Fatalf("Compile() error: %v", err)
			}
			if c == nil {
				t.Fatal("Compile() returned nil without an error")
			}
			tc.check(t, c)
		})
	}
}

// bCheck compares one compiled field.
func bCheck[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestCompileInvalid(t *testing.T) {
	type (
		BR = v1alpha1.ClientBootstrapRules
		RR = v1alpha1.ClientRenewalRules
		SR = v1alpha1.ServingRules
	)
	serving := func(r SR) *v1alpha1.NodeCertificatePolicy { return buildServingPolicy("bad", r) }
	renewalWith := func(opts ...buildPolicyOption) *v1alpha1.NodeCertificatePolicy {
		return buildRenewalPolicy("bad", RR{}, opts...)
	}
	rsa := func(minBits, maxBits int32) buildPolicyOption {
		return withKeyRules(v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: minBits, MaxBits: maxBits}})
	}
	tests := map[string]struct {
		policy *v1alpha1.NodeCertificatePolicy
		// wantErr are substrings the error must contain, the field first.
		wantErr []string
	}{
		"a bad regular expression in selector.nodeNamePattern": {
			policy: renewalWith(withNodeNamePattern("worker-(")), wantErr: []string{"selector.nodeNamePattern", `"worker-("`},
		},
		"a bad regular expression in clientBootstrap.allowedNodeNamePattern": {
			policy: buildBootstrapPolicy("bad", BR{AllowedNodeNamePattern: "[a-"}), wantErr: []string{"clientBootstrap.allowedNodeNamePattern", `"[a-"`},
		},
		"a Perl lookahead, which RE2 rejects, in selector.nodeNamePattern": {
			policy: renewalWith(withNodeNamePattern("(?!db)worker")), wantErr: []string{"selector.nodeNamePattern"},
		},
		"a CIDR with a prefix too long in serving.allowedIPRanges": {
			policy: serving(SR{AllowedIPRanges: []string{"10.0.0.0/8", "10.0.0.0/33"}}), wantErr: []string{"serving.allowedIPRanges", `"10.0.0.0/33"`},
		},
		"a DNS name template without the placeholder": {
			policy: serving(SR{DNSNameTemplates: []string{"nodes.example.com"}}), wantErr: []string{"serving.dnsNameTemplates", "exactly once"},
		},
		"a DNS name template with the placeholder twice": {
			policy: serving(SR{DNSNameTemplates: []string{"{node}.{node}.example.com"}}), wantErr: []string{"serving.dnsNameTemplates", "exactly once"},
		},
		"a DNS name template with the placeholder inside a label": {
			policy: serving(SR{DNSNameTemplates: []string{"kubelet-{node}.example.com"}}), wantErr: []string{"serving.dnsNameTemplates", "whole labels"},
		},
		"a DNS name template that is the placeholder alone": {
			policy: serving(SR{DNSNameTemplates: []string{"{node}"}}), wantErr: []string{"serving.dnsNameTemplates", "followed by a domain"},
		},
		"a DNS name template with a wildcard": {
			policy: serving(SR{DNSNameTemplates: []string{"{node}.*.example.com"}}), wantErr: []string{"serving.dnsNameTemplates", "does not make a DNS name"},
		},
		"a DNS name template with an underscore": {
			policy: serving(SR{DNSNameTemplates: []string{"{node}.foo_bar.example.com"}}), wantErr: []string{"serving.dnsNameTemplates", "does not make a DNS name"},
		},
		"a reported DNS domain that is not a domain": {
			policy: serving(SR{NodeReportedDNSDomains: []string{"*.example.com"}}), wantErr: []string{"serving.nodeReportedDNSDomains", `"*.example.com"`},
		},
		"an unknown onAddressChange": {
			policy: serving(SR{OnAddressChange: "Ignore"}), wantErr: []string{"serving.onAddressChange", `"Ignore"`},
		},
		"a bare IP instead of a CIDR in serving.allowedIPRanges": {
			policy: serving(SR{AllowedIPRanges: []string{"10.0.0.1"}}), wantErr: []string{"serving.allowedIPRanges", `"10.0.0.1"`},
		},
		"an underscore name in serving.allowedDNSNames": {
			policy: serving(SR{AllowedDNSNames: []string{"foo_bar.example.com"}}), wantErr: []string{"serving.allowedDNSNames", "foo_bar.example.com"},
		},
		`a lone "*" in serving.allowedDNSNames`: {
			policy: serving(SR{AllowedDNSNames: []string{"*"}}), wantErr: []string{"serving.allowedDNSNames"},
		},
		"a wildcard that is not the leading label in serving.allowedDNSNames": {
			policy: serving(SR{AllowedDNSNames: []string{"a.*.example.com"}}), wantErr: []string{"serving.allowedDNSNames", "a.*.example.com"},
		},
		"a double wildcard in serving.allowedDNSNames": {
			policy: serving(SR{AllowedDNSNames: []string{"*.*.example.com"}}), wantErr: []string{"serving.allowedDNSNames"},
		},
		"a partial-label wildcard in serving.allowedDNSNames": {
			policy: serving(SR{AllowedDNSNames: []string{"worker-*.example.com"}}), wantErr: []string{"serving.allowedDNSNames"},
		},
		"an empty name in serving.allowedDNSNames": {
			policy: serving(SR{AllowedDNSNames: []string{""}}), wantErr: []string{"serving.allowedDNSNames"},
		},
		"a nodeSelector together with clientBootstrap rules": {
			policy:  buildBootstrapPolicy("bad", BR{}, withNodeSelector(map[string]string{bPoolLabel: "a"})),
			wantErr: []string{"selector.nodeSelector", "clientBootstrap"},
		},
		"a nodeSelector with an unknown operator": {
			policy: renewalWith(withLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: bPoolLabel, Operator: "Near", Values: []string{"a"}}}})),
			wantErr: []string{"selector.nodeSelector"},
		},
		"a policy with no rules at all": {
			policy: buildPolicy("bad", withSelectorGroups(csrstate.NodesGroup)), wantErr: []string{"governs nothing"},
		},
		"an onViolation that is neither Deny nor Review": {
			policy: renewalWith(withOnViolation("Ignore")), wantErr: []string{"onViolation", `"Ignore"`},
		},
		"an onViolation in the wrong case": {
			policy: renewalWith(withOnViolation("review")), wantErr: []string{"onViolation"},
		},
		"a clientBootstrap.action of Deny": {
			policy: buildBootstrapPolicy("bad", BR{Action: "Deny"}), wantErr: []string{"clientBootstrap.action", `"Deny"`},
		},
		"a clientRenewal.action in the wrong case": {
			policy: buildRenewalPolicy("bad", RR{Action: "approve"}), wantErr: []string{"clientRenewal.action", `"approve"`},
		},
		"a serving action ApproveAndSign without a signer is refused": {
			policy: serving(SR{Action: v1alpha1.ServingApproveAndSign}), wantErr: []string{"serving.signer"},
		},
		"a serving signer with the Approve action is refused": {
			policy: serving(SR{Action: v1alpha1.ServingApprove, Signer: "ca"}), wantErr: []string{"serving.signer"},
		},
		"a serving.action that is not an action": {
			policy: serving(SR{Action: "Sign"}), wantErr: []string{"serving.action", `"Sign"`},
		},
		"RSA minBits below 2048": {
			policy: renewalWith(rsa(1024, 0)), wantErr: []string{"keys.rsa", "1024"},
		},
		"RSA maxBits above 8192": {
			policy: renewalWith(rsa(0, 16384)), wantErr: []string{"keys.rsa", "16384"},
		},
		"RSA minBits above maxBits": {
			policy: renewalWith(rsa(4096, 3072)), wantErr: []string{"keys.rsa", "4096..3072"},
		},
		"an unknown ECDSA curve": {
			policy:  renewalWith(withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{"P224"}})),
			wantErr: []string{"keys.ecdsaCurves", `"P224"`},
		},
		"an ECDSA curve spelled with a dash": {
			policy:  renewalWith(withKeyRules(v1alpha1.KeyRules{ECDSACurves: []v1alpha1.ECDSACurve{"P-256"}})),
			wantErr: []string{"keys.ecdsaCurves"},
		},
		"maxExpirationSeconds of 599, one below the minimum": {
			policy: renewalWith(withMaxExpirationSeconds(599)), wantErr: []string{"maxExpirationSeconds", "600"},
		},
		"maxExpirationSeconds of 0": {
			policy: renewalWith(withMaxExpirationSeconds(0)), wantErr: []string{"maxExpirationSeconds"},
		},
		"a zero clientBootstrap.maxRequestAge": {
			policy: buildBootstrapPolicy("bad", BR{MaxRequestAge: &metav1.Duration{}}), wantErr: []string{"clientBootstrap.maxRequestAge"},
		},
		"a negative clientBootstrap.maxRequestAge": {
			policy:  buildBootstrapPolicy("bad", BR{MaxRequestAge: &metav1.Duration{Duration: -time.Minute}}),
			wantErr: []string{"clientBootstrap.maxRequestAge"},
		},
		"a negative serving.maxDNSNames": {
			policy: serving(SR{MaxDNSNames: new(int32(-1))}), wantErr: []string{"serving.maxDNSNames"},
		},
		"a negative serving.maxIPAddresses": {
			policy: serving(SR{MaxIPAddresses: new(int32(-1))}), wantErr: []string{"serving.maxIPAddresses"},
		},
		"several problems are all named": {
			policy: buildPolicy("bad",
				withNodeNamePattern("("),
				withServingRules(SR{AllowedIPRanges: []string{"nope"}, AllowedDNSNames: []string{"a..b"}}),
				withMaxExpirationSeconds(1),
				withOnViolation("Explode"),
			),
			wantErr: []string{"selector.nodeNamePattern", "serving.allowedIPRanges", "serving.allowedDNSNames", "maxExpirationSeconds", "onViolation"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Compile(tc.policy)
			if err == nil {
				t.Fatalf("Compile() succeeded, want an error naming %q", tc.wantErr[0])
			}
			if c != nil {
				t.Errorf("Compile() returned a policy along with the error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Compile() error = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// TestCompileErrorIsStable checks that the same invalid policy always gives
// the same error text: the policy controller writes it into the Ready
// condition and compares it with the previous one.
func TestCompileErrorIsStable(t *testing.T) {
	p := buildPolicy("bad",
		withBootstrapRules(v1alpha1.ClientBootstrapRules{Action: "Deny"}),
		withRenewalRules(v1alpha1.ClientRenewalRules{Action: "Deny"}),
		withServingRules(v1alpha1.ServingRules{Action: "Deny"}),
	)
	_, first := Compile(p)
	if first == nil {
		t.Fatal("Compile() succeeded, want an error")
	}
	for range 50 {
		if _, err := Compile(p); err == nil || err.Error() != first.Error() {
			t.Fatalf("Compile() error changed between calls:\n%v\nthen\n%v", first, err)
		}
	}
}
