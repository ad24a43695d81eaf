// Package policy decides kubelet certificate signing requests.
//
// It owns parsing a CSR once (raw subject, raw SANs, key), the upstream
// signer rules, the checks nodetrust enforces whatever a policy says, the
// compilation of NodeCertificatePolicy objects and their evaluation into a
// Decision value. Everything here is a pure function of its inputs: the
// package never talks to the API server and never imports controller-runtime.
// Callers gather the cluster facts (Node, bootstrap-token Secret, policies)
// and pass them in.
package policy
