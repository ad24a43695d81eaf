// Package wire is nodetrust's wire contract: every name nodetrust writes
// into the cluster besides its API types (labels, annotations, field
// managers, Event and condition reasons, the CA bundle ConfigMap), how it
// names and builds NodeCertificate records, and how an approval proves that
// nodetrust wrote it: the Approved condition's message ends in a proof
// (pkg/attest) over the CSR and the policy, made with a key only the manager
// holds. Words alone prove nothing, since anyone who may approve can write
// them; a reader without the key (the kubectl plugin) reads a record's
// approval.by, never the message.
//
// The manager writes by these names and the kubectl plugin reads by them;
// both import this package, so the two cannot drift. It sits next to the
// API: it imports api/v1alpha1, pkg/csrstate, pkg/attest and pkg/signer's
// certificate helpers, and never talks to an API server. It never holds a
// key: the manager passes its prover and verifier in.
package wire
