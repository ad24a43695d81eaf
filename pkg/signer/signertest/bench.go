package signertest

import (
	"context"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Benchmark measures Template plus Sign with a signer newSigner builds for
// a CA of each key type, for fresh ECDSA P-256 kubelet keys generated
// outside the timer. It is the per-backend signing benchmark.
func Benchmark(b *testing.B, keyTypes []KeyType, newSigner func(b *testing.B, ca *CA) signer.Signer) {
	for _, kt := range keyTypes {
		b.Run(string(kt), func(b *testing.B) {
			ca := NewCA(b, kt, "benchmark "+string(kt))
			s := newSigner(b, ca)
			keys := make([]crypto.PublicKey, 64)
			for i := range keys {
				keys[i] = NewKey(b, ECDSAP256).Public()
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				cur, err := s.CA(ctx)
				if err != nil {
					b.Fatal(err)
				}
				req := signer.Request{
					SignerName: certificatesv1.KubeletServingSignerName, CommonName: "system:node:bench",
					Organizations: []string{"system:nodes"}, DNSNames: []string{"bench.example.com"},
					PublicKey: keys[i%len(keys)],
				}
				tmpl, err := signer.Template(req, cur.Certificate, signer.Limits{SignerMax: 24 * time.Hour}, time.Now(), rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sign(ctx, tmpl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
