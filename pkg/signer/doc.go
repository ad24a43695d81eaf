// Package signer holds the contract nodetrust's CA backends implement to sign
// approved kubelet certificates, the pure function that turns a validated
// request into a certificate template, and KeyPair, the signing core every
// backend shares once it has a CA certificate and a crypto.Signer for its key.
//
// Backends live in subpackages (secret, files, pkcs11); controllers/signers
// builds them from NodeCertificateSigner specs, and cmd/manager chooses
// which of them a manager has, explicitly; signertest is the conformance suite every
// backend runs. The package never imports controller-runtime.
package signer
