package policy

import (
	"cmp"
	"slices"
	"time"
)

// NodeNameReservation is how long a node name approved for one bootstrap
// request stays reserved while its Node has not registered: a second
// bootstrap request for the name, from any token, is refused meanwhile, so
// two tokens cannot both get a client certificate for one node.
const NodeNameReservation = time.Hour

// PriorApproval is an approved bootstrap request for a node name, other
// than the one being decided.
type PriorApproval struct {
	// CSR names the request.
	CSR string
	// Requester is its requester.
	Requester string
	// Approved is when it was approved.
	Approved time.Time
}

// reservation returns the earliest approval that still reserves the node
// name at facts.Now, if any.
func reservation(facts Facts) (PriorApproval, bool) {
	live := slices.DeleteFunc(slices.Clone(facts.PriorBootstrapApprovals), func(p PriorApproval) bool {
		return facts.Now.Sub(p.Approved) >= NodeNameReservation
	})
	if len(live) == 0 {
		return PriorApproval{}, false
	}
	return slices.MinFunc(live, func(a, b PriorApproval) int { return cmp.Or(a.Approved.Compare(b.Approved), cmp.Compare(a.CSR, b.CSR)) }), true
}
