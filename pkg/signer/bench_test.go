package signer_test

import (
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

func BenchmarkTemplate(b *testing.B) {
	ca := signertest.NewCA(b, signertest.ECDSAP256, "template benchmark")
	req := servingRequest(signertest.NewKey(b, signertest.ECDSAP256).Public())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signer.Template(req, ca.Cert, signer.Limits{SignerMax: 24 * time.Hour}, now, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyPairSign(b *testing.B) {
	signertest.Benchmark(b, signertest.AllKeyTypes, func(b *testing.B, ca *signertest.CA) signer.Signer {
		kp, err := signer.NewKeyPair(append([]*x509.Certificate{ca.Cert}, ca.Chain...), ca.Key, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		return kp
	})
}
