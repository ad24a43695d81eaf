// Package wire is nodetrust's wire contract: every name nodetrust writes
// into the cluster besides its API types (labels, annotations, field
// managers, Event and condition reasons, the CA bundle ConfigMap), how it
// names and builds NodeCertificate records, and how an approval says that
// nodetrust wrote it.
//
// The manager writes by these names and the kubectl plugin reads by them;
// both import this package, so the two cannot drift. It sits next to the
// API: it imports api/v1alpha1, pkg/csrstate and pkg/signer's certificate
// helpers, and never talks to an API server.
package wire
