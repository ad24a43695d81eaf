package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// Reason codes of policy rule violations.
const (
	ReasonNodeNameNotAllowed       = "NodeNameNotAllowed"
	ReasonNodeAlreadyExists        = "NodeAlreadyExists"
	ReasonNodeNameReserved         = "NodeNameReserved"
	ReasonSANOfAnotherNode         = "SANOfAnotherNode"
	ReasonRequestTooOld            = "RequestTooOld"
	ReasonNodeNotFound             = "NodeNotFound"
	ReasonSANNotOwnedByNode        = "SANNotOwnedByNode"
	ReasonTooManyDNSNames          = "TooManyDNSNames"
	ReasonTooManyIPAddresses       = "TooManyIPAddresses"
	ReasonDNSNameDoesNotResolve    = "DNSNameDoesNotResolve"
	ReasonDNSNameResolvesElsewhere = "DNSNameResolvesElsewhere"
	ReasonKeyNotAllowed            = "KeyNotAllowed"
	ReasonExpirationTooLong        = "ExpirationTooLong"
)

// Facts are the cluster state a decision depends on, gathered by the caller.
type Facts struct {
	// Now is the time of the decision.
	Now time.Time
	// Node is the Node the request is for, nil when none exists.
	Node *corev1.Node
	// BootstrapToken is the Secret of the requester's bootstrap token, nil
	// when none exists. Only read for ClientBootstrap requests.
	BootstrapToken *corev1.Secret
	// Cluster names the API server, whose identity no node may claim.
	Cluster ClusterIdentity
	// OtherNodeAddresses maps the key (DNSNameKey, IPKey) of each SAN of a
	// serving request to the other Nodes that report it as their address.
	// Only read for Serving requests.
	OtherNodeAddresses map[string][]string
	// PriorBootstrapApprovals are the other bootstrap requests for the same
	// node name that were approved, by anyone. Only read for ClientBootstrap
	// requests.
	PriorBootstrapApprovals []PriorApproval
	// KnownAddresses are the addresses the Node held when nodetrust last
	// issued or approved it a serving certificate, nil when it never did.
	// Only read for Serving requests.
	KnownAddresses *KnownAddresses
	// ReadySigners maps the name of every NodeCertificateSigner that signs
	// now to the signer name it signs for. Policies with action
	// ApproveAndSign approve only when their signer is here, for the
	// request's signer name.
	ReadySigners map[string]string
}

// Resolver looks up the addresses of a DNS name. *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Evaluator decides requests against policies.
type Evaluator struct {
	// Resolver is used by policies with serving.resolveDNSNames; when nil,
	// such policies cannot evaluate and Evaluate returns an error.
	Resolver Resolver
}

// Evaluate decides r against policies, given the cluster facts.
//
// Checks that hold whatever the policies say come first and deny. Then the
// policies that govern r (their kind, selector and, for serving, Node match)
// are evaluated one by one, in name order, each to Approve, Review or Deny.
// The first approving policy wins; else the first asking for review; else
// the request is denied by the first policy. With no governing policy the
// result is NoOpinion, and so it is, with reason AwaitingSigner, when the
// winning policy signs with a NodeCertificateSigner that is not in
// facts.ReadySigners for the request's signer name.
//
// An error means the request could not be evaluated (e.g. DNS failed); it is
// never a denial, and the caller should retry.
func (e *Evaluator) Evaluate(ctx context.Context, r *Request, facts Facts, policies []*Compiled) (Decision, error) {
	if v := Invariants(r, facts.Cluster); len(v) > 0 {
		return deny(v, ""), nil
	}
	if v := foreignSANs(r, facts, policies); len(v) > 0 {
		return deny(v, ""), nil
	}
	if d, waiting := awaitingNode(r, facts.Node); waiting {
		return d, nil
	}
	governing := governingPolicies(r, facts.Node, policies)
	if len(governing) == 0 {
		return noOpinion(ReasonNoMatchingPolicy, fmt.Sprintf("no valid NodeCertificatePolicy governs %s requests from %s", r.Kind, r.Username)), nil
	}
	if v := loopbackSANs(r); len(v) > 0 && !slices.ContainsFunc(governing, func(p *Compiled) bool { return p.serving.allowLoopback }) {
		return deny(v, ""), nil
	}

	return e.aggregate(ctx, r, facts, governing)
}

// aggregate evaluates the governing policies in order: the first approval
// wins, else the first review, else the first denial.
func (e *Evaluator) aggregate(ctx context.Context, r *Request, facts Facts, governing []*Compiled) (Decision, error) {
	var review, denied *Decision
	for _, p := range governing {
		d, err := e.evaluatePolicy(ctx, r, facts, p)
		if err != nil {
			return Decision{}, fmt.Errorf("evaluating policy %s: %w", p.Name, err)
		}
		switch {
		case d.Result == Approve && d.Signer != "" && facts.ReadySigners[d.Signer] != r.SignerName:
			return Decision{Result: NoOpinion, Reason: ReasonAwaitingSigner, Policy: p.Name, Signer: d.Signer,
				Message: fmt.Sprintf("policy %s signs with NodeCertificateSigner %s, which is not ready to sign %s", p.Name, d.Signer, r.SignerName)}, nil
		case d.Result == Approve:
			return d, nil
		case d.Result == Review && review == nil:
			review = &d
		case d.Result == Deny && denied == nil:
			denied = &d
		}
	}
	if review != nil {
		return *review, nil
	}
	return *denied, nil
}

// awaitingNode holds back serving requests until their Node has registered
// and reported its addresses: SANs can only be checked against them.
func awaitingNode(r *Request, node *corev1.Node) (Decision, bool) {
	if r.Kind != v1alpha1.KindServing {
		return Decision{}, false
	}
	switch {
	case node == nil:
		return noOpinion(ReasonAwaitingNode, fmt.Sprintf("Node %q has not registered yet", r.NodeName)), true
	case len(node.Status.Addresses) == 0:
		return noOpinion(ReasonAwaitingNode, fmt.Sprintf("Node %q has not reported its addresses yet", r.NodeName)), true
	}
	return Decision{}, false
}

// governingPolicies returns the policies that govern r, in name order.
func governingPolicies(r *Request, node *corev1.Node, policies []*Compiled) []*Compiled {
	var out []*Compiled
	for _, p := range policies {
		if p != nil && p.governs(r, node) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Compiled) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (p *Compiled) governs(r *Request, node *corev1.Node) bool {
	switch {
	case !p.kinds[r.Kind]:
		return false
	case len(p.groups) > 0 && !slices.ContainsFunc(p.groups, r.InGroup):
		return false
	case p.nodeName != nil && !p.nodeName.MatchString(r.NodeName):
		return false
	case p.nodeSelector != nil && (node == nil || !p.nodeSelector.Matches(labels.Set(node.Labels))):
		return false
	}
	return true
}

func (e *Evaluator) evaluatePolicy(ctx context.Context, r *Request, facts Facts, p *Compiled) (Decision, error) {
	v := p.commonViolations(r)
	var action v1alpha1.Action
	var changed string // the AddressChanged message a serving request deserves
	switch r.Kind {
	case v1alpha1.KindClientBootstrap:
		action = p.bootstrap.action
		v = append(v, p.bootstrap.violations(r, facts)...)
	case v1alpha1.KindClientRenewal:
		action = p.renewal.action
		if p.renewal.requireNode && facts.Node == nil {
			v = append(v, Violation{Reason: ReasonNodeNotFound, Message: fmt.Sprintf("Node %q does not exist", r.NodeName)})
		}
	case v1alpha1.KindServing:
		action = p.serving.action
		sv, err := e.servingViolations(ctx, r, facts.Node, p.serving)
		if err != nil {
			return Decision{}, err
		}
		v = append(v, sv...)
		var cv Violations
		cv, changed = p.serving.addressChangeOutcome(r, facts.KnownAddresses)
		v = append(v, cv...)
	}
	switch {
	case len(v) > 0 && p.reviewViolation:
		return Decision{Result: Review, Reason: v.Reason(), Message: v.Message(), Policy: p.Name}, nil
	case len(v) > 0:
		return deny(v, p.Name), nil
	case changed != "":
		return Decision{Result: Review, Reason: ReasonAddressChanged, Message: changed, Policy: p.Name}, nil
	case action == v1alpha1.ActionReview:
		return Decision{Result: Review, Reason: ReasonPolicyRequiresReview,
			Message: fmt.Sprintf("policy %s asks a human to review %s requests", p.Name, r.Kind), Policy: p.Name}, nil
	default:
		d := Decision{Result: Approve, Reason: wire.ReasonAutoApproved,
			Message: wire.ApprovedMessage(string(r.Kind), r.NodeName, p.Name), Policy: p.Name}
		if r.Kind == v1alpha1.KindServing {
			d.Signer = p.serving.signer
		}
		return d, nil
	}
}

func (p *Compiled) commonViolations(r *Request) Violations {
	var v Violations
	if !p.keys.allows(r.CSR.Key) {
		v = append(v, Violation{Reason: ReasonKeyNotAllowed, Message: fmt.Sprintf("key %s is not allowed by the policy", r.CSR.Key)})
	}
	if r.ExpirationSeconds != nil && *r.ExpirationSeconds > p.maxExpiration {
		v = append(v, Violation{Reason: ReasonExpirationTooLong, Message: fmt.Sprintf(
			"expirationSeconds %d exceeds the policy's maximum of %d", *r.ExpirationSeconds, p.maxExpiration)})
	}
	return v
}

func (k compiledKeys) allows(key pkcs10.KeyInfo) bool {
	switch key.Algorithm {
	case pkcs10.KeyAlgorithmRSA:
		return k.rsaMax > 0 && key.Bits >= k.rsaMin && key.Bits <= k.rsaMax
	case pkcs10.KeyAlgorithmECDSA:
		return k.curves[key.Curve]
	case pkcs10.KeyAlgorithmEd25519:
		return k.ed25519
	}
	return false
}

func (b *compiledBootstrap) violations(r *Request, facts Facts) Violations {
	var v Violations
	if tv := CheckBootstrapToken(r.TokenID, facts.BootstrapToken, facts.Now); tv != nil {
		v = append(v, *tv)
	} else if gv := CheckBootstrapGroups(r.TokenID, facts.BootstrapToken, r.Groups); gv != nil {
		v = append(v, *gv)
	}
	if b.allowedNames != nil && !b.allowedNames.MatchString(r.NodeName) {
		v = append(v, Violation{Reason: ReasonNodeNameNotAllowed, Message: fmt.Sprintf(
			"node name %q does not match the allowed pattern %q", r.NodeName, b.allowedNames.String())})
	}
	if facts.Node != nil && !b.allowRejoin {
		v = append(v, Violation{Reason: ReasonNodeAlreadyExists, Message: fmt.Sprintf(
			"Node %q already exists; a bootstrap token may not take over its identity", r.NodeName)})
	}
	if facts.Node == nil {
		if p, reserved := reservation(facts); reserved {
			v = append(v, Violation{Reason: ReasonNodeNameReserved, Message: fmt.Sprintf(
				"node name %q was approved for bootstrap request %s of %s at %s; it is reserved until the Node registers or %s have passed",
				r.NodeName, p.CSR, p.Requester, p.Approved.UTC().Format(time.RFC3339), NodeNameReservation)})
		}
	}
	if age := facts.Now.Sub(r.Created); b.maxRequestAge > 0 && age > b.maxRequestAge {
		v = append(v, Violation{Reason: ReasonRequestTooOld, Message: fmt.Sprintf(
			"request is %s old, older than the allowed %s", age.Round(time.Second), b.maxRequestAge)})
	}
	return v
}

func (e *Evaluator) servingViolations(ctx context.Context, r *Request, node *corev1.Node, s *compiledServing) (Violations, error) {
	var v Violations
	if n := len(r.CSR.DNSNames); n > s.maxDNSNames {
		v = append(v, Violation{Reason: ReasonTooManyDNSNames, Message: fmt.Sprintf("%d DNS SANs exceed the policy's maximum of %d", n, s.maxDNSNames)})
	}
	if n := len(r.CSR.IPAddresses); n > s.maxIPAddresses {
		v = append(v, Violation{Reason: ReasonTooManyIPAddresses, Message: fmt.Sprintf("%d IP SANs exceed the policy's maximum of %d", n, s.maxIPAddresses)})
	}
	owned := NodeAddressesOf(node)
	for _, name := range r.CSR.DNSNames {
		if !s.dnsNameOf(name, node.Name, owned) {
			v = append(v, Violation{Reason: ReasonSANNotOwnedByNode, Message: fmt.Sprintf(
				"DNS SAN %q is not Node %q's name, a name the policy ties to it, a name it reports inside a domain the policy allows, "+
					"nor allowed by the policy", pkcs10.Truncate(name, maxQuoted), node.Name)})
		}
	}
	for _, ip := range r.CSR.IPAddresses {
		switch {
		case ip.IsLoopback() && !s.allowLoopback:
			v = append(v, Violation{Reason: ReasonLoopbackIPSAN, Message: fmt.Sprintf("loopback IP SAN %s is not allowed by the policy", ip)})
		case ip.IsLoopback() && !owned.OwnsIP(ip):
			v = append(v, Violation{Reason: ReasonSANNotOwnedByNode, Message: fmt.Sprintf(
				"loopback IP SAN %s is not an address of Node %q", ip, node.Name)})
		case !owned.OwnsIP(ip) && !s.ipAllowed(ip):
			v = append(v, Violation{Reason: ReasonSANNotOwnedByNode, Message: fmt.Sprintf(
				"IP SAN %s is not an address of Node %q nor allowed by the policy", ip, node.Name)})
		}
	}
	if s.resolve {
		rv, err := e.resolutionViolations(ctx, r.CSR.DNSNames, owned.OwnsIP)
		if err != nil {
			return nil, err
		}
		v = append(v, rv...)
	}
	return v, nil
}

// dnsNameOf reports whether the serving rules let the Node named node, with
// addresses owned, claim the DNS name: its own name, a name a template ties
// to it, a name it reports inside an allowed domain, or an untied allowed
// name.
func (s *compiledServing) dnsNameOf(name, node string, owned NodeAddresses) bool {
	canon := CanonicalDNSName(name)
	switch {
	case owned.IsNodeName(canon), s.tiedToNode(canon, node):
		return true
	case owned.ReportsDNSName(canon) && s.inReportedDomain(canon):
		return true
	}
	return s.dnsAllowed(canon)
}

func (s *compiledServing) dnsAllowed(name string) bool {
	for _, pattern := range s.dnsPatterns {
		if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
			label, rest, found := strings.Cut(name, ".")
			if found && label != "" && rest == suffix {
				return true
			}
		} else if name == pattern {
			return true
		}
	}
	return false
}

func (s *compiledServing) ipAllowed(ip net.IP) bool {
	return slices.ContainsFunc(s.ipRanges, func(n *net.IPNet) bool { return n.Contains(ip) })
}

// resolutionViolations requires every name to resolve only to addresses the
// Node owns. A name that does not exist is a violation; any other lookup
// failure is an error, since the answer is unknown.
func (e *Evaluator) resolutionViolations(ctx context.Context, dnsNames []string, owns func(net.IP) bool) (Violations, error) {
	if e.Resolver == nil {
		return nil, errors.New("the policy requires DNS resolution but no resolver is configured")
	}
	var v Violations
	for _, name := range dnsNames {
		addrs, err := e.Resolver.LookupIPAddr(ctx, name)
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			v = append(v, Violation{Reason: ReasonDNSNameDoesNotResolve, Message: fmt.Sprintf("DNS SAN %q does not resolve", name)})
			continue
		case err != nil:
			return nil, fmt.Errorf("resolving %s: %w", name, err)
		case len(addrs) == 0:
			v = append(v, Violation{Reason: ReasonDNSNameDoesNotResolve, Message: fmt.Sprintf("DNS SAN %q resolves to no address", name)})
		}
		for _, a := range addrs {
			if !owns(a.IP) {
				v = append(v, Violation{Reason: ReasonDNSNameResolvesElsewhere, Message: fmt.Sprintf(
					"DNS SAN %q resolves to %s, which is not an address of the Node", name, a.IP)})
				break
			}
		}
	}
	return v, nil
}

// loopbackSANs returns a violation for each loopback IP SAN of r.
func loopbackSANs(r *Request) Violations {
	var v Violations
	for _, ip := range r.CSR.IPAddresses {
		if ip.IsLoopback() {
			v = append(v, Violation{Reason: ReasonLoopbackIPSAN, Message: fmt.Sprintf(
				"loopback IP SAN %s is denied unless a policy allows loopback", ip)})
		}
	}
	return v
}

// MaxExpiration returns the smallest maxExpirationSeconds of the policies
// that govern r, and false when none does (e.g. a request a human approved
// outside every policy). Signers cap a certificate's validity with it.
func MaxExpiration(r *Request, node *corev1.Node, policies []*Compiled) (time.Duration, bool) {
	governing := governingPolicies(r, node, policies)
	if len(governing) == 0 {
		return 0, false
	}
	limit := governing[0].maxExpiration
	for _, p := range governing[1:] {
		limit = min(limit, p.maxExpiration)
	}
	return time.Duration(limit) * time.Second, true
}
