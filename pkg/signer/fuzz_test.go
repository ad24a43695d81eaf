package signer_test

import (
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// FuzzLoadKeyPairPEM feeds arbitrary Secret or file contents to the CA
// loader: it must return a KeyPair or an error, never panic.
func FuzzLoadKeyPairPEM(f *testing.F) {
	for _, kt := range []signertest.KeyType{signertest.ECDSAP256, signertest.RSA2048, signertest.Ed25519} {
		ca := signertest.NewCA(f, kt, "fuzz seed")
		f.Add(ca.CertPEM, ca.KeyPEM, []byte(nil))
		f.Add(ca.CertPEM, ca.KeyPEM, ca.CertPEM)
		f.Add(ca.KeyPEM, ca.CertPEM, ca.KeyPEM)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n\n-----END PRIVATE KEY-----\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM, trustedPEM []byte) {
		kp, err := signer.LoadKeyPairPEM(certPEM, keyPEM, trustedPEM, nil)
		if (kp == nil) == (err == nil) {
			t.Fatalf("LoadKeyPairPEM returned %v and %v", kp, err)
		}
	})
}
