// Package signing holds the integration tests of the signing controllers
// against a real kube-apiserver, with no approval controller running: CSRs
// are approved by the test, as a human with kubectl would, so that the
// signing side can be driven on its own (human approvals, approved requests
// that break the signer's rules, racing replicas, live CA rotation).
package signing
