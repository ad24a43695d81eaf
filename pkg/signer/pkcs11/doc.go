// Package pkcs11 is the signer backend whose CA private key stays in a
// hardware security module (or any other PKCS#11 token): the key is used
// through the vendor's PKCS#11 module, by way of
// github.com/ThalesGroup/crypto11, and never leaves the token. Signing
// itself is signer.KeyPair's, over a crypto.Signer backed by the token.
//
// # Build and image
//
// Loading a PKCS#11 module (a C shared library) needs cgo. A binary built
// with CGO_ENABLED=0 still compiles this package, but New fails with
// ErrCgoRequired. A cgo build links against glibc dynamically, so the image
// needs a glibc base such as gcr.io/distroless/base-debian12:nonroot (not
// distroless/static), and the vendor's PKCS#11 module, built for glibc and
// the image's architecture, together with whatever configuration and
// libraries it needs, must be mounted into the pod; Config.ModulePath names
// it. Loading a module runs its code in the manager, so the path comes from
// a manager flag, never from an API object.
//
// # Finding the token, the key and the certificate
//
// New loads the module, finds the token by its label (Config.TokenLabel)
// and logs in with the user PIN. The CA key is the one private key object
// whose CKA_LABEL is Config.KeyLabel and whose CKA_ID is Config.KeyID
// (either may be left empty, not both); it needs its public key object, or
// a certificate with the same CKA_ID, next to it. The CA certificate is the
// certificate object with the same label and ID. More than one matching
// private key is an error; certificates cannot be counted through crypto11,
// so keep exactly one. The certificate must be a CA certificate with a
// subject key identifier, for the key, and New and Check make a test
// signature with the private key and verify it with the certificate.
//
// The token holds the issuing certificate only. When it is an intermediate,
// Config.Chain gives the certificates above it (public material, from a
// file or ConfigMap); they are appended to every issued certificate.
//
// # Key types
//
// RSA keys of at least 2048 bits and ECDSA P-256 and P-384 keys are
// supported. Ed25519 is not: crypto11 v1.6.2 has no EdDSA support (SoftHSM2
// stores Ed25519 keys, but crypto11 cannot use them), so New refuses an
// Ed25519 key with an error saying so.
//
// # Rotation
//
// The Signer keeps what it found for Config.ReloadInterval (five seconds by
// default) and then looks in the token again, so an operator rotates the CA
// in place: delete the old key pair and certificate, then import the new
// ones under the same label and ID. No restart is needed. Until both new
// objects are there, CA, Sign and Check report what is missing. A template
// built for the old CA is refused with signer.ErrCAChanged once the new CA
// is current; when Sign fails because the old key is gone before the
// interval has passed, the Signer looks again at once and retries, so that
// case also ends in signer.ErrCAChanged rather than a PKCS#11 error. Check
// always looks again. To keep certificates of the old CA trusted during the
// changeover, pass the old CA certificate in Config.ExtraTrusted.
//
// # Failures and recovery
//
// Check fails when the token cannot be reached, the key or certificate is
// missing, ambiguous or mismatched, the test signature fails or the CA has
// expired. Whenever a look in the token fails, the Signer first opens the
// token again (new sessions, new login) and looks once more, so that it
// recovers by itself from a token that forgot its sessions or login, as a
// restarted network HSM does. If the token refuses the PIN then, the Signer
// does not try to log in again, lest the HSM lock the PIN; a new Signer with
// the right PIN is needed. A token that needs its module initialised again
// is recovered by restarting the manager, for example through a liveness
// probe that runs Check.
//
// crypto11 opens sessions as operations need them and keeps them open;
// Config.MaxSessions (DefaultMaxSessions by default) bounds how many, for
// HSMs that ration sessions.
//
// # Several Signers in one process
//
// PKCS#11 initialises a module once per process. crypto11 shares one
// initialised module among its contexts by path, so New resolves
// symlinks in Config.ModulePath: Signers that spell the same module
// differently still share it, and the module is finalised only when the
// last one is closed. Other code in the process must not initialise the
// same module itself; New reports it when it has. A token's login is
// shared by the whole process too: a Signer opened while another one is
// logged in to the same token is not asked for the PIN again, and closing
// one Signer leaves the others logged in.
package pkcs11
