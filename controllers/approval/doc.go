// Package approval is the control loop that decides pending kubelet CSRs.
// It gathers the facts a decision needs from the cache, asks the policy
// engine (pkg/policy) for a Decision, and makes the one write the decision
// calls for: an Approved or Denied condition through the /approval
// subresource, or the review label and annotations. It signs nothing.
package approval
