// Package secret is the signer backend that keeps the CA in a Kubernetes
// Secret of type kubernetes.io/tls: tls.crt holds the issuing CA certificate
// followed by its chain, tls.key its private key and the optional ca.crt
// further CA certificates to trust (a root above an intermediate, or the
// previous CA during a rotation). The Secret is read through a Reader,
// normally the manager's informer cache, before every use, and the CA is
// reloaded whenever the Secret's resourceVersion changes.
package secret
