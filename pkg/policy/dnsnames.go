package policy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// ReasonSANTiedToAnotherNode is the violation of a DNS SAN that a policy's
// dnsNameTemplates tie to another node than the requester.
const ReasonSANTiedToAnotherNode = "SANTiedToAnotherNode"

// dnsTemplate is a compiled serving.dnsNameTemplates entry: the names
// prefix + <node name> + suffix, in canonical form.
type dnsTemplate struct {
	raw, prefix, suffix string
}

// compileDNSTemplate checks that raw holds the placeholder once, as whole
// labels, and that it makes a DNS name.
func compileDNSTemplate(raw string) (dnsTemplate, error) {
	canon := CanonicalDNSName(raw)
	prefix, suffix, found := strings.Cut(canon, v1alpha1.NodeNamePlaceholder)
	switch {
	case !found || strings.Contains(suffix, v1alpha1.NodeNamePlaceholder):
		return dnsTemplate{}, fmt.Errorf("%q must hold %s exactly once", raw, v1alpha1.NodeNamePlaceholder)
	case (prefix != "" && !strings.HasSuffix(prefix, ".")) || !strings.HasPrefix(suffix, "."):
		return dnsTemplate{}, fmt.Errorf("%q must have %s as whole labels, followed by a domain, e.g. %s.nodes.example.com",
			raw, v1alpha1.NodeNamePlaceholder, v1alpha1.NodeNamePlaceholder)
	case strings.Contains(canon, "*") || len(validation.IsDNS1123Subdomain(prefix+"node"+suffix)) > 0:
		return dnsTemplate{}, fmt.Errorf("%q does not make a DNS name", raw)
	}
	return dnsTemplate{raw: raw, prefix: prefix, suffix: suffix}, nil
}

// nodeOf returns the node name t ties the canonical name to, and false when
// t does not make name for any valid node name.
func (t dnsTemplate) nodeOf(name string) (string, bool) {
	if len(name) <= len(t.prefix)+len(t.suffix) || !strings.HasPrefix(name, t.prefix) || !strings.HasSuffix(name, t.suffix) {
		return "", false
	}
	node := name[len(t.prefix) : len(name)-len(t.suffix)]
	return node, len(validation.IsDNS1123Subdomain(node)) == 0
}

// tiedToNode reports whether one of the templates ties the canonical name
// to node.
func (s *compiledServing) tiedToNode(name, node string) bool {
	for _, t := range s.templates {
		if n, ok := t.nodeOf(name); ok && n == node {
			return true
		}
	}
	return false
}

// inReportedDomain reports whether the canonical name equals or lies under
// one of the policy's nodeReportedDNSDomains, on a label boundary.
func (s *compiledServing) inReportedDomain(name string) bool {
	for _, d := range s.reportedDomains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

// UntiedDNSNames returns the serving.allowedDNSNames entries of the policy:
// names any node it governs may claim, not tied to one node. Empty when the
// policy has none or no serving rules.
func (c *Compiled) UntiedDNSNames() []string {
	if c.serving == nil {
		return nil
	}
	return c.serving.dnsPatterns
}

// HasServingRules reports whether the policy governs serving requests.
func (c *Compiled) HasServingRules() bool { return c.serving != nil }

// tiedToOtherNodes returns a violation for each DNS SAN of r that a
// template of any of the policies ties to another node than r's: however
// the requester came by it (a reported address, an untied pattern, another
// template), that name is another node's.
func tiedToOtherNodes(r *Request, policies []*Compiled) Violations {
	if r.Kind != v1alpha1.KindServing || r.CSR == nil {
		return nil
	}
	var v Violations
	for _, raw := range r.CSR.DNSNames {
		name := CanonicalDNSName(raw)
		if p, t, node, ok := templateOwner(name, r.NodeName, policies); ok {
			v = append(v, Violation{Reason: ReasonSANTiedToAnotherNode, Message: fmt.Sprintf(
				"DNS SAN %q is the name template %q of policy %s ties to node %q",
				pkcs10.Truncate(raw, maxQuoted), t, p, node)})
		}
	}
	return v
}

// templateOwner finds a template of policies that ties name to another node
// than requester.
func templateOwner(name, requester string, policies []*Compiled) (policyName, template, node string, found bool) {
	for _, p := range policies {
		if p == nil || p.serving == nil {
			continue
		}
		for _, t := range p.serving.templates {
			if n, ok := t.nodeOf(name); ok && n != requester {
				return p.Name, t.raw, n, true
			}
		}
	}
	return "", "", "", false
}
