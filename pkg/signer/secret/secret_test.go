package secret_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/secret"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// fakeSecrets is a Reader over a map that bumps the resourceVersion on
// every write, as the API server does.
type fakeSecrets struct {
	mu      sync.Mutex
	rv      int
	secrets map[string]*corev1.Secret
}

func (f *fakeSecrets) put(s *corev1.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	s = s.DeepCopy()
	s.ResourceVersion = strconv.Itoa(f.rv)
	f.secrets[s.Namespace+"/"+s.Name] = s
}

func (f *fakeSecrets) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", namespace, name, secret.ErrNotFound)
	}
	return s.DeepCopy(), nil
}

func tlsSecret(ca *signertest.CA) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "nodetrust-system", Name: "kubelet-serving-ca", UID: "uid-1"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
	}
}

func newBackend(t *testing.T, ca *signertest.CA) (*fakeSecrets, signer.Signer) {
	t.Helper()
	f := &fakeSecrets{secrets: map[string]*corev1.Secret{}}
	f.put(tlsSecret(ca))
	return f, secret.New(f, secret.Config{Namespace: "nodetrust-system", Name: "kubelet-serving-ca"})
}

func TestConformance(t *testing.T) {
	readers := map[signer.Signer]*fakeSecrets{}
	var mu sync.Mutex
	signertest.Run(t, signertest.Backend{
		KeyTypes: signertest.AllKeyTypes,
		Chains:   true,
		New: func(t *testing.T, ca *signertest.CA) signer.Signer {
			f, s := newBackend(t, ca)
			mu.Lock()
			readers[s] = f
			mu.Unlock()
			return s
		},
		Rotate: func(_ *testing.T, s signer.Signer, ca *signertest.CA) {
			mu.Lock()
			defer mu.Unlock()
			readers[s].put(tlsSecret(ca))
		},
		Break: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			other := signertest.NewCA(t, ca.KeyType, "unrelated")
			broken := tlsSecret(ca)
			broken.Data[corev1.TLSPrivateKeyKey] = other.KeyPEM
			mu.Lock()
			defer mu.Unlock()
			readers[s].put(broken)
		},
	})
}

func TestBadSecrets(t *testing.T) {
	ca := signertest.NewCA(t, signertest.ECDSAP256, "bad secrets")
	other := signertest.NewCA(t, signertest.ECDSAP256, "other")
	leafLike := signertest.NewCA(t, signertest.ECDSAP256, "leaf")
	tests := []struct {
		name   string
		mutate func(*corev1.Secret)
		want   string
	}{
		{"a missing Secret is reported", func(s *corev1.Secret) { s.Name = "elsewhere" }, "not found"},
		{"an Opaque Secret is refused", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }, "has type"},
		{"a Secret without tls.crt is refused", func(s *corev1.Secret) { delete(s.Data, corev1.TLSCertKey) }, "no certificate found"},
		{"a Secret without tls.key is refused", func(s *corev1.Secret) { delete(s.Data, corev1.TLSPrivateKeyKey) }, "no PEM-encoded private key"},
		{"a key that is not the certificate's is refused", func(s *corev1.Secret) { s.Data[corev1.TLSPrivateKeyKey] = other.KeyPEM }, "does not match"},
		{"garbage in tls.crt is refused", func(s *corev1.Secret) { s.Data[corev1.TLSCertKey] = []byte("not pem") }, "not PEM"},
		{"garbage in ca.crt is refused", func(s *corev1.Secret) { s.Data[secret.TrustedCAsKey] = []byte("junk") }, "trusted CA"},
		{"a chain in the wrong order is refused", func(s *corev1.Secret) {
			s.Data[corev1.TLSCertKey] = append(append([]byte{}, ca.CertPEM...), leafLike.CertPEM...)
		}, "did not issue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSecrets{secrets: map[string]*corev1.Secret{}}
			s := tlsSecret(ca)
			tc.mutate(s)
			f.put(s)
			sig := secret.New(f, secret.Config{Namespace: "nodetrust-system", Name: "kubelet-serving-ca"})
			err := sig.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := sig.CA(context.Background()); err == nil {
				t.Fatal("CA() succeeded on a bad Secret")
			}
		})
	}
}

func TestTrustedCAsFromTheSecretArePublished(t *testing.T) {
	ca := signertest.NewCA(t, signertest.ECDSAP256, "current")
	previous := signertest.NewCA(t, signertest.ECDSAP256, "previous")
	f := &fakeSecrets{secrets: map[string]*corev1.Secret{}}
	s := tlsSecret(ca)
	s.Data[secret.TrustedCAsKey] = previous.CertPEM
	f.put(s)
	got, err := secret.New(f, secret.Config{Namespace: "nodetrust-system", Name: "kubelet-serving-ca"}).CA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Trusted) != 2 || !got.Trusted[0].Equal(ca.Cert) || !got.Trusted[1].Equal(previous.Cert) {
		t.Fatalf("trusted = %d certificates, want the current CA then the previous one", len(got.Trusted))
	}
}

func BenchmarkSign(b *testing.B) {
	signertest.Benchmark(b, signertest.AllKeyTypes, func(_ *testing.B, ca *signertest.CA) signer.Signer {
		f := &fakeSecrets{secrets: map[string]*corev1.Secret{}}
		f.put(tlsSecret(ca))
		return secret.New(f, secret.Config{Namespace: "nodetrust-system", Name: "kubelet-serving-ca"})
	})
}
