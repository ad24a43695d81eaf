// Package audit reads the NodeCertificate records and the Nodes of a cluster
// and reports, per node, the current kubelet client and serving certificates
// and what looks wrong with them: certificates about to expire, nodes without
// a serving certificate, serving certificates naming addresses the node does
// not have, certificates for nodes that are gone, certificates nodetrust did
// not approve, and bursts of issuance.
//
// Everything here is a pure function of its inputs, including the current
// time: the package never talks to the API server and never imports
// controller-runtime or client-go. Callers (the kubectl-nodetrust plugin)
// list the objects and pass them in.
package audit
