// Package signers is the control loop that loads the backend of each
// NodeCertificateSigner into the signer registry, publishes the CAs it
// trusts to a ConfigMap, and reports in its status whether it signs and
// with which CA. Whether a signer may sign is a pure decision (readiness)
// over what the loop observed. It also holds the backend factories that
// turn a signer's spec into a signer.Signer; cmd/manager chooses which of
// them a manager has.
package signers
