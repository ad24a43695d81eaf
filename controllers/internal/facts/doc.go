// Package facts gathers, from the manager's cache, the cluster state a
// kubelet CSR's decision depends on: the Node, the bootstrap-token Secret,
// the API server's Service IPs, the valid policies and the ready signers.
// The approval and signing loops both gather through it, so that they
// decide on the same facts.
package facts
