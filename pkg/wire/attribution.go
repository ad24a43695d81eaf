package wire

import (
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

// approvedByPolicy ends the message of every approval nodetrust writes,
// before the policy name.
const approvedByPolicy = "approved by policy "

// proofSeparator comes between the message of nodetrust's approval and its
// proof (see ProvenApprovedMessage).
const proofSeparator = "; proof "

// ApprovalProver makes the proof that nodetrust wrote an approval;
// *attest.Prover is one. Only the manager, which holds the key, has one.
type ApprovalProver interface {
	// Prove returns the proof of c.
	Prove(c attest.Claim) string
}

// ApprovalVerifier checks the proof of an approval; *attest.Verifier is
// one. It holds the key too: whoever can verify can prove.
type ApprovalVerifier interface {
	// Verify reports whether proof is a proof of c.
	Verify(c attest.Claim, proof string) bool
}

var (
	_ ApprovalProver   = (*attest.Prover)(nil)
	_ ApprovalVerifier = (*attest.Verifier)(nil)
)

// ApprovedMessage is the text of the Approved condition nodetrust writes
// when policy approves a request of kind for node, before its proof (see
// ProvenApprovedMessage).
func ApprovedMessage(kind, node, policy string) string {
	return kind + " request for node " + node + " " + approvedByPolicy + policy
}

// ApprovalClaim is what the proof of nodetrust's approval of csr by policy
// binds: the CSR's UID, name and signer name, its request kind and node as
// csrstate reads them from what the API server recorded, and the policy.
// The prover and the verifier both build it here, from the CSR, so they
// cannot disagree.
func ApprovalClaim(csr *certificatesv1.CertificateSigningRequest, policy string) attest.Claim {
	kind, _ := csrstate.Kind(csr)
	return attest.Claim{UID: string(csr.UID), Name: csr.Name, SignerName: csr.Spec.SignerName,
		Kind: string(kind), Node: csrstate.NodeOf(csr), Policy: policy}
}

// ProvenApprovedMessage is message, the text of nodetrust's approval of csr
// by policy (see ApprovedMessage), with the proof of that approval after
// it: "<message>; proof v1.<key ID>.<tag>". It adds at most 88 bytes.
func ProvenApprovedMessage(csr *certificatesv1.CertificateSigningRequest, message, policy string, p ApprovalProver) string {
	return message + proofSeparator + p.Prove(ApprovalClaim(csr, policy))
}

// ApprovingPolicy returns the policy named by the Approved condition
// (reason, message) of csr when nodetrust wrote it: reason
// ReasonAutoApproved, a message "... approved by policy <name>; proof
// <proof>" (see ProvenApprovedMessage), and a proof v verifies for csr and
// that policy. Anything else is false: another reason, nodetrust's words
// without a proof (anyone who may approve can write those), a proof made
// for another CSR or policy, or a nil v.
func ApprovingPolicy(csr *certificatesv1.CertificateSigningRequest, reason, message string, v ApprovalVerifier) (string, bool) {
	if reason != ReasonAutoApproved || v == nil {
		return "", false
	}
	i := strings.LastIndex(message, proofSeparator)
	if i < 0 {
		return "", false
	}
	text, proof := message[:i], message[i+len(proofSeparator):]
	j := strings.LastIndex(text, approvedByPolicy)
	if j < 0 {
		return "", false
	}
	name := text[j+len(approvedByPolicy):]
	if len(validation.IsDNS1123Subdomain(name)) > 0 || !v.Verify(ApprovalClaim(csr, name), proof) {
		return "", false
	}
	return name, true
}
