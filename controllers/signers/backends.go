package signers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/files"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
	"github.com/nodetrust/nodetrust/pkg/signer/secret"
)

// BackendKind names a signer backend, after the NodeCertificateSigner spec
// field that selects it.
type BackendKind string

// The signer backends.
const (
	BackendSecret BackendKind = "secret"
	BackendFiles  BackendKind = "files"
	BackendPKCS11 BackendKind = "pkcs11"
)

// BackendFactory builds the signer for a NodeCertificateSigner spec. Build
// should not block on slow I/O longer than ctx allows; problems with the CA
// material itself may surface later, in the signer's Check.
type BackendFactory interface {
	Build(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error)
}

// BuildKeyer is implemented by factories whose signers depend on more than
// the spec, such as a PIN read from a Secret. BuildKey changes whenever the
// signer must be rebuilt.
type BuildKeyer interface {
	BuildKey(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) string
}

// ErrBackendUnavailable is wrapped by the error for a spec whose backend the
// manager was not started with.
var ErrBackendUnavailable = errors.New("backend not enabled in this manager")

// errInvalidSpec is wrapped by Build errors for specs that cannot work until
// edited.
var errInvalidSpec = errors.New("invalid signer spec")

// backendKind returns the backend a spec selects.
func backendKind(spec *v1alpha1.NodeCertificateSignerSpec) (BackendKind, error) {
	var kinds []BackendKind
	if spec.Secret != nil {
		kinds = append(kinds, BackendSecret)
	}
	if spec.Files != nil {
		kinds = append(kinds, BackendFiles)
	}
	if spec.PKCS11 != nil {
		kinds = append(kinds, BackendPKCS11)
	}
	if len(kinds) != 1 {
		return "", fmt.Errorf("%w: exactly one of secret, files and pkcs11 must be set", errInvalidSpec)
	}
	return kinds[0], nil
}

// cacheReader reads Secrets through a controller-runtime reader.
type cacheReader struct{ reader client.Reader }

// GetSecret implements secret.Reader.
func (c cacheReader) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := c.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, secret.ErrNotFound
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return s, nil
}

// SecretBackend builds signers over kubernetes.io/tls Secrets in Namespace.
type SecretBackend struct {
	// Reader reads Secrets, normally the manager's cache.
	Reader client.Reader
	// Namespace is the signer namespace.
	Namespace string
	// Clock checks CA validity.
	Clock clock.PassiveClock
}

// Build implements BackendFactory.
func (b *SecretBackend) Build(_ context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error) {
	return secret.New(cacheReader{b.Reader}, secret.Config{Namespace: b.Namespace, Name: spec.Secret.Name, Clock: b.Clock}), nil
}

// FilesBackend builds signers over files below Dir.
type FilesBackend struct {
	// Dir is the only directory whose files signers may name.
	Dir string
	// Clock checks CA validity.
	Clock clock.PassiveClock
}

// Build implements BackendFactory.
func (b *FilesBackend) Build(_ context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error) {
	certFile, err := pathUnder(b.Dir, spec.Files.CertFile)
	if err != nil {
		return nil, err
	}
	keyFile, err := pathUnder(b.Dir, spec.Files.KeyFile)
	if err != nil {
		return nil, err
	}
	return files.New(files.Config{CertFile: certFile, KeyFile: keyFile, Clock: b.Clock}), nil
}

// pathUnder returns path, cleaned, when it is an absolute path inside dir.
func pathUnder(dir, path string) (string, error) {
	clean := filepath.Clean(path)
	rel, err := filepath.Rel(filepath.Clean(dir), clean)
	if !filepath.IsAbs(path) || err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%w: %q is not an absolute path under the signer files directory %s", errInvalidSpec, path, dir)
	}
	return clean, nil
}

// PKCS11Backend builds signers over keys in a PKCS#11 module.
type PKCS11Backend struct {
	// Module is the path of the PKCS#11 module, from the manager's flags.
	Module string
	// Reader reads PIN Secrets in Namespace.
	Reader    client.Reader
	Namespace string
	// FilesDir is the only directory PIN files may lie in; empty forbids PIN files.
	FilesDir string
	// Clock checks CA validity.
	Clock clock.PassiveClock
}

// Build implements BackendFactory. It opens the token, so it fails when the
// PIN or the key cannot be found.
func (b *PKCS11Backend) Build(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error) {
	src := spec.PKCS11
	cfg := pkcs11.Config{ModulePath: b.Module, TokenLabel: src.TokenLabel, KeyLabel: src.KeyLabel, Clock: b.Clock}
	if src.KeyID != "" {
		id, err := hex.DecodeString(src.KeyID)
		if err != nil {
			return nil, fmt.Errorf("%w: keyID is not hex", errInvalidSpec)
		}
		cfg.KeyID = id
	}
	pin, err := b.pin(ctx, src.PIN)
	if err != nil {
		return nil, err
	}
	cfg.PIN = pin
	s, err := pkcs11.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the PKCS#11 token: %w", err)
	}
	return s, nil
}

// BuildKey implements BuildKeyer: a hash of the PIN, so that a new PIN in
// the Secret or file rebuilds the signer. A PIN that cannot be read gives
// the empty key; Build then reports why.
func (b *PKCS11Backend) BuildKey(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) string {
	pin, err := b.pin(ctx, spec.PKCS11.PIN)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(pin))
	return hex.EncodeToString(sum[:])
}

func (b *PKCS11Backend) pin(ctx context.Context, src v1alpha1.PINSource) (string, error) {
	var raw []byte
	switch {
	case src.SecretKeyRef != nil:
		s, err := cacheReader{b.Reader}.GetSecret(ctx, b.Namespace, src.SecretKeyRef.Name)
		if err != nil {
			return "", fmt.Errorf("reading the PIN Secret %s/%s: %w", b.Namespace, src.SecretKeyRef.Name, err)
		}
		var ok bool
		if raw, ok = s.Data[src.SecretKeyRef.Key]; !ok {
			return "", fmt.Errorf("the PIN Secret %s/%s has no key %q", b.Namespace, src.SecretKeyRef.Name, src.SecretKeyRef.Key)
		}
	case src.File != "":
		if b.FilesDir == "" {
			return "", fmt.Errorf("%w: PIN files need the manager's --signer-files-dir", ErrBackendUnavailable)
		}
		path, err := pathUnder(b.FilesDir, src.File)
		if err != nil {
			return "", err
		}
		if raw, err = os.ReadFile(path); err != nil {
			return "", fmt.Errorf("reading the PIN file: %w", err)
		}
	default:
		return "", fmt.Errorf("%w: no PIN source", errInvalidSpec)
	}
	pin := strings.TrimRight(string(raw), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("%w: the PIN is empty", errInvalidSpec)
	}
	return pin, nil
}
