// Package csrstate answers questions about a CertificateSigningRequest's
// state that every part of nodetrust asks: is it for a kubelet signer, who
// is its requester as a kubelet, is it decided, does it await a
// certificate. The manager's control loops, the kubectl plugin and the
// audit analysis all call these functions, so that there is one answer to
// each question.
//
// Everything here reads the CSR only: what the API server recorded (signer
// name, requester, conditions, certificate) and, for bootstrap requests, the
// common name of the request. It never talks to an API server.
//
// Conditions follow the API server: a condition whose status is empty counts
// as True, since the API server defaults an empty status to True on write.
package csrstate
