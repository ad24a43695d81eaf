// Package signer will hold the contract nodetrust's CA backends implement to
// sign approved kubelet serving certificates, the pure template builder and
// the backends' conformance suite. It must not import controller-runtime.
package signer
