package signer_test

import (
	"crypto/x509"

	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

func TestKeyPairConformance(t *testing.T) {
	signertest.Run(t, signertest.Backend{
		KeyTypes: signertest.AllKeyTypes,
		Chains:   true,
		New: func(t *testing.T, ca *signertest.CA) signer.Signer {
			kp, err := signer.NewKeyPair(append([]*x509.Certificate{ca.Cert}, ca.Chain...), ca.Key, nil, nil)
			if err != nil {
				t.Fatalf("NewKeyPair: %v", err)
			}
			return kp
		},
	})
}
