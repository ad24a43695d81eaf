// Package registry holds the signer backend of every NodeCertificateSigner
// and says which of them sign now. The signers control loop fills it; the
// approval, signing and record loops read it. It knows only the
// signer.Signer contract, never a particular backend.
package registry
