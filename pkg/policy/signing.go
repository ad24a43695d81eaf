package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// SigningReview is what a signer must know about an approved request before
// it signs it, whoever approved it.
type SigningReview struct {
	// Violations are the rules the request breaks; a request with any must
	// not be signed.
	Violations Violations
	// MaxExpiration caps the certificate's validity: the smallest
	// maxExpirationSeconds of the policies that govern the request. Zero
	// when none governs (e.g. a human approved it outside every policy).
	MaxExpiration time.Duration
}

// defaultKeys are the keys a request may carry when no policy governs it.
var defaultKeys, _ = compileKeys(nil, nil)

// ReviewForSigning checks r again before it is signed, against the cluster
// as it is now, with every rule that does not depend on who approved it:
// everything nodetrust enforces whatever a policy says (see Invariants); no
// SAN another Node reports or a template ties to another node; a key some
// governing policy allows (the default key rules when none governs); and,
// for serving requests, SANs the Node owns by the rules of some governing
// policy (its name and reported IPs when none governs). It also returns the
// limits of the policies that govern r.
func ReviewForSigning(r *Request, facts Facts, policies []*Compiled) SigningReview {
	v := Invariants(r, facts.Cluster)
	if len(v) > 0 {
		return SigningReview{Violations: v}
	}
	v = foreignSANs(r, facts, policies)
	governing := governingPolicies(r, facts.Node, policies)
	keys := []compiledKeys{defaultKeys}
	if len(governing) > 0 {
		keys = nil
		for _, p := range governing {
			keys = append(keys, p.keys)
		}
	}
	if !slices.ContainsFunc(keys, func(k compiledKeys) bool { return k.allows(r.CSR.Key) }) {
		v = append(v, Violation{Reason: ReasonKeyNotAllowed, Message: fmt.Sprintf(
			"key %s is not allowed by any policy that governs the request", r.CSR.Key)})
	}
	if r.Kind == v1alpha1.KindServing {
		v = append(v, signingOwnership(r, facts, governing)...)
	}
	if len(v) > 0 {
		return SigningReview{Violations: v}
	}
	var review SigningReview
	if limit, ok := MaxExpiration(r, facts.Node, policies); ok {
		review.MaxExpiration = limit
	}
	return review
}

// signingOwnership requires every SAN of a serving request to be one the
// Node may claim under at least one governing policy; with none, only its
// name and the non-loopback IPs it reports.
func signingOwnership(r *Request, facts Facts, governing []*Compiled) Violations {
	if facts.Node == nil {
		return Violations{{Reason: ReasonNodeNotFound, Message: fmt.Sprintf("Node %q does not exist", r.NodeName)}}
	}
	owned := NodeAddressesOf(facts.Node)
	var v Violations
	for _, name := range r.CSR.DNSNames {
		ok := owned.IsNodeName(name) || slices.ContainsFunc(governing, func(p *Compiled) bool {
			return p.serving.dnsNameOf(name, facts.Node.Name, owned)
		})
		if !ok {
			v = append(v, Violation{Reason: ReasonSANNotOwnedByNode, Message: fmt.Sprintf(
				"DNS SAN %q is not a name Node %q may claim under the policies that govern it", pkcs10.Truncate(name, maxQuoted), facts.Node.Name)})
		}
	}
	for _, ip := range r.CSR.IPAddresses {
		ok := (owned.OwnsIP(ip) && !ip.IsLoopback()) || slices.ContainsFunc(governing, func(p *Compiled) bool {
			if ip.IsLoopback() {
				return p.serving.allowLoopback && owned.OwnsIP(ip)
			}
			return p.serving.ipAllowed(ip)
		})
		if !ok {
			v = append(v, Violation{Reason: ReasonSANNotOwnedByNode, Message: fmt.Sprintf(
				"IP SAN %s is not an address Node %q may claim under the policies that govern it", ip, facts.Node.Name)})
		}
	}
	return v
}
