// Package pkcs10 parses the PEM-encoded PKCS#10 certificate signing requests
// kubelets send, fail-closed.
//
// Parse reads the request's raw DER itself (subject RDNs, attributes,
// requested extensions, SAN entries, key) instead of trusting what
// crypto/x509 fills in, and checks it against the absolute rules every
// kubelet request must follow. It returns either a Request or the
// Violations, each with a stable Reason code, that make the request
// unacceptable; it never panics and returns no error. CommonNameOf is the
// cheap, unverified look at a request's CN for code that must scan many.
//
// Everything here is a pure function of its input. The package never talks
// to an API server and depends on the standard library only (crypto/x509,
// encoding/asn1, encoding/pem): nothing of Kubernetes and nothing of
// nodetrust. What a request may ask for beyond these rules (identities,
// usages, which SANs a Node owns) is for the packages that decide, such as
// policy.
package pkcs10
