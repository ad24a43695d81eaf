package policy

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// Compiled is a NodeCertificatePolicy checked and made ready to evaluate:
// regular expressions compiled, CIDRs parsed, defaults applied.
type Compiled struct {
	// Name is the policy's name.
	Name string

	kinds           map[v1alpha1.RequestKind]bool
	groups          []string
	nodeName        *regexp.Regexp
	nodeSelector    labels.Selector
	bootstrap       *compiledBootstrap
	renewal         *compiledRenewal
	serving         *compiledServing
	keys            compiledKeys
	maxExpiration   int32
	reviewViolation bool
}

type compiledBootstrap struct {
	action        v1alpha1.Action
	allowedNames  *regexp.Regexp
	allowRejoin   bool
	maxRequestAge time.Duration
}

type compiledRenewal struct {
	action      v1alpha1.Action
	requireNode bool
}

type compiledServing struct {
	action          v1alpha1.Action
	signer          string
	templates       []dnsTemplate
	reportedDomains []string
	onAddressChange v1alpha1.AddressChangeAction
	dnsPatterns     []string
	ipRanges        []*net.IPNet
	allowLoopback   bool
	maxDNSNames     int
	maxIPAddresses  int
	resolve         bool
}

type compiledKeys struct {
	rsaMin, rsaMax int
	curves         map[string]bool
	ed25519        bool
}

// Compile checks p and prepares it for evaluation. The error names every
// problem found; a policy that does not compile must never be used.
func Compile(p *v1alpha1.NodeCertificatePolicy) (*Compiled, error) {
	s := &p.Spec
	c := &Compiled{Name: p.Name, kinds: map[v1alpha1.RequestKind]bool{}, groups: s.Selector.Groups}
	errs := c.compileSelector(s, nil)
	if b := s.ClientBootstrap; b != nil {
		c.kinds[v1alpha1.KindClientBootstrap] = true
		c.bootstrap, errs = compileBootstrap(b, errs)
	}
	if r := s.ClientRenewal; r != nil {
		c.kinds[v1alpha1.KindClientRenewal] = true
		c.renewal = &compiledRenewal{action: orDefault(r.Action, v1alpha1.ActionApprove), requireNode: r.RequireNode}
	}
	if sv := s.Serving; sv != nil {
		c.kinds[v1alpha1.KindServing] = true
		c.serving, errs = compileServing(sv, errs)
	}
	if len(c.kinds) == 0 {
		errs = append(errs, errors.New("the policy has no clientBootstrap, clientRenewal or serving rules, so it governs nothing"))
	}
	c.keys, errs = compileKeys(s.Keys, errs)
	errs = c.compileActions(s, errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Compiled) compileSelector(s *v1alpha1.NodeCertificatePolicySpec, errs []error) []error {
	var err error
	if c.nodeName, err = compileAnchored(s.Selector.NodeNamePattern); err != nil {
		errs = append(errs, fmt.Errorf("selector.nodeNamePattern: %w", err))
	}
	if s.Selector.NodeSelector != nil {
		if c.nodeSelector, err = metav1.LabelSelectorAsSelector(s.Selector.NodeSelector); err != nil {
			errs = append(errs, fmt.Errorf("selector.nodeSelector: %w", err))
		}
		if s.ClientBootstrap != nil {
			errs = append(errs, errors.New("selector.nodeSelector cannot match clientBootstrap requests, whose Node does not exist yet"))
		}
		if writable := nodeWritableKeys(s.Selector.NodeSelector); len(writable) > 0 && !s.Selector.TrustNodeWritableLabels {
			errs = append(errs, fmt.Errorf("selector.nodeSelector: %w: %s; a node could pick its own policy. Select on labels under %s/, "+
				"which only administrators can set, or set selector.trustNodeWritableLabels to accept the risk",
				ErrNodeWritableSelector, strings.Join(writable, ", "), corev1.LabelNamespaceNodeRestriction))
		}
	}
	return errs
}

// nodeWritableKeys returns the label keys sel reads that a kubelet may set
// on its own Node, sorted and without repeats.
func nodeWritableKeys(sel *metav1.LabelSelector) []string {
	var keys []string
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, r := range sel.MatchExpressions {
		keys = append(keys, r.Key)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return slices.DeleteFunc(keys, func(k string) bool { return !NodeWritableLabel(k) })
}

func compileBootstrap(b *v1alpha1.ClientBootstrapRules, errs []error) (*compiledBootstrap, []error) {
	c := &compiledBootstrap{action: orDefault(b.Action, v1alpha1.ActionApprove), allowRejoin: b.AllowRejoin}
	var err error
	if c.allowedNames, err = compileAnchored(b.AllowedNodeNamePattern); err != nil {
		errs = append(errs, fmt.Errorf("clientBootstrap.allowedNodeNamePattern: %w", err))
	}
	if b.MaxRequestAge != nil {
		if b.MaxRequestAge.Duration <= 0 {
			errs = append(errs, errors.New("clientBootstrap.maxRequestAge must be positive"))
		}
		c.maxRequestAge = b.MaxRequestAge.Duration
	}
	return c, errs
}

// compileActions checks the lifetime limit and what the policy does with
// passing and violating requests.
func (c *Compiled) compileActions(s *v1alpha1.NodeCertificatePolicySpec, errs []error) []error {
	c.maxExpiration = v1alpha1.DefaultMaxExpirationSeconds
	if s.MaxExpirationSeconds != nil {
		if *s.MaxExpirationSeconds < 600 {
			errs = append(errs, errors.New("maxExpirationSeconds must be at least 600"))
		}
		c.maxExpiration = *s.MaxExpirationSeconds
	}
	switch s.OnViolation {
	case "", v1alpha1.ViolationDeny:
	case v1alpha1.ViolationReview:
		c.reviewViolation = true
	default:
		errs = append(errs, fmt.Errorf("onViolation %q is not Deny or Review", s.OnViolation))
	}
	actions := []struct {
		field  string
		action v1alpha1.Action
	}{
		{"clientBootstrap", actionOrEmpty(s.ClientBootstrap, func(b *v1alpha1.ClientBootstrapRules) v1alpha1.Action { return b.Action })},
		{"clientRenewal", actionOrEmpty(s.ClientRenewal, func(r *v1alpha1.ClientRenewalRules) v1alpha1.Action { return r.Action })},
	}
	for _, a := range actions {
		if a.action != "" && a.action != v1alpha1.ActionApprove && a.action != v1alpha1.ActionReview {
			errs = append(errs, fmt.Errorf("%s.action %q is not Approve or Review", a.field, a.action))
		}
	}
	if sv := s.Serving; sv != nil {
		switch {
		case sv.Action != "" && sv.Action != v1alpha1.ServingApprove && sv.Action != v1alpha1.ServingReview &&
			sv.Action != v1alpha1.ServingApproveAndSign:
			errs = append(errs, fmt.Errorf("serving.action %q is not Approve, Review or ApproveAndSign", sv.Action))
		case (sv.Action == v1alpha1.ServingApproveAndSign) != (sv.Signer != ""):
			errs = append(errs, errors.New("serving.signer is required with action ApproveAndSign and allowed only with it"))
		}
	}
	return errs
}

func actionOrEmpty[T any](rules *T, action func(*T) v1alpha1.Action) v1alpha1.Action {
	if rules == nil {
		return ""
	}
	return action(rules)
}

func compileServing(sv *v1alpha1.ServingRules, errs []error) (*compiledServing, []error) {
	c := &compiledServing{
		action:         v1alpha1.ActionApprove,
		signer:         sv.Signer,
		allowLoopback:  sv.AllowLoopback,
		maxDNSNames:    int(derefOr(sv.MaxDNSNames, v1alpha1.DefaultMaxDNSNames)),
		maxIPAddresses: int(derefOr(sv.MaxIPAddresses, v1alpha1.DefaultMaxIPAddresses)),
		resolve:        sv.ResolveDNSNames,
	}
	if sv.Action == "" || sv.Action == v1alpha1.ServingReview {
		c.action = v1alpha1.ActionReview
	}
	c.onAddressChange = orDefault(sv.OnAddressChange, v1alpha1.AddressChangeReview)
	switch c.onAddressChange {
	case v1alpha1.AddressChangeReview, v1alpha1.AddressChangeDeny, v1alpha1.AddressChangeApprove:
	default:
		errs = append(errs, fmt.Errorf("serving.onAddressChange %q is not Review, Deny or Approve", sv.OnAddressChange))
	}
	for _, raw := range sv.DNSNameTemplates {
		t, err := compileDNSTemplate(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("serving.dnsNameTemplates: %w", err))
			continue
		}
		c.templates = append(c.templates, t)
	}
	for _, domain := range sv.NodeReportedDNSDomains {
		canon := CanonicalDNSName(domain)
		if len(validation.IsDNS1123Subdomain(canon)) > 0 {
			errs = append(errs, fmt.Errorf("serving.nodeReportedDNSDomains: %q is not a DNS domain", domain))
			continue
		}
		c.reportedDomains = append(c.reportedDomains, canon)
	}
	for _, pattern := range sv.AllowedDNSNames {
		canon := CanonicalDNSName(pattern)
		if len(validation.IsDNS1123Subdomain(strings.TrimPrefix(canon, "*."))) > 0 || strings.Contains(strings.TrimPrefix(canon, "*."), "*") {
			errs = append(errs, fmt.Errorf("serving.allowedDNSNames: %q is not a DNS name or a \"*.\" pattern", pattern))
			continue
		}
		c.dnsPatterns = append(c.dnsPatterns, canon)
	}
	for _, cidr := range sv.AllowedIPRanges {
		_, ipNet, err := net.ParseCIDR(cidr)
		if err != nil {
			errs = append(errs, fmt.Errorf("serving.allowedIPRanges: %q is not a CIDR", cidr))
			continue
		}
		c.ipRanges = append(c.ipRanges, ipNet)
	}
	if c.maxDNSNames < 0 || c.maxIPAddresses < 0 {
		errs = append(errs, errors.New("serving.maxDNSNames and serving.maxIPAddresses must not be negative"))
	}
	return c, errs
}

func compileKeys(k *v1alpha1.KeyRules, errs []error) (compiledKeys, []error) {
	if k == nil {
		return compiledKeys{
			rsaMin: int(v1alpha1.DefaultRSAMinBits), rsaMax: int(v1alpha1.DefaultRSAMaxBits),
			curves:  map[string]bool{"P-256": true, "P-384": true},
			ed25519: true,
		}, errs
	}
	c := compiledKeys{curves: map[string]bool{}, ed25519: k.Ed25519}
	if k.RSA != nil {
		c.rsaMin = int(orDefault(k.RSA.MinBits, v1alpha1.DefaultRSAMinBits))
		c.rsaMax = int(orDefault(k.RSA.MaxBits, v1alpha1.DefaultRSAMaxBits))
		if c.rsaMin < int(v1alpha1.DefaultRSAMinBits) || c.rsaMax > int(v1alpha1.DefaultRSAMaxBits) || c.rsaMin > c.rsaMax {
			errs = append(errs, fmt.Errorf("keys.rsa: bits must satisfy 2048 <= minBits <= maxBits <= 8192, got %d..%d", c.rsaMin, c.rsaMax))
		}
	}
	for _, curve := range k.ECDSACurves {
		switch curve {
		case v1alpha1.CurveP256, v1alpha1.CurveP384, v1alpha1.CurveP521:
			c.curves["P-"+strings.TrimPrefix(string(curve), "P")] = true
		default:
			errs = append(errs, fmt.Errorf("keys.ecdsaCurves: unknown curve %q", curve))
		}
	}
	return c, errs
}

// compileAnchored compiles an RE2 expression that must match a whole string.
// An empty pattern yields nil: no constraint.
func compileAnchored(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid regular expression", pattern)
	}
	return re, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func derefOr[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}
