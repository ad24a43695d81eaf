package policy

import "time"

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

// ReviewForSigning checks r again before it is signed: everything nodetrust
// enforces whatever a policy says (see Invariants), that no other Node
// reports one of its SANs as its address, and the limits of the policies
// that govern r.
func ReviewForSigning(r *Request, facts Facts, policies []*Compiled) SigningReview {
	if v := append(Invariants(r, facts.Cluster), claimedByOtherNodes(r, facts)...); len(v) > 0 {
		return SigningReview{Violations: v}
	}
	var review SigningReview
	if limit, ok := MaxExpiration(r, facts.Node, policies); ok {
		review.MaxExpiration = limit
	}
	return review
}
