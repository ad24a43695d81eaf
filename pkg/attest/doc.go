// Package attest proves that nodetrust wrote an approval: an HMAC-SHA256
// tag over the facts of the approval (the CSR's UID, name and signer name,
// the request kind, the node and the approving policy) under a key only the
// manager holds.
//
// A Prover makes the proof string, "v1.<key ID>.<base64url tag>"; a
// Verifier checks it against the current key and any previous ones, so that
// the key can rotate without losing the attribution of approvals written
// just before. The key ID in a proof only selects the key; the tag is
// compared in constant time. The encoding of the facts is length-prefixed
// and versioned, so no two different sets of facts share an input, and a
// proof copied from one CSR does not verify for another.
//
// A proof is exactly as strong as the secrecy of the key: whoever can read
// the key can prove anything. Everything here is a pure function of its
// input and depends on the standard library only; loading the key from the
// cluster is the manager's job.
package attest
