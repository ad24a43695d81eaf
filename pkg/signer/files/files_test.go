package files_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/files"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// writeAtomically writes data to path through a rename, as configuration
// management tools do.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// projectVolume lays the files out as the kubelet does for a mounted Secret:
// a timestamped directory, a ..data symlink to it and file symlinks through
// ..data, swapped atomically on update.
func projectVolume(t *testing.T, dir, version string, ca *signertest.CA, key []byte) {
	t.Helper()
	data := filepath.Join(dir, "..v"+version)
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"tls.crt": ca.CertPEM, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(data, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(data), tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestConformancePlainFiles(t *testing.T) {
	dirs := map[signer.Signer]string{}
	var mu sync.Mutex
	signertest.Run(t, signertest.Backend{
		KeyTypes: signertest.AllKeyTypes,
		Chains:   true,
		New: func(t *testing.T, ca *signertest.CA) signer.Signer {
			dir := t.TempDir()
			writeAtomically(t, filepath.Join(dir, "ca.crt"), ca.CertPEM)
			writeAtomically(t, filepath.Join(dir, "ca.key"), ca.KeyPEM)
			s := files.New(files.Config{CertFile: filepath.Join(dir, "ca.crt"), KeyFile: filepath.Join(dir, "ca.key")})
			mu.Lock()
			dirs[s] = dir
			mu.Unlock()
			return s
		},
		Rotate: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			mu.Lock()
			dir := dirs[s]
			mu.Unlock()
			writeAtomically(t, filepath.Join(dir, "ca.key"), ca.KeyPEM)
			writeAtomically(t, filepath.Join(dir, "ca.crt"), ca.CertPEM)
		},
		Break: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			mu.Lock()
			dir := dirs[s]
			mu.Unlock()
			writeAtomically(t, filepath.Join(dir, "ca.key"), signertest.NewCA(t, ca.KeyType, "unrelated").KeyPEM)
		},
	})
}

func TestConformanceMountedSecretVolume(t *testing.T) {
	dirs := map[signer.Signer]string{}
	var mu sync.Mutex
	signertest.Run(t, signertest.Backend{
		KeyTypes: []signertest.KeyType{signertest.ECDSAP256},
		New: func(t *testing.T, ca *signertest.CA) signer.Signer {
			dir := t.TempDir()
			projectVolume(t, dir, "1", ca, ca.KeyPEM)
			s := files.New(files.Config{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")})
			mu.Lock()
			dirs[s] = dir
			mu.Unlock()
			return s
		},
		Rotate: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			mu.Lock()
			dir := dirs[s]
			mu.Unlock()
			projectVolume(t, dir, "2", ca, ca.KeyPEM)
		},
		Break: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			mu.Lock()
			dir := dirs[s]
			mu.Unlock()
			projectVolume(t, dir, "3", ca, signertest.NewCA(t, ca.KeyType, "unrelated").KeyPEM)
		},
	})
}

func TestBadFiles(t *testing.T) {
	ca := signertest.NewCA(t, signertest.ECDSAP256, "bad files")
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"a missing certificate file is reported", map[string][]byte{"ca.key": ca.KeyPEM}, "no such file"},
		{"a missing key file is reported", map[string][]byte{"ca.crt": ca.CertPEM}, "no such file"},
		{"a key in the certificate file is refused", map[string][]byte{"ca.crt": ca.KeyPEM, "ca.key": ca.KeyPEM}, "unexpected PEM block"},
		{"an encrypted key is refused", map[string][]byte{"ca.crt": ca.CertPEM,
			"ca.key": []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n")}, "encrypted"},
		{"two keys in the key file are refused", map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": append(append([]byte{}, ca.KeyPEM...), ca.KeyPEM...)}, "after the private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				writeAtomically(t, filepath.Join(dir, name), data)
			}
			s := files.New(files.Config{CertFile: filepath.Join(dir, "ca.crt"), KeyFile: filepath.Join(dir, "ca.key")})
			if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	signertest.Benchmark(b, signertest.AllKeyTypes, func(b *testing.B, ca *signertest.CA) signer.Signer {
		dir := b.TempDir()
		for name, data := range map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		return files.New(files.Config{CertFile: filepath.Join(dir, "ca.crt"), KeyFile: filepath.Join(dir, "ca.key")})
	})
}
