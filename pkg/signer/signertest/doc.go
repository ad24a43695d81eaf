// Package signertest is the conformance suite every signer.Signer backend
// runs: it provisions test CAs of each supported key type, hands them to the
// backend through a small Backend harness, and checks what the backend
// issues, how it rotates and how it fails.
package signertest
