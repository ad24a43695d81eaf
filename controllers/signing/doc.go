// Package signing is the control loop that issues certificates for approved
// kubelet CSRs whose signer name a ready NodeCertificateSigner serves,
// whoever approved them. Before it signs it asks the policy engine once to
// re-check the request (pkg/policy.ReviewForSigning); a request that breaks
// a rule is marked Failed instead. It approves nothing.
package signing
