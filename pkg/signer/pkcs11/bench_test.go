//go:build cgo

package pkcs11_test

import (
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// BenchmarkSign measures Template plus Sign with a CA key in SoftHSM2, per
// CA key type, for fresh ECDSA P-256 kubelet keys.
func BenchmarkSign(b *testing.B) {
	needSoftHSM(b)
	signertest.Benchmark(b, keyTypes, func(b *testing.B, ca *signertest.CA) signer.Signer {
		cfg := config(importCA(b, mainToken, ca))
		cfg.ReloadInterval = 0 // the production default
		return newSigner(b, cfg)
	})
}
