// Package policy decides kubelet certificate signing requests.
//
// It owns classifying a CSR and reading it once into a Request (the PKCS#10
// parsing itself is package pkcs10), the upstream signer rules, the checks
// nodetrust enforces whatever a policy says, which SANs a Node owns
// (NodeAddresses, shared with the audit), the compilation of
// NodeCertificatePolicy objects, their evaluation into a Decision value, and
// the catalogue of the reason codes decisions carry (ReasonCodes).
//
// The package never talks to the API server and never imports
// controller-runtime or client-go. Callers gather the cluster facts (Node,
// bootstrap-token Secret, policies, the time) and pass them in. Everything
// here is a function of those inputs, with one exception: a policy with
// serving.resolveDNSNames makes Evaluator.Evaluate look DNS SANs up through
// the Evaluator's injected Resolver, so that decision also depends on what
// the resolver answers, and Evaluate returns an error, never a denial, when
// a lookup fails for any reason but "not found".
package policy
